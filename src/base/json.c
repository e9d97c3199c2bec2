/* cJSON wrapper: bounded parsing with positioned error messages. */
#include "base/json.h"
#include "base/error.h"
#include "base/file.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

cJSON *llmc_json_parse(const char *text, size_t len, const char *what, llmc_error *err) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        if (!at || at < text || at > text + len) at = text + len;
        size_t line = 1, col = 1;
        for (const char *p = text; p < at; p++) {
            if (*p == '\n') { line++; col = 1; } else col++;
        }
        llmc_err(err, LLMC_ERR_FORMAT, "%s: malformed JSON at line %zu, column %zu (byte %zu)", what, line, col, (size_t)(at - text));
        return NULL;
    }
    /* Anything but whitespace after the value is an error, as in Python's json. */
    if (end) {
        const char *p = end;
        while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == 0)) p++;
        if (p < text + len) {
            cJSON_Delete(j);
            llmc_err(err, LLMC_ERR_FORMAT, "%s: extra data after JSON value at byte %zu", what, (size_t)(p - text));
            return NULL;
        }
    }
    return j;
}

cJSON *llmc_json_parse_file(const char *path, size_t max_size, llmc_error *err) {
    char *buf;
    size_t n;
    if (llmc_read_file(path, max_size, &buf, &n, err) != LLMC_OK) return NULL;
    cJSON *j = llmc_json_parse(buf, n, path, err);
    free(buf);
    return j;
}

bool llmc_json_is_int(const cJSON *item, long long lo, long long hi) {
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    if (!isfinite(d) || d != floor(d)) return false;
    return d >= (double)lo && d <= (double)hi;
}

bool llmc_json_get_int(const cJSON *obj, const char *key, long long *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!llmc_json_is_int(it, -(1LL << 53), 1LL << 53)) return false;
    *out = (long long)it->valuedouble;
    return true;
}

bool llmc_json_get_double(const cJSON *obj, const char *key, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it)) return false;
    *out = it->valuedouble;
    return true;
}

bool llmc_json_get_bool(const cJSON *obj, const char *key, bool *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsBool(it)) return false;
    *out = cJSON_IsTrue(it);
    return true;
}

const char *llmc_json_get_string(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}
