"""The seed tutorial's code, verbatim but for the import (and the model: the default GGUF, since no
test reaches the Hub; torch is the stand-in in stub/)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "stub"))


def test_tutorial_verbatim(model, capsys):
    hf_token = None
    model_id = model
    # --- the tutorial, with `from transformers import pipeline` changed ---
    import torch
    from llmc import pipeline

    pipe = pipeline("text-generation", model=model_id, dtype=torch.bfloat16, device_map="auto", token=hf_token)
    messages = [
        {"role": "system", "content": "You are a pirate chatbot who always responds in pirate speak!"},
        {"role": "user", "content": "Who are you?"},
    ]
    outputs = pipe(messages, max_new_tokens=256)
    print(outputs[0]["generated_text"][-1]["content"])
    # --- end of the tutorial ---
    printed = capsys.readouterr().out
    conv = outputs[0]["generated_text"]
    assert conv[:2] == messages and conv[-1]["role"] == "assistant"
    assert conv[-1]["content"].strip() and conv[-1]["content"] in printed


def test_korean_conversation(pipe):
    out = pipe([{"role": "user", "content": "안녕하세요! 자기소개를 해 주세요."}], max_new_tokens=24, do_sample=False)
    reply = out[0]["generated_text"][-1]["content"]
    reply.encode("utf-8")  # whole characters only
    assert reply
