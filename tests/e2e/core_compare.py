#!/usr/bin/env python3
"""Compares `llmc logits` / `llmc generate` output with a core golden reference.json
(python3 stdlib only: CI has no numpy).

usage: core_compare.py logits REFERENCE.json LLMC_LOGITS_OUTPUT.json [TOL]
       core_compare.py generate REFERENCE.json LLMC_GENERATE_OUTPUT.json

Tolerance (max |delta| / max |ref| over all positions and vocab entries): 1e-4 by
default for every weight dtype. The references are transformers computing in
float32 on exactly the stored weights (BF16/F16 files are upcast, which is exact),
and llmc also computes in f32 on the same values, so the only difference is f32
rounding order in sums (matmul, softmax, RMSNorm): ~1e-6 relative on these tiny
models, 1e-4 leaves a wide margin while still failing on any real math error
(a wrong RoPE frequency or mask moves logits by 1e-2 or more).
"""
import json
import sys


def main():
    mode, ref_path, out_path = sys.argv[1:4]
    tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4
    with open(ref_path) as f:
        ref = json.load(f)
    with open(out_path) as f:
        try:
            got = json.load(f)
        except ValueError as e:
            sys.exit(f"{out_path}: not JSON: {e}")
    name = ref.get("model", ref_path)
    if mode == "generate":
        want = ref["generated"]
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            sys.exit(f"{name}: greedy ids differ at step {first}:\n  got  {got}\n  want {want}")
        print(f"{name}: generate OK ({len(got)} ids)")
        return
    want = ref["logits"]
    if not isinstance(got, list) or len(got) != len(want):
        sys.exit(f"{name}: expected {len(want)} rows of logits, got {len(got) if isinstance(got, list) else type(got)}")
    scale = max(abs(v) for row in want for v in row)
    worst, where = 0.0, None
    for t, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            sys.exit(f"{name}: position {t}: {len(g)} logits, expected {len(w)}")
        for j, (a, b) in enumerate(zip(g, w)):
            if a is None:
                sys.exit(f"{name}: position {t}, token {j}: non-finite logit")
            d = abs(a - b)
            if d > worst:
                worst, where = d, (t, j, a, b)
    rel = worst / scale
    msg = f"{name}: logits max|delta|/max|ref| = {rel:.3g} (max|ref| {scale:.4g}; tolerance {tol:g})"
    if rel > tol:
        t, j, a, b = where
        sys.exit(f"{msg}\n  worst at position {t}, token {j}: got {a!r}, want {b!r}")
    print(msg)


if __name__ == "__main__":
    main()
