#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang (-fsanitize=fuzzer,address,
# undefined) against the library built the same way, and runs each target on its committed seed
# corpus (tests/fuzz/corpus/TARGET) plus a working corpus that grows between runs
# (build-fuzz/corpus/TARGET). A crash, a hang (one input over 10 s), an OOM (over 2 GB) or a leak
# fails the run; the reproducer lands in build-fuzz/artifacts/TARGET/ (make it a unit test in
# tests/unit/test_fuzz_repro.c). Ends with one line: `fuzz: T targets, N execs, C crashes`.
#
#   scripts/fuzz.sh [--time S] [--build-only] [--save-corpus] [TARGET...]
#     --time S      seconds per target (default 60); CI uses --time 20 (7 targets, ~2.5 min)
#     --build-only  build the harnesses, run nothing
#     --save-corpus after the runs, minimize each target's working corpus (libFuzzer -merge=1) into
#                   tests/fuzz/campaign/TARGET.tar.xz, which later runs (other sessions, other
#                   machines) unpack into an empty working corpus: the campaign goes on from there
#     TARGET        safetensors gguf tokenizer jinja config server hub (default: all)
# Env: LLMC_FUZZ_BUILD (default build-fuzz), LLMC_FUZZ_ARGS (extra libFuzzer flags), LLMC_FUZZ_JOBS
# (build parallelism), LLMC_FUZZ_COMMIT (the commit recorded in stats.tsv, default HEAD).
# Campaign: run it with a large --time in the background; build-fuzz/stats.tsv keeps one line per
# target run (date, commit, target, execs, result, seconds) for docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
time_s=60
build_only=0
save_corpus=0
targets=()
all_targets=(safetensors gguf tokenizer jinja config server hub)
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_s="$2"; shift 2 ;;
    --time=*) time_s="${1#--time=}"; shift ;;
    --build-only) build_only=1; shift ;;
    --save-corpus) save_corpus=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no target '$t' (tests/fuzz/fuzz_$t.c)" >&2; exit 2; }
done
B="${LLMC_FUZZ_BUILD:-build-fuzz}"
mkdir -p "$B"

# clang with libFuzzer (Debian: clang + libclang-rt-dev), installed as scripts/install-deps.sh does.
fuzzer_links() {
  command -v clang >/dev/null || return 1
  echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' > "$B/probe.c"
  clang -fsanitize=fuzzer,address,undefined "$B/probe.c" -o "$B/probe" >/dev/null 2>&1
}
# The library's own Debian packages first (install-deps.sh installs what is missing).
pkg-config --exists libcjson oniguruma libutf8proc libcurl 2>/dev/null || bash scripts/install-deps.sh
if ! fuzzer_links; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  echo "fuzz.sh: installing clang and libFuzzer (clang, libclang-rt-dev)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq clang libclang-rt-dev >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq >/dev/null 2>&1 || true; $SUDO apt-get install -y -qq clang libclang-rt-dev >/dev/null; }
  fuzzer_links || { echo "fuzz.sh: error: clang cannot link -fsanitize=fuzzer (apt-get install clang libclang-rt-dev)" >&2; exit 1; }
fi

# The library, instrumented (coverage for libFuzzer, ASan + UBSan). Only the library target.
jobs=$(nproc 2>/dev/null || echo 2)
[ "${LLMC_FUZZ_JOBS:-}" ] && jobs=$LLMC_FUZZ_JOBS
# Sanitizers as LLMC_SANITIZE sets them, except that pointer-overflow reports may be suppressed
# (tests/fuzz/ubsan.supp lists the known ones, each with its owner, until fixed).
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize-recover=pointer-overflow -fno-omit-frame-pointer"
cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DLLMC_SANITIZE=OFF -DLLMC_CUDA=OFF -DLLMC_TESTS=OFF \
  "-DCMAKE_C_FLAGS=-O1 -fsanitize=fuzzer-no-link $san -Wno-unknown-warning-option -include $PWD/tests/fuzz/fuzz_compat.h" \
  >"$B/cmake.log" 2>&1 || { cat "$B/cmake.log" >&2; exit 1; }
cmake --build "$B" --target llmc_lib -j"$jobs" >"$B/build.log" 2>&1 || { tail -40 "$B/build.log" >&2; exit 1; }
libs=$(pkg-config --libs libcjson oniguruma libutf8proc libcurl)
pkg-config --exists libmicrohttpd 2>/dev/null && libs="$libs $(pkg-config --libs libmicrohttpd)"
for t in "${targets[@]}"; do
  exe="$B/fuzz_$t"
  if [ ! -x "$exe" ] || [ "tests/fuzz/fuzz_$t.c" -nt "$exe" ] || [ tests/fuzz/fuzz_common.h -nt "$exe" ] ||
     [ "$B/libllmc.a" -nt "$exe" ]; then
    clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Werror \
      -fsanitize=fuzzer $san \
      -Iinclude -Isrc -Itests/fuzz "tests/fuzz/fuzz_$t.c" "$B/libllmc.a" $libs -lm -lpthread -o "$exe.tmp"
    mv "$exe.tmp" "$exe"
  fi
done
[ "$build_only" = 1 ] && { echo "fuzz: built ${#targets[@]} targets in $B"; exit 0; }

commit=${LLMC_FUZZ_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
# Harnesses that parse paths write their inputs to a private temporary directory: RAM when there.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
total_execs=0
crashes=0
for t in "${targets[@]}"; do
  work="$B/corpus/$t"
  art="$B/artifacts/$t"
  mkdir -p "$work" "$art"
  # the campaign's saved corpus, when this machine's working corpus is still empty
  if [ -f "tests/fuzz/campaign/$t.tar.xz" ] && [ -z "$(ls -A "$work")" ]; then
    tar -xJf "tests/fuzz/campaign/$t.tar.xz" -C "$work" --no-same-owner --strip-components=1 ||
      { echo "fuzz.sh: tests/fuzz/campaign/$t.tar.xz: cannot unpack" >&2; exit 1; }
  fi
  case "$t" in gguf|safetensors|tokenizer) max_len=65536 ;; *) max_len=16384 ;; esac
  log="$B/fuzz_$t.log"
  start=$(date +%s)
  set +e
  # malloc_context_size=4: ASan's allocation stacks cut to 4 frames (unwinding each malloc was 15%
  # of the tokenizer target); replaying an artifact under a build of its own gives whole stacks.
  # shellcheck disable=SC2086
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:malloc_context_size=4:${ASAN_OPTIONS:-}" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/fuzz/ubsan.supp" \
    "$B/fuzz_$t" -max_total_time="$time_s" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
      -max_len="$max_len" -dict="tests/fuzz/$t.dict" -artifact_prefix="$art/" -print_final_stats=1 \
      ${LLMC_FUZZ_ARGS:-} "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  execs=${execs:-0}
  total_execs=$((total_execs + execs))
  result=ok
  if [ $rc -ne 0 ]; then
    crashes=$((crashes + 1))
    if grep -q 'ERROR: libFuzzer: timeout' "$log"; then result=hang
    elif grep -q -e 'out-of-memory' -e 'malloc(.*) exceeds limit' "$log"; then result=oom
    elif grep -q 'detected memory leaks' "$log"; then result=leak
    else result=crash; fi
    echo "fuzz: $t: $result (rc $rc) after $execs execs; reproducer in $art/, log $log:" >&2
    grep -m1 -A12 -e '^==[0-9]*==ERROR' -e 'runtime error' -e 'ERROR: libFuzzer' "$log" >&2 || tail -20 "$log" >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$commit" "$t" "$execs" "$result" "$secs" >>"$B/stats.tsv"
  echo "fuzz: $t: $execs execs in ${secs}s: $result"
done
if [ "$save_corpus" = 1 ]; then
  mkdir -p tests/fuzz/campaign
  for t in "${targets[@]}"; do
    min="$B/corpus-min/$t"
    rm -rf "$min"; mkdir -p "$min/$t"
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1" UBSAN_OPTIONS="suppressions=$PWD/tests/fuzz/ubsan.supp" \
      "$B/fuzz_$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 "$min/$t" "$B/corpus/$t" \
      >"$B/merge_$t.log" 2>&1 || { echo "fuzz.sh: $t: merge failed (log $B/merge_$t.log)" >&2; exit 1; }
    tar -cJf "tests/fuzz/campaign/$t.tar.xz.tmp" -C "$min" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 "$t"
    mv "tests/fuzz/campaign/$t.tar.xz.tmp" "tests/fuzz/campaign/$t.tar.xz"
    echo "fuzz: $t: $(ls "$min/$t" | wc -l) inputs saved in tests/fuzz/campaign/$t.tar.xz ($(du -k "tests/fuzz/campaign/$t.tar.xz" | cut -f1) KB)"
  done
fi
echo "fuzz: ${#targets[@]} targets, $total_execs execs, $crashes crashes"
[ "$crashes" -eq 0 ]
