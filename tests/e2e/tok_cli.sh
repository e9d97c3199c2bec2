#!/usr/bin/env bash
# llmc tokenize / detokenize against ids recorded from transformers (tests/golden/tokenizer/*.json).
set -u
source "$(dirname "$0")/lib/common.sh"
BIN="$LLMC_BIN"
fail=0
check() { # name expected actual
    if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]" >&2; fail=1; else echo "ok $1"; fi
}
T="$FIX/tokenizers"
check llama3 "[128000, 9906, 11, 1917, 0, 2650, 527, 499, 3815, 3432, 30]" "$("$BIN" tokenize "$T/llama3" --text 'Hello, world! How are you doing today?')"
check llama3-nospecial "[101193, 124409]" "$("$BIN" tokenize "$T/llama3/tokenizer.json" --text '안녕하세요' --no-special)"
check qwen3 "[126246, 144370, 91145]" "$("$BIN" tokenize "$T/qwen3/tokenizer_config.json" --text '안녕하세요')"
check llama2 "[1, 28705, 30325, 238, 136, 152, 29136, 29721, 29517]" "$("$BIN" tokenize "$T/llama2" --text '안녕하세요')"
printf 'Hello, world! How are you doing today?' > "${TMPDIR:-/tmp}/tok_cli_$$.txt"
check llama2-file "[1, 22557, 28725, 1526, 28808, 1602, 460, 368, 2548, 3154, 28804]" "$("$BIN" tokenize "$T/llama2" --file "${TMPDIR:-/tmp}/tok_cli_$$.txt")"
rm -f "${TMPDIR:-/tmp}/tok_cli_$$.txt"
check detok-llama3 "<|begin_of_text|>Hello, world!" "$("$BIN" detokenize "$T/llama3" --ids 128000,9906,11,1917,0)"
check detok-skip "Hello, world!" "$("$BIN" detokenize "$T/llama3" --ids 128000,9906,11,1917,0 --skip-special)"
check detok-llama2 "안녕하세요" "$("$BIN" detokenize "$T/llama2" --ids 1,28705,30325,238,136,152,29136,29721,29517 --skip-special)"
# invalid UTF-8: clear error naming the byte offset, non-zero exit
printf 'ab\xffc' > "${TMPDIR:-/tmp}/tok_bad_$$.txt"
err=$("$BIN" tokenize "$T/llama3" --file "${TMPDIR:-/tmp}/tok_bad_$$.txt" 2>&1 >/dev/null); rc=$?
rm -f "${TMPDIR:-/tmp}/tok_bad_$$.txt"
[ $rc -ne 0 ] && [[ "$err" == *"byte offset 2"* ]] && echo "ok invalid-utf8" || { echo "FAIL invalid utf8: rc=$rc err=$err" >&2; fail=1; }
"$BIN" detokenize "$T/llama3" --ids 999999999 >/dev/null 2>&1 && { echo "FAIL: out-of-vocab id accepted" >&2; fail=1; }
"$BIN" tokenize /nonexistent/dir --text x >/dev/null 2>&1 && { echo "FAIL: missing source accepted" >&2; fail=1; }
# SmolLM2 from its GGUF (smollm pre-tokenizer: digits one by one)
need_smollm2
check smollm2-gguf "[19556, 905, 17, 216, 33, 34, 35]" "$("$BIN" tokenize "$SMOLLM2" --text 'Hello world! 123')"
check smollm2-gguf-detok "<|im_start|>user" "$("$BIN" detokenize "$SMOLLM2" --ids 1,4093)"
exit $fail
