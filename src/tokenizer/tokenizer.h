/* Tokenizer: Hugging Face tokenizer.json (+ tokenizer_config.json) and llama.cpp GGUF
 * vocabularies, encoding text to ids and decoding ids to text exactly as the
 * `tokenizers` library does (normalizers, pre-tokenizers, BPE, post-processors,
 * added tokens, decoders), plus a streaming decoder for generation.
 *
 * Input text must be valid UTF-8: anything else is LLMC_ERR_INVALID_ARG whose
 * message names the byte offset of the first invalid sequence (no replacement).
 *
 * Semantics: llmc_tokenizer_from_json without a config = the `tokenizers` library's
 * Tokenizer.from_str (checked id for id against tokenizers 0.23 by tests/unit/test_tok_diff.c).
 * With tokenizer_config.json (llmc_tokenizer_load does this when the file is beside), what
 * transformers 5 changes on top is followed too: the post-processor is rebuilt from
 * add_bos_token/add_eos_token when the config sets either, and tokenizer_class
 * LlamaTokenizer(Fast) rebuilds a SentencePiece-style pipeline as transformers' LlamaTokenizer
 * does (Metaspace pre-tokenizer, no normalizer: so "  x" and the space after a special token
 * encode as transformers does, not as the file's Prepend normalizer would); a byte-level
 * tokenizer.json under that class (DeepSeek V3/R1) is kept as the file says, as
 * transformers 5.23 does.
 * Models: BPE, WordPiece, WordLevel, Unigram. Components: normalizers NFC/NFD/NFKC/NFKD,
 * Lowercase, Strip, StripAccents, Replace, Prepend, Append, ByteLevel, BertNormalizer,
 * Sequence; pre-tokenizers ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Punctuation,
 * Digits, Split (every behaviour, invert), UnicodeScripts, CharDelimiterSplit,
 * BertPreTokenizer, FixedLength, Sequence; post-processors TemplateProcessing, ByteLevel,
 * BertProcessing, RobertaProcessing, Sequence; decoders ByteLevel, Metaspace, WordPiece,
 * BPEDecoder, ByteFallback, Fuse, Strip, Replace, CTC, Sequence. Anything else (a non-empty
 * Precompiled charsmap, BPE dropout, ...) is LLMC_ERR_UNSUPPORTED naming it.
 * Input is never dropped: text the model cannot represent (no token, no byte fallback, no
 * unk) is LLMC_ERR_INVALID_ARG naming its byte position, where tokenizers would silently
 * skip it. Regex searches are bounded (see tok_internal.h: counted repetitions at load,
 * Oniguruma retry limits and a per-encode time budget); exceeding them is an error naming
 * the component and its pattern.
 * A loaded tokenizer is immutable: encode/decode may run concurrently from many threads
 * (each stream object belongs to one thread). */
#ifndef LLMC_TOKENIZER_H
#define LLMC_TOKENIZER_H
#include "llmc.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llmc_tokenizer llmc_tokenizer;

/* path: a model dir, a tokenizer.json, or a tokenizer_config.json (its sibling tokenizer.json is used);
   a path ending in .gguf is read with llmc_tokenizer_load_gguf.
   tokenizer_config.json (when present beside) supplies special tokens / add_bos_token / add_eos_token etc. */
llmc_status llmc_tokenizer_load(const char *path, llmc_tokenizer **out, llmc_error *err);
llmc_status llmc_tokenizer_from_json(const char *tok_json, size_t len, const char *cfg_json /*NULL ok*/, size_t cfg_len,
                                     const char *what, llmc_tokenizer **out, llmc_error *err);

/* GGUF vocabularies (llama.cpp's tokenizer.ggml.*): model "gpt2" (byte-level BPE with merges) or
   "llama" (SentencePiece BPE by scores, byte fallback <0xXX>). pre: tokenizer.ggml.pre mapped to the
   pre-tokenizer regexes as llama.cpp's llama-vocab.cpp does; unknown → LLMC_ERR_UNSUPPORTED naming it. */
typedef struct {
    const char *model; const char *pre;
    const char *const *tokens; size_t n_tokens;
    const float *scores;        /* NULL ok */
    const int32_t *token_types; /* NULL ok; 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
    const char *const *merges; size_t n_merges;   /* "a b" strings */
    int32_t bos_id, eos_id, unk_id, pad_id;       /* -1 = none */
    int add_bos, add_eos;                         /* -1 = unspecified (use the model's default) */
} llmc_tokenizer_gguf_parts;
llmc_status llmc_tokenizer_from_gguf(const llmc_tokenizer_gguf_parts *p, llmc_tokenizer **out, llmc_error *err);
/* Reads tokenizer.ggml.* from a .gguf file (llmc_tokenizer_load also accepts a .gguf path). */
llmc_status llmc_tokenizer_load_gguf(const char *path, llmc_tokenizer **out, llmc_error *err);
void llmc_tokenizer_free(llmc_tokenizer *t);

/* ids: malloc'd (free() it); NULL with *n_ids == 0 is possible for empty output. */
llmc_status llmc_tokenizer_encode(const llmc_tokenizer *t, const char *text, size_t len, bool add_special_tokens,
                                  int32_t **ids, size_t *n_ids, llmc_error *err);
/* text: malloc'd, NUL-terminated. Ids outside the vocabulary are skipped, as `tokenizers` does. */
llmc_status llmc_tokenizer_decode(const llmc_tokenizer *t, const int32_t *ids, size_t n, bool skip_special_tokens,
                                  char **text, size_t *len, llmc_error *err);
/* Size of the id space: highest model or added-token id + 1. */
size_t llmc_tokenizer_vocab_size(const llmc_tokenizer *t);
int32_t llmc_tokenizer_token_to_id(const llmc_tokenizer *t, const char *token);  /* -1 if absent */
const char *llmc_tokenizer_id_to_token(const llmc_tokenizer *t, int32_t id);     /* NULL if out of range */
bool llmc_tokenizer_is_special(const llmc_tokenizer *t, int32_t id);
/* Special tokens as strings (from tokenizer_config.json / added tokens / GGUF ids):
   "bos_token", "eos_token", "unk_token", "pad_token"; NULL if none. */
const char *llmc_tokenizer_special(const llmc_tokenizer *t, const char *which);

/* Streaming decode: push ids one at a time; each push returns (malloc'd) the newly completed text, "" if none yet.
   The concatenation of all pieces + flush equals llmc_tokenizer_decode of all ids (never split a UTF-8 char),
   except after a run of 16+ ids that never completes a character (invalid bytes) or that a decoder rewrites
   (cleanup): then the stream emits it as it decodes so far, and where that later changes it resyncs on the
   full decode, repeating the changed part rather than losing text. A push decodes at most ~16 ids, plus
   the whole sequence at most once per 16 pushes. */
typedef struct llmc_detok_stream llmc_detok_stream;
llmc_detok_stream *llmc_detok_stream_new(const llmc_tokenizer *t, bool skip_special_tokens);
llmc_status llmc_detok_stream_push(llmc_detok_stream *s, int32_t id, char **piece, llmc_error *err);
char *llmc_detok_stream_flush(llmc_detok_stream *s);
void llmc_detok_stream_free(llmc_detok_stream *s);

#endif
