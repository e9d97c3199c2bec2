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

# A huggingface_hub-style holder of .locks/models--test--tiny/<sha256>.lock (flock, as filelock
# takes it) is downloading that blob: llmc must wait for the lock, then use the blob it left.
rm -rf "$HF_HOME/hub"
: > "$LOG"
python3 - "$LLMC_SOURCE_DIR/tests/hub" "$HF_HOME/hub" "$LOG" "$WORK/locked" <<'PY' &
import fcntl, hashlib, os, sys, time
sys.path.insert(0, sys.argv[1])
import mock_hub
cache, log, ready = sys.argv[2], sys.argv[3], sys.argv[4]
content = mock_hub.REPOS["test/tiny"]["files"]["model-00001-of-00002.safetensors"]
sha = hashlib.sha256(content).hexdigest()
lock = os.path.join(cache, ".locks", "models--test--tiny", sha + ".lock")
os.makedirs(os.path.dirname(lock), exist_ok=True)
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o664)
fcntl.flock(fd, fcntl.LOCK_EX)
open(ready, "w").close()
# Hold the lock until llmc has resolved that file (it is then about to take the lock), plus a margin.
for _ in range(300):
    if any("HEAD /test/tiny/resolve/" in l and "model-00001-of-00002" in l for l in open(log)):
        break
    time.sleep(0.05)
time.sleep(1.0)
blobs = os.path.join(cache, "models--test--tiny", "blobs")
os.makedirs(blobs, exist_ok=True)
with open(os.path.join(blobs, sha + ".tmp"), "wb") as f:
    f.write(content)
os.replace(os.path.join(blobs, sha + ".tmp"), os.path.join(blobs, sha))
fcntl.flock(fd, fcntl.LOCK_UN)
PY
holder=$!
for _ in $(seq 100); do [ -e "$WORK/locked" ] && break; sleep 0.1; done
[ -e "$WORK/locked" ] || fail "lock holder did not start"
out=$(llmc download test/tiny 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download while a lock is held"; }
wait $holder || fail "lock holder failed"
sha=$(sha256sum "$out/model-00001-of-00002.safetensors" | cut -d' ' -f1)
[ "$(readlink "$out/model-00001-of-00002.safetensors")" = "../../blobs/$sha" ] || fail "wrong blob after waiting on the lock"
if grep -q "^cdn GET /repos/test/tiny/$sha" "$LOG"; then fail "llmc downloaded a blob whose lock another process held"; fi
grep -q "^cdn GET /repos/test/tiny/" "$LOG" || fail "the other shard should still come from the CDN"
pass "waits on a lock held by another process (huggingface_hub's lock file) and reuses its blob"
echo "hub_concurrent: lock interop passed"
