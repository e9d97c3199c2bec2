#!/usr/bin/env python3
"""llmc serve end to end (stdlib only): OpenAI chat completions over HTTP against the CLI's
own answers, streaming, errors, limits, the API key, a client leaving mid-stream, queued
requests, and shutdown. (Stop strings, structured outputs, tools, routes and /metrics in detail:
serve_api.py.)
usage: serve_check.py LLMC_BIN MODEL"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_base import ServerBase, check, fails  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
PIRATE = [{"role": "system", "content": "You are a pirate chatbot who always responds in pirate speak!"},
          {"role": "user", "content": "Who are you?"}]



class Server(ServerBase):
    def __init__(self, *extra):
        super().__init__(BIN, MODEL, extra, "serve")

    def request(self, method, path, body=None, headers=None, raw=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = r.status, r.getheader("Content-Type"), r.read()
        c.close()
        return out

    def chat(self, body, **kw):
        st, ct, data = self.request("POST", "/v1/chat/completions", body, **kw)
        return st, json.loads(data)

    def stream(self, body, limit=None):
        """(events, raw lines): the JSON of each data: line, [DONE] as the string."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200, r.status
        events = []
        while True:
            line = r.readline()  # de-chunked
            if not line:
                break
            line = line.decode("utf-8").rstrip("\n")
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
            if payload == "[DONE]" or (limit and len(events) >= limit):
                break
        c.close()
        return events, r.getheader("Content-Type")



def cli_reply(messages, *flags):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"llmc-serve-msgs-{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump(messages, f)
    out = subprocess.run([BIN, "run", MODEL, "--messages", path, "--json", "--threads", "2", *flags], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]["generated_text"][-1]["content"]


s = Server()
try:
    st, ct, data = s.request("GET", "/health")
    h = json.loads(data) if st == 200 else {}
    check(h.get("status") == "ok" and h.get("parallel") == 4 and h.get("running") == 0 and h.get("queued") == 0,
          f"GET /health: status, parallel 4, nothing running or queued ({h})")
    st, ct, data = s.request("GET", "/v1/models")
    models = json.loads(data)
    check(st == 200 and ct == "application/json" and models["object"] == "list"
          and models["data"][0]["id"] == os.path.basename(MODEL), "GET /v1/models names the model")

    # Greedy over HTTP = the CLI's greedy reply, token for token.
    want = cli_reply(PIRATE, "--greedy", "--max-new-tokens", "32")
    st, o = s.chat({"model": os.path.basename(MODEL), "messages": PIRATE, "temperature": 0, "max_tokens": 32})
    got = o["choices"][0]["message"]["content"] if st == 200 else None
    check(st == 200 and got == want, f"non-streamed greedy reply equals `llmc run --greedy` ({got!r})")
    check(o.get("object") == "chat.completion" and o["choices"][0]["finish_reason"] in ("length", "stop")
          and o["usage"]["completion_tokens"] <= 32 and o["usage"]["prompt_tokens"] > 10
          and o["usage"]["total_tokens"] == o["usage"]["prompt_tokens"] + o["usage"]["completion_tokens"]
          and o["id"].startswith("chatcmpl-"), "chat.completion fields and usage")

    # Streamed: role first, deltas that join to the same text, a finish reason, usage, [DONE].
    ev, ct = s.stream({"messages": PIRATE, "temperature": 0, "max_tokens": 32, "stream_options": {"include_usage": True}})
    check(ct == "text/event-stream", "stream is text/event-stream")
    check(ev and ev[-1] == "[DONE]" and ev[0]["choices"][0]["delta"].get("role") == "assistant", "stream: role first, [DONE] last")
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in ev if isinstance(e, dict) and e["choices"])
    check(text == want, "streamed deltas join to the non-streamed reply")
    fin = [e["choices"][0]["finish_reason"] for e in ev if isinstance(e, dict) and e["choices"] and e["choices"][0]["finish_reason"]]
    check(fin in (["length"], ["stop"]), f"one finish_reason ({fin})")
    check(isinstance(ev[-2], dict) and ev[-2].get("usage", {}).get("completion_tokens") == o["usage"]["completion_tokens"],
          "include_usage: a usage chunk before [DONE]")
    check(len({e["id"] for e in ev if isinstance(e, dict)}) == 1, "one id for every chunk")

    # Korean in, Korean-safe pieces out: each delta is whole UTF-8 (json.loads of bytes would fail otherwise).
    ko = [{"role": "user", "content": "안녕하세요! 한국어로 대답해 주세요."}]
    ev, _ = s.stream({"messages": ko, "temperature": 0, "max_tokens": 24})
    ko_text = "".join(e["choices"][0]["delta"].get("content", "") for e in ev if isinstance(e, dict) and e["choices"])
    check(ko_text == cli_reply(ko, "--greedy", "--max-new-tokens", "24"), "Korean prompt: streamed reply equals the CLI's")

    # Content as OpenAI's list of text parts.
    parts = [{"role": "system", "content": PIRATE[0]["content"]},
             {"role": "user", "content": [{"type": "text", "text": "Who are you?"}]}]
    st, o2 = s.chat({"messages": parts, "temperature": 0, "max_tokens": 32})
    check(st == 200 and o2["choices"][0]["message"]["content"] == want, "content as text parts")

    # Seeded sampling repeats; stop strings cut.
    body = {"messages": PIRATE, "temperature": 0.8, "top_p": 0.95, "seed": 7, "max_tokens": 24}
    a, b = s.chat(body)[1], s.chat(body)[1]
    check(a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"], "same seed, same sampled reply")
    stop_word = want.split()[2] if len(want.split()) > 3 else "the"
    st, o3 = s.chat({"messages": PIRATE, "temperature": 0, "max_tokens": 32, "stop": [stop_word]})
    check(st == 200 and o3["choices"][0]["finish_reason"] == "stop" and o3["choices"][0]["message"]["content"] == want[:want.index(stop_word)],
          f"stop string {stop_word!r} ends the reply, cut before it ({o3['choices'][0]['message']['content']!r})")
    ev, _ = s.stream({"messages": PIRATE, "temperature": 0, "max_tokens": 32, "stop": [stop_word]})
    stext = "".join(e["choices"][0]["delta"].get("content", "") for e in ev if isinstance(e, dict) and e["choices"])
    check(stext == o3["choices"][0]["message"]["content"], "stop string in a streamed reply: the same cut")

    # /v1/completions: plain text, no template, BOS etc. as the tokenizer adds them (pipe("text")):
    # transformers' own greedy continuation of the golden SmolLM2 prompt.
    ref = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "core", "smollm2_gguf_reference.json")))
    ids = ",".join(map(str, ref["generated"]))
    want_c = subprocess.run([BIN, "detokenize", MODEL, "--ids", ids, "--skip-special"], capture_output=True, text=True).stdout
    body = {"prompt": "The capital of France is Paris. The capital of Italy is", "temperature": 0, "max_tokens": len(ref["generated"])}
    st, ct, data = s.request("POST", "/v1/completions", body)
    oc = json.loads(data)
    got_c = oc["choices"][0]["text"] if st == 200 else None
    check(st == 200 and got_c == want_c and oc["object"] == "text_completion" and oc["id"].startswith("cmpl-")
          and oc["usage"]["prompt_tokens"] == len(ref["prompt"]), f"/v1/completions = transformers' greedy continuation ({got_c!r})")
    raw = subprocess.run([BIN, "run", MODEL, "--raw", body["prompt"], "--greedy", "--max-new-tokens", str(len(ref["generated"])),
                          "--threads", "2"], capture_output=True, text=True, timeout=300).stdout
    check(raw == want_c + "\n", f"`llmc run --raw` prints the same continuation ({raw!r})")
    st, ct, data = s.request("POST", "/v1/completions", dict(body, echo=True))
    check(st == 200 and json.loads(data)["choices"][0]["text"] == body["prompt"] + want_c, "/v1/completions echo=true prepends the prompt")
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
    c.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    pieces, done = [], False
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line == "data: [DONE]":
            done = True
            break
        if line.startswith("data: "):
            e = json.loads(line[6:])
            pieces.append(e["choices"][0]["text"])
    c.close()
    check(done and "".join(pieces) == want_c, "/v1/completions streamed pieces join to the same text")

    # Errors: OpenAI's shape, the right status, a message naming the problem.
    def err(status, needle, **kw):
        st, ct, data = s.request(**kw)
        try:
            e = json.loads(data)["error"]
        except Exception:
            e = {"message": data[:200]}
        check(st == status and needle in e.get("message", ""), f"{kw.get('method')} {kw.get('path')} → {status} '{needle}' ({st}: {e.get('message')})")
    err(400, "line 1, column", method="POST", path="/v1/chat/completions", raw=b'{"messages": [')
    err(400, "'messages'", method="POST", path="/v1/chat/completions", body={"model": "x"})
    err(400, "'temperature'", method="POST", path="/v1/chat/completions", body={"messages": PIRATE, "temperature": "hot"})
    err(400, "image_url", method="POST", path="/v1/chat/completions",
        body={"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})
    err(400, "'n'", method="POST", path="/v1/chat/completions", body={"messages": PIRATE, "n": 17})
    err(404, "/v1/embeddings", method="POST", path="/v1/embeddings", body={"input": "x"})
    err(400, "'prompt'", method="POST", path="/v1/completions", body={"prompt": 5})
    err(400, "suffix", method="POST", path="/v1/completions", body={"prompt": "x", "suffix": "y"})
    err(405, "POST /v1/completions", method="GET", path="/v1/completions")
    err(405, "POST", method="GET", path="/v1/chat/completions")
    err(400, "context", method="POST", path="/v1/chat/completions",
        body={"messages": [{"role": "user", "content": "hello " * 9000}], "max_tokens": 4})
    err(413, "larger than", method="POST", path="/v1/chat/completions", raw=b'{"messages":"' + b"x" * (9 << 20) + b'"}')

    # A client that leaves mid-stream cancels its generation: the next request is answered.
    ev, _ = s.stream({"messages": PIRATE, "temperature": 0.7, "max_tokens": 2000}, limit=3)
    t = time.time()
    st, o4 = s.chat({"messages": PIRATE, "temperature": 0, "max_tokens": 4}, timeout=60)
    check(st == 200 and time.time() - t < 30, f"after a client left mid-stream the next reply came in {time.time() - t:.1f} s")

    # Requests at the same time queue for the one model and each get their own answer.
    res = [None, None, None]

    def worker(k):
        res[k] = s.chat({"messages": PIRATE if k != 1 else ko, "temperature": 0, "max_tokens": 16})

    th = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for x in th:
        x.start()
    for x in th:
        x.join(120)
    ok = all(r and r[0] == 200 for r in res)
    check(ok and res[0][1]["choices"][0]["message"]["content"] == res[2][1]["choices"][0]["message"]["content"]
          and ko_text.startswith(res[1][1]["choices"][0]["message"]["content"][:10]), "three concurrent requests, each its own reply")
finally:
    rc, log = s.stop()
check(rc == 0, f"SIGTERM stops the server (rc {rc})")

# With an API key: 401 without it (or with a wrong one), 200 with it; /health stays open; the key is never logged.
KEY = "sk-test-do-not-log-7f3a"
s = Server("--api-key", KEY, "--max-body", "4096")
try:
    st, _, _ = s.request("GET", "/v1/models")
    check(st == 401, "no key → 401")
    st, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer " + KEY[:-1] + "x"})
    check(st == 401, "wrong key → 401")
    st, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer " + KEY})
    check(st == 200, "right key → 200")
    st, _, _ = s.request("GET", "/health")
    check(st == 200, "/health needs no key")
    st, _, data = s.request("POST", "/v1/chat/completions", raw=b'{"messages":"' + b"y" * 5000 + b'"}',
                            headers={"Authorization": "Bearer " + KEY})
    check(st == 413, "--max-body 4096: a 5 kB body → 413")
finally:
    rc, log = s.stop()
check(KEY not in log, "the API key does not appear in the server's log")

print(f"{len(fails)} failed" if fails else "all passed")
sys.exit(1 if fails else 0)
