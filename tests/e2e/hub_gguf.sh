#!/usr/bin/env bash
# GGUF repos against the mock Hub, as llama.cpp's `-hf org/name:QUANT` picks a file: the tagged
# quantization (case-insensitive, a whole part of the name, a split file whole), the default
# Q4_K_M or a repo's only GGUF without a tag, an error listing what is there, a repo with
# safetensors unchanged unless tagged, the cache reused offline, and a model run from the Hub.
source "$(dirname "$0")/../hub/lib.sh"
start_mock
snap() { echo "$HF_HOME/hub/models--test--$1/snapshots/$(cat "$HF_HOME/hub/models--test--$1/refs/main")"; }

out=$(llmc download test/Tiny-GGUF 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download test/Tiny-GGUF"; }
s=$(snap Tiny-GGUF)
[ "$out" = "$s/tiny-Q4_K_M.gguf" ] || fail "untagged: printed '$out', expected the Q4_K_M file"
[ "$(ls "$s")" = "tiny-Q4_K_M.gguf" ] || fail "untagged: fetched $(ls "$s" | tr '\n' ' ')"
pass "untagged GGUF repo: Q4_K_M, nothing else"

out=$(llmc download test/Tiny-GGUF:q8_0 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download :q8_0"; }
[ "$out" = "$s/tiny-Q8_0.gguf" ] && [ -f "$out" ] || fail ":q8_0 printed '$out'"
out=$(llmc download test/Tiny-GGUF:Q4_K 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download :Q4_K"; }
[ "$out" = "$s/tiny-Q4_K.gguf" ] || fail ":Q4_K matched '$out' (must not take Q4_K_M)"
pass "tag picks its file, case-insensitive, whole part of the name"

out=$(llmc download test/Tiny-GGUF:F16 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download :F16"; }
[ "$out" = "$s/tiny-F16-00001-of-00002.gguf" ] || fail ":F16 printed '$out'"
[ -f "$s/tiny-F16-00002-of-00002.gguf" ] || fail "split GGUF: second part not fetched"
pass "split GGUF downloads whole, the first part is the path"

if llmc download test/Tiny-GGUF:Q5_K_S >/dev/null 2>"$WORK/err"; then fail "unknown quant accepted"; fi
grep -q "Q5_K_S" "$WORK/err" && grep -q "Q8_0" "$WORK/err" && grep -q "IQ2_XS" "$WORK/err" ||
  fail "unknown quant: error does not list what is there: $(cat "$WORK/err")"
if llmc download test/many-GGUF >/dev/null 2>"$WORK/err"; then fail "ambiguous repo accepted"; fi
grep -q "Q8_0" "$WORK/err" && grep -q "Q2_K" "$WORK/err" && grep -q ":QUANT" "$WORK/err" ||
  fail "ambiguous: error does not list the quantizations: $(cat "$WORK/err")"
pass "errors name the quantizations present"

out=$(llmc download test/one-GGUF 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download test/one-GGUF"; }
[ "$out" = "$(snap one-GGUF)/model.Q5_1.gguf" ] || fail "single GGUF: printed '$out'"
pass "a repo's only GGUF needs no tag"

out=$(llmc download test/mixed 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download test/mixed"; }
[ "$out" = "$(snap mixed)" ] && [ -f "$out/model.safetensors" ] && [ ! -e "$out/mixed-Q8_0.gguf" ] ||
  fail "mixed repo untagged should fetch the safetensors checkout: '$out'"
out=$(llmc download test/mixed:Q8_0 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "download test/mixed:Q8_0"; }
[ "$out" = "$(snap mixed)/mixed-Q8_0.gguf" ] || fail "mixed repo tagged: printed '$out'"
pass "safetensors + GGUF repo: safetensors unless a tag is given"

: > "$LOG"
out=$(HF_HUB_OFFLINE=1 llmc download test/Tiny-GGUF:q8_0 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "offline :q8_0"; }
[ "$out" = "$s/tiny-Q8_0.gguf" ] || fail "offline printed '$out'"
[ -s "$LOG" ] && fail "offline run made requests: $(cat "$LOG")"
if HF_HUB_OFFLINE=1 llmc download test/Tiny-GGUF:IQ2_XS >/dev/null 2>&1; then fail "offline: an uncached quant was found"; fi
pass "offline: the cached pick is found without a request"

ids=$(llmc generate test/Tiny-GGUF --ids 1,2,3 -n 3 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "generate from a GGUF repo"; }
[[ "$ids" =~ ^\[[0-9]+,\ ?[0-9]+,\ ?[0-9]+\]$ ]] || fail "generate printed '$ids'"
pass "a model runs straight from a GGUF repo"
