/* libFuzzer harness: tokenizer.json (then, after FZ_SEP, tokenizer_config.json, then a text).
 * Builds the tokenizer, encodes the text with and without special tokens, decodes the ids
 * (skipping specials or not), stream-decodes them, and decodes ids taken from the text's bytes
 * (out of range and negative ones included): every path a model's files and a user's prompt reach. */
#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

/* Streams at most STREAM_MAX ids: the stream's window logic is the same past that (its window is
 * bounded at 16), and two window decodes per id made streaming most of the target's time. */
#define STREAM_MAX 64
static void stream_decode(const llmc_tokenizer *t, const int32_t *ids, size_t n, bool skip) {
    if (n > STREAM_MAX) n = STREAM_MAX;
    llmc_detok_stream *s = llmc_detok_stream_new(t, skip);
    if (!s) return;
    llmc_error err;
    for (size_t i = 0; i < n; i++) {
        char *piece = NULL;
        if (llmc_detok_stream_push(s, ids[i], &piece, &err) != LLMC_OK) { free(piece); break; }
        free(piece);
    }
    free(llmc_detok_stream_flush(s));
    llmc_detok_stream_free(s);
}

static void decode_both(const llmc_tokenizer *t, const int32_t *ids, size_t n) {
    llmc_error err;
    for (int skip = 0; skip < 2; skip++) {
        char *text = NULL;
        size_t len = 0;
        if (llmc_tokenizer_decode(t, ids, n, skip, &text, &len, &err) == LLMC_OK) free(text);
        stream_decode(t, ids, n, skip);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_tmpdir();
    fz_parts fp;
    fz_split(data, size, &fp);
    llmc_error err;
    llmc_tokenizer *t = NULL;
    const char *cfg = fp.count > 1 && fp.n[1] ? fp.p[1] : NULL;
    if (llmc_tokenizer_from_json(fp.p[0], fp.n[0], cfg, cfg ? fp.n[1] : 0, "fuzz tokenizer.json", &t, &err) != LLMC_OK)
        return 0;
    const char *text = fp.count > 2 ? fp.p[2] : "Hello world! 안녕하세요 <s> 123";
    size_t tlen = fp.count > 2 ? fp.n[2] : strlen(text);
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (llmc_tokenizer_encode(t, text, tlen, special, &ids, &n, &err) == LLMC_OK) {
            decode_both(t, ids, n);
            for (size_t i = 0; i < n && i < 64; i++) {
                llmc_tokenizer_id_to_token(t, ids[i]);
                llmc_tokenizer_is_special(t, ids[i]);
            }
        }
        free(ids);
    }
    /* raw ids from the text: 16-bit little-endian, signed, so -1 and past-the-vocabulary appear */
    size_t nraw = tlen / 2 > 256 ? 256 : tlen / 2;
    int32_t raw[256];
    for (size_t i = 0; i < nraw; i++) raw[i] = (int16_t)((uint8_t)text[2 * i] | (uint8_t)text[2 * i + 1] << 8);
    decode_both(t, raw, nraw);
    static const char *const which[] = { "bos_token", "eos_token", "unk_token", "pad_token" };
    for (int i = 0; i < 4; i++) {
        const char *s = llmc_tokenizer_special(t, which[i]);
        if (s) llmc_tokenizer_token_to_id(t, s);
    }
    llmc_tokenizer_vocab_size(t);
    llmc_tokenizer_free(t);
    return 0;
}
