#!/usr/bin/env bash
# `llmc chat` in a pseudo-terminal, driven by tests/e2e/chat_pty.py on the default model.
set -u
source "$(dirname "$0")/lib/common.sh"
need_smollm2
if ! "$LLMC_BIN" --version >/dev/null; then echo "FAIL: llmc --version" >&2; exit 1; fi
exec python3 "$LLMC_SOURCE_DIR/tests/e2e/chat_pty.py" "$LLMC_BIN" "$SMOLLM2"
