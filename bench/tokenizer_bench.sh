#!/usr/bin/env bash
# Tokenizer benchmark (not a test): llmc vs the `tokenizers` library, same machine, same run,
# same 1 MB text (tests/golden/make_tokenizer_fixtures.py's deterministic mixed text).
# Measures tokenizer.json load time and single-thread encode throughput (median of N runs),
# and rewrites the "Tokenizer" section of BENCHMARKS.md.
# usage: bench/tokenizer_bench.sh [BUILD_DIR (default build)] [REPEATS (default 5)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"; reps="${2:-5}"
fix="${LLMC_FIXTURE_DIR:-$build/fixtures}"   # tests/fixtures as cmake unpacks it
py="$(LLMC_GOLDEN_VENV="${LLMC_GOLDEN_VENV:-}" bash "$root/tests/golden/venv.sh")"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
[ -f "$build/libllmc.a" ] || cmake --build "$build" -j2 --target llmc_lib >&2
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" "$root/bench/tokenizer_bench.c" "$build/libllmc.a" \
   $(pkg-config --libs libcjson oniguruma libutf8proc libcurl) -lpthread -lm -o "$work/bench"
"$py" - "$root" "$work/big.txt" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/golden")
import make_tokenizer_fixtures as m
open(sys.argv[2], "w", newline="").write(m.lcg_text(m.BIG_BYTES))
PY
rows=""
for name in llama3 qwen3 llama2 smollm2; do
  if [ "$name" = smollm2 ]; then src="$root/tests/golden/tokenizer/smollm2/tokenizer.json"; else src="$fix/tokenizers/$name/tokenizer.json"; fi
  [ -f "$src" ] || continue
  c=$("$work/bench" "$src" "$work/big.txt" "$reps")
  p=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$py" - "$src" "$work/big.txt" "$reps" <<'PY'
import json, statistics, sys, time
from tokenizers import Tokenizer
src, txt, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(txt, newline="").read()
nb = len(text.encode())
raw = text.encode()
chunks, off = [], 0
while off < len(raw):  # ~4 KB chunks cut after a newline, as the C side does
    end = min(off + 4096, len(raw))
    while end < len(raw) and raw[end - 1] != 10:
        end += 1
    chunks.append(raw[off:end].decode())
    off = end
loads, encs, encl, n = [], [], [], 0
for _ in range(reps):
    t0 = time.perf_counter(); tok = Tokenizer.from_file(src); loads.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids; encs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for c in chunks:
        tok.encode(c, add_special_tokens=False)
    encl.append(time.perf_counter() - t0)
    n = len(ids)
e, el = statistics.median(encs), statistics.median(encl)
print(json.dumps({"load_ms": round(statistics.median(loads) * 1e3, 1), "encode_s": round(e, 4), "mb_per_s": round(nb / 1e6 / e, 2),
                  "chunks_mb_per_s": round(nb / 1e6 / el, 2), "n_ids": n}))
PY
)
  echo "$name llmc: $c" >&2; echo "$name tokenizers: $p" >&2
  rows+=$("$py" -c 'import json,sys; c=json.loads(sys.argv[2]); p=json.loads(sys.argv[3]); print("| %s | %.1f | %.1f | %.2f | %.2f | %.1fx | %.2f | %.2f | %.1fx | %s |" % (sys.argv[1], c["load_ms"], p["load_ms"], c["mb_per_s"], p["mb_per_s"], c["mb_per_s"]/p["mb_per_s"], c["chunks_mb_per_s"], p["chunks_mb_per_s"], c["chunks_mb_per_s"]/p["chunks_mb_per_s"], "yes" if c["n_ids"]==p["n_ids"] else "NO (%d vs %d)" % (c["n_ids"], p["n_ids"])))' "$name" "$c" "$p")$'\n'
done
ver=$("$py" -c 'import tokenizers; print(tokenizers.__version__)')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //' || echo unknown)
section="<!-- tokenizer:begin -->
## Tokenizer

\`bench/tokenizer_bench.sh $(basename "$build") $reps\` on $(date -u +%Y-%m-%d) — $cpu, $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) at the start.
Same 1 MB mixed text (English, Korean, Chinese, Japanese, code, emoji, digits, whitespace runs; $(wc -c < "$work/big.txt") bytes) for both;
median of $reps runs; tokenizers $ver (Python binding, \`Tokenizer.from_file\` + \`encode(text, add_special_tokens=False)\`, one thread;
the Python call overhead is included in its numbers). *whole* encodes the 1 MB as one string; *4 KB* encodes it as ~4 KB
chunks cut after newlines (prompt-sized calls). Load time includes reading the file; llmc loads tokenizer.json alone
(no tokenizer_config.json), as \`Tokenizer.from_file\` does. Wall-clock times on a shared machine: see the load average.
Targets: encode throughput ≥ 1× tokenizers, Llama 3 tokenizer.json load ≤ 150 ms.

| tokenizer | llmc load ms | tokenizers load ms | llmc MB/s (whole) | tokenizers MB/s (whole) | speed-up | llmc MB/s (4 KB) | tokenizers MB/s (4 KB) | speed-up | same ids |
|---|---|---|---|---|---|---|---|---|---|
${rows}<!-- tokenizer:end -->"
md="$root/BENCHMARKS.md"
[ -f "$md" ] || printf '# Benchmarks\n\nEach section is written by the script it names.\n' > "$md"
"$py" - "$md" "$section" <<'PY'
import re, sys
p, sec = sys.argv[1], sys.argv[2]
s = open(p).read()
if "<!-- tokenizer:begin -->" in s:
    s = re.sub(r"<!-- tokenizer:begin -->.*?<!-- tokenizer:end -->", lambda m: sec, s, flags=re.S)
else:
    s = s.rstrip("\n") + "\n\n" + sec + "\n"
open(p, "w").write(s)
PY
echo "wrote the Tokenizer section of $md" >&2
