#!/usr/bin/env python3
"""Golden data for the tokenizer: encodes a corpus with the real `tokenizers` library
(and checks transformers' AutoTokenizer agrees), writing tests/golden/tokenizer/<name>.json.

Tokenizers: tests/fixtures/tokenizers/{llama3,llama2,qwen3} (as the build unpacks them) and SmolLM2's, which
exists only inside its GGUF: it is rebuilt here from tokenizer.ggml.* as
Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False)] + BPE(vocab,
merges) + ByteLevel decoder, control tokens as special added tokens (llama.cpp's "smollm"
pre-tokenizer), and saved as tests/golden/tokenizer/smollm2/tokenizer.json.

The 1 MB text is generated from FRAGMENTS with a 64-bit LCG (seed below) that the C test
reimplements; only its id count and an FNV-1a hash of the ids (int32 LE) are stored.

Run: $(bash tests/golden/venv.sh) tests/golden/make_tokenizer_fixtures.py
"""
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, AddedToken

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.environ.get("LLMC_FIXTURE_DIR", os.path.join(ROOT, "build", "fixtures"))
OUT = os.path.join(ROOT, "tests", "golden", "tokenizer")
GGUF = os.environ.get("LLMC_GGUF_SMOLLM2", os.path.expanduser("~/.cache/llmc/models/SmolLM2-135M-Instruct.Q4_1.gguf"))

SEED = 20240607
BIG_BYTES = 1_000_000

FRAGMENTS = [
    "The quick brown fox jumps over the lazy dog.",
    "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "We'll see; they're sure you've done it, I'd say, and I'm not.",
    "안녕하세요, 만나서 반갑습니다.",
    "오늘은 Rust로 간단한 HTTP 서버를 만들어 보겠습니다. 먼저 `cargo new server`를 실행합니다.",
    "Kubernetes 클러스터에서 Pod가 CrashLoopBackOff 상태일 때 로그를 확인하는 방법을 정리했습니다.",
    "이번 포스팅에서는 React 18의 useEffect 훅과 Suspense를 비교해봅니다!",
    "人工智能正在改变世界，我们需要负责任地使用它。",
    "北京是中国的首都，有着三千多年的历史。",
    "日本語のテキストも正しくトークン化する必要があります。",
    "東京タワーは1958年に完成しました。カタカナとひらがなと漢字。",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    "const x = arr.map((v, i) => v * i).filter(Boolean); // TODO: fix",
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC;",
    "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 🇰🇷🇯🇵🇺🇸 flags, 👍🏽 thumbs, ❤️‍🔥 heart on fire",
    "1 12 123 1234 12345 123456 1234567 12345678 123456789 3.14159 -42 1,000,000 0x1F 2e10",
    "   leading spaces and trailing   ",
    "\t\ttabs\tand\n\nnewlines\n\n\n",
    "line one\r\nline two\r\n\r\n",
    "<|endoftext|> <|im_start|>user\nhi<|im_end|> <s> </s> <unk> <|begin_of_text|><|eot_id|>",
    "Ünïcödé àccents: café, naïve, résumé, Ångström, straße, ﬁ ligature, Ⅻ, ①②③, ｆｕｌｌｗｉｄｔｈ",
    "Привет, как дела? Ελληνικά γράμματα. العربية نص. עברית. हिन्दी पाठ। ไทย",
    "Mixed: 한국어English中文日本語123😀end",
    "    ",
    "\n",
    "a",
]
SEPS = [" ", "\n", "", "\t", "  ", "\n\n", " \n"]


def lcg_text(nbytes):
    x = SEED
    out = []
    total = 0
    mask = (1 << 64) - 1
    while total < nbytes:
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        frag = FRAGMENTS[(x >> 33) % len(FRAGMENTS)]
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        sep = SEPS[(x >> 33) % len(SEPS)]
        piece = frag + sep
        out.append(piece)
        total += len(piece.encode("utf-8"))
    return "".join(out)


def corpus(specials):
    c = [
        "",
        "Hello world",
        "Hello, world! How are you doing today?",
        " Hello",
        "  Hello  ",
        "hello\n",
        "\n\nhello",
        "The year 2024 had 366 days; 1234567890 and 3.14159265358979.",
        "0 00 000 0000 00000 000000 9999999999999",
        "안녕하세요",
        "한국어 텍스트와 English가 섞인 개발 블로그: Docker 컨테이너를 `docker run -it --rm ubuntu:22.04`로 실행합니다.",
        "오늘의 TIL: Python의 GIL(Global Interpreter Lock)은 멀티스레딩 성능에 영향을 줍니다. 😅",
        "我爱自然语言处理。",
        "こんにちは世界！今日はいい天気ですね。",
        "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n",
        "if (x != NULL && x->next) { free(x); }   // comment\n\t\treturn;",
        "👨‍👩‍👧‍👦🏳️‍🌈🇰🇷🇺🇸👍🏽",
        "emoji 😀😃😄 in text 🚀!",
        "a  b   c    d     e",
        "\t\t\t",
        "x\n\n\n\ny",
        "line1\r\nline2\r\n",
        "   ",
        " ",
        "\n",
        "trailing space ",
        " leading space",
        "I'm sure it's what they'd've wanted, isn't it? WE'LL SEE. You'RE right.",
        "café naïve résumé Ångström straße ﬁne Ⅻ ① ｆｕｌｌ",
        "ǅ ǈ İstanbul ΣΑΣ σς",
        "Привет мир! Ελληνικά. مرحبا. שלום. नमस्ते। สวัสดี",
        "<s>Hello</s>",
        "text <unk> more",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
        "<|endoftext|>",
        "a<|endoftext|>b <|endoftext|> c",
        "   <s>   spaced   </s>   ",
        "▁already▁metaspace▁",
        "\u00a0non-breaking\u2003em space\u3000ideographic",
        "zero\u200bwidth\u200djoiner",
        "\x01\x02\x1f control chars \x7f",
        "\ufeffBOM at start",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𐍈 astral",
        "ก่อนหน้านี้",
        "x" * 300,
        "가" * 200,
        "1" * 100,
        " " * 50 + "end",
    ]
    for s in specials:
        c.append("before " + s + " after")
        c.append(s + s)
    return c


def big_fnv(ids):
    h = 0xcbf29ce484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h ^= b
            h = (h * 0x100000001b3) & ((1 << 64) - 1)
    return "%016x" % h


def build_smollm2():
    import gguf
    r = gguf.GGUFReader(GGUF)
    f = r.fields

    def strs(key):
        fld = f[key]
        return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]

    def val(key):
        fld = f[key]
        return fld.parts[fld.data[0]][0]

    tokens = strs("tokenizer.ggml.tokens")
    merges = strs("tokenizer.ggml.merges")
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    pre = bytes(f["tokenizer.ggml.pre"].parts[f["tokenizer.ggml.pre"].data[0]]).decode()
    assert pre == "smollm", pre
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab, [tuple(m.split(" ", 1)) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    d = os.path.join(OUT, "smollm2")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "tokenizer.json")
    with open(p, "w") as fp:  # compact: the pretty form is over 3.5 MB
        fp.write(tok.to_str(pretty=False))
    meta = {
        "bos_token_id": int(val("tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(val("tokenizer.ggml.eos_token_id")),
        "unknown_token_id": int(val("tokenizer.ggml.unknown_token_id")),
        "padding_token_id": int(val("tokenizer.ggml.padding_token_id")),
        "add_bos_token": bool(val("tokenizer.ggml.add_bos_token")),
        "pre": pre,
        "token_types": {str(i): ty for i, ty in enumerate(types) if ty != 1},
    }
    # Does transformers' own GGUF conversion split digits one by one?
    note = {}
    try:
        from transformers import AutoTokenizer
        ht = AutoTokenizer.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF))
        for s in ["12345", "Hello world! 123", "year 2024"]:
            a = ht.encode(s, add_special_tokens=False)
            b = tok.encode(s, add_special_tokens=False).ids
            note[s] = {"transformers_gguf": a, "reference": b, "same": a == b}
    except Exception as e:  # recorded, not fatal
        note = {"error": repr(e)[:300]}
    meta["transformers_gguf_check"] = note
    with open(os.path.join(d, "gguf_meta.json"), "w") as fp:
        json.dump(meta, fp, ensure_ascii=False, indent=1)
    print("smollm2: transformers GGUF conversion check:", json.dumps(note, ensure_ascii=False), file=sys.stderr)
    return p


def main():
    big = lcg_text(BIG_BYTES)
    srcs = {n: os.path.join(FIXTURES, "tokenizers", n) for n in ("llama3", "llama2", "qwen3")}
    if os.path.exists(GGUF):
        srcs["smollm2"] = os.path.dirname(build_smollm2())
    else:
        print("WARNING: %s missing; smollm2 fixture not regenerated" % GGUF, file=sys.stderr)
    try:
        from transformers import AutoTokenizer
    except Exception:
        AutoTokenizer = None
    for name, d in srcs.items():
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf = None
        if AutoTokenizer is not None and name != "smollm2":
            hf = AutoTokenizer.from_pretrained(d)
        specials = [a.content for a in tok.get_added_tokens_decoder().values() if a.special][:6]
        cases = []
        n_hf_diff = [0]
        for text in corpus(specials) + [big[i * 7919 % (len(big) - 3000):][:k] for i, k in enumerate(range(100, 3000, 190))]:
            e1 = tok.encode(text, add_special_tokens=True).ids
            e0 = tok.encode(text, add_special_tokens=False).ids
            case = {
                "text": text,
                "ids": e1,
                "ids_plain": e0,
                "decoded": tok.decode(e1, skip_special_tokens=False),
                "decoded_skip": tok.decode(e1, skip_special_tokens=True),
            }
            if hf is not None:
                # transformers may rebuild the pipeline from tokenizer_config.json (v5's LlamaTokenizer
                # uses Metaspace instead of tokenizer.json's normalizer); llmc_tokenizer_load follows it.
                h1 = hf.encode(text, add_special_tokens=True)
                h0 = hf.encode(text, add_special_tokens=False)
                if h1 != e1 or h0 != e0:
                    n_hf_diff[0] += 1
                    case["hf_ids"] = h1
                    case["hf_ids_plain"] = h0
                    case["hf_decoded"] = hf.decode(h1, skip_special_tokens=False)
            cases.append(case)
        ids = tok.encode(big, add_special_tokens=False).ids
        out = {
            "tokenizer": name,
            "cases": cases,
            "big": {"seed": SEED, "bytes": BIG_BYTES, "fragments": FRAGMENTS, "seps": SEPS,
                    "text_bytes": len(big.encode()), "n_ids": len(ids), "fnv1a64": big_fnv(ids),
                    "head": ids[:500]},
        }
        with open(os.path.join(OUT, name + ".json"), "w") as fp:
            json.dump(out, fp, ensure_ascii=False)
        print("%s: %d cases (%d where transformers differs), big text %d bytes -> %d ids"
              % (name, len(cases), n_hf_diff[0], len(big.encode()), len(ids)), file=sys.stderr)
    make_variants()




# ---- component variants: the same vocabularies with other normalizers / pre-tokenizers /
# post-processors / decoders / added-token flags, so each component is checked against the
# library (written to variants.json; the C test applies the same patch to the same base). ----
BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
BL_RE = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
BL_DEC = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


def split(pattern, behavior, invert=False, regex=True):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern}, "behavior": behavior, "invert": invert}


def seq_pre(*p):
    return {"type": "Sequence", "pretokenizers": list(p)}


def seq_norm(*n):
    return {"type": "Sequence", "normalizers": list(n)}


VARIANTS = [
    ("smollm2", {"normalizer": seq_norm({"type": "NFKC"}, {"type": "Lowercase"}), "pre_tokenizer": BL_RE, "decoder": BL_DEC}),
    ("smollm2", {"normalizer": seq_norm({"type": "NFD"}, {"type": "StripAccents"}, {"type": "Strip", "strip_left": True, "strip_right": True}),
                 "pre_tokenizer": seq_pre({"type": "Punctuation", "behavior": "Isolated"}, {"type": "Digits", "individual_digits": False}, BL),
                 "decoder": BL_DEC}),
    ("smollm2", {"normalizer": {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                 "pre_tokenizer": seq_pre({"type": "WhitespaceSplit"}, BL), "decoder": BL_DEC}),
    ("smollm2", {"pre_tokenizer": seq_pre(split("\\p{N}+", "MergedWithPrevious"), split(" ", "MergedWithNext", regex=False), BL)}),
    ("smollm2", {"pre_tokenizer": seq_pre(split("[aeiou]", "Contiguous"), split("\\s", "Removed"), BL)}),
    ("smollm2", {"pre_tokenizer": seq_pre(split("\\p{L}+", "Removed", invert=True), BL)}),
    ("smollm2", {"normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
                 "pre_tokenizer": seq_pre({"type": "BertPreTokenizer"}, BL)}),
    ("smollm2", {"normalizer": seq_norm({"type": "NFKD"}, {"type": "Prepend", "prepend": "§"}),
                 "pre_tokenizer": seq_pre({"type": "Whitespace"}, {"type": "Digits", "individual_digits": True}, BL),
                 "post_processor": {"type": "TemplateProcessing",
                                    "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                               {"SpecialToken": {"id": "<|im_end|>", "type_id": 0}}],
                                    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                    "special_tokens": {"<|im_start|>": {"id": "<|im_start|>", "ids": [1], "tokens": ["<|im_start|>"]},
                                                       "<|im_end|>": {"id": "<|im_end|>", "ids": [2], "tokens": ["<|im_end|>"]}}},
                 "decoder": {"type": "Sequence", "decoders": [BL_DEC, {"type": "Replace", "pattern": {"String": "§"}, "content": "<S>"},
                                                              {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}}),
    ("smollm2", {"normalizer": {"type": "Lowercase"}, "pre_tokenizer": BL_RE,
                 "post_processor": {"type": "RobertaProcessing", "sep": ["<|im_end|>", 2], "cls": ["<|im_start|>", 1],
                                    "trim_offsets": True, "add_prefix_space": True},
                 "added_tokens_extra": [
                     {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
                     {"content": "hello", "single_word": True, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
                     {"content": "World", "single_word": False, "lstrip": False, "rstrip": True, "normalized": True, "special": False},
                     {"content": "[END]", "single_word": False, "lstrip": True, "rstrip": True, "normalized": False, "special": False}]}),
    ("llama2", {"normalizer": None, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
                "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}}),
    ("llama2", {"normalizer": None, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": False},
                "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": False}}),
    ("llama2", {"normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": True},
                "decoder": {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": True},
                                                             {"type": "ByteFallback"}, {"type": "Fuse"}]}}),
    ("llama2", {"model_patch": {"byte_fallback": False, "fuse_unk": False}}),
    ("llama2", {"model_patch": {"byte_fallback": False, "fuse_unk": True}}),
    ("llama2", {"model_patch": {"ignore_merges": True}}),
]

VARIANT_TEXTS = [
    "Hello World! hello world, HELLO", "héllo wörld Ångström ﬁ ①", "The year 2024 has 366 days.", "a  b\t\tc\n\nd ",
    "   spaced   out   ", "say hello to the World  now", "x<mask>y  <mask> z", "a [END]  b[END]c", "helloworld hello_ hello",
    "한국어 텍스트 English 中文 日本語", "emoji 😀 👨‍👩‍👧 🇰🇷", "def f(x):\n    return x**2  # comment", "", " ", "Ⅻ ｆｕｌｌ café",
    "<|im_start|>user hi<|im_end|>", "<s> begin </s> end <unk>", "ΣΑΣ İ", "\u00a0nbsp\u3000ideo", "tab\there", "end.",
]


def apply_patch(base, patch):
    j = json.loads(json.dumps(base))
    for k, v in patch.items():
        if k == "added_tokens_extra":
            nid = max(a["id"] for a in j["added_tokens"]) + 1
            nid = max(nid, len(j["model"]["vocab"]))
            for a in v:
                j["added_tokens"].append(dict(a, id=nid))
                nid += 1
        elif k == "model_patch":
            j["model"].update(v)
        else:
            j[k] = v
    return j


def make_variants():
    bases = {
        "smollm2": json.load(open(os.path.join(OUT, "smollm2", "tokenizer.json"))),
        "llama2": json.load(open(os.path.join(FIXTURES, "tokenizers", "llama2", "tokenizer.json"))),
    }
    out = []
    for base, patch in VARIANTS:
        tok = Tokenizer.from_str(json.dumps(apply_patch(bases[base], patch)))
        cases = []
        for text in VARIANT_TEXTS:
            e1 = tok.encode(text, add_special_tokens=True).ids
            cases.append({"text": text, "ids": e1, "ids_plain": tok.encode(text, add_special_tokens=False).ids,
                          "decoded": tok.decode(e1, skip_special_tokens=False),
                          "decoded_skip": tok.decode(e1, skip_special_tokens=True)})
        out.append({"base": base, "patch": patch, "cases": cases})
    with open(os.path.join(OUT, "variants.json"), "w") as fp:
        json.dump(out, fp, ensure_ascii=False)
    print("variants: %d tokenizers x %d texts" % (len(out), len(VARIANT_TEXTS)), file=sys.stderr)


if __name__ == "__main__":
    if os.environ.get("TOK_VARIANTS_ONLY"):
        make_variants()
    else:
        main()
