#!/usr/bin/env python3
"""llmc serve --parallel end to end (stdlib only, 127.0.0.1 only, every loop bounded):
 - 12 greedy streams at once on 4 sequences: each reply is the one the same request gets alone,
   and /health shows requests queued meanwhile;
 - past --max-queue: HTTP 429 queue_full, and every admitted request still gets its own reply;
 - n = 3 greedy: three choices, each the n = 1 reply;
 - a client that leaves mid-stream, or before its non-streamed reply: its KV reservation is back to 0
   in /health within seconds;
 - the prefix cache: a repeated 700-token system prompt reuses its blocks (/metrics), same reply;
 - --kv-budget too small for a request: an error that names the budget, the server stays up.
usage: serve_parallel.py LLMC_BIN MODEL"""
import http.client
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_base import ServerBase, check, fails  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]



class Server(ServerBase):
    def __init__(self, *extra):
        super().__init__(BIN, MODEL, extra, "par")

    def request(self, method, path, body=None, timeout=300):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        out = r.status, r.read()
        c.close()
        return out

    def chat(self, body, timeout=300):
        st, data = self.request("POST", "/v1/chat/completions", body, timeout)
        return st, json.loads(data)

    def health(self):
        st, data = self.request("GET", "/health", timeout=30)
        return json.loads(data) if st == 200 else {}

    def kv_freed(self):
        """(no sequence running and no KV reserved within 10 s, the last /health)."""
        h = {}
        for _ in range(200):
            h = self.health()
            if h.get("running") == 0 and h.get("kv_used_bytes") == 0:
                return True, h
            time.sleep(0.05)
        return False, h

    def stream_text(self, body, leave_after=None):
        """The streamed reply's text (choice 0), or None after leaving early."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            c.close()
            return r.status, None
        text, n = "", 0
        for _ in range(100000):
            line = r.readline()
            if not line:
                break
            line = line.decode("utf-8").rstrip("\n")
            if not line.startswith("data: "):
                continue
            if line[6:] == "[DONE]":
                break
            ev = json.loads(line[6:])
            for ch in ev.get("choices", []):
                text += ch.get("delta", {}).get("content") or ""
            n += 1
            if leave_after and n >= leave_after:
                c.sock.shutdown(2)
                c.close()
                return 200, None
        c.close()
        return 200, text

    def metric(self, name):
        st, data = self.request("GET", "/metrics", timeout=30)
        m = re.search(rf"^{name} (\d+)", data.decode(), re.M)
        return int(m.group(1)) if m else -1



QUESTIONS = ["Who are you?", "What is the capital of France?", "Name three colours.", "Count to five.",
             "What is 2 + 2?", "Say hello in Spanish.", "What do cats eat?", "Why is the sky blue?",
             "Name a planet.", "What is water made of?", "Tell me a fruit.", "What day comes after Monday?"]


def conv(q, system="You are a helpful assistant."):
    return [{"role": "system", "content": system}, {"role": "user", "content": q}]


s = Server("--parallel", "4", "--max-queue", "8")
try:
    h = s.health()
    check(h.get("parallel") == 4 and h.get("max_queue") == 8, f"/health reports --parallel 4 --max-queue 8 ({h})")
    # each request alone first
    alone = []
    for q in QUESTIONS:
        st, o = s.chat({"messages": conv(q), "temperature": 0, "max_tokens": 24})
        alone.append(o["choices"][0]["message"]["content"] if st == 200 else None)
    check(all(a for a in alone), "12 requests one at a time answered")

    # 12 streams at once on 4 sequences
    got = [None] * len(QUESTIONS)
    seen_queued = [0]

    def worker(k):
        got[k] = s.stream_text({"messages": conv(QUESTIONS[k]), "temperature": 0, "max_tokens": 24})[1]

    th = [threading.Thread(target=worker, args=(k,)) for k in range(len(QUESTIONS))]
    for x in th:
        x.start()
    for _ in range(400):
        seen_queued[0] = max(seen_queued[0], s.health().get("queued", 0))
        if not any(x.is_alive() for x in th):
            break
        time.sleep(0.05)
    for x in th:
        x.join(300)
    same = sum(1 for a, b in zip(alone, got) if a == b)
    check(same == len(QUESTIONS), f"12 concurrent streams: {same}/12 replies are the ones alone")
    for a, b in zip(alone, got):
        if a != b:
            print("     alone:  ", repr(a), "\n     stream: ", repr(b))
    check(seen_queued[0] > 0, f"/health showed requests queued meanwhile (max {seen_queued[0]})")

    # past the queue: 429; every admitted request its own reply
    res = [None] * 20

    def worker2(k):
        res[k] = s.chat({"messages": conv(QUESTIONS[k % 12]), "temperature": 0, "max_tokens": 24})

    th = [threading.Thread(target=worker2, args=(k,)) for k in range(20)]
    for x in th:
        x.start()
        time.sleep(0.02)
    for x in th:
        x.join(300)
    codes = [r[0] if r else None for r in res]
    n429 = codes.count(429)
    ok200 = [k for k, c in enumerate(codes) if c == 200]
    check(n429 >= 1 and len(ok200) + n429 == 20, f"20 at once on 4 + 8: {len(ok200)} answered, {n429} got 429, none lost ({codes})")
    check(all(res[k][1]["error"]["code"] == "queue_full" for k, c in enumerate(codes) if c == 429), "the 429s say queue_full")
    check(all(res[k][1]["choices"][0]["message"]["content"] == alone[k % 12] for k in ok200), "each answered request got its own reply")

    # n = 3
    st, o = s.chat({"messages": conv(QUESTIONS[0]), "temperature": 0, "max_tokens": 24, "n": 3})
    texts = [c["message"]["content"] for c in o.get("choices", [])] if st == 200 else []
    check(len(texts) == 3 and all(t == alone[0] for t in texts) and [c["index"] for c in o["choices"]] == [0, 1, 2],
          "n = 3: three choices, each the n = 1 reply")
    st, o = s.chat({"messages": conv(QUESTIONS[1]), "temperature": 1.0, "seed": 7, "max_tokens": 24, "n": 4})
    check(st == 200 and len(o["choices"]) == 4 and o["usage"]["completion_tokens"] >= 4, "n = 4 sampled: four choices, usage counts them all")

    # a client that leaves mid-stream frees its KV
    st, _ = s.stream_text({"messages": conv("Write a long story about the sea."), "temperature": 0.7, "max_tokens": 2000}, leave_after=3)
    freed, h = s.kv_freed()
    check(st == 200 and freed, f"a client that left mid-stream: its sequence and KV are freed ({h})")

    # a client that leaves before its non-streamed reply: the generation is cancelled (the log says
    # so) and its sequence and KV are freed, long before 2000 tokens could be generated
    body = json.dumps({"messages": conv("Count from 1 to 5000, one number per line."), "temperature": 0,
                       "max_tokens": 2000}).encode()
    sk = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sk.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
    running = False
    for _ in range(400):
        if s.health().get("running", 0) >= 1:
            running = True
            break
        time.sleep(0.05)
    time.sleep(0.5)
    sk.close()
    freed, h = s.kv_freed()
    s.log.seek(0)
    left = "the client left before its reply" in s.log.read()
    check(running and freed and left, f"a client that left before its non-streamed reply: cancelled ({left}), "
          f"its sequence and KV freed ({h})")

    # prefix cache: a 700-token system prompt, then the same with another question
    system = ("You are a meticulous assistant for a shipping company. " * 70).strip()
    hits0 = s.metric("llmc_prefix_cache_hit_tokens_total")
    t0 = time.time()
    st1, o1 = s.chat({"messages": conv("Where is my parcel?", system), "temperature": 0, "max_tokens": 1})
    t_cold = time.time() - t0
    t0 = time.time()
    st2, o2 = s.chat({"messages": conv("Where is my parcel?", system), "temperature": 0, "max_tokens": 1})
    t_warm = time.time() - t0
    hits1 = s.metric("llmc_prefix_cache_hit_tokens_total")
    check(st1 == 200 and st2 == 200 and o1["usage"]["prompt_tokens"] >= 700, f"a {o1['usage']['prompt_tokens']}-token prompt answered twice")
    check(hits1 - hits0 >= 640, f"the repeat loaded {hits1 - hits0} prompt tokens from the prefix cache")
    check(o1["choices"][0]["message"]["content"] == o2["choices"][0]["message"]["content"], "the same reply with and without the cache")
    print(f"     700-token system prompt: first reply {t_cold * 1000:.0f} ms, cached {t_warm * 1000:.0f} ms ({t_warm / t_cold:.2f}x)")
    # speed is for bench/serve_bench.py (tests never assert on time); the hit count above is the check
finally:
    rc, _ = s.stop()
check(rc == 0, "SIGTERM stops the server (rc 0)")

# a KV budget too small for a request: refused by name; the server keeps answering
s = Server("--kv-budget", "8")
try:
    st, o = s.chat({"messages": conv("Hello"), "max_tokens": 4000})
    msg = o.get("error", {}).get("message", "")
    check(st >= 400 and "KV budget" in msg and "8 MiB" in msg, f"a request past --kv-budget 8: {st} '{msg}'")
    st, o = s.chat({"messages": conv("Hello"), "temperature": 0, "max_tokens": 8})
    check(st == 200, "the next request that fits is answered")
finally:
    rc, _ = s.stop()
check(rc == 0, "SIGTERM stops the second server (rc 0)")

if fails:
    print(f"{len(fails)} failed")
    sys.exit(1)
print("all passed")
