#!/usr/bin/env bash
# Prepares build-dev/ on this (GPU-less) machine for a lent GPU machine whose image lacks
# llmc's Debian -dev packages: llmc and test_cuda built for ARCH (default 90: H100/H200),
# the non-system shared libraries they load (not glibc, libstdc++ or CUDA's), and the
# Llama 3 tokenizer + template so the speed step can time the transformers pipeline itself.
# Then: run(carry=["build-dev"], command=see README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH="${1:-90}"
cmake -S . -B build-devcarry -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" >/dev/null
cmake --build build-devcarry -j2 --target llmc test_cuda
rm -rf build-dev
mkdir -p build-dev/tests build-dev/lib build-dev/shared/fixtures/tokenizers build-dev/shared/fixtures/templates
cp build-devcarry/llmc build-dev/
cp build-devcarry/tests/test_cuda build-dev/tests/
for b in build-dev/llmc build-dev/tests/test_cuda; do ldd "$b" | awk '/=>/{print $3}'; done | sort -u |
  grep -v -E "/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libgcc_s|libstdc\+\+|libcublas|libcublasLt|libcudart)\.so" |
  xargs -I{} cp -L {} build-dev/lib/
fix=build-devcarry/fixtures   # tests/fixtures as cmake unpacked it
cp -r "$fix/tokenizers/llama3" build-dev/shared/fixtures/tokenizers/
cp "$fix/templates/llama-3.2-instruct.jinja" build-dev/shared/fixtures/templates/
du -sh build-dev
