#!/usr/bin/env python3
"""Mock Hugging Face Hub for llmc's tests (Python standard library only).

Two real HTTP servers on loopback: the Hub (addressed as 127.0.0.1:P) and a "CDN" for LFS
blobs (addressed as localhost:Q, another host name, as the live Hub's CDN is). Behaviour follows
the live Hub: /api/models/{repo}/revision/{rev}, /api/models/{repo}/tree/{rev}, and
/{repo}/resolve/{rev}/{path} answering a regular file with a relative 307 to /api/resolve-cache/...
and an LFS file with a 302 to the CDN, metadata headers (X-Repo-Commit, ETag / X-Linked-Etag,
X-Linked-Size) on those redirect responses. Range requests are honoured.

Repos (behaviour chosen by name, so one server serves every test case):
  test/tiny      public, sharded safetensors + tokenizer files + files llmc should skip
  test/private   needs a valid token (401 otherwise)
  test/gated     401 GatedRepo without a token, 403 GatedRepo with a token lacking access
  test/cut       the CDN drops the connection halfway through each blob's first GET
  test/badsha    the CDN serves wrong bytes for the LFS file (checksum test)
  test/down      every request answers 500
  test/flaky     each path answers 503 twice, then works
  test/slow      the CDN sends slowly (two clients overlap)
  test/Tiny-GGUF GGUF files only: Q4_K_M (a real tiny model), Q8_0, Q4_K, IQ2_XS, a split F16 in 2 parts
  test/one-GGUF  a single GGUF; test/many-GGUF two GGUFs, neither Q4_K_M
  test/mixed     safetensors + config.json + a GGUF
Tokens: "hf_good" has access to everything, "hf_noaccess" is valid but not granted the gated repo.

Usage: mock_hub.py --port-file F --log F   (writes "HUBPORT CDNPORT" to F when ready)
The log has one line per request: "<hub|cdn> <METHOD> <path> range=<Range or -> auth=<Authorization or ->".
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

GOOD, NOACCESS = "hf_good", "hf_noaccess"


def blob_bytes(seed, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def make_repo(name):
    files = {
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                   "hidden_size": 64, "name": name}).encode(),
        "generation_config.json": b'{"do_sample": false}',
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}}}).encode(),
        "tokenizer_config.json": b'{"bos_token": "<s>"}',
        "special_tokens_map.json": b'{"bos_token": "<s>"}',
        "README.md": b"# a test model\n",
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "model.safetensors.index.json": json.dumps({"metadata": {}, "weight_map": {
            "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}).encode(),
        "model-00001-of-00002.safetensors": blob_bytes(name + "1", 300_000),
        "model-00002-of-00002.safetensors": blob_bytes(name + "2", 200_000),
        "pytorch_model.bin": blob_bytes(name + "bin", 1000),
        "onnx/model.onnx": blob_bytes(name + "onnx", 1000),
        "original/consolidated.pth": blob_bytes(name + "pth", 1000),
    }
    lfs = {p for p in files if p.endswith((".safetensors", ".bin", ".onnx", ".pth"))}
    listing = json.dumps(sorted((p, hashlib.sha256(c).hexdigest()) for p, c in files.items())).encode()
    commit = hashlib.sha1(b"commit " + name.encode() + listing).hexdigest()
    return {"files": files, "lfs": lfs, "commit": commit}


def make_gguf_repo(name, ggufs, extra=None):
    """A repo of GGUF files (one per quantization), as the "-GGUF" repos people run locally."""
    files = {"README.md": b"# GGUF files\n", ".gitattributes": b"*.gguf filter=lfs diff=lfs merge=lfs -text\n"}
    files.update(extra or {})
    for p, content in ggufs.items():
        files[p] = content if isinstance(content, bytes) else blob_bytes(name + p, content)
    lfs = {p for p in files if p.endswith((".gguf", ".safetensors"))}
    listing = json.dumps(sorted((p, hashlib.sha256(c).hexdigest()) for p, c in files.items())).encode()
    commit = hashlib.sha1(b"commit " + name.encode() + listing).hexdigest()
    return {"files": files, "lfs": lfs, "commit": commit}


REPOS = {n: make_repo(n) for n in ["test/tiny", "test/private", "test/gated", "test/cut", "test/badsha",
                                   "test/down", "test/flaky", "test/slow"]}
_TINY_GGUF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "gguf", "qwen2_qkv_bias_f32.gguf")
REPOS["test/Tiny-GGUF"] = make_gguf_repo("test/Tiny-GGUF", {
    "tiny-Q4_K_M.gguf": open(_TINY_GGUF, "rb").read(),    # a real (tiny) model: `llmc generate` loads it
    "tiny-Q8_0.gguf": 3000, "tiny-Q4_K.gguf": 2000, "tiny-IQ2_XS.gguf": 1000,
    "tiny-F16-00001-of-00002.gguf": 4000, "tiny-F16-00002-of-00002.gguf": 3000})
REPOS["test/one-GGUF"] = make_gguf_repo("test/one-GGUF", {"model.Q5_1.gguf": 2500})
REPOS["test/many-GGUF"] = make_gguf_repo("test/many-GGUF", {"m-Q8_0.gguf": 1500, "m-Q2_K.gguf": 1200})
REPOS["test/mixed"] = make_gguf_repo("test/mixed", {"mixed-Q8_0.gguf": 1800}, extra={
    "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64}).encode(),
    "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}}}',
    "model.safetensors": blob_bytes("mixed-st", 5000)})


def git_oid(content):
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class State:
    lock = threading.Lock()
    log_path = None
    hub_port = 0
    cdn_port = 0
    cut_done = set()
    flaky = {}

    @classmethod
    def log(cls, who, method, path, auth, rng=None):
        with cls.lock, open(cls.log_path, "a") as f:
            f.write(f"{who} {method} {path} range={rng or '-'} auth={auth or '-'}\n")


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    who = "hub"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", headers=None, ctype="application/json"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code=None, msg="error", extra=None):
        h = {"X-Error-Message": msg}
        if code:
            h["X-Error-Code"] = code
        h.update(extra or {})
        self.send(status, json.dumps({"error": msg}).encode(), h)

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def send_content(self, content, headers):
        """200 or 206 for a Range request."""
        start = 0
        rng = self.headers.get("Range")
        status = 200
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(content):
                return self.error(416, msg="range not satisfiable")
            status = 206
            headers = dict(headers, **{"Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"})
        headers = dict(headers, **{"Accept-Ranges": "bytes"})
        self.send(status, content[start:], headers, "application/octet-stream")


class Hub(Base):
    who = "hub"

    def handle_any(self):
        auth = self.headers.get("Authorization")
        State.log("hub", self.command, self.path, auth, self.headers.get("Range"))
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.split("/")[1:]]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo = parts[2] + "/" + parts[3]
            return self.api(repo, parts[4], parts[5], token)
        if parts[:2] == ["api", "resolve-cache"] and len(parts) >= 7:
            repo = parts[3] + "/" + parts[4]
            return self.resolve_cache(repo, parts[5], "/".join(parts[6:]), token)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = parts[0] + "/" + parts[1]
            return self.resolve(repo, parts[3], "/".join(parts[4:]), token)
        return self.error(404, msg="no such route")

    def check_repo(self, repo, token, what):
        """Returns the repo dict, or None after sending the error the live Hub sends."""
        r = REPOS.get(repo)
        if r is None:
            self.error(401 if token is None else 404, "RepoNotFound", "Repository not found")
            return None
        if token is not None and token not in (GOOD, NOACCESS):
            self.error(401, None, "Invalid credentials in Authorization header")
            return None
        if repo == "test/private" and token is None:
            self.error(401, "RepoNotFound", "Repository not found")
            return None
        # As on the live Hub, a gated repo's listing is public; its files are not.
        if repo == "test/gated" and token != GOOD and what == "resolve":
            msg = f"Access to model {repo} is restricted. You must have access to it and be authenticated to access it. Please log in."
            if token is not None:
                msg = f"Access to model {repo} is restricted and you are not in the authorized list. Visit https://huggingface.co/{repo} to ask for access."
            self.error(401 if token is None else 403, "GatedRepo", msg)
            return None
        if repo == "test/down":
            self.error(500, None, "Internal Error")
            return None
        if repo == "test/flaky":
            with State.lock:
                n = State.flaky.get(self.path, 0)
                State.flaky[self.path] = n + 1
            if n < 2:
                self.error(503, None, "Service Unavailable")
                return None
        return r

    def rev_ok(self, r, rev):
        return rev in ("main", r["commit"])

    def api(self, repo, kind, rev, token):
        r = self.check_repo(repo, token, "api")
        if r is None:
            return
        if not self.rev_ok(r, rev):
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        if kind == "revision":
            sib = []
            for p in sorted(r["files"]):
                c = r["files"][p]
                e = {"rfilename": p, "size": len(c), "blobId": git_oid(c)}
                if p in r["lfs"]:
                    e["lfs"] = {"sha256": hashlib.sha256(c).hexdigest(), "size": len(c), "pointerSize": 134}
                sib.append(e)
            body = {"_id": "x", "id": repo, "modelId": repo, "sha": r["commit"], "private": repo == "test/private",
                    "gated": "manual" if repo == "test/gated" else False, "siblings": sib, "tags": []}
            return self.send(200, json.dumps(body).encode())
        out, dirs = [], set()
        for p in sorted(r["files"]):
            c = r["files"][p]
            for i in range(1, p.count("/") + 1):
                dirs.add("/".join(p.split("/")[:i]))
            e = {"type": "file", "oid": git_oid(c), "size": len(c), "path": p}
            if p in r["lfs"]:
                e["lfs"] = {"oid": hashlib.sha256(c).hexdigest(), "size": len(c), "pointerSize": 134}
            out.append(e)
        out += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
        return self.send(200, json.dumps(out).encode())

    def resolve(self, repo, rev, path, token):
        r = self.check_repo(repo, token, "resolve")
        if r is None:
            return
        if not self.rev_ok(r, rev):
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        c = r["files"].get(path)
        if c is None:
            return self.error(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"",
                              {"X-Repo-Commit": r["commit"]})
        qrepo, qpath = quote(repo), quote(path)
        if path in r["lfs"]:
            sha = hashlib.sha256(c).hexdigest()
            loc = f"http://localhost:{State.cdn_port}/repos/{qrepo}/{sha}?X-Amz-Signature=abc&name={qpath}"
            return self.send(302, b"", {"Location": loc, "X-Repo-Commit": r["commit"], "X-Linked-Etag": f'"{sha}"',
                                        "X-Linked-Size": str(len(c)), "ETag": '"some-other-etag"'})
        oid = git_oid(c)
        loc = f"/api/resolve-cache/models/{qrepo}/{r['commit']}/{qpath}?etag=%22{oid}%22"
        return self.send(307, b"", {"Location": loc, "X-Repo-Commit": r["commit"], "ETag": f'"{oid}"',
                                    "X-Linked-Size": str(len(c))})

    def resolve_cache(self, repo, commit, path, token):
        r = REPOS.get(repo)
        if r is None or commit != r["commit"] or path not in r["files"]:
            return self.error(404, "EntryNotFound", "not found")
        c = r["files"][path]
        return self.send_content(c, {"ETag": f'"{git_oid(c)}"', "X-Repo-Commit": r["commit"]})


class Cdn(Base):
    who = "cdn"

    def handle_any(self):
        State.log("cdn", self.command, self.path, self.headers.get("Authorization"), self.headers.get("Range"))
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        if len(parts) != 4 or parts[0] != "repos":
            return self.error(404, msg="no such blob")
        repo, sha = parts[1] + "/" + parts[2], parts[3]
        r = REPOS.get(repo)
        content = None
        for p, c in (r["files"].items() if r else []):
            if p in r["lfs"] and hashlib.sha256(c).hexdigest() == sha:
                content = c
        if content is None:
            return self.error(404, msg="no such blob")
        if repo == "test/badsha":
            content = content[:100] + bytes([content[100] ^ 0xFF]) + content[101:]
        if repo == "test/cut" and self.command == "GET" and not self.headers.get("Range"):
            with State.lock:
                first = sha not in State.cut_done
                State.cut_done.add(sha)
            if first:
                # Promise everything, send half, drop the connection.
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.write(content[: len(content) // 2])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
        if repo == "test/slow" and self.command == "GET":
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("ETag", f'"{sha}"')
            self.end_headers()
            for i in range(0, len(content), 50_000):
                self.wfile.write(content[i:i + 50_000])
                self.wfile.flush()
                time.sleep(0.05)
            return
        return self.send_content(content, {"ETag": f'"{sha}"'})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients dropping connections (cut tests, aborted downloads) are expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    State.log_path = a.log
    open(a.log, "w").close()
    hub = Server(("127.0.0.1", 0), Hub)
    cdn = Server(("127.0.0.1", 0), Cdn)
    State.hub_port, State.cdn_port = hub.server_address[1], cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{State.hub_port} {State.cdn_port}\n")
    os.replace(tmp, a.port_file)
    try:
        hub.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
