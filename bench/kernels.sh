#!/usr/bin/env bash
# Builds bench_kernels against an llmc build dir's static library.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root/include" -I"$root/src" "$root/bench/kernels.c" "$build/libllmc.a" \
   -lpthread -lm -o "$build/bench_kernels"
echo "$build/bench_kernels"
