#!/usr/bin/env bash
# Disk full during a download: a clear error, nothing under snapshots/, and once space is
# freed a rerun resumes and completes. Uses a small tmpfs in a private mount namespace
# (unshare -rm as root, or a user namespace); fails where neither is allowed.
source "$(dirname "$0")/../hub/lib.sh"
mnt="$WORK/small"
mkdir -p "$mnt"
if ! unshare -rm sh -c "mount -t tmpfs -o size=64k none '$mnt'" 2>/dev/null; then
  echo "FAIL: cannot mount a small tmpfs (unshare -rm not permitted here): disk-full handling not tested" >&2
  exit 1
fi
start_mock
export MNT="$mnt" LOG
unshare -rm bash -c '
  set -u
  fail() { echo "FAIL: $*" >&2; exit 1; }
  mount -t tmpfs -o size=350k none "$MNT" || fail "mount"
  export HF_HUB_CACHE="$MNT/hub"
  if timeout 120 "$LLMC_BIN" download test/tiny >/dev/null 2>"$MNT/../err"; then fail "download into a full disk succeeded"; fi
  grep -qi "disk full" "$MNT/../err" || fail "error does not say disk full: $(cat "$MNT/../err")"
  if find "$HF_HUB_CACHE" -path "*/snapshots/*" | grep -q .; then fail "files under snapshots/ after disk full"; fi
  ls "$HF_HUB_CACHE"/models--test--tiny/blobs | grep -q "\.incomplete$" || fail "no partial download kept to resume"
  mount -o remount,size=4m "$MNT" || fail "remount"
  out=$(timeout 120 "$LLMC_BIN" download test/tiny 2>"$MNT/../err") || fail "rerun after freeing space: $(cat "$MNT/../err")"
  for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
    sha=$(sha256sum "$out/$f" | cut -d" " -f1)
    [ "$(readlink "$out/$f")" = "../../blobs/$sha" ] || fail "$f wrong after resume"
  done
  grep -q "range=bytes=[1-9]" "$LOG" || fail "the rerun did not resume with Range"
' || fail "disk-full scenario"
pass "disk full: clear error, no snapshot, resume after freeing space"
echo "hub_diskfull: all passed"
