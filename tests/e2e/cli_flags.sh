#!/usr/bin/env bash
# The CLI's shared flags on the default model: short flags in every command, bad values named with
# their valid range, --max-new-tokens 0 refused, --greedy against a sampling flag warned about,
# --ignore-eos, Ctrl-C printing what was generated and exiting 130, and `run` without a prompt on
# a terminal saying it reads stdin.
set -u
source "$(dirname "$0")/lib/common.sh"
need_smollm2
M="$SMOLLM2"; B="$LLMC_BIN"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
expect_err() { # expected-stderr-substring command...
  local want="$1"; shift
  if "$@" >"$tmp/out" 2>"$tmp/err"; then bad "$* succeeded"; return; fi
  grep -qF -- "$want" "$tmp/err" || bad "$*: stderr lacks '$want': $(cat "$tmp/err")"
}
expect_err "(a number from 0 to 1" "$B" run "$M" --top-p 2 hi
expect_err "(a number from 0 to 100" "$B" run "$M" --temperature -1 hi
expect_err "(an integer from 1 to" "$B" run "$M" --max-new-tokens 0 hi
expect_err "(an integer from 1 to" "$B" generate "$M" --ids 1 -n 0
expect_err "(an integer from 1 to 1024)" "$B" run "$M" -t 0 hi
expect_err "(an integer from 0 to" "$B" run "$M" -s -3 hi
"$B" run "$M" --greedy --temperature 0.5 -n 2 -t 2 hi >/dev/null 2>"$tmp/err" || bad "--greedy --temperature"
grep -q "warning: --greedy is given, so --temperature 0.5 has no effect" "$tmp/err" || bad "no warning for --greedy --temperature: $(cat "$tmp/err")"
# the same short flags everywhere: -n -t -c -s
a=$("$B" generate "$M" --ids 1,2,3 -n 4 -t 2 -c 64 -s 7) || bad "generate with short flags"
b=$("$B" generate "$M" --ids 1,2,3 --max-new-tokens 4 --threads 2 --max-context 64 --seed 7) || bad "generate with long flags"
[ "$a" = "$b" ] && [ -n "$a" ] || bad "short and long flags differ: '$a' vs '$b'"
"$B" run "$M" --greedy -n 3 -t 2 -c 128 -s 1 "Hi" >/dev/null || bad "run with short flags"
# --ignore-eos: a reply that would end early runs to -n
n_eos=$("$B" run "$M" --greedy -n 120 -t 2 --json "Say hi." | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]["generated_text"][-1]["content"]))')
n_all=$("$B" run "$M" --greedy -n 120 -t 2 --ignore-eos --json "Say hi." | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]["generated_text"][-1]["content"]))')
[ "$n_all" -gt "$n_eos" ] || bad "--ignore-eos did not generate past end-of-sequence ($n_all vs $n_eos chars)"
# one default per option in --help
for c in run chat generate; do
  d=$("$B" $c --help | grep -c -- "--max-new-tokens")
  [ "$d" = 1 ] || bad "llmc $c --help names --max-new-tokens $d times"
done
# Ctrl-C: what was generated is printed, exit status 130
python3 - "$B" "$M" <<'PY' || fail=1
import os, signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "run", sys.argv[2], "--ignore-eos", "-n", "2000", "-t", "2", "--greedy",
                      "Tell me a long story."], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
first = p.stdout.read(20)          # the reply has started streaming
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=60)
ok = p.returncode == 130 and len(first) == 20 and b"interrupted after" in err
print(("ok" if ok else "FAIL") + f" Ctrl-C: exit {p.returncode}, {len(first) + len(out)} bytes printed, stderr {err[-120:]!r}")
sys.exit(0 if ok else 1)
PY
# run without a prompt on a terminal says where the prompt comes from
python3 - "$B" "$M" <<'PY' || fail=1
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run", sys.argv[2], "--greedy", "-n", "2", "-t", "2"])
out, end = b"", time.time() + 60
while b"reading the prompt from stdin" not in out and time.time() < end:
    if select.select([fd], [], [], 1)[0]:
        try: out += os.read(fd, 4096)
        except OSError: break
ok = b"reading the prompt from stdin" in out
os.write(fd, b"Hi\n\x04")
time.sleep(0.5)
os.kill(pid, 9); os.waitpid(pid, 0)
print(("ok" if ok else "FAIL") + " run on a terminal without PROMPT says it reads stdin")
sys.exit(0 if ok else 1)
PY
[ $fail = 0 ] && echo "cli_flags: all passed"
exit $fail
