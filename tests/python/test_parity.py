"""The package gives what the CLI gives: greedy replies equal `llmc run --json`, the tokenizer equals
`llmc tokenize` / `detokenize` / `template`, text completion equals `llmc run --raw`."""
import json

from conftest import messages_file

CONV = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "Name three colours. 색깔도 한국어로."}]


def test_greedy_chat_equals_cli(pipe, cli, model, tmp_path):
    got = pipe(CONV, max_new_tokens=24, do_sample=False)
    want = json.loads(cli("run", model, "--messages", messages_file(tmp_path, CONV), "--greedy", "-n", "24", "--json", "-t", "2"))
    assert got == want


def test_text_completion_equals_cli(pipe, cli, model):
    got = pipe("The capital of France is", max_new_tokens=8, do_sample=False)
    want = json.loads(cli("run", model, "--raw", "--greedy", "-n", "8", "--json", "-t", "2", "The capital of France is"))
    assert got == want
    cont = pipe("The capital of France is", max_new_tokens=8, do_sample=False, return_full_text=False)
    assert "The capital of France is" + cont[0]["generated_text"] == got[0]["generated_text"]


def test_tokenizer_equals_cli(pipe, cli, model, tmp_path):
    tok = pipe.tokenizer
    for text in ["Hello, world! 123", "한국어 토큰화와 스트리밍", "  leading spaces\nand\ttabs  ", "🙂 emoji"]:
        ids = tok.encode(text)
        assert ids == json.loads(cli("tokenize", model, "--text", text))
        assert tok.encode(text, add_special_tokens=False) == json.loads(cli("tokenize", model, "--text", text, "--no-special"))
        assert tok(text)["input_ids"] == ids
        assert tok.decode(ids) == cli("detokenize", model, "--ids", ",".join(map(str, ids)))
        assert tok.decode(ids, skip_special_tokens=True) == cli("detokenize", model, "--ids", ",".join(map(str, ids)), "--skip-special")
    mf = messages_file(tmp_path, CONV)
    assert tok.apply_chat_template(CONV, tokenize=False, add_generation_prompt=True) == cli("template", model, "--messages", mf, "--add-generation-prompt")
    text = tok.apply_chat_template(CONV, tokenize=False)
    assert tok.apply_chat_template(CONV) == tok.encode(text, add_special_tokens=False)
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == tok.encode("<|im_end|>", add_special_tokens=False)[0]
    assert tok.chat_template and "im_start" in tok.chat_template


def test_seeded_sampling_is_reproducible(pipe):
    a = pipe(CONV, max_new_tokens=16, do_sample=True, temperature=0.9, top_p=0.9, seed=7)
    b = pipe(CONV, max_new_tokens=16, do_sample=True, temperature=0.9, top_p=0.9, seed=7)
    assert a == b


def test_stop_strings(pipe):
    full = pipe("1, 2, 3, 4, 5,", max_new_tokens=16, do_sample=False, return_full_text=False)[0]["generated_text"]
    first = full.strip().split(",")[0].strip()
    assert first
    cut = pipe("1, 2, 3, 4, 5,", max_new_tokens=16, do_sample=False, return_full_text=False, stop_strings=first)[0]["generated_text"]
    assert len(cut) < len(full) and first in cut


def test_a_list_of_conversations(pipe):
    convs = [CONV, [{"role": "user", "content": "Say yes."}]]
    got = pipe(convs, max_new_tokens=8, do_sample=False)
    assert len(got) == 2 and all(len(r) == 1 for r in got)
    for conv, r in zip(convs, got):
        assert r == pipe(conv, max_new_tokens=8, do_sample=False)


def test_a_mixed_list_runs_together_and_matches_one_by_one(pipe):
    inputs = ["The capital of France is", CONV, [{"role": "user", "content": "안녕하세요! 자기소개 해 주세요."}], "1, 2, 3,"]
    got = pipe(inputs, max_new_tokens=12, do_sample=False)
    assert len(got) == 4
    for x, r in zip(inputs, got):
        assert r == pipe(x, max_new_tokens=12, do_sample=False)
    cont = pipe(inputs, max_new_tokens=12, do_sample=False, return_full_text=False)
    assert [c[0]["generated_text"] for c in cont] == [
        r[0]["generated_text"][len(x):] if isinstance(x, str) else r[0]["generated_text"][-1]["content"] for x, r in zip(inputs, got)]


def test_a_list_with_a_bad_input_raises_its_error(pipe):
    import llmc
    bad = [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}, {"role": "nobody", "content": 1}]
    try:
        pipe([CONV, bad], max_new_tokens=4, do_sample=False)
    except llmc.Error as e:
        assert str(e)
    else:
        raise AssertionError("a conversation the template rejects must raise")
