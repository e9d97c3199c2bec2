#!/usr/bin/env python3
"""Concurrent-stream benchmark of an OpenAI-compatible server (stdlib only, 127.0.0.1 only):
drives `llmc serve` (and llama.cpp's llama-server when --llama-server is given) with the same
HTTP load: for 1, 2, 4, 8, 16 concurrent streams, each a greedy streamed chat completion of
--max-tokens tokens from a different prompt, it measures
  aggregate decode tok/s  = completion tokens of the round / (last token - first token of the round)
  p50 / p99 TPOT          = time between successive content events, over every stream of the round
  TTFT                    = request sent → first content event (median over the round)
then the prefix cache: time to first token of a request whose ~700-token system prompt is new
(cold) and of the next request with the same system prompt and another question (cached).
Writes a markdown table to stdout and, with --write, between <!-- serve:begin/end --> in
BENCHMARKS.md. Every request and loop is bounded in count and time.
usage: serve_bench.py --llmc build/llmc --model SmolLM2-135M-Instruct.Q4_1.gguf [--threads 2]
                      [--streams 1,2,4,8,16] [--max-tokens 64] [--llama-server PATH] [--write]"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

TOPICS = ["the sea", "a lighthouse", "a robot", "a dragon", "the moon", "a forest", "a train", "a city",
          "a violin", "a desert", "an island", "a clock", "a garden", "a storm", "a mountain", "a river"]


class Server:
    def __init__(self, argv, port_re, log_path):
        self.log = open(log_path, "w+")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.port = None
        for _ in range(2400):  # 120 s
            time.sleep(0.05)
            self.log.seek(0)
            m = re.search(port_re, self.log.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None:
                break
        if not self.port:
            self.log.seek(0)
            raise SystemExit("server did not start:\n" + self.log.read()[-3000:])

    def wait_ready(self):
        for _ in range(1200):  # 60 s
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("server not ready")

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.log.close()


def stream(port, messages, max_tokens, extra):
    """(t_sent, [t of each content event], completion_tokens or None, text)."""
    body = dict(messages=messages, max_tokens=max_tokens, temperature=0, stream=True,
                stream_options={"include_usage": True}, **extra)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.time()
    c.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    times, usage, text = [], None, ""
    if r.status != 200:
        c.close()
        return t0, times, None, None
    for _ in range(100000):
        line = r.readline()
        if not line:
            break
        line = line.decode("utf-8", "replace").strip()
        if not line.startswith("data: "):
            continue
        if line[6:] == "[DONE]":
            break
        ev = json.loads(line[6:])
        if ev.get("usage"):
            usage = ev["usage"].get("completion_tokens")
        for ch in ev.get("choices") or []:
            piece = (ch.get("delta") or {}).get("content")
            if piece:
                times.append(time.time())
                text += piece
    c.close()
    return t0, times, usage, text


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def prompt_of(k):
    return [{"role": "user", "content": f"Write a long story about {TOPICS[k % len(TOPICS)]}."}]


def round_of(port, n, max_tokens, extra, alone=None):
    out = [None] * n

    def work(k):
        out[k] = stream(port, prompt_of(k), max_tokens, extra)

    th = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join(900)
    firsts = [o[1][0] for o in out if o and o[1]]
    lasts = [o[1][-1] for o in out if o and o[1]]
    toks = sum((o[2] if o[2] is not None else len(o[1])) for o in out if o)
    gaps = [b - a for o in out if o for a, b in zip(o[1], o[1][1:])]
    ttft = [o[1][0] - o[0] for o in out if o and o[1]]
    span = max(lasts) - min(firsts) if firsts else float("nan")
    same = sum(1 for k, o in enumerate(out) if o and alone and o[3] == alone[k % len(alone)])
    return {"streams": n, "tokens": toks, "same": same, "agg": toks / span if span > 0 else float("nan"),
            "tpot50": pct(gaps, 0.5) * 1e3, "tpot99": pct(gaps, 0.99) * 1e3, "ttft50": statistics.median(ttft) * 1e3 if ttft else float("nan"),
            "ok": sum(1 for o in out if o and o[1])}


def prefix_probe(port, extra):
    system = ("You are the support assistant of Northwind Shipping. Answer briefly and politely; "
              "never invent tracking numbers; ask for the order id when it is missing. ") * 24
    def ttft(q, sys_text):
        t0, times, _, _ = stream(port, [{"role": "system", "content": sys_text}, {"role": "user", "content": q}], 4, extra)
        return (times[0] - t0) * 1e3 if times else float("nan")
    tag = f"[session {time.time():.0f}] "
    cold = ttft("Where is my parcel?", tag + system)
    warm = ttft("Can I change the delivery address?", tag + system)
    return cold, warm


def run(name, srv, streams, max_tokens, extra):
    rows = []
    round_of(srv.port, 1, 8, extra)  # warm-up
    # parity: every prompt alone first; each stream of every round must give the same text
    alone = [stream(srv.port, prompt_of(k), max_tokens, extra)[3] for k in range(max(streams))]
    for n in streams:
        rows.append(round_of(srv.port, n, max_tokens, extra, alone))
        r = rows[-1]
        print(f"{name}: {n:2d} streams: {r['agg']:6.1f} tok/s aggregate, TPOT p50 {r['tpot50']:.0f} ms p99 {r['tpot99']:.0f} ms, "
              f"TTFT p50 {r['ttft50']:.0f} ms ({r['ok']}/{n} streams, {r['tokens']} tokens, {r['same']}/{n} replies = alone)", file=sys.stderr)
    cold, warm = prefix_probe(srv.port, extra)
    print(f"{name}: 700-token system prompt: TTFT cold {cold:.0f} ms, cached {warm:.0f} ms", file=sys.stderr)
    return rows, cold, warm


def table(name, rows, cold, warm):
    base = rows[0]["agg"] if rows and rows[0]["streams"] == 1 else float("nan")
    out = [f"**{name}**", "",
           "| streams | aggregate decode tok/s | vs 1 stream | TPOT p50 (ms) | TPOT p99 (ms) | TTFT p50 (ms) | replies = alone |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['streams']} | {r['agg']:.1f} | {r['agg'] / base:.2f}x | {r['tpot50']:.0f} | {r['tpot99']:.0f} | {r['ttft50']:.0f} "
                   f"| {r['same']}/{r['streams']} |")
    out += ["", f"700-token system prompt, time to first token: new {cold:.0f} ms, cached {warm:.0f} ms ({warm / cold:.2f} of it)", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmc", default="build/llmc")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--streams", default="1,2,4,8,16")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--llmc-args", default="", help="extra llmc serve flags, e.g. --batch-f32")
    ap.add_argument("--llama-server", default=None, help="path to llama.cpp's llama-server (optional)")
    ap.add_argument("--write", action="store_true", help="update the serve section of BENCHMARKS.md")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    a = ap.parse_args()
    streams = [int(x) for x in a.streams.split(",")]
    tmp = os.environ.get("TMPDIR", "/tmp")
    sections = []
    load = os.getloadavg()[0]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    agg = {}
    srv = Server([a.llmc, "serve", a.model, "--host", "127.0.0.1", "--port", "0", "--threads", str(a.threads),
                  "--parallel", str(max(streams)), *a.llmc_args.split()], r"on http://127\.0\.0\.1:(\d+)", f"{tmp}/serve-bench-llmc.log")
    try:
        srv.wait_ready()
        rows, cold, warm = run("llmc serve", srv, streams, a.max_tokens, {})
        agg["llmc"] = {r["streams"]: r["agg"] for r in rows}
        sections.append(table(f"llmc serve --parallel {max(streams)} {a.llmc_args}".strip(), rows, cold, warm))
        if a.json:
            json.dump({"rows": rows, "prefix_cold_ms": cold, "prefix_cached_ms": warm}, open(a.json, "w"), indent=1)
    finally:
        srv.stop()
    if a.llama_server:
        srv = Server([a.llama_server, "-m", a.model, "--host", "127.0.0.1", "--port", "18089", "-t", str(a.threads),
                      "-np", str(max(streams)), "-c", str(2048 * max(streams)), "--cont-batching"],
                     r"listening on .*:(\d+)|server is listening on http://127\.0\.0\.1:(\d+)", f"{tmp}/serve-bench-llama.log")
        try:
            srv.wait_ready()
            rows, cold, warm = run("llama-server", srv, streams, a.max_tokens, {"cache_prompt": True})
            agg["llama"] = {r["streams"]: r["agg"] for r in rows}
            sections.append(table(f"llama.cpp llama-server -np {max(streams)}", rows, cold, warm))
        finally:
            srv.stop()
    else:
        sections.append("llama.cpp's llama-server was not run (not built here; pass --llama-server PATH to add it to the same load).\n")
    cpu = ""
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except Exception:
        pass
    if "llama" in agg:
        ratios = ", ".join(f"{n} streams {agg['llmc'][n] / agg['llama'][n]:.2f}x" for n in streams
                           if n in agg["llama"] and agg["llama"][n] > 0)
        sections.append(f"llmc ÷ llama-server, aggregate decode tok/s: {ratios}.\n")
    text = "\n".join([f"{when}, commit {commit}; {a.threads} threads, {cpu}, load average {load:.1f} at the start; greedy streamed "
                      f"chat completions of {a.max_tokens} tokens, one prompt per stream; `{' '.join(sys.argv)}`", ""] + sections)
    print(text)
    if a.write:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BENCHMARKS.md")
        doc = open(path).read()
        sec = "<!-- serve:begin -->\n## Many streams: `llmc serve --parallel` (continuous batching)\n\n" + text + "\n<!-- serve:end -->"
        if "<!-- serve:begin -->" in doc:
            doc = re.sub(r"<!-- serve:begin -->.*?<!-- serve:end -->", lambda m: sec, doc, flags=re.S)
        else:
            doc = doc.rstrip("\n") + "\n\n" + sec + "\n"
        open(path, "w").write(doc)


if __name__ == "__main__":
    main()
