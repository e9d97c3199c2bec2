"""Streamers, interruption, errors, logging and the Hub path."""
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import llmc

CONV = [{"role": "user", "content": "Count from one to twenty in words."}]


def test_text_streamer_prints_the_reply(pipe, capsys):
    out = pipe(CONV, max_new_tokens=16, do_sample=False, streamer=llmc.TextStreamer(pipe.tokenizer, skip_prompt=True))
    printed = capsys.readouterr().out
    assert printed == out[0]["generated_text"][-1]["content"] + "\n"


def test_text_streamer_with_prompt(pipe, capsys):
    pipe(CONV, max_new_tokens=4, do_sample=False, streamer=llmc.TextStreamer(pipe.tokenizer))
    printed = capsys.readouterr().out
    assert printed.startswith(pipe.tokenizer.apply_chat_template(CONV, tokenize=False, add_generation_prompt=True))


def test_iterator_streamer_from_a_thread(pipe):
    streamer = llmc.TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, timeout=120)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("out", pipe(CONV, max_new_tokens=20, do_sample=False, streamer=streamer)))
    t.start()
    pieces = list(streamer)
    t.join()
    assert len(pieces) > 1
    assert "".join(pieces) == result["out"][0]["generated_text"][-1]["content"]


def test_streamer_exception_stops_and_propagates(pipe):
    class Boom(llmc.TextStreamer):
        def put_text(self, piece):
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        pipe(CONV, max_new_tokens=64, do_sample=False, streamer=Boom(pipe.tokenizer, skip_prompt=True))


def test_ctrl_c_interrupts_generation(model):
    code = textwrap.dedent(f"""
        import os, signal, sys, threading, time
        import llmc
        pipe = llmc.pipeline("text-generation", model={model!r}, n_threads=2)
        class Go(llmc.TextStreamer):
            n = 0
            def put_text(self, piece):
                Go.n += 1
                if Go.n == 3:
                    os.kill(os.getpid(), signal.SIGINT)
        t0 = time.time()
        try:
            pipe([{{"role": "user", "content": "Tell me a long story."}}], max_new_tokens=2000, ignore_eos=True,
                 streamer=Go(skip_prompt=True))
        except KeyboardInterrupt:
            print("interrupted after", Go.n, "pieces in", round(time.time() - t0, 1), "s")
            sys.exit(0)
        print("not interrupted")
        sys.exit(1)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    n = int(r.stdout.split("after")[1].split()[0])
    assert n < 10, r.stdout  # stopped within a few tokens of Ctrl-C, not after 2000


def test_errors_are_python_exceptions(tmp_path):
    with pytest.raises(FileNotFoundError):
        llmc.pipeline("text-generation", model=str(tmp_path / "missing.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(llmc.Error, match="bad.gguf"):
        llmc.pipeline("text-generation", model=str(bad))
    with pytest.raises(ValueError, match="trust_remote_code"):
        llmc.pipeline("text-generation", model="x/y", trust_remote_code=True)
    with pytest.raises(ValueError, match="quantization"):
        llmc.pipeline("text-generation", model="x/y", quantization_config={"load_in_4bit": True})
    with pytest.raises(ValueError, match="task"):
        llmc.pipeline("summarization", model="x/y")
    with pytest.raises(ValueError, match="dtype"):
        llmc.pipeline("text-generation", model="x/y", dtype="int3")
    with pytest.raises(ValueError, match="device_map"):
        llmc.pipeline("text-generation", model="x/y", device_map="tpu")


def test_generation_argument_errors(pipe):
    with pytest.raises(TypeError, match="num_beams"):
        pipe("hi", num_beams=4)
    with pytest.raises(ValueError, match="top_p"):
        pipe("hi", top_p=2.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        pipe("hi", max_new_tokens=0)


def test_dtype_and_device_forms(model):
    from llmc.pipeline import _device_arg, _dtype_arg
    assert [_dtype_arg(d) for d in (None, "auto", "bfloat16", llmc.float16, "float32")] == ["auto", "auto", "bf16", "f16", "f32"]
    assert [_device_arg(d, None) for d in ("auto", "cpu", "cuda", "cuda:1", 0)] == ["auto", "cpu", "cuda", "cuda:1", "cuda:0"]
    p = llmc.pipeline("text-generation", model=model, dtype=llmc.float32, device_map="cpu", n_threads=2)
    assert p("Hi", max_new_tokens=2, do_sample=False)[0]["generated_text"].startswith("Hi")


def test_logging_goes_through_python(model, caplog):
    with caplog.at_level(logging.INFO, logger="llmc"):
        llmc.pipeline("text-generation", model=model, n_threads=2)
    assert any("SmolLM2" in r.getMessage() or "layers" in r.getMessage() for r in caplog.records), caplog.records


def test_hub_gguf_repo_and_gated_repo(mock_hub):
    p = llmc.pipeline("text-generation", model="test/Tiny-GGUF:Q4_K_M")
    out = p("hi", max_new_tokens=3, do_sample=False)
    assert out[0]["generated_text"].startswith("hi")
    assert os.path.isdir(mock_hub / "hf" / "hub" / "models--test--Tiny-GGUF")
    with pytest.raises(PermissionError):
        llmc.pipeline("text-generation", model="test/gated")
    with pytest.raises(PermissionError, match="private, gated or does not exist"):  # the Hub hides which
        llmc.pipeline("text-generation", model="test/nonexistent")
    with pytest.raises(FileNotFoundError, match="Q5_K_S"):
        llmc.pipeline("text-generation", model="test/Tiny-GGUF:Q5_K_S")


def test_login_writes_the_token_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    llmc.login("hf_abcdefghijklmnop")
    tok = tmp_path / "token"
    assert tok.read_text().strip() == "hf_abcdefghijklmnop"
    assert (tok.stat().st_mode & 0o777) == 0o600
