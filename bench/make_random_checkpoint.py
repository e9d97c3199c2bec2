#!/usr/bin/env python3
"""Writes a random-weight Llama checkpoint of a real model's shape with transformers
(LlamaForCausalLM(config).save_pretrained), for speed work on the CPU:

  "$(bash tests/golden/venv.sh)" bench/make_random_checkpoint.py /tmp/llama32-3b-random [--shape llama32-3b]
  build/llmc bench /tmp/llama32-3b-random -p 64 -n 16 -r 3 --ctx 1024

Weights are bf16 (6.4 GB for the 3B shape), built directly in bf16 so the peak memory is
about the checkpoint's size. The shape of Llama-3.2-3B-Instruct (hidden 3072, 28 layers,
24 heads, 8 KV heads, head_dim 128, vocab 128256, tied embeddings, llama3 rope scaling)
is the one bench/device/device_bench.py uses on the GPU."""
import argparse
import time

SHAPES = {
    "llama32-3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                       num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=131072,
                       rope_theta=500000.0, rms_norm_eps=1e-5,
                       rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                       tie_word_embeddings=True, bos_token_id=128000, eos_token_id=[128001, 128008, 128009]),
}
# Llama-3.2-1B-Instruct: the same family, narrower and shallower.
SHAPES["llama32-1b"] = dict(SHAPES["llama32-3b"], hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                            head_dim=64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama32-3b")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(a.seed)
    t0 = time.time()
    cfg = LlamaConfig(**SHAPES[a.shape], dtype="bfloat16")
    torch.set_default_dtype(torch.bfloat16)
    m = LlamaForCausalLM(cfg).eval()
    m.generation_config.eos_token_id = cfg.eos_token_id
    m.save_pretrained(a.out)
    n = sum(p.numel() for p in m.parameters())
    print(f"{a.out}: {a.shape}, {n / 1e9:.2f} B parameters, bf16, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
