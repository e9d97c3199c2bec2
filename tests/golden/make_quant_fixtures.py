#!/usr/bin/env python3
"""Reference dequantization fixtures for the CPU backend (tests/unit/test_cpu_ops.c).

For every weight dtype llmc reads, writes tests/golden/quant/<TYPE>.bin (raw rows in
the ggml block layout) and <TYPE>.f32 (the same rows dequantized by the pinned `gguf`
Python package, little-endian float32). Shapes are in manifest.txt as
"TYPE rows cols". Block bytes are random (every bit pattern of the quants and
packed scales gets exercised); the f16 super-scales are set to finite, modest
values so the reference is finite. Deterministic (fixed seed).
Run: $(bash tests/golden/venv.sh) tests/golden/make_quant_fixtures.py
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant")
ROWS, COLS = 6, 512
rng = np.random.default_rng(1234)


def f16_bytes(vals):
    return np.asarray(vals, dtype=np.float16).view(np.uint8)


def random_blocks(qtype, block_bytes, n_blocks, f16_fields):
    """Random block bytes, with the f16 fields at the given byte offsets set to sane scales."""
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off, lo, hi in f16_fields:
        v = rng.uniform(lo, hi, size=n_blocks) * rng.choice([-1.0, 1.0], size=n_blocks)
        raw[:, off:off + 2] = f16_bytes(v).reshape(n_blocks, 2)
    return raw


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    n = ROWS * COLS
    x = (rng.standard_normal(n) * 0.5).astype(np.float32).reshape(ROWS, COLS)
    x[0, :8] = [0.0, -0.0, 1e-8, -3.5, 7.25, 65504.0 / 70000.0, 1.0, -1.0]

    cases = {}
    # Plain types: special values (subnormals, signed zero, max) ride along in row 0.
    f16 = x.astype(np.float16)
    f16.view(np.uint16)[0, 8:16] = [0x0001, 0x03FF, 0x8001, 0x7BFF, 0xFBFF, 0x0400, 0x3C00, 0x8000]
    cases["F16"] = (f16.view(np.uint8), f16.astype(np.float32))
    bf = quantize(x, T.BF16)
    cases["BF16"] = (bf.view(np.uint8), dequantize(bf, T.BF16))
    cases["F32"] = (x.view(np.uint8), x.copy())
    # Formats the gguf package can quantize: quantize real-looking data.
    for name in ("Q8_0", "Q4_0", "Q4_1"):
        qt = getattr(T, name)
        q = quantize(x, qt)
        cases[name] = (q, dequantize(q, qt))
    # K-quants (dequantize only in the gguf package): random bytes, sane super-scales.
    nb = n // 256
    layouts = {
        "Q4_K": (144, [(0, 1e-3, 2e-2), (2, 1e-3, 2e-2)]),
        "Q5_K": (176, [(0, 1e-3, 2e-2), (2, 1e-3, 2e-2)]),
        "Q6_K": (210, [(208, 1e-4, 2e-3)]),
    }
    for name, (bb, fields) in layouts.items():
        qt = getattr(T, name)
        raw = random_blocks(qt, bb, nb, fields).reshape(ROWS, -1)
        cases[name] = (raw, dequantize(raw, qt))

    for name, (raw, ref) in cases.items():
        ref = np.asarray(ref, dtype=np.float32).reshape(ROWS, COLS)
        assert np.all(np.isfinite(ref)), name
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(np.ascontiguousarray(raw).tobytes())
        with open(os.path.join(OUT, name + ".f32"), "wb") as f:
            f.write(ref.astype("<f4").tobytes())
        manifest.append(f"{name} {ROWS} {COLS}")
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    print(f"wrote {len(cases)} fixtures to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
