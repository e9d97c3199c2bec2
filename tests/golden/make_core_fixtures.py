#!/usr/bin/env python3
"""Writes the core golden fixtures: tiny random Llama/Mistral/Qwen2/Qwen3/Phi-3/Gemma 2/Gemma 3/SmolLM3 and
mixture-of-experts Mixtral/Qwen2-MoE/Qwen3-MoE/OLMoE/DeepSeek-V3 checkpoints saved with
save_pretrained, plus what transformers computes on them (float32 math on exactly
the stored weights): logits for every position of a short prompt and the greedy
continuation from model.generate. Output: tests/golden/core/<name>/ (checkpoint
files + reference.json). Run with the pinned stack:
    $(bash tests/golden/venv.sh) tests/golden/make_core_fixtures.py [NAME...]
(NAMEs: only those fixtures; the others stay as committed.)
"""
import json
import math
import os
import shutil
import sys

import torch
from transformers import (AutoModelForCausalLM, DeepseekV3Config, Gemma2Config, Gemma3TextConfig, LlamaConfig, MistralConfig, MixtralConfig, OlmoeConfig,
                          Phi3Config, Qwen2Config, Qwen2MoeConfig, Qwen3Config, Qwen3MoeConfig, SmolLM3Config)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core")
PROMPT_LEN = 10
NEW_TOKENS = 32


def randomize(model, seed):
    """Re-draws every weight with a spread large enough that logits are far from
    ties (the default 0.02 init makes greedy argmax hinge on float noise)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]) * 1.5)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):  # DeepSeek-V3's router bias: zeros at init
                b.copy_(0.3 * torch.randn(b.shape, generator=g))


def to_v4_dialect(path):
    """Rewrites a 5.x config.json the way transformers 4.x wrote it: rope_theta at
    the top, rope_scaling with the legacy "type" key, torch_dtype."""
    cp = os.path.join(path, "config.json")
    with open(cp) as f:
        c = json.load(f)
    rp = c.pop("rope_parameters", None) or {}
    c["rope_theta"] = rp.pop("rope_theta", 10000.0)
    rtype = rp.pop("rope_type", "default")
    if rtype != "default":
        rs = {"type": rtype}
        rs.update(rp)
        c["rope_scaling"] = rs
    else:
        c["rope_scaling"] = None
    if "dtype" in c:
        c["torch_dtype"] = c.pop("dtype")
    # 4.x configs usually had no head_dim: it was derived as hidden_size // num_attention_heads.
    if c.get("head_dim") == c["hidden_size"] // c["num_attention_heads"]:
        del c["head_dim"]
    c["transformers_version"] = "4.46.0"
    with open(cp, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)


def fmt(x):
    return float("%.8g" % x)


ONLY = set(sys.argv[1:])


def make(name, cfg, seed, **kw):
    """Draws seeds until greedy decoding runs the full 32 tokens without hitting
    EOS and never comes within 0.02 of a tie, so the fixture tests the model,
    not float noise at a near-tie."""
    if ONLY and name not in ONLY:
        return
    for s in range(seed * 100, seed * 100 + 50):
        gen, margin = make_one(name, cfg, s, **kw)
        if len(gen) == NEW_TOKENS and margin > 0.02:
            return
    raise SystemExit(f"{name}: no seed gave a robust greedy path")


def make_one(name, cfg, seed, dtype=torch.float32, v4=False, shard=None):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    randomize(model, seed)
    model = model.to(dtype)
    kw = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(path, **kw)
    if v4:
        to_v4_dialect(path)

    # Reference: reload what is on disk, upcast to float32 (exact for bf16/f16).
    ref = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ref.eval()
    g = torch.Generator().manual_seed(seed + 1)
    V = cfg.vocab_size
    prompt = torch.randint(0, V, (1, PROMPT_LEN), generator=g)
    with torch.no_grad():
        logits = ref(prompt).logits[0].float()
        out = ref.generate(prompt, max_new_tokens=NEW_TOKENS, do_sample=False, attention_mask=torch.ones_like(prompt),
                           pad_token_id=0)
        gen = out[0, PROMPT_LEN:].tolist()
        # Smallest top-1/top-2 gap along the greedy path: how close greedy is to a tie.
        full = ref(out[:, :-1]).logits[0, PROMPT_LEN - 1:].float()
        top2 = full.topk(2, dim=-1).values
        margin = float((top2[:, 0] - top2[:, 1]).min())
    info = {
        "model": name,
        "seed": seed,
        "dtype": {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[dtype],
        "config_dialect": "4.x" if v4 else "5.x",
        "prompt": prompt[0].tolist(),
        "max_new_tokens": NEW_TOKENS,
        "generated": gen,
        "min_greedy_margin": margin,
        "logits": [[fmt(v) for v in row] for row in logits.tolist()],
    }
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(info, f, separators=(",", ":"))
    files = sorted(os.listdir(path))
    size = sum(os.path.getsize(os.path.join(path, x)) for x in files)
    print(f"{name} (seed {seed}): {len(gen)} generated, min margin {margin:.4f}, {size} bytes, files {files}", file=sys.stderr)
    return gen, margin


def make_smollm2(gguf_path):
    """A real model: SmolLM2-135M-Instruct (Q4_1 GGUF) as transformers loads it
    (dequantized to float32). Full logit rows would be 49152 floats per position,
    so the reference keeps each position's top 64 (id, logit), the row's max |logit|
    and the greedy continuation."""
    from transformers import AutoTokenizer
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    prompt = tok("The capital of France is Paris. The capital of Italy is", return_tensors="pt").input_ids
    n_new = 16
    with torch.no_grad():
        logits = model(prompt).logits[0].float()
        out = model.generate(prompt, max_new_tokens=n_new, do_sample=False, attention_mask=torch.ones_like(prompt))
    top = logits.topk(64, dim=-1)
    info = {
        "model": f,
        "prompt": prompt[0].tolist(),
        "max_new_tokens": n_new,
        "generated": out[0, prompt.shape[1]:].tolist(),
        "max_abs": [float(x) for x in logits.abs().max(dim=-1).values],
        "top_ids": top.indices.tolist(),
        "top_logits": [[fmt(v) for v in row] for row in top.values.tolist()],
    }
    dest = os.path.join(OUT, "smollm2_gguf_reference.json")
    with open(dest, "w") as fh:
        json.dump(info, fh, separators=(",", ":"))
    print(f"{dest}: generated {info['generated']}", file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    smol = os.environ.get("LLMC_GGUF_SMOLLM2", os.path.expanduser("~/.cache/llmc/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    if ONLY and "smollm2" not in ONLY:
        pass
    elif os.path.exists(smol):
        make_smollm2(smol)
    else:
        print(f"SKIP: SmolLM2 GGUF not found at {smol} (set LLMC_GGUF_SMOLLM2); its reference is not rewritten", file=sys.stderr)
    common = dict(num_hidden_layers=2, bos_token_id=1, eos_token_id=2, max_position_embeddings=128)
    # GQA (4 query heads, 2 KV heads), untied, default rope, F32, 5.x config.
    make("llama_gqa_f32", LlamaConfig(hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
                                      vocab_size=256, tie_word_embeddings=False, **common), seed=1)
    # MHA, tied embeddings, BF16 weights, 4.x config dialect, eos as a list.
    make("llama_mha_tied_bf16", LlamaConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=4,
                                            vocab_size=320, tie_word_embeddings=True, rope_theta=500000.0,
                                            **dict(common, eos_token_id=[2, 3])), seed=2, dtype=torch.bfloat16, v4=True)
    # head_dim 16 != 32/4, attention + MLP bias, linear rope scaling, F16 weights, 4.x dialect.
    make("llama_hd_bias_linear_f16", LlamaConfig(hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2,
                                                 head_dim=16, vocab_size=256, attention_bias=True, mlp_bias=True,
                                                 rope_scaling={"rope_type": "linear", "factor": 2.0}, **common),
         seed=3, dtype=torch.float16, v4=True)
    # llama3 rope scaling (one frequency in the smoothed band), sharded into >= 3 files, F32, 5.x.
    make("llama3_rope_sharded_f32", LlamaConfig(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1,
                                                vocab_size=256, tie_word_embeddings=False,
                                                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                                                **common), seed=4, shard="40KB")
    # Mistral with a sliding window shorter than prompt + generation, BF16 weights.
    make("mistral_window_bf16", MistralConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                              vocab_size=256, sliding_window=6, tie_word_embeddings=False, **common),
         seed=5, dtype=torch.bfloat16)
    # Qwen2: q/k/v biases (o none), tied embeddings, rope_theta 1e6, a (disabled) sliding window in the config, F32.
    make("qwen2_qkv_bias_f32", Qwen2Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                           vocab_size=256, tie_word_embeddings=True, rope_theta=1000000.0, use_sliding_window=False,
                                           sliding_window=4, **common), seed=6)
    # Qwen3: RMSNorm of each q and k head before RoPE, head_dim 16 != 32/4, untied, BF16 weights.
    make("qwen3_qk_norm_bf16", Qwen3Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                           head_dim=16, vocab_size=256, tie_word_embeddings=False, rope_theta=1000000.0,
                                           **common), seed=7, dtype=torch.bfloat16)
    # Phi-3: fused qkv_proj and gate_up_proj, a sliding window shorter than prompt + generation, F32.
    make("phi3_fused_window_f32", Phi3Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                             vocab_size=256, sliding_window=7, tie_word_embeddings=False, pad_token_id=0,
                                             **common), seed=8)
    # Gemma 3 (text): GeGLU, (1 + w) norms, sandwich norms, q/k norms, embeddings × sqrt(hidden),
    # query_pre_attn_scalar != head_dim, sliding and full layers with their own RoPE (linear
    # scaling on the full ones), a window shorter than prompt + generation, untied (tied, the scaled
    # embeddings make greedy repeat the last token), F32.
    make("gemma3_text_f32", Gemma3TextConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                             head_dim=16, vocab_size=256, query_pre_attn_scalar=24, sliding_window=5,
                                             layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                                             rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                                                              "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
                                             tie_word_embeddings=False, **dict(common, num_hidden_layers=3)), seed=9)
    # Gemma 2: soft-capped attention scores and logits, every other layer sliding (window 5),
    # sandwich norms, GeGLU, query_pre_attn_scalar != head_dim, untied, F32.
    make("gemma2_softcap_f32", Gemma2Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                            head_dim=16, vocab_size=256, query_pre_attn_scalar=24, sliding_window=5,
                                            attn_logit_softcapping=4.0, final_logit_softcapping=10.0, tie_word_embeddings=False,
                                            **dict(common, num_hidden_layers=3)), seed=10)
    # SmolLM3: a layer without RoPE (no_rope_layers) that also slides (use_sliding_window), untied, F32.
    make("smollm3_nope_f32", SmolLM3Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                           vocab_size=256, no_rope_layers=[1, 0, 1], use_sliding_window=True, sliding_window=5,
                                           pad_token_id=0, tie_word_embeddings=False, **dict(common, num_hidden_layers=3)), seed=11)
    # Phi-3.5-style LongRoPE: short factors for the prompt (10 <= original 16), the long ones once
    # generation passes position 16 (transformers switches per call by its last position + 1),
    # cos/sin × the attention factor sqrt(1 + ln 8 / ln 16), F32.
    make("phi35_longrope_f32", Phi3Config(hidden_size=64, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                          vocab_size=256, tie_word_embeddings=False, pad_token_id=0, original_max_position_embeddings=16,
                                          rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                                           "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.1, 3.8],
                                                           "long_factor": [1.0, 1.5, 2.4, 3.9, 6.0, 9.0, 13.0, 18.0]},
                                          **common), seed=16)
    # Phi-4-mini-style: partial_rotary_factor 0.75 (12 of 16 dims rotate) and LongRoPE with a prompt
    # already past original_max_position_embeddings 8 (long factors throughout), F32.
    make("phi4mini_partial_longrope_f32", Phi3Config(hidden_size=64, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                                     vocab_size=256, tie_word_embeddings=False, pad_token_id=0,
                                                     original_max_position_embeddings=8, partial_rotary_factor=0.75,
                                                     rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                                                      "partial_rotary_factor": 0.75,
                                                                      "short_factor": [1.0, 1.2, 1.5, 2.0, 2.7, 3.5],
                                                                      "long_factor": [1.0, 2.0, 3.5, 6.0, 10.0, 16.0]},
                                                     **common), seed=17)
    # Gemma 2 as llama.cpp's gemma2 GGUFs can describe it (twin in tests/golden/gguf): tied embeddings,
    # query_pre_attn_scalar = head_dim, the default sliding pattern (every other layer, window 5), F32.
    make("gemma2_tied_f32", Gemma2Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                         head_dim=16, vocab_size=256, query_pre_attn_scalar=16, sliding_window=5,
                                         attn_logit_softcapping=4.0, final_logit_softcapping=10.0, tie_word_embeddings=True,
                                         **dict(common, num_hidden_layers=3)), seed=18)
    # Gemma 3 as llama.cpp's gemma3 GGUFs can describe it (twin in tests/golden/gguf): 6 layers in the
    # default pattern (5 sliding, window 5, RoPE base 10000; the 6th full, base 1e6 with linear scaling 2),
    # query_pre_attn_scalar = head_dim, untied, F32.
    make("gemma3_pattern_f32", Gemma3TextConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                                head_dim=16, vocab_size=256, query_pre_attn_scalar=16, sliding_window=5,
                                                rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                                                                 "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
                                                tie_word_embeddings=False, **dict(common, num_hidden_layers=6)), seed=19)
    # SmolLM3 as llama.cpp's smollm3 GGUFs describe it (twin in tests/golden/gguf): the default NoPE
    # pattern (every 4th layer: layer 3 of 4), no window, untied, F32.
    make("smollm3_default_f32", SmolLM3Config(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                              vocab_size=256, pad_token_id=0, tie_word_embeddings=False,
                                              **dict(common, num_hidden_layers=4)), seed=20)
    # Mixture of experts (saved as per-expert tensors, as save_pretrained writes them).
    # Mixtral: 4 experts, top 2 renormalized, untied, F32.
    make("mixtral_moe_f32", MixtralConfig(hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2,
                                          vocab_size=256, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False,
                                          **common), seed=12)
    # Qwen3-MoE: q/k head norms, 8 experts of width 24, top 3 renormalized (norm_topk_prob), layer 1 dense
    # (mlp_only_layers, width 64), head_dim 16, untied, F32.
    make("qwen3_moe_f32", Qwen3MoeConfig(hidden_size=32, intermediate_size=64, moe_intermediate_size=24, num_attention_heads=4,
                                         num_key_value_heads=2, head_dim=16, vocab_size=256, num_experts=8, num_experts_per_tok=3,
                                         norm_topk_prob=True, mlp_only_layers=[1], tie_word_embeddings=False, rope_theta=1000000.0,
                                         **dict(common, num_hidden_layers=3)), seed=13)
    # Qwen2-MoE: q/k/v biases, a shared expert behind a sigmoid gate, top 2 of 6 not renormalized,
    # decoder_sparse_step 2 (layers 0 and 2 dense), untied, F32.
    make("qwen2_moe_shared_f32", Qwen2MoeConfig(hidden_size=32, intermediate_size=64, moe_intermediate_size=24,
                                                shared_expert_intermediate_size=40, num_attention_heads=4, num_key_value_heads=2,
                                                vocab_size=256, num_experts=6, num_experts_per_tok=2, decoder_sparse_step=2,
                                                tie_word_embeddings=False, **dict(common, num_hidden_layers=3)), seed=14)
    # OLMoE: RMSNorm over the whole q and k projections, 8 experts, top 3 not renormalized, untied, F32.
    make("olmoe_f32", OlmoeConfig(hidden_size=32, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2,
                                  vocab_size=256, num_experts=8, num_experts_per_tok=3, pad_token_id=0, tie_word_embeddings=False,
                                  **common), seed=15)
    # DeepSeek-V3: MLA (q_lora_rank 24, kv_lora_rank 16, nope 8 + rope 8 per head, v 12, interleaved RoPE),
    # sigmoid router over 8 experts in 2 groups (topk_group 1) with the correction bias, top 2 renormalized,
    # routed_scaling_factor 2.5, one shared expert, layer 0 dense (first_k_dense_replace 1), untied, F32.
    ds = dict(hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_attention_heads=4, num_key_value_heads=4,
              vocab_size=256, n_routed_experts=8, num_experts_per_tok=2, n_group=2, topk_group=1, n_shared_experts=1,
              routed_scaling_factor=2.5, norm_topk_prob=True, first_k_dense_replace=1, kv_lora_rank=16,
              qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=12, tie_word_embeddings=False, pad_token_id=0)
    make("deepseek_v3_moe_f32", DeepseekV3Config(q_lora_rank=24, **ds, **dict(common, num_hidden_layers=3)), seed=21)
    # The same without q_lora_rank (plain q_proj), v_head_dim above qk_head_dim, RoPE not interleaved.
    make("deepseek_v3_noqlora_f32", DeepseekV3Config(q_lora_rank=None, rope_interleave=False,
                                                     **dict(ds, v_head_dim=20, n_group=4, topk_group=2, norm_topk_prob=False),
                                                     **common), seed=22)
    # YaRN on the rope dims (factor 4 over an original 32 positions, mscale 1 / mscale_all_dim 0.8: cos/sin and
    # the softmax scale both corrected), generating past the original context.
    make("deepseek_v3_yarn_f32", DeepseekV3Config(q_lora_rank=24, rope_parameters={
        "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 32, "mscale": 1.0,
        "mscale_all_dim": 0.8}, **ds, **common), seed=23)


if __name__ == "__main__":
    main()
