#!/usr/bin/env bash
# Constrained decoding with the real SmolLM2 model through `llmc run`: --json-schema replies
# (greedy and sampled) parse and validate, a cut reply says "length", --json-object gives an
# object, --grammar follows a GBNF grammar, and a bad schema fails naming the schema path.
set -u
source "$(dirname "$0")/lib/common.sh"
need_smollm2
BIN="$LLMC_BIN"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok $1"; }
bad() { echo "FAIL $1" >&2; fail=1; }

cat > "$tmp/person.json" <<'EOF'
{"type": "object",
 "properties": {"name": {"type": "string", "maxLength": 40},
                "age": {"type": "integer"},
                "role": {"enum": ["captain", "cook", "navigator"]},
                "ships": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 1, "maxItems": 3},
                "retired": {"type": "boolean"}},
 "required": ["name", "age", "role", "ships"], "additionalProperties": false}
EOF
# A stdlib-only validator for the schema above (independent of llmc).
cat > "$tmp/check.py" <<'EOF'
import json, sys
v = json.loads(open(sys.argv[1]).read())
assert isinstance(v, dict), "not an object"
assert set(v) <= {"name", "age", "role", "ships", "retired"}, "extra keys %s" % set(v)
for k in ("name", "age", "role", "ships"):
    assert k in v, "missing " + k
assert isinstance(v["name"], str) and len(v["name"]) <= 40
assert isinstance(v["age"], int) and not isinstance(v["age"], bool)
assert v["role"] in ("captain", "cook", "navigator")
assert isinstance(v["ships"], list) and 1 <= len(v["ships"]) <= 3
assert all(isinstance(s, str) and len(s) <= 30 for s in v["ships"])
assert "retired" not in v or isinstance(v["retired"], bool)
EOF
prompt="Describe a pirate as JSON with name, age, role and ships."
for mode in "--greedy" "--seed 1" "--seed 2" "--seed 3 --temperature 1.2"; do
    # shellcheck disable=SC2086
    if "$BIN" run "$SMOLLM2" --json-schema "$tmp/person.json" $mode --max-new-tokens 200 -v "$prompt" > "$tmp/out" 2> "$tmp/err" \
       && grep -q "stop: eos" "$tmp/err" && python3 "$tmp/check.py" "$tmp/out" 2> "$tmp/perr"; then ok "json-schema $mode"
    else bad "json-schema $mode: $(cat "$tmp/out") $(grep -v info "$tmp/err") $(cat "$tmp/perr" 2>/dev/null)"; fi
done

# max_new_tokens runs out: the reply is cut and the stop reason says length.
if "$BIN" run "$SMOLLM2" --json-schema "$tmp/person.json" --greedy --max-new-tokens 4 -v "$prompt" > "$tmp/out" 2> "$tmp/err" \
   && grep -q "stop: length" "$tmp/err"; then ok "length"
else bad "length: $(cat "$tmp/err")"; fi

if "$BIN" run "$SMOLLM2" --json-object --seed 5 --max-new-tokens 200 -v "List three fruits as JSON." > "$tmp/out" 2> "$tmp/err" \
   && grep -q "stop: eos" "$tmp/err" && python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), dict)' "$tmp/out"; then
    ok "json-object"
else bad "json-object: $(cat "$tmp/out") $(cat "$tmp/err")"; fi

printf 'root ::= answer "." \nanswer ::= "yes" | "no" | "maybe"\n' > "$tmp/yn.gbnf"
if "$BIN" run "$SMOLLM2" --grammar "$tmp/yn.gbnf" --seed 9 "Is the sea salty?" > "$tmp/out" 2> "$tmp/err" \
   && grep -qxE '(yes|no|maybe)\.' "$tmp/out"; then ok "grammar"
else bad "grammar: $(cat "$tmp/out") $(cat "$tmp/err")"; fi

# Tool calls: tool_choice required / a named function force a valid call even from this small model.
cat > "$tmp/tools.json" <<'EOF'
[{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                 "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"]}}},
 {"type": "function", "function": {"name": "add", "description": "Add two numbers",
  "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}}]
EOF
cat > "$tmp/tcheck.py" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
want = sys.argv[2]
calls = m["tool_calls"]
assert len(calls) >= 1, "no call"
f = calls[0]["function"]
args = json.loads(f["arguments"])
if want != "any":
    assert f["name"] == want, f["name"]
if f["name"] == "get_weather":
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit"), args
else:
    assert f["name"] == "add" and all(isinstance(args[k], (int, float)) for k in "ab"), args
EOF
for tc in "required any --greedy" "add add --seed 4" "get_weather get_weather --seed 7"; do
    # shellcheck disable=SC2086
    set -- $tc
    if "$BIN" run "$SMOLLM2" --tools "$tmp/tools.json" --tool-choice "$1" "$3" ${4:-} --max-new-tokens 120 \
         "What is the weather in Paris? Also, what is 2 plus 3?" > "$tmp/out" 2> "$tmp/err" \
       && python3 "$tmp/tcheck.py" "$tmp/out" "$2" 2> "$tmp/perr"; then ok "tools $1"
    else bad "tools $1: $(cat "$tmp/out") $(cat "$tmp/err") $(cat "$tmp/perr")"; fi
done
# tool_choice auto: the reply comes back as an assistant message
if "$BIN" run "$SMOLLM2" --tools "$tmp/tools.json" --greedy --max-new-tokens 30 "Say hello." > "$tmp/out" 2> "$tmp/err" \
   && python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["role"] == "assistant" and (m["content"] or m.get("tool_calls"))' "$tmp/out"; then
    ok "tools auto"
else bad "tools auto: $(cat "$tmp/out") $(cat "$tmp/err")"; fi

# Errors: the schema path, a GBNF position; non-zero exit.
echo '{"type": "object", "properties": {"age": {"type": "int"}}}' > "$tmp/bad.json"
if ! "$BIN" run "$SMOLLM2" --json-schema "$tmp/bad.json" "x" > /dev/null 2> "$tmp/err" && grep -q '\$.properties.age.type' "$tmp/err"; then
    ok "bad schema"
else bad "bad schema: $(cat "$tmp/err")"; fi
printf 'root ::= "a" undefined_rule\n' > "$tmp/bad.gbnf"
if ! "$BIN" run "$SMOLLM2" --grammar "$tmp/bad.gbnf" "x" > /dev/null 2> "$tmp/err" && grep -q "undefined_rule" "$tmp/err"; then
    ok "bad grammar"
else bad "bad grammar: $(cat "$tmp/err")"; fi
exit $fail
