# Sourced by the e2e scripts: the paths the ctest environment provides (tests/CMakeLists.txt),
# each checked, so a missing input fails the test with its name instead of skipping it.
: "${LLMC_BIN:?run through ctest (LLMC_BIN unset)}" "${LLMC_SOURCE_DIR:?}" "${LLMC_FIXTURE_DIR:?}"
FIX="$LLMC_FIXTURE_DIR"
[ -f "$FIX/tokenizers/llama3/tokenizer.json" ] || {
  echo "FAIL: fixtures missing under $FIX (re-run cmake: it unpacks tests/fixtures there)" >&2; exit 1; }
# The default model: fetched by the setup.default_model test (scripts/fetch-default-model.sh).
SMOLLM2="${LLMC_GGUF_SMOLLM2:-}"
need_smollm2() {
  [ -n "$SMOLLM2" ] && [ -r "$SMOLLM2" ] || {
    echo "FAIL: SmolLM2 GGUF not found at '${SMOLLM2}' (scripts/fetch-default-model.sh fetches it)" >&2; exit 1; }
}
