#!/usr/bin/env bash
# The Python package (python/llmc) under pytest, in a venv with pinned versions
# (tests/python/requirements.txt, cached in $LLMC_CACHE/venv-pytest), against this build's
# libllmc.so: the seed tutorial verbatim, parity with the CLI, streaming, Ctrl-C, errors, the Hub
# path against the mock Hub, and a wheel built and installed into a fresh venv.
set -u
source "$(dirname "$0")/lib/common.sh"
need_smollm2
lib="$LLMC_BUILD_DIR/libllmc.so"
[ -f "$lib" ] || { echo "FAIL: $lib missing (configure with -DLLMC_SHARED=ON, the default)" >&2; exit 1; }
venv="${LLMC_CACHE:-$HOME/.cache/llmc}/venv-pytest"
req="$LLMC_SOURCE_DIR/tests/python/requirements.txt"
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >"$venv.log" 2>&1 ||
    { cat "$venv.log" >&2; echo "FAIL: could not create the pytest venv (PyPI unreachable?)" >&2; exit 1; }
  cp "$req" "$venv/requirements.txt"
fi
cd "$LLMC_SOURCE_DIR/tests/python"
LLMC_LIBRARY="$lib" PYTHONPATH="$LLMC_SOURCE_DIR/python" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
