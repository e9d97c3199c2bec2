#!/usr/bin/env bash
# The main job: build llmc, fetch the default model once, and run the seed tutorial's pirate
# conversation. Extra arguments go to `llmc run` (e.g. --seed 42, --greedy, --json, -v).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
model="${LLMC_MODEL:-$(bash scripts/fetch-default-model.sh)}"
exec ./build/llmc run "$model" \
  --system "You are a pirate chatbot who always responds in pirate speak!" \
  --max-new-tokens 256 "$@" "Who are you?"
