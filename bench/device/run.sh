#!/usr/bin/env bash
# The one script for a lent GPU machine (nvcc, torch, transformers; no network).
# Builds llmc for this GPU's architecture, then
#  (a) parity: the CUDA unit test (random checkpoints, f32/f16/bf16, CPU/GPU split, vs the
#      CPU backend), every tests/golden/core fixture on --device cuda vs transformers'
#      reference and vs --device cpu, and greedy ids vs transformers on the GPU for one
#      random checkpoint (bf16 and f32);
#  (b) speed: a Llama-3.2-3B-shaped random bf16 checkpoint made here by transformers, the
#      seed's pirate prompt (52 tokens), 256 new tokens at batch 1: transformers (pipeline
#      when a Llama 3 tokenizer is at hand, else generate on the same ids) vs llmc;
#  (a4) with LLMC_SERVE_MODEL: llmc serve --device cuda under 1 and 4 concurrent streams
#      (bench/serve_bench.py: replies equal to the lone ones, tok/s, TTFT).
# Results: $OUT/results.json and $OUT/results.md (OUT defaults to bench/device/out).
# usage (repo root): bash bench/device/run.sh
# env: SKIP_SPEED=1; SKIP_BUILD=1 BUILD=dir to use a build made elsewhere (llmc, tests/test_cuda);
#      LLMC_LLAMA3_TOKENIZER=dir (tokenizer.json) to time the transformers pipeline itself.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench/device/out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
PY="${PYTHON:-python3}"
BUILD="${BUILD:-build-device}"
START=$(date +%s)

say "== device: $(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
[ -n "$cap" ] || cap=native
say "== build (CUDA arch $cap)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  if ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$cap" >> "$LOG" 2>&1; then
    say "FAIL: cmake configure (see $LOG; missing Debian -dev packages? scripts/install-deps.sh)"; exit 1
  fi
  if ! cmake --build "$BUILD" -j"$(nproc)" --target llmc test_cuda >> "$LOG" 2>&1; then
    say "FAIL: build (see $LOG)"; tail -30 "$LOG"; exit 1
  fi
fi
grep -q "CUDA backend on" "$LOG" || [ "${SKIP_BUILD:-0}" = 1 ] || { say "FAIL: CMake did not enable the CUDA backend"; exit 1; }
LLMC="$BUILD/llmc"
say "   build done at +$(( $(date +%s) - START ))s"

say "== (a1) unit test on the GPU"
T="$BUILD/tests/test_cuda"; [ -x "$T" ] || T="$BUILD/tests/unit/test_cuda"
timeout 180 "$T" > "$OUT/test_cuda.txt" 2>&1; unit_rc=$?
tail -12 "$OUT/test_cuda.txt" | tee -a "$LOG"

say "== (a2) core fixtures: --device cuda vs transformers' reference and vs --device cpu"
"$PY" bench/device/device_bench.py fixtures --llmc "$LLMC" --out "$OUT" 2>&1 | tee -a "$LOG"

say "== (a3) greedy ids vs transformers on the GPU (random checkpoint)"
"$PY" bench/device/device_bench.py greedy --llmc "$LLMC" --out "$OUT" 2>&1 | tee -a "$LOG"
say "   parity done at +$(( $(date +%s) - START ))s"

say "== (a4) llmc serve on the GPU: concurrent streams = each alone, and their speed (1, 4 streams)"
# The CUDA backend holds one sequence's KV, so the server runs one generation at a time there
# (src/server/server.h); this step checks that concurrent replies stay the lone ones and records
# the speed, for when a batched GPU path lands. Needs a chat model: LLMC_SERVE_MODEL=file.gguf|dir.
if [ -n "${LLMC_SERVE_MODEL:-}" ]; then
  timeout 900 "$PY" bench/serve_bench.py --llmc "$LLMC" --model "$LLMC_SERVE_MODEL" --streams 1,4 --max-tokens 32 \
    --llmc-args "--device cuda" --json "$OUT/serve_gpu.json" 2>&1 | tee -a "$LOG"
else
  say "   skipped: set LLMC_SERVE_MODEL to a chat model (GGUF file or HF directory) on this machine"
fi

if [ "${SKIP_SPEED:-0}" != 1 ]; then
  say "== (b) speed: Llama-3.2-3B shape, bf16, pirate prompt (52 tokens), 256 new tokens, batch 1"
  "$PY" bench/device/device_bench.py speed --llmc "$LLMC" --out "$OUT" 2>&1 | tee -a "$LOG"
fi
"$PY" bench/device/device_bench.py report --out "$OUT" --unit-rc "$unit_rc" 2>&1 | tee -a "$LOG"
say "== total $(( $(date +%s) - START ))s; results in $OUT/results.md and $OUT/results.json"
