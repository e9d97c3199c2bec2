/* safetensors reader (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length, JSON header {name: {dtype, shape,
 * data_offsets}}, then the data block. Headers are hostile input: every size is
 * bounded and every tensor checked before a view into the mmap is handed out. */
#include "formats/safetensors.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_INDEX (64u * 1024u * 1024u)
#define ST_MAX_SHARDS 100000

typedef struct {
    const char *name;
    uint64_t begin, end;
} st_span;

static int st_span_cmp(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static void st_mmap_free(void *p) {
    llmc_mmap_close(p);
    free(p);
}

/* Maps a safetensors dtype string; false for anything llmc does not compute with. */
static bool st_dtype(const char *s, llmc_dtype *dt) {
    if (strcmp(s, "F32") == 0) *dt = LLMC_DT_F32;
    else if (strcmp(s, "F16") == 0) *dt = LLMC_DT_F16;
    else if (strcmp(s, "BF16") == 0) *dt = LLMC_DT_BF16;
    else return false;
    return true;
}

/* Optional filter used for shards: the index decides which shard owns a name. */
typedef struct {
    const cJSON *weight_map; /* NULL: accept every tensor */
    const char *shard_name;  /* the name the index uses for this shard */
} st_filter;

/* Loads one file into set. */
static llmc_status st_load_file(const char *path, llmc_tensor_set *set, const st_filter *flt, llmc_error *err) {
    llmc_mmap *mm = calloc(1, sizeof *mm);
    if (!mm) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    llmc_status st = llmc_mmap_open(mm, path, err);
    if (st != LLMC_OK) { free(mm); return st; }
    /* Attach first so the mapping lives (and is freed) with the set whatever happens next. */
    if ((st = llmc_tensor_set_attach(set, mm, st_mmap_free, err)) != LLMC_OK) return st;

    const unsigned char *base = mm->data;
    size_t fsize = mm->size;
    if (fsize < 8)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes, no header length)", path, fsize);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > LLMC_ST_MAX_HEADER)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", path,
                        (unsigned long long)hlen, LLMC_ST_MAX_HEADER);
    if (hlen < 2 || hlen > fsize - 8)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: header length %llu does not fit in the %zu-byte file (truncated?)",
                        path, (unsigned long long)hlen, fsize);
    const char *hdr = (const char *)base + 8;
    const unsigned char *data = base + 8 + hlen;
    uint64_t dsize = fsize - 8 - hlen;

    char what[1100];
    snprintf(what, sizeof what, "%s: header", path);
    cJSON *j = llmc_json_parse(hdr, (size_t)hlen, what, err);
    if (!j) return err ? err->code : LLMC_ERR_FORMAT;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    size_t n = 0;
    for (cJSON *it = j->child; it; it = it->next) n++;
    st_span *spans = calloc(n ? n : 1, sizeof *spans);
    if (!spans) {
        cJSON_Delete(j);
        return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t ns = 0;
    st = LLMC_OK;
    for (cJSON *it = j->child; it && st == LLMC_OK; it = it->next) {
        const char *name = it->string ? it->string : "";
        if (strcmp(name, "__metadata__") == 0) continue;
        if (!cJSON_IsObject(it)) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': entry is not an object", path, name);
            break;
        }
        const char *dts = llmc_json_get_string(it, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!dts) { st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': missing string 'dtype'", path, name); break; }
        if (!cJSON_IsArray(shape)) { st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': missing array 'shape'", path, name); break; }
        if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end]", path, name);
            break;
        }
        llmc_tensor t;
        memset(&t, 0, sizeof t);
        if (!st_dtype(dts, &t.dtype)) {
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: tensor '%s': dtype '%.32s' is not supported (F32, F16, BF16 are)", path, name, dts);
            break;
        }
        int nd = cJSON_GetArraySize(shape);
        if (nd > LLMC_MAX_DIMS) {
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d supported)", path, name, nd, LLMC_MAX_DIMS);
            break;
        }
        t.ndim = nd;
        /* numel with overflow check: every dim is bounded so the product can be checked exactly. */
        unsigned long long numel = 1;
        bool bad = false;
        int d = 0;
        for (const cJSON *e = shape->child; e; e = e->next, d++) {
            if (!llmc_json_is_int(e, 0, 1LL << 40)) { bad = true; break; }
            t.shape[d] = (int64_t)e->valuedouble;
            if (t.shape[d] && numel > (1ULL << 50) / (unsigned long long)t.shape[d]) { bad = true; break; }
            numel *= (unsigned long long)t.shape[d];
        }
        if (bad) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': invalid or absurd shape", path, name);
            break;
        }
        const cJSON *b = cJSON_GetArrayItem(offs, 0), *e = cJSON_GetArrayItem(offs, 1);
        if (!llmc_json_is_int(b, 0, 1LL << 53) || !llmc_json_is_int(e, 0, 1LL << 53)) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': data_offsets are not non-negative integers", path, name);
            break;
        }
        uint64_t ob = (uint64_t)b->valuedouble, oe = (uint64_t)e->valuedouble;
        if (ob > oe) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] are reversed", path, name,
                          (unsigned long long)ob, (unsigned long long)oe);
            break;
        }
        if (oe > dsize) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes; file truncated?)",
                          path, name, (unsigned long long)ob, (unsigned long long)oe, (unsigned long long)dsize);
            break;
        }
        uint64_t want = numel * llmc_dtype_block_bytes(t.dtype);
        if (oe - ob != want) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': %llu bytes in the file, but %s x %llu elements needs %llu",
                          path, name, (unsigned long long)(oe - ob), dts, numel, (unsigned long long)want);
            break;
        }
        spans[ns].name = name;
        spans[ns].begin = ob;
        spans[ns].end = oe;
        ns++;
        if (flt && flt->weight_map) {
            const char *owner = llmc_json_get_string(flt->weight_map, name);
            if (!owner || strcmp(owner, flt->shard_name) != 0) {
                if (owner) {
                    st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s' is also in this shard, but the index puts it in '%s'", path, name, owner);
                    break;
                }
                LLMC_DEBUG("%s: tensor '%s' is not listed in the index; ignored", path, name);
                continue;
            }
        }
        t.name = strdup(name);
        if (!t.name) { st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path); break; }
        t.nbytes = (size_t)want;
        const unsigned char *p = data + ob;
        size_t align = llmc_dtype_block_bytes(t.dtype);
        if (want && ((uintptr_t)p % align) != 0) {
            /* The format does not promise alignment; kernels read typed elements, so copy. */
            t.owned = malloc((size_t)want);
            if (!t.owned) { free(t.name); st = llmc_err(err, LLMC_ERR_NOMEM, "%s: tensor '%s': out of memory", path, name); break; }
            memcpy(t.owned, p, (size_t)want);
            t.data = t.owned;
            LLMC_DEBUG("%s: tensor '%s' is misaligned in the file; using an aligned copy", path, name);
        } else {
            t.data = p;
            t.mapped = true;
        }
        if (llmc_tensor_set_add(set, &t, err) != LLMC_OK) {
            llmc_err_prefix(err, "%s: ", path);
            st = err ? err->code : LLMC_ERR_FORMAT;
            free(t.name);
            free(t.owned);
            break;
        }
    }
    if (st == LLMC_OK && ns > 1) {
        qsort(spans, ns, sizeof *spans, st_span_cmp);
        for (size_t i = 1; i < ns; i++) {
            if (spans[i].begin < spans[i - 1].end) {
                st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", path,
                              spans[i - 1].name, (unsigned long long)spans[i - 1].begin, (unsigned long long)spans[i - 1].end,
                              spans[i].name, (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end);
                break;
            }
        }
    }
    free(spans);
    cJSON_Delete(j);
    return st;
}

/* Shard names come from untrusted JSON: keep them inside the model directory. */
static bool st_safe_shard_name(const char *s) {
    if (!*s || s[0] == '/' || strlen(s) > 4096) return false;
    if (strstr(s, "..")) return false;
    return true;
}

static llmc_status st_load_index(const char *index_path, llmc_tensor_set *set, llmc_error *err) {
    cJSON *j = llmc_json_parse_file(index_path, ST_MAX_INDEX, err);
    if (!j) return err ? err->code : LLMC_ERR_FORMAT;
    llmc_status st = LLMC_OK;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    char *dir = NULL;
    const char **shards = NULL;
    size_t nshards = 0;
    if (!cJSON_IsObject(wm)) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "%s: missing object 'weight_map'", index_path);
        goto done;
    }
    size_t nw = 0;
    for (const cJSON *it = wm->child; it; it = it->next) {
        nw++;
        if (!cJSON_IsString(it) || !st_safe_shard_name(it->valuestring)) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: weight_map['%s'] is not a plain shard file name", index_path, it->string ? it->string : "");
            goto done;
        }
        /* cJSON keeps duplicate keys; a name mapped twice is ambiguous. */
        if (cJSON_GetObjectItemCaseSensitive(wm, it->string) != it) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: weight_map lists tensor '%s' twice", index_path, it->string);
            goto done;
        }
    }
    if (nw == 0) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "%s: 'weight_map' is empty", index_path);
        goto done;
    }
    shards = calloc(nw, sizeof *shards);
    dir = llmc_path_dirname(index_path);
    if (!shards || !dir) { st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", index_path); goto done; }
    for (const cJSON *it = wm->child; it; it = it->next) {
        bool seen = false;
        for (size_t i = 0; i < nshards && !seen; i++) seen = strcmp(shards[i], it->valuestring) == 0;
        if (!seen) {
            if (nshards >= ST_MAX_SHARDS) { st = llmc_err(err, LLMC_ERR_FORMAT, "%s: too many shards", index_path); goto done; }
            shards[nshards++] = it->valuestring;
        }
    }
    for (size_t i = 0; i < nshards; i++) {
        char *p = llmc_path_join(dir, shards[i]);
        if (!p) { st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", index_path); goto done; }
        st_filter f = {wm, shards[i]};
        st = st_load_file(p, set, &f, err);
        if (st != LLMC_OK && err && err->code == LLMC_ERR_NOT_FOUND)
            llmc_err_prefix(err, "%s names shard '%s', which is missing: ", index_path, shards[i]);
        free(p);
        if (st != LLMC_OK) goto done;
    }
    for (const cJSON *it = wm->child; it; it = it->next) {
        if (!llmc_tensor_set_find(set, it->string)) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s' is mapped to shard '%s', which does not contain it",
                          index_path, it->string, it->valuestring);
            goto done;
        }
    }
done:
    free(shards);
    free(dir);
    cJSON_Delete(j);
    return st;
}

llmc_status llmc_safetensors_load(const char *path_or_dir, llmc_tensor_set **out, llmc_error *err) {
    *out = NULL;
    if (!path_or_dir) return llmc_err(err, LLMC_ERR_INVALID_ARG, "safetensors: no path given");
    llmc_tensor_set *set = llmc_tensor_set_new();
    if (!set) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_status st;
    if (llmc_dir_exists(path_or_dir)) {
        char *idx = llmc_path_join(path_or_dir, "model.safetensors.index.json");
        char *one = llmc_path_join(path_or_dir, "model.safetensors");
        if (!idx || !one) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        /* transformers looks for the single file first, then the index. */
        else if (llmc_file_exists(one)) st = st_load_file(one, set, NULL, err);
        else if (llmc_file_exists(idx)) st = st_load_index(idx, set, err);
        else st = llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json in this directory", path_or_dir);
        free(idx);
        free(one);
    } else if (llmc_str_endswith(path_or_dir, ".json")) {
        st = st_load_index(path_or_dir, set, err);
    } else {
        st = st_load_file(path_or_dir, set, NULL, err);
    }
    if (st != LLMC_OK) {
        llmc_tensor_set_free(set);
        return st;
    }
    *out = set;
    return LLMC_OK;
}
