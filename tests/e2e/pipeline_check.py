#!/usr/bin/env python3
"""End-to-end checks of the pipeline on the real default model (SmolLM2-135M-Instruct Q4_1 GGUF)
against tests/golden/pipeline/smollm2.json (written by tests/golden/make_pipeline_fixtures.py with
transformers). Standard library only. Usage: pipeline_check.py LLMC GGUF [HF_BF16_DIR]"""
import json, math, os, subprocess, sys, tempfile

llmc, gguf = sys.argv[1], sys.argv[2]
hf_dir = sys.argv[3] if len(sys.argv) > 3 else ""
root = os.environ.get("LLMC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
gold = json.load(open(os.path.join(root, "tests/golden/pipeline/smollm2.json"), encoding="utf-8"))
failures = []
passed = 0


def run(*args, input=None, ok=True):
    p = subprocess.run([llmc, *args], input=input, capture_output=True)
    if ok and p.returncode != 0:
        raise SystemExit(f"FAIL: llmc {' '.join(args)} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


tmp = tempfile.mkdtemp()
agree_all = positions_all = fast_all = 0
quant = {}  # --quantize on the bf16 checkpoint: mode -> [top-1 agreements with bf16, positions, NLL sum, NLL count]


def argmax(row):
    return max(range(len(row)), key=row.__getitem__)


def nll(row, target):
    m = max(row)
    return m + math.log(sum(math.exp(v - m) for v in row)) - row[target]
fast_gaps = []
for name, conv in gold["conversations"].items():
    mfile = os.path.join(tmp, name + ".json")
    with open(mfile, "w", encoding="utf-8") as f:
        json.dump(conv["messages"], f, ensure_ascii=False)
    # 1. chat template from the GGUF metadata, byte for byte
    prompt = run("template", gguf, "--messages", mfile, "--add-generation-prompt").stdout.decode()
    check(prompt == conv["prompt_text"], f"{name}: rendered prompt differs")
    # 2. tokenizer from the GGUF vocab
    pfile = os.path.join(tmp, name + ".txt")
    open(pfile, "w", encoding="utf-8").write(conv["prompt_text"])
    ids = json.loads(run("tokenize", gguf, "--file", pfile, "--no-special").stdout)
    check(ids == conv["prompt_ids"], f"{name}: prompt ids differ")
    idarg = ",".join(map(str, conv["prompt_ids"]))
    # 3. exact mode: dequantized weights, f32 math → identical greedy ids
    g = json.loads(run("generate", gguf, "--ids", idarg, "-n", str(len(conv["greedy_ids"])), "--dtype", "f32",
                       "--ignore-eos").stdout)
    check(g == conv["greedy_ids"], f"{name}: f32 greedy ids differ:\n  got  {g}\n  want {conv['greedy_ids']}")
    # 4. the pipeline: messages in, conversation out (greedy, f32, 64 new tokens)
    n_new = len(conv["greedy_ids"])
    out = json.loads(run("run", gguf, "--messages", mfile, "--greedy", "--dtype", "f32", "--json",
                         "--max-new-tokens", str(n_new)).stdout)
    eos = gold["eos_token_id"]
    gen = conv["greedy_ids"]
    if eos in gen:
        gen = gen[: gen.index(eos) + 1]
    want_text = run("detokenize", gguf, "--ids", ",".join(map(str, gen)), "--skip-special").stdout.decode()
    msgs = out[0]["generated_text"]
    check(msgs[:-1] == conv["messages"], f"{name}: conversation prefix changed")
    check(msgs[-1]["role"] == "assistant", f"{name}: last message is not the assistant's")
    check(msgs[-1]["content"] == want_text, f"{name}: reply differs:\n  got  {msgs[-1]['content']!r}\n  want {want_text!r}")
    if n_new >= len(conv["reply_ids"]):
        check(msgs[-1]["content"] == conv["reply"], f"{name}: reply differs from transformers' pipeline text")
    # 5. the quantized path (integer-dot kernels on the Q4_1/Q8_0 weights): top-1 agreement
    #    with the f32 reference under teacher forcing, default activations and --fast-act
    seq = conv["prompt_ids"] + conv["greedy_ids"]
    tf = conv["teacher_forced"]
    ref = tf["argmax"]
    logits = json.loads(run("logits", gguf, "--ids", ",".join(map(str, seq))).stdout)
    agree = sum(1 for row, r in zip(logits, ref) if max(range(len(row)), key=row.__getitem__) == r)
    print(f"{name}: quantized top-1 agreement {agree}/{len(ref)} = {agree / len(ref):.3f}")
    check(len(logits) == len(ref), f"{name}: logits for {len(logits)} positions, expected {len(ref)}")
    agree_all += agree
    positions_all += len(ref)
    logits = json.loads(run("logits", gguf, "--fast-act", "--ids", ",".join(map(str, seq))).stdout)
    for i, (row, r) in enumerate(zip(logits, ref)):
        a = max(range(len(row)), key=row.__getitem__)
        if a == r:
            fast_all += 1
        else:  # how far below the reference's best was the token llmc picked (None: not in its top 5)
            ids5, vals5 = tf["top5_ids"][i], tf["top5_values"][i]
            fast_gaps.append(vals5[0] - vals5[ids5.index(a)] if a in ids5 else None)
    # 6. bf16 weights against transformers' bf16 checkpoint of the same model: the HF safetensors
    #    checkpoint when one is at hand (made by make_pipeline_fixtures.py), else the GGUF's weights
    #    rounded to bf16 at load, which are the same numbers that checkpoint holds
    src16 = [hf_dir] if hf_dir else [gguf, "--dtype", "bf16"]
    g16 = json.loads(run("generate", *src16, "--ids", idarg, "-n", str(len(conv["hf_bf16"]["greedy_ids"])),
                     "--ignore-eos").stdout)
    check(g16 == conv["hf_bf16"]["greedy_ids"], f"{name}: bf16 greedy ids differ ({src16[0]}):\n  got  {g16}\n  want {conv['hf_bf16']['greedy_ids']}")
    # 7. --quantize: bf16 weights (the GGUF's, converted at load: what the HF bf16 checkpoint
    #    holds) quantized at load, against their own bf16 run (top-1 agreement, and
    #    perplexity of the conversation's own tokens)
    ids_s = ",".join(map(str, seq))
    base = json.loads(run("logits", gguf, "--dtype", "bf16", "--ids", ids_s).stdout)
    for mode in ("bf16", "q8_0", "q4_0"):
        lg = base if mode == "bf16" else json.loads(run("logits", gguf, "--dtype", "bf16", "--quantize", mode,
                                                        "--ids", ids_s).stdout)
        q = quant.setdefault(mode, [0, 0, 0.0, 0])
        q[0] += sum(1 for a, b in zip(lg, base) if argmax(a) == argmax(b))
        q[1] += len(base)
        q[2] += sum(nll(lg[i], seq[i + 1]) for i in range(len(seq) - 1))
        q[3] += len(seq) - 1

# The bar, over every teacher-forced position of the three conversations: >= 98%.
frac = agree_all / max(positions_all, 1)
print(f"quantized top-1 agreement over all positions: {agree_all}/{positions_all} = {frac:.4f}")
check(frac >= 0.98, f"quantized top-1 agreement {frac:.4f} < 0.98")
# --fast-act (8-bit activations, llama.cpp's trade): flips only where the reference's best logits
# are close; a kernel bug shows as a token far down the reference's ranking. Which near-ties flip
# moves with any rounding change upstream (observed gaps 0.01-0.66), so the bound is a bug
# detector with margin: the pick must be in the reference's top 5, within 1.0 of its best.
ffrac = fast_all / max(positions_all, 1)
print(f"--fast-act top-1 agreement: {fast_all}/{positions_all} = {ffrac:.4f}; reference gaps at flips: "
      + ", ".join("not in top 5" if g is None else f"{g:.3f}" for g in fast_gaps))
check(ffrac >= 0.95, f"--fast-act top-1 agreement {ffrac:.4f} < 0.95")
check(all(g is not None and g < 1.0 for g in fast_gaps), f"--fast-act flipped a clear choice (gaps {fast_gaps})")

if quant:
    ppl = {m: math.exp(q[2] / q[3]) for m, q in quant.items()}
    for m, q in quant.items():
        print(f"--quantize {m}: perplexity {ppl[m]:.3f} (bf16 {ppl['bf16']:.3f}), top-1 = bf16 at {q[0]}/{q[1]}")
    # measured 2026-11-28: q8_0 ppl 3.922 vs 3.917, top-1 395/398; q4_0 (of weights that were Q4_1
    # before) ppl 4.80, top-1 301/398. The bounds catch a broken quantizer, not noise.
    check(ppl["q8_0"] <= 1.02 * ppl["bf16"] and quant["q8_0"][0] >= 0.95 * quant["q8_0"][1], "--quantize q8_0 quality")
    check(ppl["q4_0"] <= 1.5 * ppl["bf16"] and quant["q4_0"][0] >= 0.6 * quant["q4_0"][1], "--quantize q4_0 quality")

# 8. bad input: each a clear error, never a crash
def expect_error(args, needle, what):
    p = run(*args, ok=False)
    err = p.stderr.decode(errors="replace")
    check(p.returncode not in (0,) and p.returncode < 128 and needle in err, f"{what}: rc={p.returncode} stderr={err!r}")

expect_error(["run", os.path.join(tmp, "no-such-model"), "hi"], "not found", "unknown model path")
os.makedirs(os.path.join(tmp, "empty-dir"), exist_ok=True)
expect_error(["run", os.path.join(tmp, "empty-dir"), "hi"], "config.json", "directory without config.json")
bad = os.path.join(tmp, "bad.json")
open(bad, "w").write('[{"role": "user", "content": "hi"')
expect_error(["run", gguf, "--messages", bad], "bad.json", "malformed messages JSON")
expect_error(["run", gguf, "--max-context", "8", "Who are you?"], "context of 8", "prompt past the context")

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
