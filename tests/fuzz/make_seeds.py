#!/usr/bin/env python3
"""Writes the fuzz seed corpora (tests/fuzz/corpus/TARGET/*) from the repository's real files, cut
down so that each seed is small enough for fast executions: tokenizers keep their first few hundred
tokens and the merges among them, GGUF files keep their metadata and get tensors of a few bytes,
safetensors headers keep their first tensors with tiny shapes. Standard library only.
Run from the repository root: python3 tests/fuzz/make_seeds.py  (the output is committed)."""
import json, lzma, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
SEP = b"\n@@@\n"
FIX = os.path.join(ROOT, "tests", "fixtures")
GOLD = os.path.join(ROOT, "tests", "golden")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def jdump(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":")).encode()


def read(path):
    if path.endswith(".xz"):
        return lzma.open(path).read()
    with open(path, "rb") as f:
        return f.read()


# ---- tokenizer.json cut to its first `keep` tokens ----
def cut_tokenizer(tok, keep):
    m = tok["model"]
    if m.get("type") == "BPE":
        vocab = {k: v for k, v in m["vocab"].items() if v < keep}
        merges = []
        for mg in m["merges"]:
            a, b = (mg.split(" ", 1) if isinstance(mg, str) else mg)
            if a in vocab and b in vocab and (a + b) in vocab:
                merges.append(mg)
        m["vocab"], m["merges"] = vocab, merges[:300]
    nxt = keep
    for at in tok.get("added_tokens", [])[:8]:
        at["id"] = nxt
        nxt += 1
    tok["added_tokens"] = tok.get("added_tokens", [])[:8]
    pp = tok.get("post_processor")
    if pp and pp.get("special_tokens"):
        for st in pp["special_tokens"].values():
            st["ids"] = [min(i, nxt - 1) if i >= keep else i for i in st.get("ids", [])]
    return tok


def cut_config(cfg):
    cfg = dict(cfg)
    cfg.pop("chat_template", None) if len(json.dumps(cfg.get("chat_template", ""))) > 4000 else None
    return cfg


def tokenizer_seeds():
    texts = ["Hello world! How are you?", "안녕하세요 <s> 123 4567\n\tdone", "Tokenizers: ĠHello café 😀 </s>"]
    for name, tj, keep in (("llama2", "llama2/tokenizer.json", 400), ("llama3", "llama3/tokenizer.json.xz", 400),
                           ("qwen3", "qwen3/tokenizer.json.xz", 400)):
        tok = cut_tokenizer(json.loads(read(os.path.join(FIX, "tokenizers", tj))), keep)
        cfg = cut_config(json.loads(read(os.path.join(FIX, "tokenizers", name, "tokenizer_config.json"))))
        for k, v in list(cfg.get("added_tokens_decoder", {}).items())[8:]:
            del cfg["added_tokens_decoder"][k]
        for i, text in enumerate(texts):
            put("tokenizer", f"{name}-{i}", jdump(tok) + SEP + jdump(cfg) + SEP + text.encode())
    # a WordLevel / Unigram-free minimal one
    put("tokenizer", "minimal", b'{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}' + SEP + b"{}" + SEP + b"abba")


# ---- GGUF ----
SC = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def u(self, f):
        v = struct.unpack_from(f, self.b, self.o)[0]
        self.o += struct.calcsize(f)
        return v

    def s(self):
        n = self.u("<Q")
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def val(self, t):
        if t in SC:
            return self.u(SC[t])
        if t == 8:
            return self.s()
        et, n = self.u("<I"), self.u("<Q")
        return (et, [self.val(et) for _ in range(n)])


def gguf_kv(path):
    r = Reader(read(path))
    assert r.b[:4] == b"GGUF"
    r.o = 4
    r.u("<I")
    nt, nkv = r.u("<Q"), r.u("<Q")
    kv = []
    for _ in range(nkv):
        k = r.s()
        t = r.u("<I")
        kv.append([k, t, r.val(t)])
    return kv


def wval(p, t, v):
    if t in SC:
        p.append(struct.pack(SC[t], v))
    elif t == 8:
        p.append(struct.pack("<Q", len(v)) + v)
    else:
        et, items = v
        p.append(struct.pack("<IQ", et, len(items)))
        for it in items:
            wval(p, et, it)


def gguf_write(kv, tensors, align=32):
    p = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kv))]
    for k, t, v in kv:
        p.append(struct.pack("<Q", len(k)) + k + struct.pack("<I", t))
        wval(p, t, v)
    off, blobs = 0, []
    for name, ne, ty, data in tensors:
        p.append(struct.pack("<Q", len(name)) + name + struct.pack("<I", len(ne)))
        p += [struct.pack("<Q", x) for x in ne]
        p.append(struct.pack("<IQ", ty, off))
        padded = data + b"\0" * (-len(data) % align)
        blobs.append(padded)
        off += len(padded)
    head = b"".join(p)
    return head + b"\0" * (-len(head) % align) + b"".join(blobs)


# bytes per block, elements per block: F32 F16 Q4_0 Q4_1 Q8_0 BF16
QT = {0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 8: (34, 32), 30: (2, 1)}


def tensor(name, ne, ty):
    n = 1
    for x in ne:
        n *= x
    bb, be = QT[ty]
    data = bytes((i * 37 + 11) % 251 for i in range(n // be * bb))
    if ty == 0:
        data = struct.pack(f"<{n}f", *[((i % 7) - 3) * 0.125 for i in range(n)])
    return (name.encode(), ne, ty, data)


def cut_kv(kv, keep_tokens=300, keep_merges=200, arch=None, dims=None):
    out = []
    toks = None
    for k, t, v in kv:
        if t == 9 and k in (b"tokenizer.ggml.tokens", b"tokenizer.ggml.token_type", b"tokenizer.ggml.scores"):
            v = (v[0], v[1][:keep_tokens])
            if k == b"tokenizer.ggml.tokens":
                toks = set(v[1])
        if t == 9 and k == b"tokenizer.ggml.merges":
            v = (v[0], v[1][:keep_merges])
        if dims and k.split(b".", 1)[-1] in dims:
            v = dims[k.split(b".", 1)[-1]]
        out.append([k, t, v])
    if toks is not None:
        for e in out:
            if e[0] == b"tokenizer.ggml.merges":
                e[2] = (e[2][0], [m for m in e[2][1] if all(x in toks for x in m.split(b" ", 1))] or e[2][1][:3])
            if e[0].endswith(b"vocab_size"):
                e[2] = min(e[2], keep_tokens)
    return out


def llama_tensors(prefix_types, d, ff, nvocab, nkv_dim):
    ts = [tensor("token_embd.weight", [d, nvocab], prefix_types[0]), tensor("output_norm.weight", [d], 0)]
    ts += [tensor("blk.0.attn_norm.weight", [d], 0), tensor("blk.0.ffn_norm.weight", [d], 0),
           tensor("blk.0.attn_q.weight", [d, d], prefix_types[1]), tensor("blk.0.attn_k.weight", [d, nkv_dim], prefix_types[2]),
           tensor("blk.0.attn_v.weight", [d, nkv_dim], prefix_types[3]), tensor("blk.0.attn_output.weight", [d, d], prefix_types[4]),
           tensor("blk.0.ffn_gate.weight", [d, ff], prefix_types[5]), tensor("blk.0.ffn_up.weight", [d, ff], prefix_types[0]),
           tensor("blk.0.ffn_down.weight", [ff, d], prefix_types[1])]
    return ts


def gguf_seeds():
    tiny = gguf_kv(os.path.join(GOLD, "gguf", "tiny.gguf"))
    dims = {b"embedding_length": 32, b"feed_forward_length": 64, b"rope.dimension_count": 8, b"context_length": 64}
    kv = cut_kv(tiny, dims=dims)
    put("gguf", "tiny-llama-q", gguf_write(kv, llama_tensors([8, 2, 3, 8, 1, 30], 32, 64, 32, 16)))
    put("gguf", "tiny-llama-f32", gguf_write(kv, llama_tensors([0, 0, 0, 0, 0, 0], 32, 64, 32, 16)))
    put("gguf", "metadata-only", gguf_write(kv, []))
    q3 = gguf_kv(os.path.join(GOLD, "gguf", "qwen3_qk_norm_bf16.gguf"))
    q3 = cut_kv(q3, keep_tokens=64, dims={b"block_count": 1, b"context_length": 64})
    ts = [tensor("token_embd.weight", [32, 64], 30), tensor("output_norm.weight", [32], 0),
          tensor("blk.0.attn_norm.weight", [32], 0), tensor("blk.0.ffn_norm.weight", [32], 0),
          tensor("blk.0.attn_q_norm.weight", [16], 0), tensor("blk.0.attn_k_norm.weight", [16], 0),
          tensor("blk.0.attn_q.weight", [32, 64], 30), tensor("blk.0.attn_k.weight", [32, 32], 30),
          tensor("blk.0.attn_v.weight", [32, 32], 30), tensor("blk.0.attn_output.weight", [64, 32], 30),
          tensor("blk.0.ffn_gate.weight", [32, 64], 30), tensor("blk.0.ffn_up.weight", [32, 64], 30),
          tensor("blk.0.ffn_down.weight", [64, 32], 30)]
    put("gguf", "qwen3-bf16", gguf_write(q3, ts))
    smol = os.path.expanduser("~/.cache/llmc/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(smol):  # the default model's real metadata (tokenizer cut, template whole)
        with open(smol, "rb") as f:
            head = f.read(4 << 20)
        kv = cut_kv(gguf_kv_bytes(head), keep_tokens=300, keep_merges=400,
                    dims={b"block_count": 1, b"embedding_length": 32, b"feed_forward_length": 64,
                          b"attention.head_count": 4, b"attention.head_count_kv": 2, b"rope.dimension_count": 8,
                          b"context_length": 64})
        put("gguf", "smollm2-cut", gguf_write(kv, llama_tensors([3, 3, 3, 3, 3, 3], 32, 64, 300, 16)))


def gguf_kv_bytes(b):
    path = "/tmp/llmc-make-seeds.gguf"
    with open(path, "wb") as f:
        f.write(b)
    try:
        return gguf_kv(path)
    finally:
        os.unlink(path)


# ---- safetensors ----
def st_file(tensors, meta=None):
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape in tensors:
        n = 1
        for x in shape:
            n *= x
        size = n * {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1, "F64": 8}[dtype]
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes((i * 13 + 7) % 256 for i in range(size))
    h = jdump(hdr)
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def st_header(path):
    b = read(path)
    n = struct.unpack_from("<Q", b)[0]
    return json.loads(b[8:8 + n])


def safetensors_seeds():
    for name in ("llama_gqa_f32", "qwen3_qk_norm_bf16", "llama_hd_bias_linear_f16"):
        h = st_header(os.path.join(GOLD, "core", name, "model.safetensors"))
        meta = h.pop("__metadata__", None)
        ts = [(k, v["dtype"], [min(x, 4) for x in v["shape"]]) for k, v in list(h.items())[:6]]
        put("safetensors", f"{name}-cut", st_file(ts, meta))
    put("safetensors", "scalar-empty", st_file([("s", "F32", []), ("e", "F16", [0, 3])], {"format": "pt"}))
    idx = json.loads(read(os.path.join(GOLD, "core", "llama3_rope_sharded_f32", "model.safetensors.index.json")))
    names = list(idx["weight_map"].keys())[:4]
    wm = {n: ("s1.safetensors" if i % 2 == 0 else "s2.safetensors") for i, n in enumerate(names)}
    index = jdump({"metadata": idx.get("metadata", {}), "weight_map": wm})
    s1 = st_file([(n, "F32", [2, 2]) for i, n in enumerate(names) if i % 2 == 0], {"format": "pt"})
    s2 = st_file([(n, "F32", [3]) for i, n in enumerate(names) if i % 2 == 1], {"format": "pt"})
    put("safetensors", "index-2-shards", index + SEP + s1 + SEP + s2)


# ---- templates, configs, server bodies, hub responses ----
MSGS = [{"role": "system", "content": "You are a pirate chatbot."}, {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "Arr!", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "{\"temp\": 21.5}"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def jinja_seeds():
    tdir = os.path.join(FIX, "templates")
    for fn in sorted(os.listdir(tdir)):
        src = read(os.path.join(tdir, fn))
        put("jinja", fn.replace(".jinja", ""), src + SEP + jdump({"bos_token": "<s>", "add_generation_prompt": True}) + SEP + jdump(MSGS) + SEP + jdump(TOOLS))
    for name in ("llama2", "qwen3"):
        cfg = json.loads(read(os.path.join(FIX, "tokenizers", name, "tokenizer_config.json")))
        ct = cfg.get("chat_template")
        if isinstance(ct, str):
            put("jinja", f"{name}-config", ct.encode() + SEP + b"{}" + SEP + jdump(MSGS[:2]))
    small = {
        "filters": "{{ 'Hello'|upper|replace('L','l')|trim|e }} {{ [3,1,2]|sort|join(',') }} {{ {'a':1}|tojson }} {{ messages|map(attribute='role')|list }}",
        "macro": "{% macro m(a, b=2) %}{{ a ~ b ~ varargs|length }}{% endmacro %}{{ m(1) }}{% call m(3) %}x{% endcall %}",
        "loops": "{% for x in range(3) recursive %}{{ loop.index }}{% if loop.first %}{{ loop.cycle('a','b') }}{% endif %}{% else %}none{% endfor %}",
        "namespace": "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ raise_exception('x') if ns.n > 100 }}",
        "strings": "{{ '%s-%d'|format('a', 3) }}{{ 'a,b'.split(',') }}{{ 'abc'[::-1] }}{{ 'x'.startswith(('a','x')) }}{{ 1 is divisibleby 1 }}",
        "blocks": "{% filter upper %}text{% endfilter %}{% set x %}block{% endset %}{{ x }}{% with y = 1 %}{{ y }}{% endwith %}{%- if true -%} t {%- endif %}",
    }
    for k, v in small.items():
        put("jinja", k, v.encode() + SEP + b"{}")


def config_seeds():
    for d in sorted(os.listdir(os.path.join(GOLD, "core"))):
        c = os.path.join(GOLD, "core", d, "config.json")
        g = os.path.join(GOLD, "core", d, "generation_config.json")
        if os.path.exists(c):
            put("config", d, read(c) + SEP + (read(g) if os.path.exists(g) else b"{}"))


def server_seeds():
    chats = [{"messages": MSGS[:2], "max_tokens": 64},
             {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
              "stream": True, "stream_options": {"include_usage": True}, "temperature": 0.7, "top_p": 0.9, "stop": ["\n", "END"], "seed": 42},
             {"messages": MSGS, "tools": TOOLS, "tool_choice": "auto", "max_completion_tokens": 16, "frequency_penalty": 0, "n": 1},
             {"messages": [{"role": "user", "content": None}], "response_format": {"type": "text"}, "logprobs": False, "stop": "x"},
             # issue 16: tool history, tool_choice, structured outputs (the first byte also picks the template's tool caps)
             {"messages": MSGS[:2] + [{"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21.5}"}, {"role": "developer", "content": "x"}],
              "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False},
             {"messages": MSGS[:2], "response_format": {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema":
              {"type": "object", "properties": {"a": {"type": "array", "items": {"enum": [1, "x", None]}, "maxItems": 3}},
               "required": ["a"], "additionalProperties": False}}}, "model": "m"},
             {"messages": MSGS[:2], "grammar": "root ::= (\"yes\" | \"no\") [.!]?", "tools": TOOLS, "tool_choice": "none"}]
    for i, c in enumerate(chats):
        put("server", f"chat-{i}", (b"\0" if i < 4 else bytes([0x0e * i])) + jdump(c))
    # a reply as the body: the tool-call parser and the stream scanner read it too
    put("server", "reply-llama3", b"\x02" + jdump({"messages": MSGS[:2], "tools": TOOLS}) + b'{"name": "get_weather", "parameters": {"city": "Oslo"}}')
    comps = [{"prompt": "Once upon a time", "max_tokens": 16, "echo": True},
             {"prompt": "x", "stream": True, "temperature": 0, "top_k": 5, "min_p": 0.1, "repetition_penalty": 1.1, "stop": ["a"]}]
    for i, c in enumerate(comps):
        put("server", f"completion-{i}", b"\1" + jdump(c))


def hub_seeds():
    listing = {"_id": "x", "id": "HuggingFaceTB/SmolLM2-135M-Instruct", "sha": "12fd25f77366fa6b3b4b768ec3050bf629380bac",
               "siblings": [{"rfilename": ".gitattributes", "size": 1519},
                            {"rfilename": "config.json", "size": 861, "blobId": "a"},
                            {"rfilename": "model.safetensors", "size": 269060552, "lfs": {"sha256": "5af571cbf074e6d21a03528d2330792e532ca608f24ac70a143f6b369968ab8c", "size": 269060552, "pointerSize": 135}},
                            {"rfilename": "onnx/model.onnx", "size": 1},
                            {"rfilename": "../escape", "size": 1}]}
    headers = (b"HTTP/1.1 302 Found\r\nLocation: https://cdn-lfs.hf.co/repos/ab/cd/5af5?X=1\r\nX-Repo-Commit: 12fd25f77366fa6b3b4b768ec3050bf629380bac\r\n"
               b"X-Linked-Etag: \"5af571cbf074e6d21a03528d2330792e532ca608f24ac70a143f6b369968ab8c\"\r\nX-Linked-Size: 269060552\r\n"
               b"ETag: W/\"abc\"\r\nContent-Length: 1234\r\nContent-Range: bytes 100-1233/1234\r\nRetry-After: 5\r\n"
               b"X-Error-Code: GatedRepo\r\nX-Error-Message: Access restricted\r\n\r\n")
    globs = b"*.json\n*.safetensors\nonnx/\ntokenizer*\n[abc]?.txt"
    put("hub", "listing-headers", jdump(listing) + SEP + headers + SEP + b"/api/resolve-cache/models/x/abc/config.json" + SEP +
        b"https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/config.json" + SEP + globs)
    put("hub", "absolute-redirect", b'{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[]}' + SEP +
        b"HTTP/2 307\r\nlocation: //evil.example:8443/x\r\n" + SEP + b"HTTPS://HuggingFace.co:443/a/../b?c#d" + SEP +
        b"https://huggingface.co/a/b" + SEP + b"**\n")


def repro_inputs():
    """Inputs of faults found (tests/fuzz/repro/TARGET/NAME, replayed by tests/unit/test_fuzz_repro.c)."""
    rd = os.path.join(ROOT, "tests", "fuzz", "repro")
    def rput(target, name, data):
        os.makedirs(os.path.join(rd, target), exist_ok=True)
        with open(os.path.join(rd, target, name), "wb") as f:
            f.write(data)
    chain = b"{{ 1" + b"|e" * 12000 + b" }}"  # issue 19: 12,000 chained filters overflowed the stack
    rput("jinja", "issue19-12000-filters", chain)
    rput("jinja", "issue19-filter-block", b"{% filter e" + b"|e" * 12000 + b" %}x{% endfilter %}")
    rput("jinja", "issue19-macro-default", b"{% macro m(a=1" + b"|e" * 12000 + b") %}{{ a }}{% endmacro %}{{ m() }}")
    kv = cut_kv(gguf_kv(os.path.join(GOLD, "gguf", "tiny.gguf")), dims={b"embedding_length": 32, b"feed_forward_length": 64,
                                                                      b"rope.dimension_count": 8, b"context_length": 64})
    for e in kv:
        if e[0] == b"tokenizer.chat_template":
            e[2] = chain
    rput("gguf", "issue19-chat-template", gguf_write(kv, []))


def main():
    repro_inputs()
    tokenizer_seeds()
    gguf_seeds()
    safetensors_seeds()
    jinja_seeds()
    config_seeds()
    server_seeds()
    hub_seeds()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print(f"{t}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    sys.exit(main())
