/* Files: whole-file reads with a size bound, read-only mmap, path helpers. */
#ifndef LLMC_BASE_FILE_H
#define LLMC_BASE_FILE_H
#include "llmc.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *data;     /* NULL for an empty file */
    size_t size;
    char *path;     /* owned copy, for error messages */
} llmc_mmap;

/* Maps path read-only. An empty file maps to data == NULL, size 0. */
llmc_status llmc_mmap_open(llmc_mmap *m, const char *path, llmc_error *err);
void llmc_mmap_close(llmc_mmap *m);

/* Reads a whole file into a NUL-terminated malloc'd buffer; refuses files larger
 * than max_size (error names the file and both sizes). */
llmc_status llmc_read_file(const char *path, size_t max_size, char **out, size_t *out_len, llmc_error *err);

bool llmc_file_exists(const char *path);
bool llmc_dir_exists(const char *path);
/* Joins dir and name with one '/' into a malloc'd string. */
char *llmc_path_join(const char *dir, const char *name);
/* Directory part of path (malloc'd; "." when there is none). */
char *llmc_path_dirname(const char *path);
bool llmc_str_endswith(const char *s, const char *suffix);

/* Reads files into the page cache ahead of use, for a model whose weights are mmap'd: a cold
 * cache then fills at disk speed with progress instead of page by page during the first forward.
 * Files already >= 90% in memory are skipped (mincore). progress gets the bytes read so far of all
 * the files' total, and finished=1 once at the end (never called when nothing needs reading).
 * Unreadable files are skipped: their loader reports them. */
typedef void (*llmc_file_progress_fn)(void *user, const char *path, uint64_t done, uint64_t total, int finished);
llmc_status llmc_file_prefetch(const char *const *paths, int n, llmc_file_progress_fn progress, void *user, llmc_error *err);

#endif
