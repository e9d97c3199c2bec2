#!/usr/bin/env bash
# llmc logits / generate on every committed core fixture (tests/golden/core/*)
# against transformers' reference (logits within tolerance, greedy ids identical),
# plus the CLI's error paths for prompts past the context, bad ids and --device cuda.
set -euo pipefail
: "${LLMC_BIN:?}" "${LLMC_SOURCE_DIR:?}"
cmp="$LLMC_SOURCE_DIR/tests/e2e/core_compare.py"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
for dir in "$LLMC_SOURCE_DIR"/tests/golden/core/*/; do
  ref="$dir/reference.json"
  [ -f "$ref" ] || continue
  n=$((n + 1))
  ids="$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["prompt"])))' "$ref")"
  nnew="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_new_tokens"])' "$ref")"
  if ! "$LLMC_BIN" logits "$dir" --ids "$ids" --threads 2 > "$tmp/logits.json"; then
    echo "FAIL: llmc logits $dir"; fail=1; continue
  fi
  python3 "$cmp" logits "$ref" "$tmp/logits.json" || fail=1
  if ! "$LLMC_BIN" generate "$dir" --ids "$ids" -n "$nnew" --threads 2 > "$tmp/gen.json"; then
    echo "FAIL: llmc generate $dir"; fail=1; continue
  fi
  python3 "$cmp" generate "$ref" "$tmp/gen.json" || fail=1
done
[ "$n" -ge 7 ] || { echo "FAIL: expected >= 7 core fixtures, found $n"; exit 1; }

# The same weights as GGUF files (tests/golden/gguf/<fixture>.gguf, e.g. qwen2/qwen3 metadata
# and tensor names): the same reference.
ng=0
for g in "$LLMC_SOURCE_DIR"/tests/golden/gguf/*.gguf; do
  name="$(basename "$g" .gguf)"
  ref="$LLMC_SOURCE_DIR/tests/golden/core/$name/reference.json"
  [ -f "$ref" ] || continue
  ng=$((ng + 1))
  ids="$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["prompt"])))' "$ref")"
  "$LLMC_BIN" logits "$g" --ids "$ids" --threads 2 > "$tmp/logits.json" || { echo "FAIL: llmc logits $g"; fail=1; continue; }
  python3 "$cmp" logits "$ref" "$tmp/logits.json" || fail=1
  "$LLMC_BIN" generate "$g" --ids "$ids" -n 32 --threads 2 > "$tmp/gen.json" || { echo "FAIL: llmc generate $g"; fail=1; continue; }
  python3 "$cmp" generate "$ref" "$tmp/gen.json" || fail=1
done
[ "$ng" -ge 2 ] || { echo "FAIL: expected >= 2 GGUF twins of core fixtures, found $ng"; exit 1; }

# Error paths: each must fail (non-zero) with a message naming the problem.
d="$LLMC_SOURCE_DIR/tests/golden/core/llama_gqa_f32"
expect_fail() { # pattern, command...
  local pat="$1"; shift
  if "$@" > "$tmp/out" 2> "$tmp/err"; then echo "FAIL: should have failed: $*"; fail=1; return; fi
  grep -q -- "$pat" "$tmp/err" || { echo "FAIL: '$*' error lacks '$pat':"; cat "$tmp/err"; fail=1; }
}
long="$(python3 -c 'print(",".join(["5"] * 129))')"   # max_position_embeddings is 128
expect_fail "context of 128" "$LLMC_BIN" logits "$d" --ids "$long"
expect_fail "context of 16" "$LLMC_BIN" logits "$d" --ids "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17" --ctx 16
expect_fail "needs 137 positions" "$LLMC_BIN" generate "$d" --ids "1,2,3,4,5,6,7,8,9,10" -n 128
expect_fail "token id 256" "$LLMC_BIN" logits "$d" --ids "1,256"
if nvidia-smi -L >/dev/null 2>&1; then echo "note: a GPU is present: the no-CUDA error check is skipped" >&2; else expect_fail "CUDA is not available" "$LLMC_BIN" generate "$d" --ids 1 -n 1 --device cuda; fi
expect_fail "config.json" "$LLMC_BIN" logits "$LLMC_SOURCE_DIR/tests/golden" --ids 1
"$LLMC_BIN" generate --help | grep -q -- "--ids" || { echo "FAIL: generate --help"; fail=1; }
"$LLMC_BIN" logits --help | grep -q -- "--ids" || { echo "FAIL: logits --help"; fail=1; }

# Converting weights at load: bf16 rounding of every weight moves logits by ~1e-2
# relative; greedy must still run and f32 conversion of an f32 file be exact.
"$LLMC_BIN" logits "$d" --ids 1,2,3 --dtype f32 > "$tmp/a.json"
"$LLMC_BIN" logits "$d" --ids 1,2,3 > "$tmp/b.json"
cmp -s "$tmp/a.json" "$tmp/b.json" || { echo "FAIL: --dtype f32 on an F32 file changed the logits"; fail=1; }
"$LLMC_BIN" logits "$d" --ids 1,2,3 --dtype bf16 > "$tmp/c.json" || { echo "FAIL: --dtype bf16"; fail=1; }
python3 - "$tmp/b.json" "$tmp/c.json" <<'PY' || fail=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
scale = max(abs(v) for r in a for v in r)
rel = max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r, s)) / scale
print(f"--dtype bf16 vs f32: max rel {rel:.3g}")
sys.exit(0 if 0 < rel < 0.1 else f"FAIL: bf16 conversion moved logits by {rel}")
PY
exit $fail
