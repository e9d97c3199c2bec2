#!/usr/bin/env python3
"""GGUF fixtures for tests/unit/test_gguf_golden.c, from the pinned reference stack.

1. tests/golden/gguf/tiny.gguf: a tiny llama GGUF written by the `gguf` package
   (llama.cpp's own Python writer) with tensors in F32, F16, BF16, Q8_0, Q4_0, Q4_1,
   Q4_K, Q5_K, Q6_K holding random block bytes (every bit pattern of the quants
   exercised; scale fields kept finite), plus tokenizer metadata. The expected
   values (tiny_expected.json) are `gguf.quants.dequantize` of each tensor, the
   attn_q / attn_k rows un-permuted by transformers' own LlamaTensorProcessor,
   stored under the Hugging Face names transformers uses.
2. smollm2_expected.json: rows of layer 0 q_proj / k_proj as transformers loads
   the real SmolLM2-135M-Instruct Q4_1 GGUF
   (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...): dequantized and
   un-permuted), when the file is present (env LLMC_GGUF_SMOLLM2 overrides the path).

3. qwen2_qkv_bias_f32.gguf, qwen3_qk_norm_bf16.gguf: the core Qwen fixtures' weights as
   qwen2 / qwen3 GGUFs (make_qwen; `... make_gguf_fixtures.py qwen` writes only these).
4. mixtral_moe_f32.gguf, qwen3_moe_f32.gguf, qwen2_moe_shared_f32.gguf, olmoe_f32.gguf: the core
   mixture-of-experts fixtures' weights under llama.cpp's architectures (llama with
   expert_count, qwen3moe, qwen2moe, olmoe), experts stacked into ffn_*_exps as its converter
   stacks them, Mixtral's q/k rows permuted as it permutes llama's (make_moe;
   `... make_gguf_fixtures.py moe` writes only these); mixtral_moe_f32.per_expert.gguf holds the
   experts one tensor each (blk.N.ffn_gate.E.weight), as older Mixtral conversions did; the same writer
   makes smollm3_default_f32.gguf (llama.cpp's smollm3: q/k permuted as llama's, NoPE every 4th layer).
5. phi3_fused_window_f32.gguf, phi35_longrope_f32.gguf, phi4mini_partial_longrope_f32.gguf: the core
   Phi-3 fixtures under llama.cpp's phi3 architecture (attn_qkv and ffn_up = gate|up fused, the
   sliding window, rope.dimension_count = the rotary dims, LongRoPE as rope_factors_{short,long}
   tensors with the original context and attention factor) (make_phi3; `... phi3` writes only these).
6. gemma2_tied_f32.gguf, gemma3_pattern_f32.gguf: the core Gemma fixtures that llama.cpp's gemma2 /
   gemma3 metadata can describe (query_pre_attn_scalar = head_dim; Gemma 3's default 6-layer pattern),
   every norm stored as 1 + w as its converter does (make_gemma; `... gemma2` writes only these).

Run: $(bash tests/golden/venv.sh) tests/golden/make_gguf_fixtures.py
"""
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gguf")

HIDDEN, HEADS, KV_HEADS, FF, VOCAB = 256, 4, 2, 256, 32
HEAD_DIM = HIDDEN // HEADS

# (gguf name, HF name, type, rows (out), cols (in))
TENSORS = [
    ("token_embd.weight", "model.embed_tokens.weight", Q.Q8_0, VOCAB, HIDDEN),
    ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight", Q.F32, None, HIDDEN),
    ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", Q.Q4_K, HEADS * HEAD_DIM, HIDDEN),
    ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", Q.Q5_K, KV_HEADS * HEAD_DIM, HIDDEN),
    ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight", Q.Q6_K, KV_HEADS * HEAD_DIM, HIDDEN),
    ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight", Q.Q4_0, HIDDEN, HIDDEN),
    ("blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight", Q.Q4_1, FF, HIDDEN),
    ("blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight", Q.F16, FF, HIDDEN),
    ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight", Q.BF16, HIDDEN, FF),
    ("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight", Q.F32, None, HIDDEN),
    ("output_norm.weight", "model.norm.weight", Q.F32, None, HIDDEN),
    ("output.weight", "lm_head.weight", Q.Q8_0, VOCAB, HIDDEN),
]

# byte offsets of the f16 scale fields inside one block, per type
F16_FIELDS = {
    Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}

ROWS_KEPT = [0, 1, 2, 31, 32, 33, 63, 64, 100]


def random_tensor(rng, qtype, rows, cols):
    """Returns (bytes as uint8 [rows, row_bytes] or f32 array, dequantized f32 [rows, cols])."""
    if qtype == Q.F32:
        a = rng.standard_normal(cols).astype(np.float32)
        return a, a.copy()
    if qtype == Q.F16:
        a = (rng.standard_normal((rows, cols)) * 0.1).astype(np.float16)
        raw = a.view(np.uint8).reshape(rows, cols * 2)
    elif qtype == Q.BF16:
        f = (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)
        raw = (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(rows, cols * 2)
    else:
        blk, bb = gguf.GGML_QUANT_SIZES[qtype]
        nb = rows * cols // blk
        raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
        for off in F16_FIELDS[qtype]:
            scale = (rng.uniform(0.001, 0.05, size=nb) * rng.choice([-1, 1], size=nb)).astype(np.float16)
            raw[:, off:off + 2] = scale.view(np.uint8).reshape(nb, 2)
        raw = raw.reshape(rows, cols // blk * bb)
    deq = gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(rows, cols)
    return raw, deq


def fmt(v):
    return float(np.float32(v))


def make_tiny():
    rng = np.random.default_rng(20261128)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "tiny.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny llmc fixture")
    w.add_context_length(512)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(1)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [chr(ord("a") + i) for i in range(26)] + ["ab", "Ġa", "ĠĠ"]
    assert len(tokens) == VOCAB
    w.add_token_list(tokens)
    w.add_token_types([3, 3, 3] + [1] * (VOCAB - 3))
    w.add_token_merges(["a b", "Ġ a", "Ġ Ġ"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")

    cfg = {"num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS}
    proc = LlamaTensorProcessor(config=cfg)
    expected = {"config": {"hidden_size": HIDDEN, "num_heads": HEADS, "num_kv_heads": KV_HEADS, "head_dim": HEAD_DIM,
                           "intermediate_size": FF, "vocab_size": VOCAB, "num_layers": 1,
                           "max_position_embeddings": 512, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
                           "tie_word_embeddings": False, "rope_theta": 10000.0},
                "tokens": tokens, "tensors": []}
    for gname, hname, qt, rows, cols in TENSORS:
        raw, deq = random_tensor(rng, qt, rows if rows else 1, cols)
        if rows is None:
            w.add_tensor(gname, raw)  # 1-D F32
            deq = deq.reshape(1, cols)
        else:
            w.add_tensor(gname, raw, raw_shape=raw.shape if qt != Q.F32 else None, raw_dtype=qt)
        # transformers' processing: un-permute q/k exactly as its GGUF loader does
        hf = proc.process(weights=deq.reshape(rows, cols) if rows else deq.reshape(cols), name=gname).weights
        hf = np.asarray(hf, dtype=np.float32).reshape(rows if rows else 1, cols)
        kept = [r for r in ROWS_KEPT if r < hf.shape[0]] + [hf.shape[0] - 1]
        kept = sorted(set(kept))
        expected["tensors"].append({
            "gguf_name": gname, "name": hname, "type": qt.name,
            "shape": [rows, cols] if rows else [cols],
            "sum": float(hf.astype(np.float64).sum()), "sumsq": float((hf.astype(np.float64) ** 2).sum()),
            "rows": {str(r): [fmt(v) for v in hf[r]] for r in kept},
        })
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(OUT, "tiny_expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes")


def make_smollm2():
    path = os.environ.get("LLMC_GGUF_SMOLLM2", os.path.expanduser("~/.cache/llmc/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not os.path.exists(path):
        print(f"SKIP smollm2 fixture: {path} not found (set LLMC_GGUF_SMOLLM2)", file=sys.stderr)
        return
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 dtype=torch.float32)
    att = model.model.layers[0].self_attn
    out = {"file": os.path.basename(path), "tensors": []}
    for name, wt, rows in (("model.layers.0.self_attn.q_proj.weight", att.q_proj.weight, [0, 1, 31, 32, 33, 63, 64, 100, 575]),
                           ("model.layers.0.self_attn.k_proj.weight", att.k_proj.weight, [0, 1, 32, 33, 64, 100, 191])):
        a = wt.detach().float().numpy()
        out["tensors"].append({"name": name, "shape": list(a.shape),
                               "sum": float(a.astype(np.float64).sum()),
                               "rows": {str(r): [fmt(v) for v in a[r]] for r in rows}})
    cfg = model.config
    out["config"] = {"hidden_size": cfg.hidden_size, "num_heads": cfg.num_attention_heads,
                     "num_kv_heads": cfg.num_key_value_heads, "num_layers": cfg.num_hidden_layers,
                     "intermediate_size": cfg.intermediate_size, "vocab_size": cfg.vocab_size,
                     "max_position_embeddings": cfg.max_position_embeddings,
                     "rms_norm_eps": cfg.rms_norm_eps, "tie_word_embeddings": bool(cfg.tie_word_embeddings)}
    with open(os.path.join(OUT, "smollm2_expected.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote smollm2_expected.json")


def make_qwen():
    """qwen2 / qwen3 GGUFs holding exactly the weights of the core fixtures
    qwen2_qkv_bias_f32 (F32) and qwen3_qk_norm_bf16 (BF16 matrices, F32 norms as llama.cpp
    writes them), with the metadata llama.cpp's converter writes for those architectures
    (rows as in Hugging Face: qwen's q/k are not permuted). Same weights, so the core
    fixtures' reference.json (transformers' logits and greedy ids) is their reference too."""
    import torch
    from safetensors.torch import load_file
    for name, arch in (("qwen2_qkv_bias_f32", "qwen2"), ("qwen3_qk_norm_bf16", "qwen3")):
        src = os.path.join(HERE, "core", name)
        cfg = json.load(open(os.path.join(src, "config.json")))
        sd = load_file(os.path.join(src, "model.safetensors"))
        path = os.path.join(OUT, name + ".gguf")
        w = gguf.GGUFWriter(path, arch)
        w.add_name(name)
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(cfg["num_attention_heads"])
        w.add_head_count_kv(cfg["num_key_value_heads"])
        if cfg.get("head_dim"):
            w.add_key_length(cfg["head_dim"])
            w.add_value_length(cfg["head_dim"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
        w.add_bos_token_id(cfg["bos_token_id"])
        w.add_eos_token_id(cfg["eos_token_id"])
        # A byte-level vocabulary as big as the model's (256): one token per byte, no merges.
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        byte_char = dict(zip(bs, map(chr, cs)))
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list([byte_char[b] for b in range(256)])
        w.add_token_types([1] * 256)
        w.add_token_merges([])
        w.add_add_bos_token(False)
        names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                 "lm_head.weight": "output.weight"}
        per = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
               "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
               "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}
        for hf, t in sd.items():
            if hf in names:
                g = names[hf]
            else:
                parts = hf.split(".")  # model.layers.N.<module...>.weight|bias
                g = f"blk.{parts[2]}.{per['.'.join(parts[3:-1])]}.{parts[-1]}"
            if t.dim() == 1 or t.dtype == torch.float32:
                w.add_tensor(g, t.float().numpy())
            else:  # bf16 bits as they are
                raw = t.contiguous().view(torch.int16).numpy().view(np.uint8).reshape(t.shape[0], t.shape[1] * 2)
                w.add_tensor(g, raw, raw_shape=raw.shape, raw_dtype=Q.BF16)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print("wrote", path, os.path.getsize(path), "bytes")


# HF module path (inside model.layers.N) → GGUF tensor stem
MOE_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
             "mlp.gate": "ffn_gate_inp", "block_sparse_moe.gate": "ffn_gate_inp",
             "mlp.shared_expert.gate_proj": "ffn_gate_shexp", "mlp.shared_expert.up_proj": "ffn_up_shexp",
             "mlp.shared_expert.down_proj": "ffn_down_shexp", "mlp.shared_expert_gate": "ffn_gate_inp_shexp"}
# per-expert HF projection name → stacked GGUF stem
EXPERT_NAMES = {"gate_proj": "ffn_gate_exps", "up_proj": "ffn_up_exps", "down_proj": "ffn_down_exps",
                "w1": "ffn_gate_exps", "w3": "ffn_up_exps", "w2": "ffn_down_exps"}


def llama_cpp_permute(w, n_head):
    """The row order llama.cpp's converter gives llama q/k weights: within each head, the two
    rotate_half halves interleaved (HF row h*hd + i*hd/2 + j goes to h*hd + 2j + i)."""
    rows = w.shape[0]
    hd = rows // n_head
    return w.reshape(n_head, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def add_byte_vocab(w):
    """A byte-level vocabulary of 256 tokens (one per byte, no merges)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_char = dict(zip(bs, map(chr, cs)))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list([byte_char[b] for b in range(256)])
    w.add_token_types([1] * 256)
    w.add_token_merges([])
    w.add_add_bos_token(False)


def make_moe():
    """The core MoE fixtures as GGUFs: same f32 weights, so the core reference.json is theirs too."""
    from safetensors.numpy import load_file
    specs = (("mixtral_moe_f32", "llama"), ("qwen3_moe_f32", "qwen3moe"), ("qwen2_moe_shared_f32", "qwen2moe"), ("olmoe_f32", "olmoe"),
             ("mixtral_moe_f32", "llama-per-expert"), ("smollm3_default_f32", "smollm3"))
    for name, arch in specs:
        per_expert = arch.endswith("-per-expert")  # Mixtral as converters wrote it before stacked experts
        arch = arch.replace("-per-expert", "")
        src = os.path.join(HERE, "core", name)
        cfg = json.load(open(os.path.join(src, "config.json")))
        sd = load_file(os.path.join(src, "model.safetensors"))
        heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        n_exp = cfg.get("num_experts") or cfg.get("num_local_experts") or 0  # SmolLM3 (dense) shares this writer
        path = os.path.join(OUT, name + (".per_expert" if per_expert else "") + ".gguf")
        w = gguf.GGUFWriter(path, arch)
        w.add_name(name)
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(heads)
        w.add_head_count_kv(kv)
        if cfg.get("head_dim"):
            w.add_key_length(cfg["head_dim"])
            w.add_value_length(cfg["head_dim"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
        if n_exp:
            w.add_expert_count(n_exp)
            w.add_expert_used_count(cfg["num_experts_per_tok"])
        if "moe_intermediate_size" in cfg:
            w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
        if "shared_expert_intermediate_size" in cfg:
            w.add_expert_shared_feed_forward_length(cfg["shared_expert_intermediate_size"])
        if n_exp and arch != "llama":  # llama.cpp's own choice for llama-arch Mixtral is to renormalize
            w.add_expert_weights_norm(bool(cfg.get("norm_topk_prob", False)))
        w.add_bos_token_id(cfg["bos_token_id"])
        w.add_eos_token_id(cfg["eos_token_id"])
        add_byte_vocab(w)
        experts = {}  # (layer, stem) → {expert: array}
        top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
               "lm_head.weight": "output.weight"}
        for hf in sorted(sd):
            t = sd[hf].astype(np.float32)
            if hf in top:
                w.add_tensor(top[hf], t)
                continue
            parts = hf.split(".")  # model.layers.N.<module...>.weight|bias
            layer, mod = parts[2], ".".join(parts[3:-1])
            if ".experts." in mod:  # mlp.experts.E.gate_proj / block_sparse_moe.experts.E.w1
                e, proj = int(parts[-3]), parts[-2]
                experts.setdefault((layer, EXPERT_NAMES[proj]), {})[e] = t
                continue
            g = f"blk.{layer}.{MOE_NAMES[mod]}.{parts[-1]}"
            if arch in ("llama", "smollm3") and mod in ("self_attn.q_proj", "self_attn.k_proj"):  # LlamaModel's converters
                t = llama_cpp_permute(t, heads if mod.endswith("q_proj") else kv)
            if mod == "mlp.shared_expert_gate":
                t = t.reshape(-1)  # llama.cpp keeps it as [hidden]
            w.add_tensor(g, t)
        for (layer, stem), per in sorted(experts.items()):
            if per_expert:  # blk.N.ffn_gate.E.weight
                for e in range(n_exp):
                    w.add_tensor(f"blk.{layer}.{stem.replace('_exps', '')}.{e}.weight", per[e])
            else:
                w.add_tensor(f"blk.{layer}.{stem}.weight", np.stack([per[e] for e in range(n_exp)]))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print("wrote", path, os.path.getsize(path), "bytes")


def make_phi3():
    """The core Phi-3 fixtures as phi3 GGUFs: same f32 weights, so their reference.json is theirs too."""
    import math
    from safetensors.numpy import load_file
    names = {"self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    for name in ("phi3_fused_window_f32", "phi35_longrope_f32", "phi4mini_partial_longrope_f32"):
        src = os.path.join(HERE, "core", name)
        cfg = json.load(open(os.path.join(src, "config.json")))
        sd = load_file(os.path.join(src, "model.safetensors"))
        rp = cfg.get("rope_parameters") or {}
        n_embd, n_head = cfg["hidden_size"], cfg["num_attention_heads"]
        rope_dims = int(rp.get("partial_rotary_factor", 1.0) * n_embd) // n_head
        path = os.path.join(OUT, name + ".gguf")
        w = gguf.GGUFWriter(path, "phi3")
        w.add_name(name)
        w.add_context_length(cfg["max_position_embeddings"])
        orig = cfg.get("original_max_position_embeddings", cfg["max_position_embeddings"])
        w.add_rope_scaling_orig_ctx_len(orig)
        w.add_embedding_length(n_embd)
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_head_count(n_head)
        w.add_head_count_kv(cfg["num_key_value_heads"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_rope_dimension_count(rope_dims)
        w.add_rope_freq_base(rp.get("rope_theta", 10000.0))
        w.add_sliding_window(cfg.get("sliding_window") or 0)
        w.add_bos_token_id(cfg["bos_token_id"])
        w.add_eos_token_id(cfg["eos_token_id"])
        add_byte_vocab(w)
        if rp.get("rope_type") == "longrope":
            scale = cfg["max_position_embeddings"] / orig
            w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0)
            w.add_tensor("rope_factors_long.weight", np.asarray(rp["long_factor"], dtype=np.float32))
            w.add_tensor("rope_factors_short.weight", np.asarray(rp["short_factor"], dtype=np.float32))
        for hf in sorted(sd):
            t = sd[hf].astype(np.float32)
            if hf in top:
                w.add_tensor(top[hf], t)
                continue
            parts = hf.split(".")
            w.add_tensor(f"blk.{parts[2]}.{names['.'.join(parts[3:-1])]}.{parts[-1]}", t)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print("wrote", path, os.path.getsize(path), "bytes")


def make_gemma2():
    make_gemma("gemma2_tied_f32", "gemma2")
    make_gemma("gemma3_pattern_f32", "gemma3")


def make_gemma(name, arch):
    from safetensors.numpy import load_file
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
             "post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
             "post_feedforward_layernorm": "post_ffw_norm", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}
    src = os.path.join(HERE, "core", name)
    cfg = json.load(open(os.path.join(src, "config.json")))
    sd = load_file(os.path.join(src, "model.safetensors"))
    path = os.path.join(OUT, name + ".gguf")
    w = gguf.GGUFWriter(path, arch)
    w.add_name(name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    if arch == "gemma2":
        w.add_attn_logit_softcapping(cfg["attn_logit_softcapping"])
        w.add_final_logit_softcapping(cfg["final_logit_softcapping"])
    else:  # the full-attention layers' RoPE; llama.cpp fixes the sliding ones' base at 10000
        full = cfg["rope_parameters"]["full_attention"]
        w.add_rope_freq_base(full["rope_theta"])
        if full.get("rope_type") == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(full["factor"])
    w.add_sliding_window(cfg["sliding_window"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    add_byte_vocab(w)
    for hf in sorted(sd):
        t = sd[hf].astype(np.float32)
        if hf.endswith("norm.weight"):
            t = t + np.float32(1)  # Gemma's RMSNorm scales by 1 + w; llama.cpp stores that sum
        if hf == "model.embed_tokens.weight":
            w.add_tensor("token_embd.weight", t)
        elif hf == "lm_head.weight":
            w.add_tensor("output.weight", t)
        elif hf == "model.norm.weight":
            w.add_tensor("output_norm.weight", t)
        else:
            parts = hf.split(".")
            w.add_tensor(f"blk.{parts[2]}.{names['.'.join(parts[3:-1])]}.{parts[-1]}", t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    if sys.argv[1:] == ["qwen"]:
        make_qwen()
    elif sys.argv[1:] == ["gemma2"]:
        make_gemma2()
    elif sys.argv[1:] == ["phi3"]:
        make_phi3()
    elif sys.argv[1:] == ["moe"]:
        make_moe()
    else:
        make_tiny()
        make_smollm2()
        make_qwen()
        make_moe()
        make_phi3()
        make_gemma2()
