#!/usr/bin/env bash
# Creates (once) the venv the golden scripts run in and prints its python path.
# LLMC_GOLDEN_VENV overrides the location (default: <repo>/.venv-golden).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${LLMC_GOLDEN_VENV:-$root/.venv-golden}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, transformers, tokenizers, jinja2' 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$root/tests/golden/requirements.txt" >&2
fi
echo "$venv/bin/python"
