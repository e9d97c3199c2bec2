#!/usr/bin/env bash
# Interop with the real huggingface_hub (pinned, from PyPI) through the mock Hub:
#  1. after `llmc download`, huggingface_hub offline (HF_HUB_OFFLINE=1) finds every file via
#     snapshot_download(..., local_files_only=True) and hf_hub_download;
#  2. llmc offline finds a snapshot huggingface_hub downloaded, and llmc online reuses its blobs.
# The venv (only huggingface_hub) is cached at $HOME/.cache/llmc/venv-hub; set LLMC_HUB_PYTHON to
# use another interpreter that has huggingface_hub==2.4.0. Fails when PyPI is unreachable.
source "$(dirname "$0")/../hub/lib.sh"
PIN="huggingface_hub==2.4.0"
PY="${LLMC_HUB_PYTHON:-}"
if [ -z "$PY" ]; then
  venv="$HOME/.cache/llmc/venv-hub"
  if ! "$venv/bin/python" -c 'import huggingface_hub,sys; sys.exit(huggingface_hub.__version__ != "2.4.0")' 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! { python3 -m venv "$venv" && timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check "$PIN"; } >"$WORK/pip.log" 2>&1; then
      cat "$WORK/pip.log" >&2
      rm -rf "$venv"
      echo "FAIL: cannot install $PIN from PyPI (offline?): hub interop not tested" >&2
      exit 1
    fi
  fi
  PY="$venv/bin/python"
fi
start_mock
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1

# 1. llmc writes, huggingface_hub reads offline.
out=$(llmc download test/tiny 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "llmc download"; }
HF_HUB_OFFLINE=1 "$PY" - "$out" <<'PY' || fail "huggingface_hub could not use llmc's download offline"
import os, sys
from huggingface_hub import snapshot_download, hf_hub_download
llmc_dir = sys.argv[1]
p = snapshot_download("test/tiny", local_files_only=True)
assert os.path.realpath(p) == os.path.realpath(llmc_dir), (p, llmc_dir)
files = sorted(os.listdir(llmc_dir))
assert "config.json" in files and "model-00001-of-00002.safetensors" in files, files
for f in files:
    q = hf_hub_download("test/tiny", f, local_files_only=True)
    assert open(q, "rb").read() == open(os.path.join(llmc_dir, f), "rb").read(), f
print("python found", len(files), "files offline")
PY
pass "huggingface_hub offline finds llmc's snapshot"

# 2. huggingface_hub writes (online, with a token), llmc reads.
export HF_HOME="$WORK/home2"
: > "$LOG"
HF_TOKEN=hf_good "$PY" - <<'PY' > "$WORK/pypath" || fail "huggingface_hub download from the mock"
from huggingface_hub import snapshot_download
print(snapshot_download("test/private"))
PY
pypath=$(tail -1 "$WORK/pypath")
grep '^cdn ' "$LOG" | grep -v 'auth=-$' && fail "huggingface_hub sent the token to the CDN (mock CDN host is wrong)"
: > "$LOG"
got=$(HF_HUB_OFFLINE=1 llmc download test/private 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "llmc offline on huggingface_hub's cache"; }
[ "$got" = "$pypath" ] || fail "llmc offline found '$got', huggingface_hub wrote '$pypath'"
commit=$(basename "$pypath")
got=$(llmc download test/private --revision "$commit" 2>"$WORK/err") || fail "llmc by commit on huggingface_hub's cache"
[ "$got" = "$pypath" ] || fail "llmc by commit found '$got'"
[ ! -s "$LOG" ] || fail "llmc made requests for a cached commit / offline"
got=$(llmc download test/private --token hf_good 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "llmc online on huggingface_hub's cache"; }
[ "$got" = "$pypath" ] || fail "llmc online found '$got'"
grep -q '^cdn ' "$LOG" && fail "llmc fetched blobs huggingface_hub had already downloaded"
pass "llmc finds and reuses huggingface_hub's snapshot"

# 3. llmc ls / rm on a cache shared with huggingface_hub: the same repos, revisions and sizes as
#    scan_cache_dir, and a deletion that frees what huggingface_hub's delete_revisions would.
llmc download test/tiny >/dev/null 2>&1 || fail "download test/tiny into home2"
repo="$HF_HOME/hub/models--test--tiny"
main=$(cat "$repo/refs/main")
old=0123456789abcdef0123456789abcdef01234567   # a second revision: shares config.json, adds one blob
mkdir -p "$repo/snapshots/$old"
ln -s "$(readlink "$repo/snapshots/$main/config.json")" "$repo/snapshots/$old/config.json"
printf 'only in the old revision' > "$repo/blobs/feedface"
ln -s ../../blobs/feedface "$repo/snapshots/$old/extra.txt"
printf %s "$old" > "$repo/refs/v1"   # huggingface_hub reads refs verbatim
llmc ls --json > "$WORK/ls.json" || fail "llmc ls --json"
llmc ls | grep -q "test/tiny" || fail "llmc ls does not show test/tiny"
"$PY" - "$WORK/ls.json" <<'PY' || fail "llmc ls disagrees with huggingface_hub's scan_cache_dir"
import json, sys
from huggingface_hub import scan_cache_dir
mine = [e for e in json.load(open(sys.argv[1])) if e["revision"]]
info = scan_cache_dir()
theirs = {(r.repo_id, v.commit_hash): (v.size_on_disk, sorted(v.refs), v.nb_files) for r in info.repos for v in r.revisions}
got = {(e["model"], e["revision"]): (e["size"], sorted(x for x in e["refs"].split(",") if x), e["files"]) for e in mine}
assert got == theirs, (got, theirs)
PY
want_freed=$("$PY" -c "from huggingface_hub import scan_cache_dir; print(scan_cache_dir().delete_revisions('$old').expected_freed_size)")
llmc rm test/tiny --revision v1 2>"$WORK/rm.err" || { cat "$WORK/rm.err" >&2; fail "llmc rm --revision v1"; }
grep -q "(${want_freed} B freed)" "$WORK/rm.err" || fail "llmc rm freed '$(cat "$WORK/rm.err")', huggingface_hub expects $want_freed B"
[ ! -e "$repo/snapshots/$old" ] && [ ! -e "$repo/refs/v1" ] && [ ! -e "$repo/blobs/feedface" ] || fail "rm left the old revision behind"
[ -f "$repo/snapshots/$main/config.json" ] || fail "rm deleted a blob the kept revision uses"
HF_HUB_OFFLINE=1 "$PY" -c "from huggingface_hub import snapshot_download; snapshot_download('test/tiny', local_files_only=True)" ||
  fail "huggingface_hub cannot use the kept revision after llmc rm"
llmc rm test/private 2>/dev/null || fail "llmc rm test/private"
llmc rm test/tiny 2>/dev/null || fail "llmc rm test/tiny"
[ "$("$PY" -c 'from huggingface_hub import scan_cache_dir; print(len(scan_cache_dir().repos))')" = 0 ] || fail "repos left after rm"
llmc rm test/tiny 2>"$WORK/rm.err" && fail "rm of a model not in the cache succeeded"
grep -q "not in the cache" "$WORK/rm.err" || fail "rm of a missing model: $(cat "$WORK/rm.err")"
llmc pull test/tiny >/dev/null 2>&1 || fail "llmc pull"
[ -d "$repo/snapshots" ] || fail "pull did not download"
pass "llmc ls and rm agree with huggingface_hub's cache scan and deletion"
echo "hub_interop: all passed"
