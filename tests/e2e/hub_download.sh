#!/usr/bin/env bash
# llmc download against the mock Hub: fresh download into the huggingface_hub cache layout,
# file selection, --include, commit-hash and offline use of the cache without requests,
# skipped files, token never sent to the CDN host.
source "$(dirname "$0")/../hub/lib.sh"
start_mock

out=$(llmc download test/tiny 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download test/tiny"; }
repo="$HF_HOME/hub/models--test--tiny"
commit=$(cat "$repo/refs/main")
[[ "$commit" =~ ^[0-9a-f]{40}$ ]] || fail "refs/main holds '$commit'"
[ "$out" = "$repo/snapshots/$commit" ] || fail "printed '$out', expected $repo/snapshots/$commit"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json special_tokens_map.json \
         model.safetensors.index.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
  [ -L "$out/$f" ] || fail "$f is not a symlink in the snapshot"
  t=$(readlink "$out/$f")
  [[ "$t" == ../../blobs/* ]] || fail "$f links to '$t', not a relative ../../blobs/ path"
  [ -f "$out/$f" ] || fail "$f dangling"
done
for f in README.md pytorch_model.bin onnx original .gitattributes; do
  [ ! -e "$out/$f" ] || fail "$f should have been skipped (safetensors exist)"
done
# LFS blobs are named by their sha256 and hold exactly that content.
sha=$(sha256sum "$out/model-00001-of-00002.safetensors" | cut -d' ' -f1)
[ "$(readlink "$out/model-00001-of-00002.safetensors")" = "../../blobs/$sha" ] || fail "LFS blob not named by its sha256"
# Regular files are named by their git blob id.
oid=$(python3 -c "import hashlib,sys;c=open(sys.argv[1],'rb').read();print(hashlib.sha1(b'blob %d\0'%len(c)+c).hexdigest())" "$out/config.json")
[ "$(readlink "$out/config.json")" = "../../blobs/$oid" ] || fail "regular blob not named by its git oid"
[ -d "$HF_HOME/hub/.locks/models--test--tiny" ] || fail "no .locks/models--test--tiny"
[ -f "$HF_HOME/hub/CACHEDIR.TAG" ] || fail "no CACHEDIR.TAG"
ls "$repo/blobs" | grep -q incomplete && fail ".incomplete left in blobs/"
grep -q '^cdn ' "$LOG" || fail "LFS files did not come from the CDN host"
pass "fresh download, layout, selection"

# Second run: everything cached, no blob is fetched again.
: > "$LOG"
llmc download test/tiny >/dev/null 2>&1 || fail "second download"
grep -q '^cdn ' "$LOG" && fail "cached blobs fetched again"
grep -q 'resolve-cache.* GET\|^hub GET /api/resolve-cache' "$LOG" && fail "cached regular files fetched again"
pass "second run reuses the cache"

# A commit hash with a complete cached snapshot: no request at all.
: > "$LOG"
out2=$(llmc download test/tiny --revision "$commit") || fail "download by commit"
[ "$out2" = "$out" ] || fail "commit download printed '$out2'"
[ ! -s "$LOG" ] && pass "commit hash served from cache without requests" || { cat "$LOG" >&2; fail "requests made for a cached commit"; }

# Offline: cache only, no request; a missing repo is a clear error.
: > "$LOG"
out3=$(HF_HUB_OFFLINE=1 llmc download test/tiny) || fail "offline download of a cached repo"
[ "$out3" = "$out" ] || fail "offline printed '$out3'"
HF_HUB_OFFLINE=1 expect_fail download test/private
grep -qi "offline" "$WORK/err" || fail "offline error does not say offline: $(cat "$WORK/err")"
[ ! -s "$LOG" ] || fail "requests made in offline mode"
pass "offline mode"

# --include picks files (glob and literal); a literal that does not exist is a 404 file error.
rm -rf "$HF_HOME/hub"
out4=$(llmc download test/tiny --include '*.json' --include onnx/model.onnx) || fail "--include download"
[ -f "$out4/config.json" ] && [ -f "$out4/onnx/model.onnx" ] || fail "--include files missing"
[ "$(readlink "$out4/onnx/model.onnx")" = "../../../blobs/$(sha256sum "$out4/onnx/model.onnx" | cut -d' ' -f1)" ] || fail "nested link wrong"
[ ! -e "$out4/model-00001-of-00002.safetensors" ] || fail "--include fetched more than asked"
expect_fail download test/tiny --include no-such-file.txt
grep -q "no-such-file.txt" "$WORK/err" && grep -qi "not found" "$WORK/err" || fail "missing file error: $(cat "$WORK/err")"
pass "--include"

# The token goes to the Hub, never to the CDN host.
rm -rf "$HF_HOME/hub"
llmc download test/private --token hf_good >/dev/null 2>&1 || fail "private with --token"
grep -q '^hub .*auth=Bearer hf_good' "$LOG" || fail "token not sent to the Hub"
grep '^cdn ' "$LOG" | grep -v 'auth=-$' && fail "token leaked to the CDN host"
pass "token never sent to the CDN"
echo "hub_download: all passed"
