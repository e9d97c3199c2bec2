#!/usr/bin/env python3
"""Differential tokenizer goldens: trains small tokenizers with the `tokenizers` library itself
(every model type, with the normalizer / pre-tokenizer / decoder / post-processor combinations
that make sense) on a mixed corpus (English, Korean, Chinese, Japanese, code, emoji, digits,
whitespace runs), then records tokenizers' ids for texts none of the training saw, adversarial
ones included (combining marks, zero-width joiners, CR/LF mixes, long runs, special-token
look-alikes, controls; no NUL, which a C string cannot carry). tests/unit/test_tok_diff.c compares llmc against all of it.

Also writes tests/golden/tokenizer/issue13.json (small acceptance cases; --issue13-only writes just that).
Writes tests/fixtures/tokdiff/tokdiff.json.xz (the test reads $LLMC_FIXTURE_DIR/tokdiff/tokdiff.json,
unpacked at configure time). Deterministic: a fixed seed, no clock, no network.
Run in the pinned venv: $(tests/golden/venv.sh) tests/golden/make_tok_diff_fixtures.py
(`tokenizers`, plus `sentencepiece` and `protobuf` for the Precompiled charsmaps)."""
import json
import lzma
import os
import random
import sys

import tokenizers
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors,
                        trainers)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokdiff")
N_TEXTS = 2000
N_DECODED = 150  # texts per config whose tokenizers decode() is recorded too

EN = ("the quick brown fox jumps over lazy dog tokenizer model text generation pipeline hello world "
      "Running runner ran Apple apples don't can't I'm we'll they've it's HTTP JSON API v2 naïve café "
      "résumé coöperate Über straße").split()
KO = "LLM을 활용하면 코드 생성 한국어 텍스트 토크나이저 모델 문장 안녕하세요 감사합니다 데이터 학습 서울 부산".split()
ZH = "中文 文本 分词 模型 生成 你好 世界 数据 训练 北京 上海 语言 人工智能".split()
JA = "日本語 の テキスト トークナイザー こんにちは 世界 カタカナ ひらがな 東京 漢字 です ます".split()
CODE = ["def f(x):\n    return x**2", "int main(void) { return 0; }", "for (i = 0; i < n; i++) {",
        "if x == 1 and y != 2:", "console.log(`${a}`);", "#include <stdio.h>", "x = [1, 2, 3]  # list",
        "---\nlayout: post\ntitle: \"Hi\"\n---", "SELECT * FROM t WHERE id=42;", "a->b = &c;\r\n",
        "\tindented\ttabs", "    four spaces", "/* comment */", "<div class=\"x\">hi</div>"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧", "🇰🇷", "❤️", "🎉🎉", "🤖", "☃"]
DIGITS = ["0", "7", "42", "123", "2024", "3.14159", "1,000,000", "٣٤٥", "१२३", "①", "½", "0x1F", "12345678901"]
WS = [" ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", "\u3000", "\u00a0"]


def corpus_line(r):
    parts = []
    for _ in range(r.randint(3, 14)):
        k = r.random()
        if k < 0.35: parts.append(r.choice(EN))
        elif k < 0.48: parts.append(r.choice(KO))
        elif k < 0.58: parts.append(r.choice(ZH))
        elif k < 0.66: parts.append(r.choice(JA))
        elif k < 0.74: parts.append(r.choice(CODE))
        elif k < 0.80: parts.append(r.choice(EMOJI))
        elif k < 0.90: parts.append(r.choice(DIGITS))
        else: parts.append(r.choice(WS))
        parts.append(r.choice([" ", " ", " ", "", "\n", ", ", ". ", "  "]))
    return "".join(parts)


SPECIALS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"]


def adversarial(r):
    out = [
        "", " ", "  ", "  leading and trailing  ", "</s> <|im_start|>", "</s><|im_start|>user\nhi<|im_end|>",
        "<s> hello </s>", "<|im_start|> x", "x <|im_end|>", "<|im_start", "im_start|>", "<|im_start|im_end|>",
        "< s>", "</ s>", "<unk>", "[CLS] a [SEP]", "[cls]", "[UNK][UNK]", "<|IM_START|>", "<<s>>", "<</s>/s>",
        "LLM을 활용하면 코드 생성", "---\nlayout: post", "a\r\nb\rc\nd\n\re", "\r\r\n\n", "\n \n  \n",
        "e\u0301\u0301\u0301", "\u0301start", "a\u200db", "\u200d\u200d", "\u200b\u200c\u200d\ufeff", "\ufeffBOM",
        "\ufffd\ufffe\uffff", "nul\x01", "\x01\x02\x1f\x7f", "\u202eRTL\u202c", "\U0010FFFF\U000E0001",
        "\ue000private", "ﬁ ﬂ Ⅻ ｆｕｌｌ", "İstanbul ΣΊΣΥΦΟΣ ß", "Ǆ ǅ ǆ", "한\u1100\u1161\u11a8", "ｶﾞｷﾞ",
        "a" * 3000, " " * 2000, "\n" * 500, "1" * 1500, "ab" * 800, "😀" * 300, "한" * 700, "-" * 999 + "\n",
        " \t" * 400, ("word " * 300).strip(), "x" + " " * 50 + "y", "12 345 6789 0", "$1,000.00 -5% +3",
        "don't DON'T 'tis o'clock ''", "email@example.com https://x.y/z?a=1&b=2", "C++ C# F# .NET",
    ]
    # combining-mark soup, ZWJ chains, random code points from many blocks
    blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x300, 0x36f), (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x6ff),
              (0x900, 0x97f), (0xe00, 0xe7f), (0x1100, 0x11ff), (0x2000, 0x206f), (0x3040, 0x30ff),
              (0x4e00, 0x4fff), (0xac00, 0xad00), (0xff00, 0xffef), (0x1f300, 0x1f6ff)]
    while len(out) < 300:
        k = r.randint(1, 40)
        s = []
        for _ in range(k):
            lo, hi = r.choice(blocks)
            s.append(chr(r.randint(lo, hi)))
            if r.random() < 0.15: s.append(r.choice(["\u200d", "\u0301", "\u0308", " ", "\n", "\r", "\t"]))
            if r.random() < 0.05: s.append(r.choice(SPECIALS))
        out.append("".join(s))
    return out


def texts():
    r = random.Random(1234)
    adv = adversarial(r)
    gen = [corpus_line(r) for _ in range(N_TEXTS - len(adv))]
    return adv + gen


def train_corpus():
    r = random.Random(99)
    return [corpus_line(r) for _ in range(3000)]


GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"""
          r"""|\s+(?!\S)|\s+""")
# DeepSeek-V3 style: the character classes hold literal CR and LF (JSON "\r\n" escapes, raw chars in the pattern)
DS_GPT = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"


def spm_charsmap(rule):
    """A SentencePiece precompiled charsmap for one of its built-in rules (needs sentencepiece)."""
    import tempfile
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "c.txt"), "w") as f:
            f.write("\n".join(train_corpus()[:500]))
        spm.SentencePieceTrainer.train(input=os.path.join(d, "c.txt"), model_prefix=os.path.join(d, "m"), vocab_size=400, hard_vocab_limit=False,
                                       normalization_rule_name=rule, character_coverage=1.0, minloglevel=2)
        proto = pb.ModelProto()
        with open(os.path.join(d, "m.model"), "rb") as f:
            proto.ParseFromString(f.read())
    return proto.normalizer_spec.precompiled_charsmap


def bytelevel_bpe(pre, vocab=700, **kw):
    return dict(model="bpe", pre=pre, dec=decoders.ByteLevel(), vocab=vocab, alphabet=pre_tokenizers.ByteLevel.alphabet(), **kw)


def configs():
    BL = pre_tokenizers.ByteLevel
    S = pre_tokenizers.Split
    seq = pre_tokenizers.Sequence
    bytes_fb = [f"<0x{b:02X}>" for b in range(256)]
    C = []
    C.append(("bpe_gpt2", bytelevel_bpe(BL(add_prefix_space=False))))
    C.append(("bpe_gpt2_prefix", bytelevel_bpe(BL(add_prefix_space=True), post=processors.ByteLevel(trim_offsets=True))))
    C.append(("bpe_gpt2_ignore_merges", bytelevel_bpe(BL(add_prefix_space=False), ignore_merges=True)))
    C.append(("bpe_deepseek_crlf", bytelevel_bpe(seq([S(Regex(r"\p{N}{1,3}"), "isolated"), S(Regex("[一-龥぀-ゟ゠-ヿ]+"), "isolated"),
                                                      S(Regex(DS_GPT), "isolated"), BL(add_prefix_space=False, use_regex=False)]))))
    C.append(("bpe_llama3", bytelevel_bpe(seq([S(Regex(LLAMA3), "isolated"), BL(add_prefix_space=False, use_regex=False)]),
                                          post=processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)]))))
    C.append(("bpe_roberta", bytelevel_bpe(BL(add_prefix_space=True), post=processors.RobertaProcessing(("</s>", 2), ("<s>", 1)))))
    C.append(("bpe_nfkc_bytelevel", bytelevel_bpe(BL(add_prefix_space=False), norm=normalizers.NFKC())))
    C.append(("bpe_bytelevel_seqpost", bytelevel_bpe(BL(add_prefix_space=False), post=processors.Sequence([
        processors.ByteLevel(trim_offsets=False), processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 2)])]))))
    for scheme in ["always", "first", "never"]:
        for split in [True, False]:
            C.append((f"bpe_metaspace_{scheme}_{'split' if split else 'nosplit'}", dict(
                model="bpe", byte_fallback=True, pre=pre_tokenizers.Metaspace(prepend_scheme=scheme, split=split),
                dec=decoders.Sequence([decoders.Metaspace(prepend_scheme=scheme, split=split), decoders.ByteFallback(), decoders.Fuse()]),
                extra_special=bytes_fb, vocab=900)))
    C.append(("bpe_llama2_norm", dict(model="bpe", byte_fallback=True, fuse_unk=True,
                                      norm=normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]),
                                      pre=pre_tokenizers.Split(Regex(r"[\s\S]+"), "isolated"),  # training needs words; replaced below
                                      drop_pre=True,
                                      dec=decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]),
                                      extra_special=bytes_fb, vocab=900,
                                      post=processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)]))))
    C.append(("bpe_nfkc_lower_ws", dict(model="bpe", unk="<unk>", norm=normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
                                        pre=pre_tokenizers.Whitespace())))
    C.append(("bpe_nfd_strip_wsplit", dict(model="bpe", unk="<unk>", norm=normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()]),
                                           pre=pre_tokenizers.WhitespaceSplit())))
    C.append(("bpe_bert_suffix", dict(model="bpe", unk="[UNK]", cont="##", eow="</w>", norm=normalizers.BertNormalizer(),
                                      pre=pre_tokenizers.BertPreTokenizer(), dec=decoders.BPEDecoder("</w>"),
                                      post=processors.BertProcessing(("[SEP]", 6), ("[CLS]", 5)))))
    C.append(("bpe_eow_only", dict(model="bpe", unk="<unk>", eow="</w>", pre=pre_tokenizers.Whitespace(), dec=decoders.BPEDecoder("</w>"))))
    C.append(("bpe_strip_replace_punct", dict(model="bpe", unk="<unk>", norm=normalizers.Sequence([normalizers.Strip(), normalizers.Replace(Regex(r"\d+"), "#")]),
                                              pre=pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated")]))))
    for beh in ["removed", "merged_with_previous", "merged_with_next", "contiguous"]:
        C.append((f"bpe_punct_{beh}", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(beh)]))))
    C.append(("bpe_digits_individual", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(True)]))))
    C.append(("bpe_digits_grouped", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.Sequence([pre_tokenizers.Digits(False), pre_tokenizers.Metaspace()]),
                                         dec=decoders.Metaspace())))
    C.append(("bpe_chardelim", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.CharDelimiterSplit(" "))))
    C.append(("bpe_unicode_scripts", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.UnicodeScripts()]))))
    C.append(("bpe_fixed_length", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.FixedLength(4))))
    for beh in ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]:
        for inv in [False, True]:
            C.append((f"bpe_split_{beh}{'_inv' if inv else ''}", dict(
                model="bpe", pre=seq([S(Regex(r"\s+|[,.;:!?]"), beh, invert=inv), BL(add_prefix_space=False, use_regex=False)]),
                dec=decoders.ByteLevel(), vocab=500, alphabet=BL.alphabet())))
    C.append(("bpe_split_string", dict(model="bpe", pre=seq([S(" ", "merged_with_next"), S("\n", "isolated"), BL(add_prefix_space=False, use_regex=False)]),
                                       dec=decoders.ByteLevel(), vocab=500, alphabet=BL.alphabet())))
    C.append(("bpe_split_lookaround", dict(model="bpe", pre=seq([S(Regex(r"(?<=\p{Ll})(?=\p{Lu})|(?<=[a-z])(?=\d)"), "isolated"),
                                                                  S(Regex(r"(?i:the|and)|\s+(?!\S)|\S+"), "isolated"),
                                                                  BL(add_prefix_space=False, use_regex=False)]),
                                           dec=decoders.ByteLevel(), vocab=500, alphabet=BL.alphabet())))
    C.append(("bpe_nfc_lower_bytelevel", bytelevel_bpe(BL(add_prefix_space=True), norm=normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()]))))
    C.append(("bpe_nfkd_replace", dict(model="bpe", unk="<unk>", norm=normalizers.Sequence([normalizers.NFKD(), normalizers.Replace("\n", " "), normalizers.Replace(Regex(r"\s{2,}"), " ")]),
                                       pre=pre_tokenizers.Metaspace(prepend_scheme="first"), dec=decoders.Metaspace(prepend_scheme="first"))))
    C.append(("bpe_prepend_ws", dict(model="bpe", unk="<unk>", norm=normalizers.Prepend("_"), pre=pre_tokenizers.Whitespace())))
    # WordPiece
    C.append(("wordpiece_bert", dict(model="wordpiece", norm=normalizers.BertNormalizer(lowercase=True), pre=pre_tokenizers.BertPreTokenizer(),
                                     dec=decoders.WordPiece(), post=processors.BertProcessing(("[SEP]", 6), ("[CLS]", 5)))))
    C.append(("wordpiece_cased_nochinese", dict(model="wordpiece", norm=normalizers.BertNormalizer(lowercase=False, handle_chinese_chars=False, strip_accents=False),
                                                pre=pre_tokenizers.BertPreTokenizer(), dec=decoders.WordPiece(cleanup=False))))
    C.append(("wordpiece_ws_nfkc", dict(model="wordpiece", norm=normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
                                        pre=pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(True)]), dec=decoders.WordPiece(),
                                        post=processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 5), ("[SEP]", 6)]))))
    C.append(("wordpiece_prefix", dict(model="wordpiece", cont="@@", pre=pre_tokenizers.WhitespaceSplit(), dec=decoders.WordPiece(prefix="@@"))))
    # WordLevel
    C.append(("wordlevel_ws", dict(model="wordlevel", pre=pre_tokenizers.Whitespace(), vocab=600)))
    C.append(("wordlevel_lower_wsplit", dict(model="wordlevel", norm=normalizers.Lowercase(), pre=pre_tokenizers.WhitespaceSplit(), vocab=600)))
    C.append(("wordlevel_bert", dict(model="wordlevel", norm=normalizers.BertNormalizer(), pre=pre_tokenizers.BertPreTokenizer(), vocab=600,
                                     post=processors.BertProcessing(("[SEP]", 6), ("[CLS]", 5)))))
    # Unigram
    C.append(("unigram_metaspace", dict(model="unigram", pre=pre_tokenizers.Metaspace(), dec=decoders.Metaspace(), vocab=800)))
    C.append(("unigram_metaspace_nosplit", dict(model="unigram", pre=pre_tokenizers.Metaspace(prepend_scheme="first", split=False),
                                                dec=decoders.Metaspace(prepend_scheme="first", split=False), vocab=800)))
    C.append(("unigram_ws_nfkc", dict(model="unigram", norm=normalizers.NFKC(), pre=pre_tokenizers.Whitespace(), vocab=800)))
    C.append(("unigram_bytelevel", dict(model="unigram", pre=pre_tokenizers.ByteLevel(add_prefix_space=False), dec=decoders.ByteLevel(), vocab=800,
                                        alphabet=pre_tokenizers.ByteLevel.alphabet())))
    for rule in ["nmt_nfkc", "nmt_nfkc_cf"]:
        cm = spm_charsmap(rule)
        C.append((f"unigram_precompiled_{rule}", dict(model="unigram", norm=normalizers.Sequence([normalizers.Precompiled(cm),
                                                      normalizers.Replace(Regex(" {2,}"), " ")]),
                                                      pre=pre_tokenizers.Metaspace(), dec=decoders.Metaspace(), vocab=800)))
    C.append(("bpe_precompiled_ws", dict(model="bpe", unk="<unk>", norm=normalizers.Precompiled(spm_charsmap("nfkc")),
                                         pre=pre_tokenizers.Whitespace())))
    C.append(("bpe_strip_metaspace_first", dict(model="bpe", byte_fallback=True, extra_special=bytes_fb, vocab=700,
                                                norm=normalizers.Sequence([normalizers.Strip(), normalizers.Replace("\u200b", "")]),
                                                pre=pre_tokenizers.Metaspace(prepend_scheme="first", split=True),
                                                dec=decoders.Sequence([decoders.Metaspace(prepend_scheme="first"), decoders.ByteFallback(), decoders.Fuse()]))))
    C.append(("bpe_bertnorm_metaspace_first", dict(model="bpe", unk="<unk>", norm=normalizers.BertNormalizer(lowercase=False),
                                                   pre=pre_tokenizers.Metaspace(prepend_scheme="first", split=False))))
    C.append(("unigram_byte_fallback", dict(model="unigram", pre=pre_tokenizers.Metaspace(), dec=decoders.Sequence([
        decoders.Metaspace(), decoders.ByteFallback(), decoders.Fuse()]), vocab=500, unigram_byte_fallback=True)))
    C.append(("bpe_ctc_decoder", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.Whitespace(), dec=decoders.CTC(pad_token="<pad>", word_delimiter_token="|"))))
    C.append(("bpe_decoder_replace_strip", dict(model="bpe", unk="<unk>", pre=pre_tokenizers.Metaspace(),
                                                dec=decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)]))))
    return C


ADDED_VARIANTS = [
    # (content, special, lstrip, rstrip, single_word, normalized)
    [("<|im_start|>", True, False, False, False, False), ("<|im_end|>", True, False, False, False, False)],
    [("<|im_start|>", True, True, True, False, False), ("hello", False, False, False, True, True)],
    [("[MASK]", True, True, False, False, False), ("<|im_end|>", True, False, True, False, False), ("World", False, False, False, False, True)],
]


def build(name, c, corpus, idx):
    m = c["model"]
    specials = ["<unk>", "<s>", "</s>", "<pad>", "|", "[CLS]", "[SEP]", "[UNK]", "[MASK]"] + c.get("extra_special", [])
    vocab = c.get("vocab", 600)
    if m == "bpe":
        kw = {}
        if c.get("unk"): kw["unk_token"] = c["unk"]
        if c.get("cont"): kw["continuing_subword_prefix"] = c["cont"]
        if c.get("eow"): kw["end_of_word_suffix"] = c["eow"]
        if c.get("byte_fallback"): kw["byte_fallback"] = True
        if c.get("fuse_unk"): kw["fuse_unk"] = True
        if c.get("ignore_merges"): kw["ignore_merges"] = True
        tok = Tokenizer(models.BPE(**kw))
        tkw = dict(vocab_size=vocab + len(specials), special_tokens=specials, show_progress=False)
        if c.get("alphabet"): tkw["initial_alphabet"] = c["alphabet"]
        if c.get("cont"): tkw["continuing_subword_prefix"] = c["cont"]
        if c.get("eow"): tkw["end_of_word_suffix"] = c["eow"]
        tr = trainers.BpeTrainer(**tkw)
    elif m == "wordpiece":
        kw = {"unk_token": "[UNK]"}
        if c.get("cont"): kw["continuing_subword_prefix"] = c["cont"]
        tok = Tokenizer(models.WordPiece(**kw))
        tr = trainers.WordPieceTrainer(vocab_size=vocab + len(specials), special_tokens=specials, show_progress=False,
                                       continuing_subword_prefix=c.get("cont", "##"))
    elif m == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tr = trainers.WordLevelTrainer(vocab_size=vocab + len(specials), special_tokens=specials, show_progress=False)
    else:
        tok = Tokenizer(models.Unigram())
        tkw = dict(vocab_size=vocab, special_tokens=specials, unk_token="<unk>", show_progress=False)
        if c.get("alphabet"): tkw["initial_alphabet"] = c["alphabet"]
        tr = trainers.UnigramTrainer(**tkw)
    if c.get("norm"): tok.normalizer = c["norm"]
    if c.get("pre"): tok.pre_tokenizer = c["pre"]
    tok.train_from_iterator(corpus, tr)
    if c.get("unigram_byte_fallback"):  # the trainer cannot: rebuild the model with <0xXX> pieces and byte_fallback
        m = json.loads(tok.to_str())["model"]
        voc = [tuple(v) for v in m["vocab"]] + [(f"<0x{b:02X}>", -20.0) for b in range(256)]
        tok.model = models.Unigram(voc, m["unk_id"], True)
    if c.get("drop_pre"): tok.pre_tokenizer = None
    if c.get("dec"): tok.decoder = c["dec"]
    if c.get("post"): tok.post_processor = c["post"]
    added = ADDED_VARIANTS[idx % len(ADDED_VARIANTS)]
    for content, special, ls, rs, sw, norm in added:
        t = AddedToken(content, special=special, lstrip=ls, rstrip=rs, single_word=sw, normalized=norm)
        (tok.add_special_tokens if special else tok.add_tokens)([t])
    return tok


KOREAN_TUTORIAL = ("LLM을 활용하면 코드 생성, 문서 요약, 번역 같은 작업을 자동화할 수 있습니다.\r\n"
                   "---\nlayout: post\ntitle: \"LLM 튜토리얼\"\n---\n\n## 1. 설치\n\n```bash\npip install transformers\n```\n"
                   "모델을 불러온 뒤 `pipeline(\"text-generation\")`으로 텍스트를 생성합니다. 日本語とカタカナ、中文也可以。\n")


def issue13():
    """Small acceptance goldens (tests/golden/tokenizer/issue13.json) for the cases issue 13 names."""
    corpus = train_corpus() + [KOREAN_TUTORIAL] * 5
    S, BL = pre_tokenizers.Split, pre_tokenizers.ByteLevel
    ds = Tokenizer(models.BPE())
    ds.pre_tokenizer = pre_tokenizers.Sequence([S(Regex(r"\p{N}{1,3}"), "isolated"), S(Regex("[一-龥぀-ゟ゠-ヿ]+"), "isolated"),
                                                S(Regex(DS_GPT), "isolated"), BL(add_prefix_space=False, use_regex=False)])
    ds.decoder = decoders.ByteLevel()
    ds.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, initial_alphabet=BL.alphabet(), show_progress=False,
                                                       special_tokens=["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"]))
    ms = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True))
    ms.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    ms.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    ms.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, show_progress=False,
                                                       special_tokens=["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]))
    ms.add_special_tokens([AddedToken("<|im_start|>", special=True, normalized=False)])
    legacy = Tokenizer.from_str(ms.to_str())
    legacy.pre_tokenizer = None
    legacy.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    texts = ["LLM을 활용하면 코드 생성", "---\nlayout: post", KOREAN_TUTORIAL, "a\r\nb\rc\n\rd", "  leading and trailing  ",
             "</s> <|im_start|>", "</s><|im_start|>user\nhi", " x", "   three", "<s> a </s> b", ""]
    out = []
    for name, tok, cfg in [("deepseek_crlf", ds, None), ("deepseek_crlf_llama_class", ds, {"tokenizer_class": "LlamaTokenizerFast"}),
                           ("metaspace_first", ms, None), ("metaspace_legacy_normalizer", legacy, None)]:
        out.append({"name": name, "tokenizer_json": tok.to_str(), "config_json": json.dumps(cfg) if cfg else None,
                    "cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]})
    path = os.path.join(ROOT, "tests", "golden", "tokenizer", "issue13.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False)
    print("issue13: %d tokenizers x %d texts -> %s" % (len(out), len(texts), path), file=sys.stderr)


def main():
    print("tokenizers", tokenizers.__version__, file=sys.stderr)
    issue13()
    if "--issue13-only" in sys.argv:
        return
    corpus = train_corpus()
    tx = texts()
    out = {"tokenizers_version": tokenizers.__version__, "texts": tx, "configs": []}
    for i, (name, c) in enumerate(configs()):
        tok = build(name, c, corpus, i)
        ids, dec = [], []
        for j, s in enumerate(tx):
            try:
                e = tok.encode(s).ids
            except Exception as ex:  # recorded: llmc must fail too
                print(name, "error on text", j, ex, file=sys.stderr)
                e = None
            ids.append(e)
            if j < N_DECODED:
                try:
                    dec.append(None if e is None else tok.decode(e, skip_special_tokens=False))
                except BaseException:  # tokenizers' own decoder panics (recorded as null, not compared)
                    dec.append(None)
        lossless = True
        for s in tx:
            try:
                if tok.decode(tok.encode(s, add_special_tokens=False).ids, skip_special_tokens=False) != s:
                    lossless = False
                    break
            except BaseException:
                lossless = False
                break
        out["configs"].append({"name": name, "tokenizer_json": tok.to_str(), "ids": ids, "decoded": dec,
                               "lossless": lossless})
        print("%-32s vocab %4d  ids %d%s" % (name, tok.get_vocab_size(), sum(len(x or []) for x in ids),
                                             "  lossless" if lossless else ""), file=sys.stderr)
    # the real tokenizers the tests ship, on the same texts (paths: under $LLMC_FIXTURE_DIR, or the source tree)
    out["real"] = []
    for name, rel, fixture in [("llama2", "tokenizers/llama2/tokenizer.json", True), ("llama3", "tokenizers/llama3/tokenizer.json", True),
                               ("qwen3", "tokenizers/qwen3/tokenizer.json", True),
                               ("smollm2", "tests/golden/tokenizer/smollm2/tokenizer.json", False)]:
        src = os.path.join(ROOT, "tests", "fixtures", rel) if fixture else os.path.join(ROOT, rel)
        if os.path.exists(src):
            tok = Tokenizer.from_file(src)
        elif os.path.exists(src + ".xz"):
            with lzma.open(src + ".xz") as f:
                tok = Tokenizer.from_str(f.read().decode())
        else:
            print("real tokenizer %s not found, skipped" % src, file=sys.stderr)
            continue
        out["real"].append({"name": name, "path": rel, "in_fixture_dir": fixture,
                            "ids": [tok.encode(t, add_special_tokens=False).ids for t in tx]})
        print("real %-8s %d texts" % (name, len(tx)), file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    data = json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()
    with lzma.open(os.path.join(OUT, "tokdiff.json.xz"), "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(data)
    print("%d configs x %d texts; %d bytes json" % (len(out["configs"]), len(tx), len(data)), file=sys.stderr)


if __name__ == "__main__":
    main()
