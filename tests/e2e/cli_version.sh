#!/usr/bin/env bash
# `llmc --version`: version, commit, backends, CPU kernel family and features, the GPU (or why none),
# and `llmc ls` on an empty cache.
set -u
source "$(dirname "$0")/lib/common.sh"
fail=0
out=$("$LLMC_BIN" --version) || { echo "FAIL: --version exited non-zero" >&2; exit 1; }
echo "$out"
for want in "^llmc [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{7,}|unknown)\)" "^backends: cpu" "^cpu: (amx|avx512|avx2|scalar) kernels" "^gpu: "; do
  grep -Eq "$want" <<< "$out" || { echo "FAIL: --version lacks /$want/" >&2; fail=1; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
HF_HOME="$tmp/hf" LLMC_CACHE="$tmp/llmc" "$LLMC_BIN" ls > "$tmp/ls" 2> "$tmp/err" || { echo "FAIL: ls on an empty cache" >&2; fail=1; }
grep -q "no cached models" "$tmp/err" || { echo "FAIL: empty ls says: $(cat "$tmp/err")" >&2; fail=1; }
[ "$(HF_HOME="$tmp/hf" LLMC_CACHE="$tmp/llmc" "$LLMC_BIN" ls --json)" = "[]" ] || { echo "FAIL: empty ls --json" >&2; fail=1; }
mkdir -p "$tmp/llmc/models" && printf 'GGUF' > "$tmp/llmc/models/x.gguf"
HF_HOME="$tmp/hf" LLMC_CACHE="$tmp/llmc" "$LLMC_BIN" ls | grep -q "x.gguf" || { echo "FAIL: ls does not show the default-model cache" >&2; fail=1; }
HF_HOME="$tmp/hf" LLMC_CACHE="$tmp/llmc" "$LLMC_BIN" rm x.gguf 2>/dev/null && [ ! -e "$tmp/llmc/models/x.gguf" ] || { echo "FAIL: rm x.gguf" >&2; fail=1; }
HF_HOME="$tmp/hf" "$LLMC_BIN" rm ../etc/passwd.gguf 2>/dev/null && { echo "FAIL: rm outside the cache accepted" >&2; fail=1; }
HF_HOME="$tmp/hf" "$LLMC_BIN" rm ../../x 2>/dev/null && { echo "FAIL: rm of a bad repo id accepted" >&2; fail=1; }
[ $fail = 0 ] && echo "cli_version: all passed"
exit $fail
