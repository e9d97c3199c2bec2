#!/usr/bin/env python3
"""transformers side of bench/compare.py: decode tokens/s of the text-generation
pipeline's model on CPU (greedy generate of N tokens after a 1-token prompt,
minus nothing: this is what a user of the pipeline gets), and prefill of P
tokens as one forward. Prints one JSON object.
Also: --from-gguf GGUF --save DIR writes the GGUF's weights as an HF bf16
checkpoint (transformers' own GGUF loader dequantizes)."""
import argparse
import json
import random
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="HF model dir (or GGUF with --from-gguf)")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--from-gguf", action="store_true")
    ap.add_argument("--save")
    a = ap.parse_args()
    torch.set_num_threads(a.t)
    if a.from_gguf:
        import os
        d, f = os.path.split(os.path.abspath(a.model))
        m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.bfloat16)
        # A GGUF-loaded model refuses save_pretrained; copy it into a plain one.
        cfg = m.config
        if hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
        plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
        plain.load_state_dict(m.state_dict())
        plain.save_pretrained(a.save)
        AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(a.save)
        return
    t0 = time.perf_counter()
    m = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16)
    m.eval()
    load_s = time.perf_counter() - t0
    vocab = m.config.vocab_size
    rng = random.Random(1234)
    ids = [rng.randrange(vocab) for _ in range(max(a.p, 2))]
    pp, tg = [], []
    with torch.inference_mode():
        for _ in range(a.r):
            if a.p:
                s = time.perf_counter()
                m(torch.tensor([ids[:a.p]]))
                pp.append(a.p / (time.perf_counter() - s))
            if a.n:
                s = time.perf_counter()
                m.generate(torch.tensor([ids[:1]]), max_new_tokens=a.n, min_new_tokens=a.n, do_sample=False)
                tg.append(a.n / (time.perf_counter() - s))

    def st(v):
        return {"median": statistics.median(v), "min": min(v), "max": max(v)} if v else None

    import transformers
    print(json.dumps({"system": "transformers", "version": transformers.__version__, "threads": a.t,
                      "load_s": load_s, "prefill_tok_s": st(pp), "decode_tok_s": st(tg), "prefill_samples": pp,
                      "decode_samples": tg}))


if __name__ == "__main__":
    main()
