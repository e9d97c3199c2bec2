# Shared helpers for the hub e2e tests: a scratch dir, the mock Hub, assertions.
# Source it; it sets WORK, HUB (endpoint URL), CDN_PORT, LOG and cleans up on exit.
set -euo pipefail
: "${LLMC_BIN:?LLMC_BIN must point at the llmc binary}"
: "${LLMC_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmc-hub.XXXXXX")
MOCK_PID=""
cleanup() {
  if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v python3 >/dev/null || { echo "FAIL: python3 is needed for the mock Hub" >&2; exit 1; }

start_mock() {
  rm -f "$WORK/ports"
  python3 "$LLMC_SOURCE_DIR/tests/hub/mock_hub.py" --port-file "$WORK/ports" --log "$WORK/log" &
  MOCK_PID=$!
  for _ in $(seq 100); do [ -s "$WORK/ports" ] && break; sleep 0.1; done
  [ -s "$WORK/ports" ] || { echo "FAIL: mock hub did not start" >&2; exit 1; }
  read -r HUB_PORT CDN_PORT < "$WORK/ports"
  HUB="http://127.0.0.1:$HUB_PORT"
  LOG="$WORK/log"
  export HF_ENDPOINT="$HUB" HF_HOME="$WORK/home" LLMC_HUB_BACKOFF_MS=10
  unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE TRANSFORMERS_OFFLINE HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_TOKEN_PATH XDG_CACHE_HOME || true
}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# llmc with a hard time bound, so a hang fails instead of blocking CI.
llmc() { timeout 120 "$LLMC_BIN" "$@"; }
# Runs llmc expecting failure; stderr in $WORK/err. Fails if it succeeded.
expect_fail() { if llmc "$@" >"$WORK/out" 2>"$WORK/err"; then fail "expected failure: llmc $*"; fi; }
