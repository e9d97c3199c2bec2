#!/usr/bin/env bash
# End-to-end: `llmc serve` on the default model, the OpenAI API beyond plain chat (stop strings,
# response_format, tools, routes, errors, /metrics, the API key), checked by tests/e2e/serve_api.py
# with raw HTTP (and with the official openai package too when it is installed). Fails when the
# build has no HTTP server or the model is missing.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
need_smollm2
if "$LLMC_BIN" serve x --port 0 2>&1 | grep -q "no HTTP server"; then
  echo "FAIL: this build has no HTTP server (apt-get install libmicrohttpd-dev, then rebuild)" >&2
  exit 1
fi
exec python3 "$LLMC_SOURCE_DIR/tests/e2e/serve_api.py" "$LLMC_BIN" "$SMOLLM2"
