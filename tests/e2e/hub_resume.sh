#!/usr/bin/env bash
# Robustness of blob downloads: a connection cut mid-file resumes with Range and ends with the
# right bytes; a leftover .incomplete from an earlier run is resumed; wrong content (sha256
# mismatch) is rejected and nothing is left under snapshots/ nor as a blob.
source "$(dirname "$0")/../hub/lib.sh"
start_mock

out=$(llmc download test/cut 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download with cut connections"; }
grep -q '^cdn GET .*auth=-$' "$LOG" || fail "no CDN GET"
for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
  sha=$(sha256sum "$out/$f" | cut -d' ' -f1)
  [ "$(readlink "$out/$f")" = "../../blobs/$sha" ] || fail "$f content does not match its name after resume"
done
# Each LFS blob was cut once, then fetched again starting where the cut left it (Range).
python3 - "$WORK" <<'PY' || fail "resume did not use Range from the cut offset"
import sys, re
# the mock logs paths only; count GETs per blob: exactly 2 each (cut + resumed)
lines = [l for l in open(sys.argv[1] + "/log") if l.startswith("cdn GET")]
per = {}
for l in lines:
    blob = l.split()[2].split("?")[0]
    per[blob] = per.get(blob, 0) + 1
assert len(per) == 2 and all(v == 2 for v in per.values()), per
PY
grep -q '^cdn GET .* range=bytes=150000- ' "$LOG" && grep -q '^cdn GET .* range=bytes=100000- ' "$LOG" \
  || { cat "$LOG" >&2; fail "resumed GETs should ask for Range from the cut offsets"; }
ls "$HF_HOME/hub/models--test--cut/blobs" | grep -q incomplete && fail ".incomplete left after success"
pass "resume after a cut connection"

# A partial .incomplete left by an interrupted run is resumed (Range from its size), not restarted.
rm -rf "$HF_HOME/hub"
repo="$HF_HOME/hub/models--test--tiny"
mkdir -p "$repo/blobs"
full=$(mktemp "$WORK/full.XXXX")
llmc download test/tiny --include model-00001-of-00002.safetensors --cache-dir "$WORK/other" >/dev/null 2>&1 || fail "reference download"
src=$(find "$WORK/other" -name model-00001-of-00002.safetensors -path '*snapshots*')
sha=$(sha256sum "$src" | cut -d' ' -f1)
head -c 100000 "$src" > "$repo/blobs/$sha.incomplete"
: > "$LOG"
out=$(llmc download test/tiny --include model-00001-of-00002.safetensors -v 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "resume of .incomplete"; }
cmp "$out/model-00001-of-00002.safetensors" "$src" || fail "resumed file differs"
grep -q "resuming at byte 100000" "$WORK/err" || fail "did not resume from the partial file: $(cat "$WORK/err")"
pass "resume of a leftover .incomplete"

# Wrong bytes from the CDN: rejected, nothing under snapshots/, no blob, no partial to resume from.
expect_fail download test/badsha
grep -qi "checksum mismatch" "$WORK/err" || fail "checksum error message: $(cat "$WORK/err")"
bad="$HF_HOME/hub/models--test--badsha"
if find "$bad" -path '*/snapshots/*' | grep -q .; then fail "files left under snapshots/ after a checksum mismatch"; fi
for b in "$bad"/blobs/*; do
  n=$(basename "$b")
  [[ "$n" =~ ^[0-9a-f]{64} ]] && fail "LFS blob or partial kept after checksum mismatch: $n"
done
[ ! -e "$bad/refs/main" ] || fail "refs/main written for a failed download"
pass "checksum mismatch rejected"
echo "hub_resume: all passed"
