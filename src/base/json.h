/* JSON through cJSON, with errors that name the file and line:column.
 * Object member order is kept (cJSON keeps insertion order and duplicates). */
#ifndef LLMC_BASE_JSON_H
#define LLMC_BASE_JSON_H
#include "llmc.h"
#include <cjson/cJSON.h>

/* Parses text (len bytes, need not be NUL-terminated); `what` names the source in
 * errors ("config.json"). Returns NULL and fills err on failure. */
cJSON *llmc_json_parse(const char *text, size_t len, const char *what, llmc_error *err);
/* Reads and parses a file, refusing files over max_size bytes. */
cJSON *llmc_json_parse_file(const char *path, size_t max_size, llmc_error *err);

/* Typed getters: each returns true when the key exists with the right type. */
bool llmc_json_get_int(const cJSON *obj, const char *key, long long *out);
bool llmc_json_get_double(const cJSON *obj, const char *key, double *out);
bool llmc_json_get_bool(const cJSON *obj, const char *key, bool *out);
const char *llmc_json_get_string(const cJSON *obj, const char *key); /* NULL if absent/not a string */
/* True when a JSON number holds an exact integer in [lo, hi]. */
bool llmc_json_is_int(const cJSON *item, long long lo, long long hi);

#endif
