"""Shared fixtures for the Python package's tests: the default model, the CLI, and the mock Hub.
Run by tests/e2e/python.sh (ctest e2e.python) in a pinned venv, against the build's libllmc.so."""
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def model():
    path = os.environ.get("LLMC_GGUF_SMOLLM2", "")
    assert os.path.exists(path), f"the default model is missing ({path!r}): scripts/fetch-default-model.sh fetches it"
    return path


@pytest.fixture(scope="session")
def cli():
    binary = os.environ["LLMC_BIN"]

    def run(*args, check=True):
        r = subprocess.run([binary, *args], capture_output=True, check=False)
        if check and r.returncode:
            raise AssertionError(f"llmc {' '.join(args)} failed: {r.stderr.decode()}")
        return r.stdout.decode("utf-8")

    return run


@pytest.fixture(scope="session")
def pipe(model):
    import llmc
    return llmc.pipeline("text-generation", model=model, n_threads=2)


@pytest.fixture()
def mock_hub(tmp_path, monkeypatch):
    ports = tmp_path / "ports"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "hub", "mock_hub.py"), "--port-file", str(ports),
                             "--log", str(tmp_path / "log")])
    for _ in range(100):
        if ports.exists() and ports.read_text().strip():
            break
        time.sleep(0.1)
    hub_port = ports.read_text().split()[0]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{hub_port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("LLMC_HUB_BACKOFF_MS", "10")
    yield tmp_path
    proc.kill()
    proc.wait()


def messages_file(tmp_path, msgs):
    p = tmp_path / "messages.json"
    p.write_text(json.dumps(msgs, ensure_ascii=False), encoding="utf-8")
    return str(p)
