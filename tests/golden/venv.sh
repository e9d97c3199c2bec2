#!/usr/bin/env bash
# Creates (once) the venv the golden scripts run in and prints its python path.
# LLMC_GOLDEN_VENV overrides the location (default: <repo>/.venv-golden); LLMC_GOLDEN_PYTHON
# the interpreter (default: the first of python3.12, python3.13, python3 that is >= 3.12,
# or a pyenv-installed 3.12/3.13, which the pinned numpy needs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${LLMC_GOLDEN_VENV:-$root/.venv-golden}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, transformers, tokenizers, jinja2' 2>/dev/null; then
  py="${LLMC_GOLDEN_PYTHON:-}"
  if [ -z "$py" ]; then
    pyenv_root="$(pyenv root 2>/dev/null || true)"
    for c in python3.12 python3.13 python3 ${pyenv_root:+$pyenv_root/versions/3.12*/bin/python3 $pyenv_root/versions/3.13*/bin/python3}; do
      if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py="$c"; break; fi
    done
  fi
  if [ -z "$py" ]; then
    echo "tests/golden/venv.sh: needs Python >= 3.12 (the pinned numpy does); install python3.12 or set LLMC_GOLDEN_PYTHON" >&2
    exit 1
  fi
  "$py" -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$root/tests/golden/requirements.txt" >&2
fi
echo "$venv/bin/python"
