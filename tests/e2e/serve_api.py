#!/usr/bin/env python3
"""llmc serve end to end, the OpenAI API beyond plain chat (stdlib only; raw HTTP so it always runs):
stop strings cut (plain and streamed, and a stream that never shows a stop string's beginning),
response_format json_object / json_schema replies that parse and validate (greedy and sampled; a cut
one says "length"; a bad schema is a 400 naming its path), tool_choice "required" and a named function
giving valid tool_calls (plain, and streamed as delta.tool_calls: id and name first, then argument
fragments), a conversation with an assistant's tool_calls and the tool's answer, GET /v1/models/{id},
an unknown model → 404 model_not_found, error texts without server paths, /metrics as Prometheus text
whose counters grow, and with --api-key: 401 before any route (even an unknown one), /metrics guarded,
/health open. When the official `openai` package is installed, the same server is also driven with it.
usage: serve_api.py LLMC_BIN MODEL"""
import http.client
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_base import ServerBase, check, fails  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
BASE = os.path.basename(MODEL)



class Server(ServerBase):
    def __init__(self, *extra):
        super().__init__(BIN, MODEL, extra, "serve-api")
        self.headers = {}

    def request(self, method, path, body=None, headers=None, timeout=300):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json", **self.headers, **(headers or {})}
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
        r = c.getresponse()
        out = r.status, r.getheader("Content-Type"), r.read()
        c.close()
        return out

    def chat(self, body):
        st, _, data = self.request("POST", "/v1/chat/completions", body)
        return st, json.loads(data)

    def stream(self, body):
        """The JSON of each data: event ([DONE] as the string)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)).encode(),
                  headers={"Content-Type": "application/json", **self.headers})
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        events = []
        for line in r:
            line = line.decode("utf-8").rstrip("\n")
            if line.startswith("data: "):
                events.append(line[6:] if line[6:] == "[DONE]" else json.loads(line[6:]))
        c.close()
        return events



def deltas(events):
    return [e["choices"][0] for e in events if isinstance(e, dict) and e.get("choices")]


def content_of(events):
    return "".join(ch["delta"].get("content") or "" for ch in deltas(events))


def finish_of(events):
    return [ch["finish_reason"] for ch in deltas(events) if ch.get("finish_reason")]


def calls_of(events):
    """delta.tool_calls joined per index: [{id, name, arguments}], and whether id/name came before any arguments."""
    calls, order_ok = {}, True
    for ch in deltas(events):
        for tc in ch["delta"].get("tool_calls") or []:
            k = tc["index"]
            if k not in calls:
                order_ok &= bool(tc.get("id")) and tc.get("type") == "function" and bool(tc.get("function", {}).get("name"))
                calls[k] = {"id": tc.get("id"), "name": tc["function"].get("name"), "arguments": ""}
            calls[k]["arguments"] += tc.get("function", {}).get("arguments") or ""
    return [calls[k] for k in sorted(calls)], order_ok


COUNT = [{"role": "user", "content": "Count: one two three four five. Now repeat it."}]
PERSON = {"type": "object",
          "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"},
                         "role": {"enum": ["captain", "cook", "navigator"]},
                         "ships": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 1, "maxItems": 3},
                         "retired": {"type": "boolean"}},
          "required": ["name", "age", "role", "ships"], "additionalProperties": False}


def valid_person(v):
    return (isinstance(v, dict) and set(v) <= set(PERSON["properties"]) and all(k in v for k in PERSON["required"])
            and isinstance(v["name"], str) and len(v["name"]) <= 40 and isinstance(v["age"], int) and not isinstance(v["age"], bool)
            and v["role"] in ("captain", "cook", "navigator") and isinstance(v["ships"], list) and 1 <= len(v["ships"]) <= 3
            and all(isinstance(x, str) and len(x) <= 30 for x in v["ships"]) and isinstance(v.get("retired", False), bool))


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                                          "unit": {"enum": ["celsius", "fahrenheit"]}},
                         "required": ["city", "unit"]}}},
         {"type": "function", "function": {"name": "add", "description": "Add two numbers",
          "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris? Also, what is 2 plus 3?"}]


def valid_call(name, args_text, want=None):
    try:
        args = json.loads(args_text)
    except ValueError:
        return False
    if want and name != want:
        return False
    if name == "get_weather":
        return isinstance(args.get("city"), str) and args.get("unit") in ("celsius", "fahrenheit")
    return name == "add" and all(isinstance(args.get(k), (int, float)) and not isinstance(args.get(k), bool) for k in "ab")


def metrics(s):
    st, ct, data = s.request("GET", "/metrics")
    text = data.decode()
    ok = st == 200 and ct.startswith("text/plain") and text.endswith("\n")
    series = {}
    for line in text.splitlines():
        if line.startswith("#"):
            ok &= bool(re.match(r"# (HELP|TYPE) [a-zA-Z_][a-zA-Z0-9_]* ", line))
            continue
        m = re.match(r'^([a-zA-Z_][a-zA-Z0-9_]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})?) (\S+)$', line)
        ok &= bool(m)
        if m:
            series[m.group(1)] = float(m.group(2))
    return ok, series


s = Server()
try:
    ok0, m0 = metrics(s)
    check(ok0 and "llmc_num_requests_running" in m0 and "llmc_time_to_first_token_seconds_count" in m0,
          "/metrics is Prometheus text (HELP/TYPE comments, name{labels} value lines)")

    # ---- stop strings: cut, plain and streamed; a stream never shows a stop string's beginning ----
    st, o = s.chat({"messages": COUNT, "temperature": 0, "max_tokens": 24})
    full = o["choices"][0]["message"]["content"]
    check(st == 200 and "three" in full, f"greedy reply has 'three' ({full!r})")
    want = full[:full.index("three")]
    st, o = s.chat({"messages": COUNT, "temperature": 0, "max_tokens": 24, "stop": ["three"]})
    got = o["choices"][0]["message"]["content"] if st == 200 else None
    check(got == want and o["choices"][0]["finish_reason"] == "stop", f"stop ['three'] cuts the reply before it ({got!r})")
    ev = s.stream({"messages": COUNT, "temperature": 0, "max_tokens": 24, "stop": ["three"]})
    check(content_of(ev) == want and finish_of(ev) == ["stop"] and ev[-1] == "[DONE]", f"streamed: the same cut ({content_of(ev)!r})")
    check(not any("th" in (ch["delta"].get("content") or "") for ch in deltas(ev)), "no streamed delta shows the stop string's beginning")
    # a stop string that only begins to match: what was held back comes out in order, nothing lost
    ev = s.stream({"messages": COUNT, "temperature": 0, "max_tokens": 24, "stop": ["three thousand", "fivefold"]})
    check(content_of(ev) == full, f"a partial stop match is released: the full reply ({content_of(ev)!r})")
    st, oc = s.request("POST", "/v1/completions", {"prompt": "One, two, three, four,", "temperature": 0, "max_tokens": 16, "stop": [","]})[::2]
    oc = json.loads(oc)
    check(st == 200 and "," not in oc["choices"][0]["text"] and oc["choices"][0]["finish_reason"] == "stop",
          f"/v1/completions: stop cut too ({oc['choices'][0]['text']!r})")

    # ---- response_format ----
    for label, extra in (("greedy", {"temperature": 0}), ("sampled seed 1", {"temperature": 0.8, "seed": 1}),
                         ("sampled seed 2", {"temperature": 1.0, "top_p": 0.95, "seed": 2})):
        body = {"messages": [{"role": "user", "content": "Describe a pirate as JSON with name, age, role and ships."}], "max_tokens": 200,
                "response_format": {"type": "json_schema", "json_schema": {"name": "pirate", "strict": True, "schema": PERSON}}, **extra}
        st, o = s.chat(body)
        text = o["choices"][0]["message"]["content"] if st == 200 else ""
        try:
            v = json.loads(text)
        except ValueError:
            v = None
        check(st == 200 and o["choices"][0]["finish_reason"] == "stop" and valid_person(v), f"json_schema {label}: parses and validates ({text!r})")
        if label == "greedy":
            ev = s.stream(body)
            check(content_of(ev) == text and finish_of(ev) == ["stop"], "json_schema streamed: the same reply")
    st, o = s.chat({"messages": [{"role": "user", "content": "Describe a pirate as JSON."}], "temperature": 0, "max_tokens": 5,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}}})
    check(st == 200 and o["choices"][0]["finish_reason"] == "length", "json_schema cut by max_tokens: finish_reason length")
    for label, extra in (("seed 5", {"seed": 5, "temperature": 0.7}), ("seed 6", {"seed": 6, "temperature": 0.7})):
        st, o = s.chat({"messages": [{"role": "user", "content": "List three fruits as JSON."}], "max_tokens": 200,
                        "response_format": {"type": "json_object"}, **extra})
        text = o["choices"][0]["message"]["content"] if st == 200 else ""
        try:
            v = json.loads(text)
        except ValueError:
            v = None
        check(st == 200 and o["choices"][0]["finish_reason"] == "stop" and isinstance(v, dict), f"json_object {label}: an object ({text!r})")
    st, _, data = s.request("POST", "/v1/chat/completions", {"messages": COUNT, "response_format": {"type": "json_schema", "json_schema": {
        "name": "p", "schema": {"type": "object", "properties": {"age": {"type": "int"}}}}}})
    msg = json.loads(data)["error"]["message"]
    check(st == 400 and "$.properties.age.type" in msg, f"a bad schema: 400 naming its path ({msg})")
    st, o = s.chat({"messages": [{"role": "user", "content": "Is the sea salty?"}], "seed": 9, "max_tokens": 8,
                    "grammar": 'root ::= ("yes" | "no" | "maybe") "."'})
    check(st == 200 and o["choices"][0]["message"]["content"] in ("yes.", "no.", "maybe."), "grammar (GBNF) constrains the reply")

    # ---- tools ----
    for label, choice, want_name, extra in (("required, greedy", "required", None, {"temperature": 0}),
                                            ("required, sampled", "required", None, {"temperature": 0.9, "seed": 11}),
                                            ("named add", {"type": "function", "function": {"name": "add"}}, "add", {"seed": 4}),
                                            ("named get_weather", {"type": "function", "function": {"name": "get_weather"}}, "get_weather",
                                             {"temperature": 0})):
        body = {"messages": WEATHER, "tools": TOOLS, "tool_choice": choice, "max_tokens": 120, **extra}
        st, o = s.chat(body)
        ch = o["choices"][0] if st == 200 else {}
        m = ch.get("message", {})
        calls = m.get("tool_calls") or []
        ok = st == 200 and ch["finish_reason"] == "tool_calls" and m.get("content") is None and len(calls) >= 1
        ok = ok and all(c["type"] == "function" and re.fullmatch(r"call_[A-Za-z0-9]{24}", c["id"]) and isinstance(c["function"]["arguments"], str)
                        and valid_call(c["function"]["name"], c["function"]["arguments"], want_name) for c in calls)
        check(ok, f"tool_choice {label}: valid tool_calls ({calls})")
        ev = s.stream(body)
        scalls, order_ok = calls_of(ev)
        check(order_ok and finish_of(ev) == ["tool_calls"] and len(scalls) == len(calls) and content_of(ev) == ""
              and all(a["name"] == b["function"]["name"] and json.loads(a["arguments"]) == json.loads(b["function"]["arguments"])
                      for a, b in zip(scalls, calls)),
              f"tool_choice {label} streamed: id/name first, then argument fragments that join to the same call ({scalls})")
        n_frag = sum(1 for d in deltas(ev) for tc in d["delta"].get("tool_calls") or [] if tc.get("function", {}).get("arguments"))
        check(n_frag > 1, f"tool_choice {label} streamed: the arguments come in {n_frag} fragments")
    # auto: a reply, text or calls, well-formed either way
    st, o = s.chat({"messages": [{"role": "user", "content": "Say hello."}], "tools": TOOLS, "temperature": 0, "max_tokens": 30})
    m = o["choices"][0]["message"] if st == 200 else {}
    check(st == 200 and (isinstance(m.get("content"), str) or m.get("tool_calls")), "tool_choice auto: an assistant message")
    st, o = s.chat({"messages": WEATHER, "tools": TOOLS, "tool_choice": "none", "temperature": 0, "max_tokens": 20})
    check(st == 200 and "tool_calls" not in o["choices"][0]["message"] and o["choices"][0]["finish_reason"] in ("stop", "length"),
          "tool_choice none: text only")
    # the history: an assistant's tool_calls (content null) and the tool's answer go back through the template
    hist = WEATHER + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "{\"temperature\": 21, \"sky\": \"sunny\"}"}]
    st, o = s.chat({"messages": hist, "tools": TOOLS, "temperature": 0, "max_tokens": 40})
    check(st == 200 and o["choices"][0]["finish_reason"] in ("stop", "length", "tool_calls"), f"role tool history accepted ({st})")
    ev = s.stream({"messages": hist, "tools": TOOLS, "temperature": 0, "max_tokens": 40})
    check(ev[-1] == "[DONE]" and len(finish_of(ev)) == 1, "role tool history, streamed")
    st, _, data = s.request("POST", "/v1/chat/completions", {"messages": WEATHER, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}})
    check(st == 400 and "'nope'" in json.loads(data)["error"]["message"], "tool_choice naming no tool: 400")

    # ---- routes and errors ----
    st, ct, data = s.request("GET", "/v1/models/" + BASE)
    mo = json.loads(data)
    check(st == 200 and mo.get("object") == "model" and mo.get("id") == BASE and "owned_by" in mo, "GET /v1/models/{id}: the Model object")
    st, _, data = s.request("GET", "/v1/models/" + BASE.removesuffix(".gguf"))
    check(st == 200, "GET /v1/models/{id} without .gguf (a documented alias)")
    st, _, data = s.request("GET", "/v1/models/gpt-4o")
    e = json.loads(data).get("error", {})
    check(st == 404 and e.get("code") == "model_not_found" and e.get("type") == "invalid_request_error", "unknown model id → 404 model_not_found")
    st, _, data = s.request("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": COUNT, "max_tokens": 2})
    check(st == 404 and json.loads(data)["error"]["code"] == "model_not_found", "a request for an unknown model → 404 model_not_found")
    for name in (BASE, BASE.removesuffix(".gguf"), MODEL):
        st, _, _ = s.request("POST", "/v1/chat/completions", {"model": name, "messages": COUNT, "max_tokens": 2})
        check(st == 200, f"model {name!r} is served")
    st, _, data = s.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}, {"role": "user"}]})
    msg = json.loads(data)["error"]["message"]
    check(st == 400 and "messages[1]: 'content' is required" in msg and "/" not in msg.replace("request body:", ""),
          f"a message without content: a clean 400 ({msg})")
    st, _, data = s.request("POST", "/v1/chat/completions", {"messages": [{"role": "narrator", "content": "x"}]})
    msg = json.loads(data)["error"]["message"]
    check(st == 400 and "narrator" in msg and os.path.dirname(MODEL) not in msg, f"an unknown role: 400 ({msg})")
    st, _, data = s.request("POST", "/v1/chat/completions", {"messages": [{"role": "tool", "content": "21"}]})
    check(st == 400 and "tool_call_id" in json.loads(data)["error"]["message"], "a tool message without tool_call_id: 400")

    # ---- /metrics counters grow ----
    ok1, m1 = metrics(s)
    key = 'llmc_http_requests_total{endpoint="/v1/chat/completions",status="200"}'
    check(ok1 and m1.get(key, 0) > m0.get(key, 0) + 10, f"/metrics: chat 200s counted ({m1.get(key)})")
    check(m1.get('llmc_http_requests_total{endpoint="/v1/chat/completions",status="400"}', 0) >= 3, "/metrics: 400s counted")
    check(m1.get('llmc_http_requests_total{endpoint="/v1/models/{id}",status="404"}', 0) >= 1, "/metrics: 404s counted")
    check(m1["llmc_prompt_tokens_total"] > m0["llmc_prompt_tokens_total"] and m1["llmc_generation_tokens_total"] > m0["llmc_generation_tokens_total"],
          "/metrics: prompt and generation tokens grow")
    check(m1["llmc_time_to_first_token_seconds_count"] > m0["llmc_time_to_first_token_seconds_count"]
          and m1['llmc_time_to_first_token_seconds_bucket{le="+Inf"}'] == m1["llmc_time_to_first_token_seconds_count"]
          and m1["llmc_time_per_output_token_seconds_count"] > 0, "/metrics: TTFT and TPOT histograms observe")
    check(m1.get('llmc_request_success_total{finished_reason="tool_calls"}', 0) >= 4
          and m1.get('llmc_request_success_total{finished_reason="stop"}', 0) >= 1, "/metrics: finished requests by reason")

    # ---- the official client, when installed ----
    try:
        import openai
    except ImportError:
        openai = None
        print("note: the openai package is not installed: its checks are skipped")
    if openai:
        cl = openai.OpenAI(base_url=f"http://127.0.0.1:{s.port}/v1", api_key="unused")
        check(cl.models.retrieve(BASE).id == BASE, "openai: models.retrieve")
        r = cl.chat.completions.create(model=BASE, messages=COUNT, temperature=0, max_tokens=24, stop=["three"])
        check(r.choices[0].message.content == want and r.choices[0].finish_reason == "stop", "openai: stop cut")
        r = cl.chat.completions.create(model=BASE, messages=WEATHER, tools=TOOLS, tool_choice="required", temperature=0, max_tokens=120)
        tc = r.choices[0].message.tool_calls
        check(r.choices[0].finish_reason == "tool_calls" and tc and valid_call(tc[0].function.name, tc[0].function.arguments),
              "openai: tool_choice required")
        args, name = "", None
        for chunk in cl.chat.completions.create(model=BASE, messages=WEATHER, tools=TOOLS, temperature=0, max_tokens=120, stream=True,
                                                tool_choice={"type": "function", "function": {"name": "get_weather"}}):
            for d in chunk.choices[0].delta.tool_calls or []:
                name = name or d.function.name
                args += d.function.arguments or ""
        check(name == "get_weather" and valid_call(name, args), "openai: streamed tool call")
        try:
            cl.chat.completions.create(model="gpt-4o", messages=COUNT, max_tokens=2)
            check(False, "openai: unknown model raises NotFoundError")
        except openai.NotFoundError:
            check(True, "openai: unknown model raises NotFoundError")
finally:
    rc, log = s.stop()
check(rc == 0, f"SIGTERM stops the server (rc {rc})")

# ---- the API key comes before the route ----
KEY = "sk-api-check-5e1d"
s = Server("--api-key", KEY)
try:
    for path in ("/v1/models", "/v1/nothing-here", "/metrics", "/v1/models/" + BASE):
        st, _, data = s.request("GET", path, headers={"Authorization": "Bearer wrong"})
        check(st == 401 and json.loads(data)["error"]["code"] == "invalid_api_key", f"wrong key on {path} → 401")
    st, _, _ = s.request("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": COUNT})
    check(st == 401, "no key, unknown model → 401 (not 404)")
    s.headers = {"Authorization": "Bearer " + KEY}
    st, _, _ = s.request("GET", "/v1/nothing-here")
    check(st == 404, "right key, unknown route → 404")
    ok, m = metrics(s)
    check(ok and m.get('llmc_http_requests_total{endpoint="other",status="401"}', 0) >= 1, "right key: /metrics, with the 401s counted")
    s.headers = {}
    st, _, _ = s.request("GET", "/health")
    check(st == 200, "/health needs no key")
finally:
    rc, log = s.stop()
check(KEY not in log, "the API key does not appear in the server's log")

print(f"{len(fails)} failed" if fails else "all passed")
sys.exit(1 if fails else 0)
