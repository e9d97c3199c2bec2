#!/usr/bin/env bash
# llmc bench on the SmolLM2 GGUF: the JSON report has every field the CLI contract
# promises, with sane values; bad arguments fail with a message. Never asserts on time.
set -euo pipefail
: "${LLMC_BIN:?}"
source "$(dirname "$0")/lib/common.sh"
need_smollm2
gguf="$SMOLLM2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$LLMC_BIN" bench "$gguf" -p 16 -n 4 -r 2 -t 2 --json > "$tmp/b.json"
python3 - "$tmp/b.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
for k in ("threads", "kernel", "n_prompt", "n_gen", "reps", "load_s", "prefill_tok_s", "decode_tok_s", "ttft_ms",
          "peak_rss_mb", "weights_mb", "read_bw_gb_s", "decode_floor_tok_s", "decode_fraction_of_floor"):
    assert k in b, f"missing {k}: {b}"
assert b["threads"] == 2 and b["n_prompt"] == 16 and b["n_gen"] == 4 and b["reps"] == 2, b
for k in ("prefill_tok_s", "decode_tok_s"):
    s = b[k]
    assert 0 < s["min"] <= s["median"] <= s["max"], b
assert len(b["prefill_samples"]) == 2 and len(b["decode_samples"]) == 2, b
assert b["kernel"] in ("scalar", "avx2", "avx512", "amx"), b
assert 80 < b["weights_mb"] < 120 and b["peak_rss_mb"] > 0 and b["read_bw_gb_s"] > 0, b
PY
# the text report names the measurements
LLMC_CPU_KERNEL=scalar "$LLMC_BIN" bench "$gguf" -p 4 -n 2 -r 1 -t 1 > "$tmp/b.txt"
grep -q "^prefill " "$tmp/b.txt" && grep -q "^decode " "$tmp/b.txt" && grep -q "kernels: scalar" "$tmp/b.txt"
# errors: a usage error exits 2 with a message, a missing model exits non-zero
if "$LLMC_BIN" bench "$gguf" -p -3 2> "$tmp/err"; then echo "bench accepted -p -3" >&2; exit 1; fi
grep -q "\-p" "$tmp/err"
if "$LLMC_BIN" bench /nonexistent/model.gguf -p 4 -n 2 2> "$tmp/err2"; then echo "bench ran on a missing file" >&2; exit 1; fi
test -s "$tmp/err2"
echo "cpu_bench: ok"
