#!/usr/bin/env bash
# Two llmc processes download the same repo at once (the CDN sends slowly so they overlap):
# both succeed with the same snapshot, each blob is fetched once (the other process waits on
# .locks/models--ORG--NAME/<etag>.lock, the lock huggingface_hub takes too), no partial files remain.
source "$(dirname "$0")/../hub/lib.sh"
start_mock

llmc download test/slow >"$WORK/out1" 2>"$WORK/err1" & p1=$!
llmc download test/slow >"$WORK/out2" 2>"$WORK/err2" & p2=$!
wait $p1 || { cat "$WORK/err1" >&2; fail "first process failed"; }
wait $p2 || { cat "$WORK/err2" >&2; fail "second process failed"; }
out=$(cat "$WORK/out1")
[ -n "$out" ] && [ "$out" = "$(cat "$WORK/out2")" ] || fail "the two processes printed different snapshots"
for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
  sha=$(sha256sum "$out/$f" | cut -d' ' -f1)
  [ "$(readlink "$out/$f")" = "../../blobs/$sha" ] || fail "$f corrupt after concurrent download"
  [ -e "$HF_HOME/hub/.locks/models--test--slow/$sha.lock" ] || fail "no lock file for $f"
  n=$(grep -c "^cdn GET /repos/test/slow/$sha" "$LOG" || true)
  [ "$n" = 1 ] || fail "$f fetched $n times from the CDN (the lock should make it 1)"
done
if ls "$HF_HOME/hub/models--test--slow/blobs" | grep -q incomplete; then fail "partial files left"; fi
pass "two processes, one download per blob"
echo "hub_concurrent: all passed"
