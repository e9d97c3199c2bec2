#!/usr/bin/env bash
# Interop with the real huggingface_hub (pinned, from PyPI) through the mock Hub:
#  1. after `llmc download`, huggingface_hub offline (HF_HUB_OFFLINE=1) finds every file via
#     snapshot_download(..., local_files_only=True) and hf_hub_download;
#  2. llmc offline finds a snapshot huggingface_hub downloaded, and llmc online reuses its blobs.
# The venv (only huggingface_hub) is cached at $HOME/.cache/llmc/venv-hub; set LLMC_HUB_PYTHON to
# use another interpreter that has huggingface_hub==2.4.0. Fails when PyPI is unreachable.
source "$(dirname "$0")/../hub/lib.sh"
PIN="huggingface_hub==2.4.0"
PY="${LLMC_HUB_PYTHON:-}"
if [ -z "$PY" ]; then
  venv="$HOME/.cache/llmc/venv-hub"
  if ! "$venv/bin/python" -c 'import huggingface_hub,sys; sys.exit(huggingface_hub.__version__ != "2.4.0")' 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! { python3 -m venv "$venv" && timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check "$PIN"; } >"$WORK/pip.log" 2>&1; then
      cat "$WORK/pip.log" >&2
      rm -rf "$venv"
      echo "FAIL: cannot install $PIN from PyPI (offline?): hub interop not tested" >&2
      exit 1
    fi
  fi
  PY="$venv/bin/python"
fi
start_mock
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1

# 1. llmc writes, huggingface_hub reads offline.
out=$(llmc download test/tiny 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "llmc download"; }
HF_HUB_OFFLINE=1 "$PY" - "$out" <<'PY' || fail "huggingface_hub could not use llmc's download offline"
import os, sys
from huggingface_hub import snapshot_download, hf_hub_download
llmc_dir = sys.argv[1]
p = snapshot_download("test/tiny", local_files_only=True)
assert os.path.realpath(p) == os.path.realpath(llmc_dir), (p, llmc_dir)
files = sorted(os.listdir(llmc_dir))
assert "config.json" in files and "model-00001-of-00002.safetensors" in files, files
for f in files:
    q = hf_hub_download("test/tiny", f, local_files_only=True)
    assert open(q, "rb").read() == open(os.path.join(llmc_dir, f), "rb").read(), f
print("python found", len(files), "files offline")
PY
pass "huggingface_hub offline finds llmc's snapshot"

# 2. huggingface_hub writes (online, with a token), llmc reads.
export HF_HOME="$WORK/home2"
: > "$LOG"
HF_TOKEN=hf_good "$PY" - <<'PY' > "$WORK/pypath" || fail "huggingface_hub download from the mock"
from huggingface_hub import snapshot_download
print(snapshot_download("test/private"))
PY
pypath=$(tail -1 "$WORK/pypath")
grep '^cdn ' "$LOG" | grep -v 'auth=-$' && fail "huggingface_hub sent the token to the CDN (mock CDN host is wrong)"
: > "$LOG"
got=$(HF_HUB_OFFLINE=1 llmc download test/private 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "llmc offline on huggingface_hub's cache"; }
[ "$got" = "$pypath" ] || fail "llmc offline found '$got', huggingface_hub wrote '$pypath'"
commit=$(basename "$pypath")
got=$(llmc download test/private --revision "$commit" 2>"$WORK/err") || fail "llmc by commit on huggingface_hub's cache"
[ "$got" = "$pypath" ] || fail "llmc by commit found '$got'"
[ ! -s "$LOG" ] || fail "llmc made requests for a cached commit / offline"
got=$(llmc download test/private --token hf_good 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "llmc online on huggingface_hub's cache"; }
[ "$got" = "$pypath" ] || fail "llmc online found '$got'"
grep -q '^cdn ' "$LOG" && fail "llmc fetched blobs huggingface_hub had already downloaded"
pass "llmc finds and reuses huggingface_hub's snapshot"
echo "hub_interop: all passed"
