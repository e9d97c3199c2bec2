/* libFuzzer harness: what the Hub client reads from a server: the repository listing
 * (/api/models/R/revision/V?blobs=true JSON), response headers (curl's header callback), and
 * redirects (Location joined to the request URL, the origin check that decides whether the token
 * follows, etag normalisation, file-name safety, --include globs). Input parts (FZ_SEP):
 * listing JSON, header lines, Location, base URL, glob patterns (one a line).
 * The client's files are compiled into this harness to reach their internal parsers. */
#include "fuzz_common.h"
#include "hub/hub.c"
#include "hub/http.c"

static void fuzz_listing(const char *body, size_t len) {
    hub_job j;
    memset(&j, 0, sizeof j);
    j.repo_id = "org/model";
    llmc_error err;
    hub_parse_listing(&j, body, len, "fuzz listing", &err);
    free(j.commit);
    if (j.files)
        for (int i = 0; i < j.n_files; i++) { free(j.files[i].path); free(j.files[i].lfs_sha256); }
    free(j.files);
}

static void fuzz_headers(const char *text, size_t len) {
    hub_resp r;
    memset(&r, 0, sizeof r);
    hub_resp_clear(&r);
    xfer x;
    memset(&x, 0, sizeof x);
    x.r = &r;
    const char *p = text, *end = text + len;
    while (p < end) { /* curl hands the callback one header line at a time, CRLF included */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        char *line = fz_strdup(p, n); /* exact-length copy: ASan sees any over-read */
        on_header(line, 1, n, &x);
        free(line);
        p += n;
    }
    char *e = r.etag ? hub_normalize_etag(r.etag) : NULL;
    free(e);
    hub_resp_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_tmpdir();
    fz_parts fp;
    fz_split(data, size, &fp);
    fuzz_listing(fp.p[0], fp.n[0]);
    if (fp.count > 1) fuzz_headers(fp.p[1], fp.n[1]);
    if (fp.count > 2) {
        char *loc = fz_strdup(fp.p[2], fp.n[2]);
        char *base = fz_strdup(fp.count > 3 ? fp.p[3] : "https://huggingface.co/org/model/resolve/main/config.json",
                               fp.count > 3 ? fp.n[3] : strlen("https://huggingface.co/org/model/resolve/main/config.json"));
        char *joined = hub_url_join(base, loc);
        if (joined) {
            hub_same_origin(base, joined);
            hub_same_origin(joined, "https://huggingface.co");
            char *q = hub_url_quote(joined, true);
            free(q);
        }
        free(joined);
        hub_safe_relpath(loc);
        hub_is_commit_hash(loc);
        llmc_hub_is_repo_id(loc);
        char *e = hub_normalize_etag(loc);
        free(e);
        char *folder = hub_repo_folder(loc);
        free(folder);
        free(loc);
        free(base);
    }
    if (fp.count > 4) {
        enum { MAXP = 32 };
        const char *pats[MAXP];
        char *buf = fz_strdup(fp.p[4], fp.n[4]);
        int np = 0;
        for (char *s = buf, *nl; s && np < MAXP; s = nl ? nl + 1 : NULL) {
            nl = strchr(s, '\n');
            if (nl) *nl = 0;
            pats[np++] = s;
        }
        static const char *const paths[] = { "config.json", "model.safetensors", "sub/dir/model-00001-of-00002.safetensors",
                                             "tokenizer.json", ".gitattributes", "onnx/model.onnx" };
        unsigned char sel[6];
        for (int i = 0; i < np; i++)
            for (int k = 0; k < 6; k++) hub_glob_match(pats[i], paths[k]);
        hub_select_files(paths, 6, pats, np, sel);
        free(buf);
    }
    return 0;
}
