/* File reading and mmap with errors that name the file. */
#include "base/file.h"
#include "base/error.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

llmc_status llmc_mmap_open(llmc_mmap *m, const char *path, llmc_error *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return llmc_err(err, errno == ENOENT ? LLMC_ERR_NOT_FOUND : LLMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return llmc_err(err, LLMC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return llmc_err(err, LLMC_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return llmc_err(err, LLMC_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    m->path = strdup(path);
    if (!m->path) {
        llmc_mmap_close(m);
        return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    }
    return LLMC_OK;
}

void llmc_mmap_close(llmc_mmap *m) {
    if (!m) return;
    if (m->data) munmap(m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

llmc_status llmc_read_file(const char *path, size_t max_size, char **out, size_t *out_len, llmc_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return llmc_err(err, errno == ENOENT ? LLMC_ERR_NOT_FOUND : LLMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return llmc_err(err, LLMC_ERR_IO, "%s: not a readable regular file", path);
    }
    if ((unsigned long long)st.st_size > max_size) {
        close(fd);
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: file is %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return llmc_err(err, LLMC_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *out = buf;
    if (out_len) *out_len = n;
    return LLMC_OK;
}

bool llmc_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool llmc_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *llmc_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

char *llmc_path_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

bool llmc_str_endswith(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---- reading a file into the page cache, with progress ---- */

/* Fraction (0..1) of the file's pages already in memory, from mincore on a throwaway mapping. */
static double resident_fraction(int fd, size_t size) {
    if (size == 0) return 1.0;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return 1.0;
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (size + (size_t)page - 1) / (size_t)page, in = 0;
    unsigned char *vec = malloc(pages);
    double f = 1.0;
    if (vec && mincore(map, size, vec) == 0) {
        for (size_t i = 0; i < pages; i++) in += vec[i] & 1;
        f = (double)in / (double)pages;
    }
    free(vec);
    munmap(map, size);
    return f;
}

llmc_status llmc_file_prefetch(const char *const *paths, int n, llmc_file_progress_fn progress, void *user, llmc_error *err) {
    uint64_t total = 0, done = 0;
    int *fds = calloc((size_t)n + 1, sizeof *fds);
    size_t *sizes = calloc((size_t)n + 1, sizeof *sizes);
    if (!fds || !sizes) { free(fds); free(sizes); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < n; i++) {
        fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fds[i] >= 0 && fstat(fds[i], &st) == 0 && S_ISREG(st.st_mode) &&
            resident_fraction(fds[i], (size_t)st.st_size) < 0.9) {
            sizes[i] = (size_t)st.st_size;
            total += sizes[i];
        }
    }
    enum { CHUNK = 8 << 20 };
    char *buf = total ? malloc(CHUNK) : NULL;
    llmc_status rc = LLMC_OK;
    if (total && !buf) rc = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && rc == LLMC_OK && buf; i++) {
        if (!sizes[i]) continue;
        posix_fadvise(fds[i], 0, 0, POSIX_FADV_SEQUENTIAL);
        for (size_t off = 0; off < sizes[i];) {
            ssize_t r = pread(fds[i], buf, CHUNK, (off_t)off);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break; /* a short file shows up as an error where it is parsed */
            off += (size_t)r;
            done += (uint64_t)r;
            if (progress) progress(user, paths[i], done, total, 0);
        }
    }
    if (total && progress) progress(user, n ? paths[n - 1] : "", done, total, 1);
    free(buf);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(fds);
    free(sizes);
    return rc;
}
