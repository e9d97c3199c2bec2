#!/usr/bin/env python3
"""Reference outputs for the end-to-end pipeline on the real default model (SmolLM2-135M-Instruct Q4_1 GGUF).

transformers (pinned, tests/golden/requirements.txt) loads the GGUF (dequantized, float32) and records, for
three chat conversations (the seed's pirate one among them):
  - the prompt ids (chat template rendered by jinja2 as transformers does, tokenized by the reference
    tokenizer built from the GGUF's own vocab/merges per llama.cpp's "smollm" pre-tokenizer:
    Digits(individual_digits) + ByteLevel; see tests/golden/make_tokenizer_fixtures.py),
  - 64 greedy ids (no early stop), and the assistant text the pipeline returns (greedy until eos / 256),
  - teacher-forced logits summaries per position (argmax, top-5 ids/values).
It also writes the same model as an HF safetensors checkpoint in bfloat16 ($LLMC_CACHE/smollm2-135m-instruct-hf-bf16)
and records 64 greedy ids for it (bf16 weights, float32 math — llmc's CPU semantics).

Usage: python make_pipeline_fixtures.py [GGUF]   (writes tests/golden/pipeline/*.json)
"""
import json, os, sys, pathlib, shutil
import torch
from gguf import GGUFReader
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "pipeline"
CACHE = pathlib.Path(os.environ.get("LLMC_CACHE", pathlib.Path.home() / ".cache" / "llmc"))
GGUF = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
N_GREEDY = 64

CONVERSATIONS = {
    "pirate": [
        {"role": "system", "content": "You are a pirate chatbot who always responds in pirate speak!"},
        {"role": "user", "content": "Who are you?"},
    ],
    "korean": [
        {"role": "user", "content": "안녕하세요! 파이썬으로 리스트를 정렬하는 방법을 알려주세요."},
    ],
    "math": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is 12 * 34? Explain in one sentence."},
        {"role": "assistant", "content": "12 * 34 = 408."},
        {"role": "user", "content": "And 408 + 1592?"},
    ],
}


def field(r, key):
    return r.fields[key].contents()


def reference_tokenizer(r):
    tokens = field(r, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    types = field(r, "tokenizer.ggml.token_type")
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == 3])
    bos = tokens[field(r, "tokenizer.ggml.bos_token_id")]
    eos = tokens[field(r, "tokenizer.ggml.eos_token_id")]
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos,
                                   unk_token=tokens[field(r, "tokenizer.ggml.unknown_token_id")],
                                   pad_token=tokens[field(r, "tokenizer.ggml.padding_token_id")])
    fast.chat_template = field(r, "tokenizer.chat_template")
    return fast


@torch.no_grad()
def greedy(model, ids, n, stop_ids=None):
    out = []
    x = torch.tensor([ids])
    past = None
    for _ in range(n):
        o = model(input_ids=x, past_key_values=past, use_cache=True)
        past = o.past_key_values
        nxt = int(o.logits[0, -1].float().argmax())
        out.append(nxt)
        if stop_ids and nxt in stop_ids:
            break
        x = torch.tensor([[nxt]])
    return out


@torch.no_grad()
def teacher_forced(model, ids):
    logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    top = logits.topk(5, dim=-1)
    return {
        "argmax": logits.argmax(-1).tolist(),
        "top5_ids": top.indices.tolist(),
        "top5_values": [[round(v, 5) for v in row] for row in top.values.tolist()],
        "max_abs": round(float(logits.abs().max()), 5),
    }


def main():
    torch.manual_seed(0)
    r = GGUFReader(str(GGUF))
    tok = reference_tokenizer(r)
    eos = field(r, "tokenizer.ggml.eos_token_id")
    model = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name, dtype=torch.float32)
    model.eval()
    OUT.mkdir(exist_ok=True)
    hf_dir = CACHE / "smollm2-135m-instruct-hf-bf16"
    tmp_dir = hf_dir.with_name(hf_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    # A GGUF-loaded model refuses save_pretrained; copy its (dequantized) weights into a plain one.
    cfg = model.config.__class__.from_dict({k: v for k, v in model.config.to_dict().items() if k != "quantization_config"})
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.to(torch.bfloat16).save_pretrained(tmp_dir)
    model.generation_config.save_pretrained(tmp_dir)
    del plain
    tok.save_pretrained(tmp_dir)
    shutil.rmtree(hf_dir, ignore_errors=True)
    tmp_dir.rename(hf_dir)
    model = model.to(torch.float32)
    # bf16 checkpoint computed in f32 (llmc's CPU semantics: bf16 weights, f32 math).
    model_bf16 = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()

    result = {"gguf": GGUF.name, "eos_token_id": eos, "conversations": {}}
    for name, msgs in CONVERSATIONS.items():
        prompt_text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
        g = greedy(model, ids, N_GREEDY)
        reply_ids = greedy(model, ids, 256, stop_ids={eos})
        reply = tok.decode(reply_ids, skip_special_tokens=True)
        tf = teacher_forced(model, ids + g)
        g16 = greedy(model_bf16, ids, N_GREEDY)
        tf16 = teacher_forced(model_bf16, ids + g16)
        result["conversations"][name] = {
            "messages": msgs, "prompt_text": prompt_text, "prompt_ids": ids,
            "greedy_ids": g, "reply_ids": reply_ids, "reply": reply, "teacher_forced": tf,
            "hf_bf16": {"greedy_ids": g16, "teacher_forced": tf16},
        }
        print(name, len(ids), "prompt ids;", repr(reply[:80]))
    (OUT / "smollm2.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
