#!/usr/bin/env python3
"""Sampling fixtures for tests/unit/test_sampler_golden.c, from the pinned transformers.

For constructed logits and token histories, builds the exact LogitsProcessorList that
generate() builds (model._prepare_generation_config + model._get_logits_processor on a
tiny random Llama, so defaults such as top_k=50 and the processor order are
transformers' own) and records the processed scores (-inf → null), plus the greedy
choice. The C sampler must produce the same scores and the same surviving ids.

Also records how transformers resolves the parameters of one call (resolve.json):
caller kwargs over the model's generation_config.json over the text-generation
pipeline's defaults over GenerationConfig's globals, and the new-token budget.
Needs the llama2 tokenizer fixture as the build unpacks it ($LLMC_FIXTURE_DIR, default build/fixtures).

Run: $(bash tests/golden/venv.sh) tests/golden/make_sampling_fixtures.py
"""
import json
import os

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sampling")


def tiny_model(vocab):
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).eval()


def processed(model, logits, history, **kwargs):
    gc, _ = model._prepare_generation_config(None, **kwargs)
    procs = model._get_logits_processor(generation_config=gc, input_ids_seq_length=len(history),
                                        device="cpu", model_kwargs={})
    ids = torch.tensor([history], dtype=torch.long)
    scores = torch.tensor(np.asarray([logits], dtype=np.float32))
    out = procs(ids, scores.clone())[0]
    return out, [type(p).__name__ for p in procs], gc


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    cases = []

    def add(name, logits, history, **kw):
        vocab = len(logits)
        model = tiny_model(vocab)
        out, names, gc = processed(model, logits, history, **kw)
        vals = [None if not np.isfinite(v) else float(v) for v in out.numpy().astype(np.float32)]
        cases.append({
            "name": name,
            "params": {"do_sample": bool(gc.do_sample), "temperature": gc.temperature, "top_k": gc.top_k,
                       "top_p": gc.top_p, "min_p": gc.min_p, "repetition_penalty": gc.repetition_penalty},
            "processors": names,
            "logits": [float(x) for x in np.asarray(logits, dtype=np.float32)],
            "history": list(history),
            "expected": vals,
            "greedy": int(torch.argmax(out).item()),
        })

    base = (rng.standard_normal(64) * 1.2).astype(np.float32)
    hist = [3, 7, 7, 12, 40, 63, 3, 0]
    add("rep_penalty_greedy", base, hist, do_sample=False, repetition_penalty=1.3)
    add("rep_penalty_reward", base, hist, do_sample=False, repetition_penalty=0.7)
    add("greedy_plain", base, hist, do_sample=False)
    add("sample_defaults", base, hist, do_sample=True)  # top_k 50 by default
    add("sample_temp", base, hist, do_sample=True, temperature=0.7)
    add("top_k5", base, hist, do_sample=True, top_k=5)
    add("top_k1", base, hist, do_sample=True, top_k=1)
    add("top_p09", base, hist, do_sample=True, top_k=0, top_p=0.9)
    add("top_p05", base, hist, do_sample=True, top_k=0, top_p=0.5)
    add("min_p01", base, hist, do_sample=True, top_k=0, min_p=0.1)
    add("min_p03_temp", base, hist, do_sample=True, top_k=0, min_p=0.3, temperature=1.7)
    add("all_combined", base, hist, do_sample=True, temperature=1.5, top_k=20, top_p=0.8, min_p=0.05,
        repetition_penalty=1.2)
    peaked = base.copy()
    peaked[17] = 12.0
    add("top_p_peaked", peaked, [], do_sample=True, top_k=0, top_p=0.5)
    ties = np.zeros(64, dtype=np.float32)
    ties[:10] = [5, 4, 4, 4, 3, 3, 2, 1, 1, 0.5]
    add("top_k_ties", ties, [], do_sample=True, top_k=3)
    big = (rng.standard_normal(3000) * 2.5).astype(np.float32)
    hist_big = [int(x) for x in rng.integers(0, 3000, size=200)]
    add("big_vocab_default", big, hist_big, do_sample=True, temperature=0.8, top_p=0.95, repetition_penalty=1.1)
    add("big_vocab_top_p", big, hist_big, do_sample=True, top_k=0, top_p=0.9)

    with open(os.path.join(OUT, "processors.json"), "w") as f:
        json.dump({"transformers": __import__("transformers").__version__, "cases": cases}, f,
                  separators=(",", ":"))
    print("wrote", len(cases), "cases")



# ---------------------------------------------------------------------------
# Parameter resolution: what a pipeline call / a generate() call ends up using,
# for several generation_config.json files and caller kwargs (resolve.json).

MODEL_GCS = {
    "none": None,  # no generation_config.json (as for a GGUF)
    "ids_only": {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2},
    "sampling": {"do_sample": True, "temperature": 0.6, "top_p": 0.9, "bos_token_id": 1, "eos_token_id": [2, 3]},
    "max_length": {"max_length": 100, "do_sample": False, "bos_token_id": 1, "eos_token_id": 2},
    "temp_no_sample": {"temperature": 0.3, "top_k": 10, "bos_token_id": 1, "eos_token_id": 2},
    "max_new": {"max_new_tokens": 33, "repetition_penalty": 1.05, "bos_token_id": 1, "eos_token_id": 2},
}
CALLS = [
    {},
    {"do_sample": False},
    {"max_new_tokens": 10},
    {"temperature": 1.2},
    {"do_sample": True, "top_k": 5, "top_p": 0.5, "min_p": 0.1, "repetition_penalty": 1.3},
    {"max_length": 50},
    {"do_sample": True},
]
N_PROMPT = 7
MAX_POS = 24


def resolve_cases():
    import shutil
    import tempfile
    from transformers import GenerationConfig, pipeline

    tok_dir = os.environ.get("LLMC_FIXTURE_DIR", os.path.join(HERE, "..", "..", "build", "fixtures"))
    tok_dir = os.path.join(tok_dir, "tokenizers", "llama2")
    out = []
    for gname, gjson in MODEL_GCS.items():
        with tempfile.TemporaryDirectory() as d:
            cfg = LlamaConfig(vocab_size=32000, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                              num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=MAX_POS,
                              bos_token_id=1, eos_token_id=2)
            torch.manual_seed(0)
            model = LlamaForCausalLM(cfg)
            model.save_pretrained(d)
            gpath = os.path.join(d, "generation_config.json")
            if os.path.exists(gpath):
                os.remove(gpath)
            if gjson is not None:
                with open(gpath, "w") as f:
                    json.dump(gjson, f)
            for fn in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(tok_dir, fn), d)
            pipe = pipeline("text-generation", model=d, device="cpu")
            m = pipe.model
            for call in CALLS:
                row = {"model": gname, "model_json": gjson, "call": call, "n_prompt": N_PROMPT, "max_pos": MAX_POS}
                for mode in ("pipeline", "generate"):
                    kw = pipe._prepare_generate_kwargs(dict(call)) if mode == "pipeline" else dict(call)
                    user_gc = kw.pop("generation_config", None)
                    has_default_max_length = (kw.get("max_length") is None and
                                              (user_gc is None or user_gc.max_length is None) and
                                              m.generation_config.max_length is None)
                    gc, _ = m._prepare_generation_config(user_gc, **kw)
                    if gc.max_new_tokens is not None:
                        budget = gc.max_new_tokens
                    elif has_default_max_length:
                        budget = min(gc.max_length + N_PROMPT, MAX_POS) - N_PROMPT
                    else:
                        budget = gc.max_length - N_PROMPT
                    eos = gc.eos_token_id
                    row[mode] = {"do_sample": bool(gc.do_sample), "temperature": gc.temperature, "top_k": gc.top_k,
                                 "top_p": gc.top_p, "min_p": gc.min_p, "repetition_penalty": gc.repetition_penalty,
                                 "budget": max(1, budget),
                                 "eos": eos if isinstance(eos, list) else ([] if eos is None else [eos])}
                out.append(row)
    return out


def main_resolve():
    cases = resolve_cases()
    with open(os.path.join(OUT, "resolve.json"), "w") as f:
        json.dump({"transformers": __import__("transformers").__version__, "cases": cases}, f, indent=0)
    print("wrote", len(cases), "resolution cases")


if __name__ == "__main__":
    main()
    main_resolve()
