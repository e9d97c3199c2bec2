#!/usr/bin/env bash
# llmc template: prompts byte for byte against transformers' apply_chat_template
# (tests/golden/templates/cli/, made by tests/golden/make_template_fixtures.py), and its error paths.
set -u
source "$(dirname "$0")/lib/common.sh"
BIN="$LLMC_BIN"; SRC="$LLMC_SOURCE_DIR"
C="$SRC/tests/golden/templates/cli"
T="$FIX"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail=0
same() { # name expected-file command...
    local name="$1" exp="$2"; shift 2
    if "$@" > "$tmp/out" 2> "$tmp/err" && cmp -s "$exp" "$tmp/out"; then echo "ok $name"
    else echo "FAIL $name: $(cat "$tmp/err")" >&2; cmp "$exp" "$tmp/out" >&2; fail=1; fi
}
same qwen3-dir-tools "$C/expected_qwen3_dir.txt" \
    "$BIN" template "$T/tokenizers/qwen3" --messages "$C/messages_tools.json" --tools "$C/tools.json" --add-generation-prompt
echo '{"date_string": "26 Jul 2024"}' > "$tmp/date.json"
same llama3-config "$C/expected_llama3_config.txt" \
    "$BIN" template "$T/tokenizers/llama3/tokenizer_config.json" --messages "$C/messages_korean.json" --vars "$tmp/date.json"
same llama32-jinja-vars "$C/expected_llama32_jinja.txt" \
    "$BIN" template "$T/templates/llama-3.2-instruct.jinja" --messages "$C/messages_system.json" --vars "$C/vars_llama32.json" --add-generation-prompt
need_smollm2
same smollm2-gguf "$C/expected_smollm2_gguf.txt" "$BIN" template "$SMOLLM2" --messages "$C/messages_system.json" --add-generation-prompt

same qwen3-tokenizer-json "$C/expected_qwen3_dir.txt" \
    "$BIN" template "$T/tokenizers/qwen3/tokenizer.json" --messages "$C/messages_tools.json" --tools "$C/tools.json" --add-generation-prompt
# malformed messages JSON: non-zero exit, error names the file and the position
printf '[{"role": "user",\n  "content": }]' > "$tmp/bad.json"
err=$("$BIN" template "$T/tokenizers/qwen3" --messages "$tmp/bad.json" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [[ "$err" == *"bad.json"* ]] && [[ "$err" == *"line 2"* ]]; then echo "ok bad-json"
else echo "FAIL bad-json: rc=$rc err=$err" >&2; fail=1; fi
# messages that are not an array
echo '"hi"' > "$tmp/notarray.json"
"$BIN" template "$T/tokenizers/qwen3" --messages "$tmp/notarray.json" >/dev/null 2>&1 && { echo "FAIL: non-array messages accepted" >&2; fail=1; }
# raise_exception's message reaches the user verbatim
printf '{{ raise_exception("Only user and assistant roles are supported!") }}' > "$tmp/raise.jinja"
err=$("$BIN" template "$tmp/raise.jinja" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [[ "$err" == *"Only user and assistant roles are supported!"* ]]; then echo "ok raise"
else echo "FAIL raise: rc=$rc err=$err" >&2; fail=1; fi
# syntax errors carry line:column
printf 'ok\n{%% if x %%}\n{{ 1 + }}' > "$tmp/syntax.jinja"
err=$("$BIN" template "$tmp/syntax.jinja" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [[ "$err" == *"syntax.jinja:3:"* ]]; then echo "ok syntax-position"
else echo "FAIL syntax-position: rc=$rc err=$err" >&2; fail=1; fi
# no template: llama2's tokenizer_config.json has none
"$BIN" template "$T/tokenizers/llama2" >/dev/null 2>&1 && { echo "FAIL: model without template accepted" >&2; fail=1; }
# nothing added: an empty render prints zero bytes
printf '{%% if false %%}x{%% endif %%}\n' > "$tmp/empty.jinja"
out=$("$BIN" template "$tmp/empty.jinja" | wc -c)
[ "$out" = 0 ] && echo "ok empty" || { echo "FAIL empty: $out bytes" >&2; fail=1; }
exit $fail
