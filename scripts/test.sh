#!/usr/bin/env bash
# Builds llmc and runs every test (ctest), then the unit tests and the concurrent-server test
# (label asan) again under ASan+UBSan, then each
# fuzz target for 20 s, and ends with one summary line. This is the README's test command; .ci/run calls it too.
# Warnings are errors here (LLMC_WERROR). Only a test that needs a GPU may skip; it says why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
results="$(mktemp -d)"; trap 'rm -rf "$results"' EXIT
status=0
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLLMC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --output-junit "$results/release.xml" || status=1
if [ "${LLMC_SKIP_ASAN:-0}" != 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLLMC_SANITIZE=ON -DLLMC_CUDA=OFF -DLLMC_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|asan' --output-junit "$results/asan.xml" || status=1
fi
# Every fuzz target briefly on its committed corpus (libFuzzer; docs/RELIABILITY.md has the campaign).
if [ "${LLMC_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh --time 20 || status=1
fi
# One line for people and CI: counts over both runs, and each skip with the reason its test gave.
python3 - "$results" <<'PY' || status=1
import glob, re, sys, xml.etree.ElementTree as ET
run = passed = failed = 0
skips = []
for path in sorted(glob.glob(sys.argv[1] + "/*.xml")):
    tag = "asan " if path.endswith("asan.xml") else ""
    for tc in ET.parse(path).getroot().iter("testcase"):
        run += 1
        st = tc.get("status", "")
        out = "".join(e.text or "" for e in tc.iter("system-out"))
        if tc.find("skipped") is not None or st in ("notrun", "disabled"):
            m = re.findall(r"SKIPPED: ([^\n]*)", out)
            skips.append(f"{tag}{tc.get('name')}: {m[-1] if m else 'no reason given'}")
        elif tc.find("failure") is not None or st == "fail":
            failed += 1
        else:
            passed += 1
line = f"tests: {passed} passed, {failed} failed, {len(skips)} skipped"
print(f"{run} tests run" + (" — skipped: " + "; ".join(skips) if skips else ""))
print(line)
bad = [s for s in skips if "GPU" not in s]
if bad:
    print("error: only GPU tests may skip: " + "; ".join(bad))
    sys.exit(1)
PY
exit $status
