#!/usr/bin/env python3
"""Side-by-side CPU benchmark: llmc vs llama.cpp (llama-cpp-python, pinned in
bench/requirements.txt) on the same GGUF with the same thread count, and vs the
transformers pipeline's model for the same weights as an HF bf16 checkpoint.
Prints a Markdown section for BENCHMARKS.md (and the raw JSON with --json).

  python3 bench/compare.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf \
      --llmc build/llmc --llama-python VENV/bin/python --hf-python GOLDEN/bin/python -t 2

Derived files (the BF16 GGUF made by llama.cpp's quantizer, the HF bf16
checkpoint made by transformers' GGUF loader) go to --workdir and are reused.
Stdlib only; each system runs in its own process, one after the other."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def llmc(a, model, extra=()):
    return run_json([a.llmc, "bench", model, "-p", str(a.p), "-n", str(a.n), "-r", str(a.r), "-t", str(a.t),
                     "--json", *extra])


def llamacpp(a, model):
    cmd = [a.llama_python, os.path.join(HERE, "llamacpp_bench.py"), model, "-p", str(a.p), "-n", str(a.n),
           "-r", str(a.r), "-t", str(a.t)]
    try:
        return run_json(cmd)
    except subprocess.CalledProcessError as e:
        # llama.cpp 0.3.36's AMX matmul crashes on batches for some shapes (e.g. SmolLM2's
        # 576-wide Q4_1): measure it without the extra (repack/AMX) buffer types instead.
        print(f"llama.cpp failed (exit {e.returncode}); retrying with --no-extra-bufts", file=sys.stderr)
        return run_json(cmd + ["--no-extra-bufts"])


def hf(a, model):
    return run_json([a.hf_python, os.path.join(HERE, "hf_bench.py"), model, "-p", str(a.p), "-n", str(a.hf_n),
                     "-r", str(min(a.r, 3)), "-t", str(a.t)])


def med(r, k):
    v = r.get(k) if r else None
    return v["median"] if v else float("nan")


def pool(runs):
    """Merges repeated runs of one system: all samples, median and best."""
    runs = [r for r in runs if r]
    if not runs:
        return None
    out = dict(runs[-1])
    for k in ("prefill", "decode"):
        v = [x for r in runs for x in r.get(k + "_samples", [])]
        out[k + "_samples"] = v
        out[k + "_tok_s"] = {"median": statistics.median(v), "min": min(v), "max": max(v)} if v else None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--llmc", default=os.path.join(HERE, "..", "build", "llmc"))
    ap.add_argument("--llama-python", help="python with llama-cpp-python (skip llama.cpp if absent)")
    ap.add_argument("--hf-python", help="python with transformers+torch (skip bf16/transformers if absent)")
    ap.add_argument("--workdir", default=os.path.join(HERE, ".work"))
    ap.add_argument("-t", type=int, default=os.cpu_count())
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--hf-n", type=int, default=32, help="decode steps for transformers (slow)")
    ap.add_argument("-r", type=int, default=3, help="repetitions per run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="llmc and llama.cpp alternate this many times, so load from other processes hits both")
    ap.add_argument("--write", help="replace this script's section of a BENCHMARKS.md")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    load0 = os.getloadavg()[0]
    base = os.path.splitext(os.path.basename(a.gguf))[0]
    hfdir = os.path.join(a.workdir, base + "-hf-bf16")
    bf = os.path.join(a.workdir, base + "-BF16.gguf")
    if a.hf_python and not os.path.exists(os.path.join(hfdir, "config.json")):
        subprocess.run([a.hf_python, os.path.join(HERE, "hf_bench.py"), a.gguf, "--from-gguf", "--save", hfdir],
                       check=True)
    if a.llama_python and not os.path.exists(bf):
        subprocess.run([a.llama_python, os.path.join(HERE, "llamacpp_bench.py"), a.gguf, "--to-bf16", bf, "-t",
                        str(a.t)], check=True)
    runs = {k: [] for k in ("llmc_q", "llmc_qf", "llama_q", "llmc_bf16", "llmc_bf16f", "llama_bf16")}
    for _ in range(a.rounds):
        runs["llmc_q"].append(llmc(a, a.gguf))
        runs["llmc_qf"].append(llmc(a, a.gguf, ("--fast-act",)))
        if a.llama_python:
            runs["llama_q"].append(llamacpp(a, a.gguf))
        if a.hf_python:
            runs["llmc_bf16"].append(llmc(a, hfdir))
            runs["llmc_bf16f"].append(llmc(a, hfdir, ("--fast-act",)))
        if a.llama_python:
            runs["llama_bf16"].append(llamacpp(a, bf))
    res = {k: pool(v) for k, v in runs.items()}
    if a.hf_python:
        res["hf_bf16"] = hf(a, hfdir)

    q = res["llmc_q"]
    try:
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    lines = ["<!-- cpu:begin -->", "## CPU inference (llmc vs llama.cpp vs transformers)", "",
             f"`bench/compare.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit} — "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {a.t} threads, "
             f"load average {load0:.2f} at the start; model {base}. llmc kernels: {q.get('kernel')}; "
             f"read bandwidth {q.get('read_bw_gb_s', 0):.1f} GB/s. pp{a.p} = prefill of {a.p} tokens into an empty "
             f"cache, tg{a.n} = {a.n} single-token decode steps; {a.rounds} alternating rounds × {a.r} repetitions "
             "pooled: median (best). Ratios are llmc ÷ the other system on the median and on the best "
             "(the best is the run least disturbed by other processes on a shared machine).", "",
             "| weights | system | prefill tok/s | decode tok/s | llmc prefill ratio | llmc decode ratio |",
             "|---|---|---|---|---|---|"]

    def ratio(ref, r, k):
        if not ref or ref is r or not r or not r.get(k) or not ref.get(k):
            return ""
        return f"{ref[k]['median'] / r[k]['median']:.2f}× ({ref[k]['max'] / r[k]['max']:.2f}×)"

    def row(label, sysname, r, ref):
        if not r:
            return
        fmt = lambda s: f"{s['median']:.1f} ({s['max']:.1f})" if s else "–"
        if r.get("extra_bufts") is False:
            sysname += " (no AMX/repack buffers: its AMX path crashes here)"
        lines.append(f"| {label} | {sysname} | {fmt(r.get('prefill_tok_s'))} | {fmt(r.get('decode_tok_s'))} | "
                     f"{ratio(ref, r, 'prefill_tok_s')} | {ratio(ref, r, 'decode_tok_s')} |")

    row("GGUF as stored", "llmc (default: ~15-bit activations, top-1 = f32 math)", res.get("llmc_q"), None)
    row("GGUF as stored", "llmc --fast-act (8-bit activations, as llama.cpp)", res.get("llmc_qf"), None)
    row("GGUF as stored", f"llama.cpp {res['llama_q']['version'] if res.get('llama_q') else ''}", res.get("llama_q"),
        res.get("llmc_q"))
    row("bf16", "llmc (HF safetensors)", res.get("llmc_bf16"), None)
    bf16f = res.get("llmc_bf16f")
    row("bf16", f"llmc --fast-act ({'AMX tiles, ' if bf16f and bf16f.get('kernel') == 'amx' else ''}bf16 activations in prefill)",
        bf16f, None)
    row("bf16", "llama.cpp (BF16 GGUF)", res.get("llama_bf16"), res.get("llmc_bf16"))
    row("bf16", f"transformers (CPU, tg{a.hf_n})", res.get("hf_bf16"), res.get("llmc_bf16"))
    if res.get("llama_q") and res.get("llmc_qf"):
        lines += ["", f"llmc --fast-act ÷ llama.cpp on the GGUF: prefill {ratio(res['llmc_qf'], res['llama_q'], 'prefill_tok_s')}, "
                  f"decode {ratio(res['llmc_qf'], res['llama_q'], 'decode_tok_s')} (both with 8-bit activations)."]
    if bf16f and res.get("hf_bf16"):
        lines += ["", f"llmc --fast-act ÷ transformers on the bf16 checkpoint: prefill "
                  f"{ratio(bf16f, res['hf_bf16'], 'prefill_tok_s')}, decode {ratio(bf16f, res['hf_bf16'], 'decode_tok_s')}."]
    lines += ["", f"llmc decode ({base}) is {100 * q.get('decode_fraction_of_floor', 0):.0f}% of the bandwidth floor "
              f"({q.get('decode_floor_tok_s', 0):.1f} tok/s = read bandwidth ÷ {q.get('weights_mb', 0):.1f} MB of "
              "weights; a model that fits in the last-level cache can exceed it). "
              f"Peak RSS {q.get('peak_rss_mb', 0):.0f} MB, load {q.get('load_s', 0) * 1e3:.0f} ms, "
              f"TTFT (pp{a.p}) {q.get('ttft_ms', 0):.0f} ms.", "<!-- cpu:end -->"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.write:
        old = open(a.write).read() if os.path.exists(a.write) else "# Benchmarks\n"
        b, e = old.find("<!-- cpu:begin -->"), old.find("<!-- cpu:end -->")
        new = old[:b] + text + old[e + len("<!-- cpu:end -->\n"):] if b >= 0 and e > b else old.rstrip() + "\n\n" + text
        with open(a.write, "w") as f:
            f.write(new)
    if a.json:
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
