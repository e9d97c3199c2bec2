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
    return run_json([a.llama_python, os.path.join(HERE, "llamacpp_bench.py"), model, "-p", str(a.p), "-n", str(a.n),
                     "-r", str(a.r), "-t", str(a.t)])


def hf(a, model):
    return run_json([a.hf_python, os.path.join(HERE, "hf_bench.py"), model, "-p", str(a.p), "-n", str(a.hf_n),
                     "-r", str(min(a.r, 3)), "-t", str(a.t)])


def med(r, k):
    v = r.get(k) if r else None
    return v["median"] if v else float("nan")


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
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    res = {}
    res["llmc_q"] = llmc(a, a.gguf)
    if a.llama_python:
        res["llama_q"] = llamacpp(a, a.gguf)
    base = os.path.splitext(os.path.basename(a.gguf))[0]
    hfdir = os.path.join(a.workdir, base + "-hf-bf16")
    if a.hf_python:
        if not os.path.exists(os.path.join(hfdir, "config.json")):
            subprocess.run([a.hf_python, os.path.join(HERE, "hf_bench.py"), a.gguf, "--from-gguf", "--save", hfdir],
                           check=True)
        res["llmc_bf16"] = llmc(a, hfdir)
    if a.llama_python:
        bf = os.path.join(a.workdir, base + "-BF16.gguf")
        if not os.path.exists(bf):
            subprocess.run([a.llama_python, os.path.join(HERE, "llamacpp_bench.py"), a.gguf, "--to-bf16", bf, "-t",
                            str(a.t)], check=True)
        res["llama_bf16"] = llamacpp(a, bf)
    if a.hf_python:
        res["hf_bf16"] = hf(a, hfdir)

    q = res["llmc_q"]
    lines = [f"### {base} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {a.t} threads; "
             f"llmc kernels: {q.get('kernel')}; read bandwidth {q.get('read_bw_gb_s', 0):.1f} GB/s. "
             f"pp{a.p} = prefill of {a.p} tokens, tg{a.n} = {a.n} decode steps; median of {a.r} (range).", "",
             "| weights | system | prefill tok/s | decode tok/s | prefill ratio | decode ratio |",
             "|---|---|---|---|---|---|"]

    def row(label, sysname, r, ref):
        if not r:
            return
        p, d = r.get("prefill_tok_s"), r.get("decode_tok_s")
        fmt = lambda s: f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})" if s else "–"
        rp = f"{med(ref, 'prefill_tok_s') / med(r, 'prefill_tok_s'):.2f}×" if ref and ref is not r else ""
        rd = f"{med(ref, 'decode_tok_s') / med(r, 'decode_tok_s'):.2f}×" if ref and ref is not r else ""
        lines.append(f"| {label} | {sysname} | {fmt(p)} | {fmt(d)} | {rp} | {rd} |")

    row("GGUF (as stored)", "llmc", res.get("llmc_q"), None)
    row("GGUF (as stored)", "llama.cpp", res.get("llama_q"), res.get("llmc_q"))
    row("bf16", "llmc (HF safetensors)", res.get("llmc_bf16"), None)
    row("bf16", "llama.cpp (BF16 GGUF)", res.get("llama_bf16"), res.get("llmc_bf16"))
    row("bf16", "transformers (CPU)", res.get("hf_bf16"), res.get("llmc_bf16"))
    lines += ["", "Ratios are llmc ÷ the other system (above 1: llmc is faster).",
              f"llmc decode is {100 * q.get('decode_fraction_of_floor', 0):.0f}% of the bandwidth floor "
              f"({q.get('decode_floor_tok_s', 0):.1f} tok/s = read bandwidth ÷ {q.get('weights_mb', 0):.1f} MB of weights; "
              "a model that fits in the last-level cache can beat it). "
              f"Peak RSS {q.get('peak_rss_mb', 0):.0f} MB, load {q.get('load_s', 0) * 1e3:.0f} ms, "
              f"TTFT (pp{a.p}) {q.get('ttft_ms', 0):.0f} ms.", ""]
    print("\n".join(lines))
    if a.json:
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
