#!/usr/bin/env python3
"""Golden chat-template renders for llmc's Jinja engine.

Renders with transformers' own code path (render_jinja_template: the sandboxed jinja2
environment apply_chat_template uses, with the same message preprocessing) and writes:

  tests/golden/templates/smollm2.jinja    SmolLM2's template, read from its GGUF metadata
  tests/golden/templates/models/*.jinja   (input) templates in the style of other model families
  tests/golden/templates/chat_cases.json  every template × a conversation corpus → expected text or error
  tests/golden/templates/load_cases.json  model dirs (tokenizer_config.json) rendered via apply_chat_template
  tests/golden/templates/lang_cases.json  one small template per language feature → expected text or error
                                          (LANG below, plus the blocks of lang_more.txt)

Run: $(bash tests/golden/venv.sh) tests/golden/make_template_fixtures.py
"""
import datetime
import json
import os
import sys

import jinja2
from transformers import AutoTokenizer
from transformers.utils import chat_template_utils
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# tests/fixtures as the build unpacks it (cmake -S . -B build does; its large files are stored .xz)
FIXTURES = os.environ.get("LLMC_FIXTURE_DIR", os.path.join(ROOT, "build", "fixtures"))
OUT = os.path.join(ROOT, "tests", "golden", "templates")
GGUF = os.environ.get("LLMC_GGUF_SMOLLM2", os.path.expanduser("~/.cache/llmc/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
FIXED_DATE = "26 Jul 2024"  # templates that call strftime_now get date_string instead (deterministic)
# strftime_now's clock in every render: 2026-11-28 12:00:00 UTC. tests/unit/test_template.c injects the
# same instant (TEST_TEMPLATE_NOW, llmc_template_limits.now) so the goldens hold on any day.
FIXED_NOW = datetime.datetime(2026, 11, 28, 12, 0, 0, tzinfo=datetime.timezone.utc)


class _FixedClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW if tz else FIXED_NOW.replace(tzinfo=None)


chat_template_utils.datetime = _FixedClock  # strftime_now calls datetime.now() from this module


def err_kind(e):
    if isinstance(e, jinja2.exceptions.TemplateSyntaxError):
        return "syntax"
    if isinstance(e, jinja2.exceptions.UndefinedError):
        return "undefined"
    if isinstance(e, jinja2.exceptions.SecurityError):
        return "security"
    if type(e) is jinja2.exceptions.TemplateError:
        return "raise"  # raise_exception()
    return "runtime"


def apply(text, special, conv, tools=None, agp=False, extra=None):
    """What tokenizer.apply_chat_template(tokenize=False) does for one conversation."""
    conv = [{k: v for k, v in m.items() if v is not None} for m in conv]
    kwargs = {**special, **(extra or {})}
    rendered, _ = render_jinja_template(conversations=[conv], tools=tools, documents=None, chat_template=text,
                                        add_generation_prompt=agp, **kwargs)
    return rendered[0]


def result(fn):
    try:
        return {"expected": fn()}
    except Exception as e:  # noqa: BLE001 - every failure is a fixture outcome
        return {"error": err_kind(e), "message": str(e)}


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Séoul"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
CALC = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
    },
}
TOOL_CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "서울", "unit": "celsius"}}}

CORPUS = {
    "user_only": ([{"role": "user", "content": "Hello!"}], None),
    "system_user": ([{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Who are you?"}], None),
    "multi_turn": ([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3+3?"},
    ], None),
    "no_system_multi": ([
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ], None),
    "tools_defined": ([{"role": "user", "content": "Weather in Paris?"}], [WEATHER, CALC]),
    "tools_with_system": ([{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Add 2 and 3"}], [CALC]),
    "tool_call_roundtrip": ([
        {"role": "user", "content": "What's the weather in Seoul?"},
        {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
        {"role": "tool", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "It is 21.5°C and clear."},
        {"role": "user", "content": "Thanks"},
    ], [WEATHER]),
    "tool_call_null_content": ([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        {"role": "tool", "content": "sunny"},
    ], [WEATHER]),
    "two_tool_calls": ([
        {"role": "user", "content": "Weather in two cities"},
        {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL, {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Busan\"}"}}]},
        {"role": "tool", "content": "cloudy"},
        {"role": "tool", "content": "rain"},
    ], [WEATHER]),
    "tool_call_float_args": ([
        {"role": "user", "content": "Add 2.0 and 3"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": {"a": 2.0, "b": 3, "scale": 1e-5}}}]},
        {"role": "tool", "content": "5.0", "tool_call_id": "call_1"},
    ], [CALC]),
    "reasoning_field": ([
        {"role": "user", "content": "Think then answer: 6*7?"},
        {"role": "assistant", "content": "42", "reasoning_content": "6 times 7 is 42."},
        {"role": "user", "content": "And 7*8?"},
    ], None),
    "reasoning_inline": ([
        {"role": "user", "content": "Solve x+1=3"},
        {"role": "assistant", "content": "<think>\nSubtract 1.\n</think>\n\nx = 2"},
    ], None),
    "korean_emoji": ([
        {"role": "system", "content": "한국어로 대답하세요 🙂"},
        {"role": "user", "content": "안녕하세요! 오늘 날씨 어때요? 🌧️☔"},
        {"role": "assistant", "content": "비가 와요 🌂 — 우산 챙기세요!"},
    ], None),
    "empty_content": ([{"role": "system", "content": ""}, {"role": "user", "content": ""}], None),
    "whitespace": ([
        {"role": "system", "content": "  padded system \n"},
        {"role": "user", "content": "\n\n  leading and trailing  \t\n"},
    ], None),
    "special_chars": ([{"role": "user", "content": "quotes ' \" backslash \\ braces {{ x }} {% if %} <|eot_id|> tab\tend"}], None),
    "long_multi": ([{"role": "user" if i % 2 == 0 else "assistant", "content": f"message number {i} " + "lorem ipsum " * (i % 5)} for i in range(20)], None),
}


def random_conversations(n, seed=1234):
    """Seeded odd-but-valid conversations: null fields, reasoning under other names, content parts,
    string tool arguments, consecutive roles, unusual roles."""
    import random
    rnd = random.Random(seed)
    texts = ["hi", "  spaced  ", "", "multi\nline\n", "ünïcødé 한국어 🙂", "quote ' \" \\", "<think>x</think>y", "{{ not jinja }}"]
    out = {}
    for k in range(n):
        msgs = []
        if rnd.random() < 0.5:
            msgs.append({"role": "system", "content": rnd.choice(texts)})
        for _ in range(rnd.randint(1, 5)):
            role = rnd.choice(["user", "user", "assistant", "assistant", "tool", "developer"])
            m = {"role": role, "content": rnd.choice(texts)}
            r = rnd.random()
            if r < 0.15:
                m["content"] = [{"type": "text", "text": rnd.choice(texts)}, {"type": "image"}]
            elif r < 0.25:
                m["content"] = None
            if role == "assistant" and rnd.random() < 0.4:
                m[rnd.choice(["reasoning_content", "thinking", "reasoning"])] = rnd.choice(texts)
            if role == "assistant" and rnd.random() < 0.3:
                args = rnd.choice([{"city": "Paris", "days": 3, "ratio": 0.5}, "{\"raw\": true}"])
                m["tool_calls"] = [{"type": "function", "id": "abc123xyz", "function": {"name": "get_weather", "arguments": args}}]
            if rnd.random() < 0.1:
                m["name"] = None
            msgs.append(m)
        out[f"random_{k}"] = (msgs, [WEATHER] if rnd.random() < 0.3 else None)
    return out


def template_sources():
    out = []
    for name in sorted(os.listdir(os.path.join(FIXTURES, "templates"))):
        if name.endswith(".jinja"):
            with open(os.path.join(FIXTURES, "templates", name), encoding="utf-8") as f:
                out.append((name, "fixtures", f.read()))
    with open(os.path.join(OUT, "smollm2.jinja"), encoding="utf-8") as f:
        out.append(("smollm2.jinja", "golden", f.read()))
    # Templates in the style of other model families (written for these tests; jinja2 gives the truth)
    mdir = os.path.join(OUT, "models")
    for name in sorted(os.listdir(mdir)):
        if name.endswith(".jinja"):
            with open(os.path.join(mdir, name), encoding="utf-8") as f:
                out.append(("models/" + name, "golden", f.read()))
    return out


def special_for(name):
    if name.startswith("models/"):
        return dict(AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizers", "llama2")).special_tokens_map)
    if name.startswith("qwen"):
        return dict(AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizers", "qwen3")).special_tokens_map)
    if name.startswith("llama"):
        return dict(AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizers", "llama3")).special_tokens_map)
    return SMOL_SPECIAL


def extract_smollm2():
    """SmolLM2's template and special tokens from its GGUF; without the file, the committed copies."""
    special_path = os.path.join(OUT, "smollm2_special.json")
    if not os.path.exists(GGUF):
        print(f"note: {GGUF} missing; using the committed smollm2.jinja and smollm2_special.json", file=sys.stderr)
        with open(special_path, encoding="utf-8") as f:
            return json.load(f)
    from gguf import GGUFReader
    r = GGUFReader(GGUF)
    f = r.fields["tokenizer.chat_template"]
    text = bytes(f.parts[f.data[0]]).decode("utf-8")
    toks = r.fields["tokenizer.ggml.tokens"]
    special = {}
    for key, var in (("bos_token_id", "bos_token"), ("eos_token_id", "eos_token"), ("unknown_token_id", "unk_token"),
                     ("padding_token_id", "pad_token")):
        fld = r.fields.get("tokenizer.ggml." + key)
        if fld is not None:
            tid = int(fld.parts[fld.data[0]][0])
            special[var] = bytes(toks.parts[toks.data[tid]]).decode("utf-8")
    with open(os.path.join(OUT, "smollm2.jinja"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    with open(special_path, "w", encoding="utf-8") as f:
        json.dump(special, f, ensure_ascii=False, indent=1)
    return special


def chat_cases():
    cases = []
    corpus = {**CORPUS, **random_conversations(8)}
    for name, where, text in template_sources():
        special = special_for(name)
        for conv_name, (conv, tools) in corpus.items():
            for agp in (False, True):
                extra = {"date_string": FIXED_DATE}
                case = {"template": name, "where": where, "conversation": conv_name, "special": special,
                        "messages": conv, "tools": tools, "add_generation_prompt": agp, "extra": extra}
                case.update(result(lambda: apply(text, special, conv, tools, agp, extra)))
                cases.append(case)
        # qwen3-only switch, and tools_in_user_message=false for llama 3.2
        extra_sets = [{"enable_thinking": False}, {"date_string": FIXED_DATE, "tools_in_user_message": False},
                      {"date_string": FIXED_DATE, "builtin_tools": ["brave_search", "code_interpreter"]}]
        for extra in extra_sets:
            conv, tools = CORPUS["tools_with_system"]
            case = {"template": name, "where": where, "conversation": "tools_with_system+" + ",".join(extra),
                    "special": special, "messages": conv, "tools": tools, "add_generation_prompt": True, "extra": extra}
            case.update(result(lambda: apply(text, special, conv, tools, True, extra)))
            cases.append(case)
    return cases


def load_cases():
    """Model dirs: the template and special tokens come from tokenizer_config.json (apply_chat_template itself)."""
    cases = []
    for tk in ("llama3", "qwen3", "llama2"):
        path = os.path.join(FIXTURES, "tokenizers", tk)
        tok = AutoTokenizer.from_pretrained(path)
        for conv_name in ("system_user", "multi_turn", "korean_emoji", "tool_call_roundtrip"):
            conv, tools = CORPUS[conv_name]
            for agp in (False, True):
                case = {"dir": tk, "conversation": conv_name, "messages": conv, "tools": tools,
                        "add_generation_prompt": agp, "extra": {"date_string": FIXED_DATE}}
                case.update(result(lambda: tok.apply_chat_template(conv, tools=tools, add_generation_prompt=agp,
                                                                   tokenize=False, date_string=FIXED_DATE)))
                cases.append(case)
    return cases


# One small template per feature (name, template, vars). Expected output or error kind comes from jinja2.
LANG = [
    # output, literals, printing
    ("print_none_bool", "{{ none }} {{ None }} {{ true }} {{ True }} {{ false }}", {}),
    ("print_numbers", "{{ 1 }} {{ -3 }} {{ 1.0 }} {{ 2.5e3 }} {{ 1e-5 }} {{ 1e16 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 100.0/3 }}", {}),
    ("print_containers", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1, (2, 3)]} }} {{ (1,) }} {{ () }} {{ [] }} {{ {} }}", {}),
    ("print_string_repr", "{{ ['it\\'s', \"say \\\"hi\\\"\", 'both \\' \"', 'nl\\n', 'tab\\t', 'bs\\\\', '한국어', '🙂'] }}", {}),
    ("print_dict_from_json", "{{ d }}", {"d": {"a": 1, "b": [True, None, 2.5, "x"], "c": {"n": "é"}}}),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\x41\\u00e9\\U0001F600' }}|{{ \"q'q\" }}|{{ 'q\"q' }}|{{ 'unknown \\d escape' }}", {}),
    ("string_concat_adjacent", "{{ 'a' 'b' \"c\" }}", {}),
    ("int_literals", "{{ 0 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 12.5e-1 }}", {}),
    # whitespace control
    ("trim_blocks", "{% if true %}\nA\n{% endif %}\nB", {}),
    ("lstrip_blocks", "  {% if true %}\n    x\n  {% endif %}\nend", {}),
    ("minus_modifiers", "a   {{- ' b ' -}}   c\n  {%- if true -%}  d  {%- endif -%}  \n e", {}),
    ("plus_modifiers", "  {%+ if true %}x{% endif +%}\ny", {}),
    ("comments", "a {# comment #} b\n  {# own line #}\nc {#- trim -#} d", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}!", {}),
    ("trailing_newline", "line\n", {}),
    ("crlf_newlines", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("variable_no_trim", "{{ 'x' }}\nnext", {}),
    # if / elif / else
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("if_undefined", "{% if missing %}yes{% else %}no{% endif %}", {}),
    ("truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    # for loops
    ("loop_vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("loop_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("loop_filter", "{% for x in range(10) if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}", {}),
    ("loop_unpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", {}),
    ("loop_dict", "{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", {}),
    ("loop_string", "{% for ch in 'héllo' %}[{{ ch }}]{% endfor %}", {}),
    ("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_nested", "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("loop_scope", "{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", {}),
    ("loop_scope_if", "{% for i in range(3) %}{% if i == 1 %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}", {}),
    ("loop_changed", "{% for x in [1, 1, 2, 2, 3] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", {}),
    ("loop_over_none_error", "{% for x in none %}{% endfor %}", {}),
    # set
    ("set_plain", "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }}", {}),
    ("set_namespace", "{% set ns = namespace(count=0, items=[]) %}{% for x in range(4) %}{% set ns.count = ns.count + x %}{% endfor %}{{ ns.count }} {{ ns.items }}", {}),
    ("set_block", "{% set greeting %}Hello {{ name }}!{% endset %}[{{ greeting }}]", {"name": "Ann"}),
    ("set_block_filter", "{% set s | upper %}abc {{ 'def' }}{% endset %}{{ s }}", {}),
    ("set_tuple", "{% set t = (1, 2) %}{{ t }} {{ t[0] }}", {}),
    ("namespace_underscore_error", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("set_attr_non_namespace_error", "{% set d = {} %}{% set d.x = 1 %}", {}),
    # macros
    ("macro_defaults_kwargs", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(greeting='Hi', name='Cy') }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }} {{ varargs }} {{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_sees_globals", "{% macro m() %}{{ g }}{% endmacro %}{% set g = 'late' %}{{ m() }}", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside {{ 1 + 1 }}{% endcall %}", {}),
    ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    # expressions
    ("arith", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("arith_mixed", "{{ 1 + 1.5 }} {{ true + 1 }} {{ 3 * 'ab' }} {{ [1] * 3 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 10 / 4 }} {{ 4 / 2 }}", {}),
    ("unary_precedence", "{{ -2 ** 2 }} {{ (-2) ** 2 }} {{ - 3 | abs }} {{ not true or true }} {{ 2 + 3 * 4 }}", {}),
    ("tilde_concat", "{{ 1 ~ 2 ~ 'a' ~ none ~ true ~ missing }}|{{ 'x' ~ 1.0 }}", {}),
    ("tilde_plus_precedence", "{{ 'a' ~ 1 + 2 }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ [1, 2] == [1, 2] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ true == 1 }}", {}),
    ("in_not_in", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }} {{ 3 not in [1] }} {{ 'x' in missing }}", {}),
    ("and_or_values", "{{ 0 or 'default' }} {{ 'a' and 'b' }} {{ none or [] }} {{ 1 and 0 }} {{ not 0 }}", {}),
    ("ternary", "{{ 'yes' if true else 'no' }} {{ 'yes' if false else 'no' }} [{{ 'only' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}", {}),
    ("attr_item_access", "{{ d.a }} {{ d['a'] }} {{ d.b.c }} {{ d['b']['c'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} [{{ d.missing }}] [{{ l[10] }}]", {"d": {"a": 1, "b": {"c": "deep"}}, "l": [10, 20, 30]}),
    ("dict_key_vs_method", "{{ d['items'] }} {{ d.keys() | list }} {{ d.get('items') }}", {"d": {"items": "value", "x": 1}}),
    ("slices", "{{ s[1:] }} {{ s[:-1] }} {{ s[::-1] }} {{ s[::2] }} {{ l[1:3] }} {{ l[-2:] }} {{ l[::-2] }} {{ l[5:] }} {{ s[1:-1:2] }}", {"s": "héllo wörld", "l": [1, 2, 3, 4, 5]}),
    ("string_index", "{{ s[0] }}{{ s[-1] }}{{ s[2] }} {{ s | length }}", {"s": "안녕하세요"}),
    ("list_dict_literals", "{{ [1, [2, [3]]] | length }} {{ {'a': {'b': 1}}.a.b }} {{ [1, 2,] }} {{ {'x': 1,} }}", {}),
    ("undefined_print", "[{{ missing }}] [{{ missing | default('d') }}] [{{ missing | length }}] [{{ missing is defined }}]", {}),
    ("undefined_attr_error", "{{ missing.attr }}", {}),
    ("undefined_add_error", "{{ missing + 1 }}", {}),
    ("undefined_item_of_dict_error", "{{ d.a.b }}", {"d": {}}),
    ("undefined_elem_error", "{{ l[3].x }}", {"l": [1]}),
    ("type_error_concat", "{{ 'a' + 1 }}", {}),
    ("zero_division", "{{ 1 / 0 }}", {}),
    ("compare_type_error", "{{ 1 < 'a' }}", {}),
    # tests
    ("tests_types", "{{ none is none }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is mapping }}", {}),
    ("tests_iter", "{{ 'a' is iterable }} {{ [] is iterable }} {{ {} is iterable }} {{ 1 is iterable }} {{ 'a' is sequence }} {{ {} is sequence }} {{ missing is iterable }}", {}),
    ("tests_bool", "{{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }}", {}),
    ("tests_numbers", "{{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 5 is even }}", {}),
    ("tests_compare", "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 3 is gt 2 }} {{ 2 is le 2 }} {{ 2 is ge 3 }} {{ 2 is in [1, 2] }} {{ 'x' is in 'xyz' }}", {}),
    ("tests_defined", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ x is not none }} {{ none is not none }}", {"x": 1}),
    ("tests_other", "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ range is callable }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ none is sameas none }}", {}),
    ("test_precedence", "{{ not 1 is none }} {{ 1 is not none and 2 is number }}", {}),
    # filters
    ("f_trim", "[{{ '  a b  ' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ '\\n\\t y \\n' | trim }}]", {}),
    ("f_length_count", "{{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }}", {}),
    ("f_case", "{{ 'hello WORLD' | upper }} {{ 'Hello WORLD' | lower }} {{ 'hello wORLD-foo (bar)' | title }} {{ 'hello WORLD' | capitalize }}", {}),
    ("f_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", {}),
    ("f_join", "{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }} {{ users | join('/', attribute='name') }}", {"users": [{"name": "x"}, {"name": "y"}]}),
    ("f_default", "{{ missing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ 0 | d(5, boolean=true) }} {{ 'v' | default('d') }}", {}),
    ("f_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}]", {}),
    ("f_list", "{{ 'abc' | list }} {{ {'a': 1, 'b': 2} | list }} {{ (1, 2) | list }}", {}),
    ("f_map", "{{ users | map(attribute='name') | list }} {{ ['a', 'b'] | map('upper') | join }} {{ users | map(attribute='age', default=0) | list }}", {"users": [{"name": "x", "age": 3}, {"name": "y"}]}),
    ("f_select_reject", "{{ range(10) | select('odd') | list }} {{ range(5) | reject('even') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ [1, 5, 10] | select('gt', 4) | list }}", {}),
    ("f_selectattr", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ msgs | rejectattr('role', 'eq', 'user') | list | length }} {{ msgs | selectattr('flag') | list | length }}", {"msgs": [{"role": "user", "content": "a", "flag": True}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("f_items_dictsort", "{{ d | items | list }} {{ d | dictsort }} {{ d | dictsort(reverse=true) }} {{ d | dictsort(by='value') }}", {"d": {"b": 2, "a": 3, "C": 1}}),
    ("f_sort", "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ users | sort(attribute='age') | map(attribute='n') | join }}", {"users": [{"n": "a", "age": 3}, {"n": "b", "age": 1}, {"n": "c", "age": 2}]}),
    ("f_unique", "{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }}", {}),
    ("f_reverse", "{{ 'abc' | reverse }} {{ [1, 2, 3] | reverse | list }}", {}),
    ("f_string_int_float", "{{ 12 | string }} {{ '42' | int + 1 }} {{ '3.9' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1A' | int(base=16) }} {{ 3.7 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ 3 | float }}", {}),
    ("f_round_abs", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 3 | round }} {{ 1.234 | round(1, 'ceil') }} {{ 1.26 | round(1, 'floor') }} {{ -3 | abs }} {{ -2.5 | abs }}", {}),
    ("f_tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ 'é\"\\n' | tojson }}|{{ [1.0, none, true] | tojson }}", {"d": {"b": [1, 2.5, "ü"], "a": None, "c": {}, "e": []}}),
    ("f_tojson_ensure_ascii", "{{ 'héllo 🙂' | tojson(ensure_ascii=true) }}", {}),
    ("f_safe_string", "{{ '<b>' | safe }} {{ [1] | string }}", {}),
    ("f_indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'x\\ny' | indent('> ') }}", {}),
    ("f_wordcount_batch", "{{ 'one two  three, four' | wordcount }} {{ range(7) | batch(3) | list }} {{ range(5) | batch(2, 'x') | list }}", {}),
    ("f_misc", "{{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }} {{ [1, 2, 3] | sum }} {{ 'ab' | center(6) }}| {{ '<a&b>' | e }} {{ '%s-%d' | format('x', 3) }} {{ [1, 2, 3, 4] | slice(2) | list }}", {}),
    ("f_groupby", "{% for g in users | groupby('city') %}{{ g.grouper }}:{{ g.list | map(attribute='n') | join(',') }};{% endfor %}", {"users": [{"n": "a", "city": "X"}, {"n": "b", "city": "Y"}, {"n": "c", "city": "X"}]}),
    ("f_chained", "{{ '  Hello World  ' | trim | lower | replace('world', 'there') | title }}", {}),
    ("f_unknown_error", "{{ 1 | no_such_filter }}", {}),
    # string methods
    ("m_strip", "[{{ '  x  '.strip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ '  x  '.lstrip() }}] [{{ '  x  '.rstrip() }}] [{{ '\\n\\nhi\\n'.lstrip('\\n') }}] [{{ 'abcba'.rstrip('ab') }}]", {}),
    ("m_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.split(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'x</think>y'.split('</think>')[-1] }}", {}),
    ("m_starts_ends", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }} {{ 'hello'.startswith('l', 2) }}", {}),
    ("m_case", "{{ 'Hi There'.upper() }} {{ 'Hi There'.lower() }} {{ \"they're 1st\".title() }} {{ 'hELLO'.capitalize() }} {{ 'AbC'.swapcase() }}", {}),
    ("m_replace_find", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'héllo'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ 'hello'.index('e') }}", {}),
    ("m_format", "{{ '{} and {}'.format('a', 'b') }} {{ '{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='Z') }} {{ '{:>5}|{:<4}|{:^5}|'.format('a', 'b', 'c') }} {{ '{:.2f} {:03d} {:,}'.format(3.14159, 7, 1234567) }}", {}),
    ("m_misc", "{{ ', '.join(['a', 'b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ '7'.zfill(3) }} {{ 'a=b=c'.partition('=') }}", {}),
    ("m_dict", "{{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }}", {"d": {"a": 1, "b": 2}}),
    ("m_list", "{{ [1, 2, 3].index(2) }} {{ [1, 1, 2].count(1) }}", {}),
    ("m_unsafe_append_error", "{% set l = [1] %}{{ l.append(2) }}", {}),
    ("m_unsafe_update_error", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}),
    ("m_percent_format", "{{ '%s is %d years' % ('Al', 30) }} {{ '%.2f%%' % 12.345 }} {{ '%(a)s' % {'a': 'x'} }} {{ '%5s|%-5s|' % ('r', 'l') }}", {}),
    # globals
    ("g_range", "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}", {}),
    ("g_dict_namespace", "{{ dict(a=1, b='x') }} {% set ns = namespace(a=1) %}{{ ns.a }} {{ ns.missing is defined }}", {}),
    ("g_raise_exception", "{% if true %}{{ raise_exception('Custom failure: roles must alternate user/assistant/user/assistant/...') }}{% endif %}", {}),
    ("g_cycler_joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }} {% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    ("g_range_too_big_error", "{{ range(1000000) | length }}", {}),
    # syntax errors
    ("syntax_unclosed_if", "{% if true %}x", {}),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_bad_expr", "{{ 1 + }}", {}),
    ("syntax_unclosed_var", "{{ x ", {}),
    ("syntax_unclosed_string", "{{ 'abc }}", {}),
    ("syntax_unbalanced", "{{ (1 + 2 }}", {}),
    ("syntax_endfor_mismatch", "{% for x in y %}{% endif %}", {}),
    ("syntax_unclosed_comment", "{# never closed", {}),
    # chat-template idioms
    ("idiom_messages_loop", "{% for m in messages %}{% if m.role == 'system' %}<<SYS>>{{ m.content }}<</SYS>>{% elif m['role'] == 'user' %}[INST] {{ m['content'] | trim }} [/INST]{% else %} {{ m.content }}{{ eos_token }}{% endif %}{% endfor %}", {"eos_token": "</s>", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": " u1 "}, {"role": "assistant", "content": "a1"}]}),
    ("idiom_alternation_check", "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.content }}{% endfor %}", {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
    ("idiom_tool_args_string_or_dict", "{% for tc in calls %}{% if tc.arguments is string %}{{ tc.arguments }}{% else %}{{ tc.arguments | tojson }}{% endif %};{% endfor %}", {"calls": [{"arguments": "{\"a\": 1}"}, {"arguments": {"a": 1, "b": [True, None]}}]}),
    ("idiom_content_parts", "{% for part in content %}{% if part.type == 'text' %}{{ part.text }}{% elif part.type == 'image' %}<image>{% endif %}{% endfor %}", {"content": [{"type": "text", "text": "Look: "}, {"type": "image"}, {"type": "text", "text": " ok"}]}),
    ("idiom_last_user_index", "{% set ns = namespace(last=-1) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{% endfor %}{{ ns.last }}", {"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}, {"role": "assistant"}]}),
    ("idiom_messages_slice", "{% set rest = messages[1:] %}{{ messages[0].content }}|{% for m in rest %}{{ m.content }}{% endfor %}|{{ messages | length }}", {"messages": [{"content": "sys"}, {"content": "a"}, {"content": "b"}]}),
    ("idiom_json_in_string", "{{ '{\"name\": \"' + name + '\", \"parameters\": ' + (params | tojson) + '}' }}", {"name": "f", "params": {"x": "한", "y": 1.5}}),
]


def lang_more():
    """More language cases from lang_more.txt: blocks split by a line '====', optional '@@vars {json}' last line."""
    with open(os.path.join(OUT, "lang_more.txt"), encoding="utf-8") as f:
        blocks = [b for b in f.read().split("\n====\n") if b.strip()]
    out = []
    for i, b in enumerate(blocks):
        b = b[:-1] if b.endswith("\n") and i == len(blocks) - 1 else b
        if "\n@@vars " in b:
            tpl, v = b.split("\n@@vars ", 1)
            vars_ = json.loads(v)
        else:
            tpl, vars_ = b, {}
        out.append((f"more_{i:03d}", tpl, vars_))
    return out


def lang_cases():
    cases = []
    for name, tpl, vars_ in LANG + lang_more():
        case = {"name": name, "template": tpl, "vars": vars_}

        def render():
            return _compile_jinja_template(tpl).render(**vars_)

        case.update(result(render))
        cases.append(case)
    return cases


def cli_fixtures():
    """Inputs and expected stdout for tests/e2e/template_cli.sh."""
    d = os.path.join(OUT, "cli")
    os.makedirs(d, exist_ok=True)

    def dump(name, obj):
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)

    def text(name, s):
        with open(os.path.join(d, name), "w", encoding="utf-8", newline="") as f:
            f.write(s)

    conv, tools = CORPUS["tool_call_roundtrip"]
    dump("messages_tools.json", conv)
    dump("tools.json", tools)
    qwen = AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizers", "qwen3"))
    text("expected_qwen3_dir.txt", qwen.apply_chat_template(conv, tools=tools, add_generation_prompt=True, tokenize=False))
    conv2, _ = CORPUS["korean_emoji"]
    dump("messages_korean.json", conv2)
    llama = AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizers", "llama3"))
    text("expected_llama3_config.txt", llama.apply_chat_template(conv2, tokenize=False, date_string=FIXED_DATE))
    vars_ = {"date_string": FIXED_DATE, "bos_token": "<|begin_of_text|>"}
    dump("vars_llama32.json", vars_)
    with open(os.path.join(FIXTURES, "templates", "llama-3.2-instruct.jinja"), encoding="utf-8") as f:
        l32 = f.read()
    conv3, _ = CORPUS["system_user"]
    dump("messages_system.json", conv3)
    text("expected_llama32_jinja.txt", apply(l32, {}, conv3, None, True, vars_))
    with open(os.path.join(OUT, "smollm2.jinja"), encoding="utf-8") as f:
        smol = f.read()
    text("expected_smollm2_gguf.txt", apply(smol, SMOL_SPECIAL, conv3, None, True, {}))


def main():
    os.makedirs(OUT, exist_ok=True)
    global SMOL_SPECIAL
    SMOL_SPECIAL = extract_smollm2()
    cli_fixtures()
    files = {"chat_cases.json": chat_cases(), "load_cases.json": load_cases(), "lang_cases.json": lang_cases()}
    for fname, data in files.items():
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        errs = sum(1 for c in data if "error" in c)
        print(f"{fname}: {len(data)} cases ({errs} expected errors)", file=sys.stderr)


SMOL_SPECIAL = {}

if __name__ == "__main__":
    main()
