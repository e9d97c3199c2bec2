#!/usr/bin/env python3
"""llama.cpp side of bench/compare.py: prefill (pp) and decode (tg) tokens/s for a
GGUF through llama-cpp-python, measured like `llmc bench` (pp: one batch of P
random ids into an empty cache; tg: N single-token evals from an empty cache,
logits of the last token each step). Prints one JSON object.
Also: --to-bf16 OUT converts a GGUF to BF16 with llama.cpp's own quantizer."""
import argparse
import json
import random
import statistics
import sys
import time

import llama_cpp


def to_bf16(src, dst, threads):
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = threads
    p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_BF16
    p.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), p)
    if rc != 0:
        sys.exit(f"llama_model_quantize failed: {rc}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--to-bf16")
    ap.add_argument("--no-extra-bufts", action="store_true",
                    help="no weight repacking / AMX buffers (llama.cpp's AMX path crashes on some shapes)")
    a = ap.parse_args()
    if a.no_extra_bufts:
        import llama_cpp.llama_cpp as low  # the module Llama() takes its defaults from
        orig = low.llama_model_default_params

        def params():
            p = orig()
            p.use_extra_bufts = False
            return p
        low.llama_model_default_params = params
    if a.to_bf16:
        to_bf16(a.model, a.to_bf16, a.t)
        return
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=max(a.p, a.n) + 16, n_batch=max(a.p, 1), n_ubatch=max(a.p, 1),
                          n_threads=a.t, n_threads_batch=a.t, verbose=False)
    load_s = time.perf_counter() - t0
    vocab = llm.n_vocab()
    rng = random.Random(1234)
    ids = [rng.randrange(vocab) for _ in range(max(a.p, a.n))]
    llm.reset()
    llm.eval(ids[:8])  # warm-up
    pp, tg = [], []
    for _ in range(a.r):
        if a.p:
            llm.reset()
            s = time.perf_counter()
            llm.eval(ids[:a.p])
            pp.append(a.p / (time.perf_counter() - s))
        if a.n:
            llm.reset()
            s = time.perf_counter()
            for i in range(a.n):
                llm.eval(ids[i:i + 1])
            tg.append(a.n / (time.perf_counter() - s))

    def st(v):
        return {"median": statistics.median(v), "min": min(v), "max": max(v)} if v else None

    print(json.dumps({"system": "llama.cpp", "version": llama_cpp.__version__, "threads": a.t, "load_s": load_s,
                      "extra_bufts": not a.no_extra_bufts,
                      "prefill_tok_s": st(pp), "decode_tok_s": st(tg), "prefill_samples": pp,
                      "decode_samples": tg}))


if __name__ == "__main__":
    main()
