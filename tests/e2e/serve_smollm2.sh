#!/usr/bin/env bash
# End-to-end: `llmc serve` on the default model (OpenAI chat completions over HTTP),
# checked against the CLI's own replies by tests/e2e/serve_check.py. Fails when the build has no
# HTTP server (scripts/install-deps.sh installs libmicrohttpd-dev) or the model is missing.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
need_smollm2
if "$LLMC_BIN" serve x --port 0 2>&1 | grep -q "no HTTP server"; then
  echo "FAIL: this build has no HTTP server (apt-get install libmicrohttpd-dev, then rebuild)" >&2
  exit 1
fi
exec python3 "$LLMC_SOURCE_DIR/tests/e2e/serve_check.py" "$LLMC_BIN" "$SMOLLM2"
