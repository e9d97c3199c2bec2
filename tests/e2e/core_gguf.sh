#!/usr/bin/env bash
# llmc generate on the SmolLM2 GGUF with --dtype f32 (dequantized, the exact mode)
# gives transformers' greedy continuation; native Q4_1 runs and stays well-formed.
set -euo pipefail
: "${LLMC_BIN:?}" "${LLMC_SOURCE_DIR:?}"
source "$(dirname "$0")/lib/common.sh"
need_smollm2
gguf="$SMOLLM2"
ref="$LLMC_SOURCE_DIR/tests/golden/core/smollm2_gguf_reference.json"
ids="$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["prompt"])))' "$ref")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$LLMC_BIN" generate "$gguf" --ids "$ids" -n 16 --dtype f32 --threads 2 > "$tmp/gen.json"
python3 "$LLMC_SOURCE_DIR/tests/e2e/core_compare.py" generate "$ref" "$tmp/gen.json"
"$LLMC_BIN" generate "$gguf" --ids "$ids" -n 4 --threads 2 > "$tmp/q.json"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert len(v)==4 and all(0<=x<49152 for x in v), v' "$tmp/q.json"
