#!/usr/bin/env bash
# Hub errors and tokens: 401 (how to give a token), gated 401/403 (names the request-access page),
# 404 repo / revision / file, 5xx retried then a clear error, 503s retried to success;
# token from --token, HF_TOKEN and the token file written by `llmc login`; logout; nothing of the
# token ever printed.
source "$(dirname "$0")/../hub/lib.sh"
start_mock
nothing_under_snapshots() { ! find "$HF_HOME/hub" -path '*/snapshots/*' 2>/dev/null | grep -q .; }

expect_fail download test/private
grep -q "401" "$WORK/err" && grep -q -- "--token" "$WORK/err" && grep -q "HF_TOKEN" "$WORK/err" && grep -q "llmc login" "$WORK/err" \
  || fail "401 message should say how to give a token: $(cat "$WORK/err")"
expect_fail download test/private --token hf_wrong
grep -qi "rejected\|invalid" "$WORK/err" || fail "bad token message: $(cat "$WORK/err")"
grep -q "hf_wrong" "$WORK/err" && fail "token printed in an error"
expect_fail download test/private --token $'hf_good\r\nX-Injected: 1'
grep -qi "control characters" "$WORK/err" || fail "token with CR/LF should be refused: $(cat "$WORK/err")"
grep -q "Injected" "$LOG" && fail "header injection through the token"
pass "401"

expect_fail download test/gated
grep -q "https://huggingface.co/test/gated" "$WORK/err" || fail "gated (no token) message: $(cat "$WORK/err")"
expect_fail download test/gated --token hf_noaccess
grep -q "https://huggingface.co/test/gated" "$WORK/err" && grep -q "403" "$WORK/err" || fail "gated 403 message: $(cat "$WORK/err")"
grep -q "hf_noaccess" "$WORK/err" && fail "token printed in an error"
llmc download test/gated --token hf_good >/dev/null 2>&1 || fail "gated with an authorized token"
pass "gated 401/403"

# Like the live Hub, a missing repo answers 401 to anonymous requests and 404 to authenticated ones.
expect_fail download test/nope
grep -q "does not exist" "$WORK/err" && grep -q "test/nope" "$WORK/err" || fail "401 missing repo: $(cat "$WORK/err")"
expect_fail download test/nope --token hf_good
grep -qi "repository test/nope not found" "$WORK/err" || fail "404 repo: $(cat "$WORK/err")"
expect_fail download test/tiny --revision v9.9
grep -qi "revision 'v9.9' not found" "$WORK/err" || fail "404 revision: $(cat "$WORK/err")"
expect_fail download test/tiny --include missing/file.json
grep -qi "'missing/file.json' not found" "$WORK/err" || fail "404 file: $(cat "$WORK/err")"
expect_fail download not-a-repo-id
pass "404 repo/revision/file, bad id"

: > "$LOG"
expect_fail download test/down
grep -q "500" "$WORK/err" || fail "5xx message: $(cat "$WORK/err")"
n=$(grep -c "^hub GET /api/models/test/down" "$LOG" || true)
[ "$n" -ge 2 ] && [ "$n" -le 10 ] || fail "5xx should be retried a bounded number of times (got $n requests)"
llmc download test/flaky >/dev/null 2>"$WORK/err" || fail "503s should be retried to success: $(cat "$WORK/err")"
pass "5xx retried then error; transient 503 retried to success"
rm -rf "$HF_HOME/hub"

# Token sources: HF_TOKEN, then the token file written by llmc login (mode 0600).
HF_TOKEN=hf_good llmc download test/private >/dev/null 2>&1 || fail "HF_TOKEN not used"
rm -rf "$HF_HOME/hub"
echo hf_good | llmc login >"$WORK/out" 2>&1 || fail "login from stdin"
grep -q hf_good "$WORK/out" && fail "login printed the token"
[ "$(cat "$HF_HOME/token")" = hf_good ] || fail "token file content"
[ "$(stat -c %a "$HF_HOME/token")" = 600 ] || fail "token file mode $(stat -c %a "$HF_HOME/token")"
llmc download test/private >/dev/null 2>&1 || fail "token file not used"
llmc login --token hf_noaccess >/dev/null 2>&1 || fail "login --token"
[ "$(cat "$HF_HOME/token")" = hf_noaccess ] || fail "login --token content"
rm -rf "$HF_HOME/hub"
llmc download test/private --token hf_good >/dev/null 2>&1 || fail "--token should win over the token file"
llmc logout >/dev/null 2>&1 || fail "logout"
[ ! -e "$HF_HOME/token" ] || fail "logout left the token file"
rm -rf "$HF_HOME/hub"
expect_fail download test/private
pass "token from --token, HF_TOKEN, token file; login/logout"
nothing_under_snapshots || fail "a failed download left files under snapshots/"
echo "hub_errors: all passed"
