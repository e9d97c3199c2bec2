#!/usr/bin/env bash
# End-to-end: `llmc serve --parallel` on the default model: concurrent streams each get the reply
# they get alone, the queue and its 429, n > 1, a client leaving frees its KV, the prefix cache,
# the KV budget named in its error (tests/e2e/serve_parallel.py; loopback only, bounded loops).
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
need_smollm2
if "$LLMC_BIN" serve x --port 0 2>&1 | grep -q "no HTTP server"; then
  echo "FAIL: this build has no HTTP server (apt-get install libmicrohttpd-dev, then rebuild)" >&2
  exit 1
fi
exec python3 "$LLMC_SOURCE_DIR/tests/e2e/serve_parallel.py" "$LLMC_BIN" "$SMOLLM2"
