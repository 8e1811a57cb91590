/* SPDX-License-Identifier: Apache-2.0 */
/* Corpus replay for a fuzz target: fuzz_<x> [--mutations N] FILE|DIR...
 * Runs the target on every file, then on N deterministic mutants of each (bit flips, byte
 * changes, truncation, duplication of a slice), so sanitizer builds catch crashes near the seeds
 * without a fuzzing engine. Folders are walked recursively. Exit 0 when every input returned;
 * a crash is the failure, and so is a missing or unreadable input. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "tests/fuzz/fuzz.h"

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long long rng(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static size_t n_inputs;

static void run(const uint8_t *data, size_t len)
{
        /* Give the target a buffer of exactly LEN bytes so ASan sees overreads. */
        uint8_t *copy = hd_malloc0(len ? len : 1);
        memcpy(copy, data, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
        n_inputs++;
}

static void mutate_and_run(const uint8_t *seed, size_t len, unsigned rounds)
{
        for (unsigned r = 0; r < rounds; r++) {
                size_t cap = len * 2 + 16;
                uint8_t *m = hd_malloc0(cap);
                memcpy(m, seed, len);
                size_t mlen = len;
                unsigned edits = 1 + (unsigned)(rng() % 4);
                for (unsigned e = 0; e < edits; e++) {
                        size_t pos = mlen ? (size_t)(rng() % mlen) : 0;
                        switch (rng() % 5) {
                        case 0: /* flip a bit */
                                if (mlen)
                                        m[pos] ^= (uint8_t)(1u << (rng() % 8));
                                break;
                        case 1: /* interesting byte */
                                if (mlen) {
                                        static const uint8_t b[] = {0,   0xff, '"', '{', '[',
                                                                    ':', '\n', '-', '*', '\\'};
                                        m[pos] = b[rng() % sizeof(b)];
                                }
                                break;
                        case 2: /* truncate */
                                mlen = pos;
                                break;
                        case 3: { /* duplicate a slice */
                                size_t n = (size_t)(rng() % 16);
                                if (pos + n <= mlen && mlen + n <= cap) {
                                        memmove(m + pos + n, m + pos, mlen - pos);
                                        mlen += n;
                                }
                                break;
                        }
                        default: /* delete a slice */
                                if (mlen) {
                                        size_t n = (size_t)(rng() % 8);
                                        if (pos + n > mlen)
                                                n = mlen - pos;
                                        memmove(m + pos, m + pos + n, mlen - pos - n);
                                        mlen -= n;
                                }
                        }
                }
                run(m, mlen);
                free(m);
        }
}

static size_t n_failed;

static void one_file(const char *path, unsigned rounds)
{
        char *data = NULL;
        size_t len = 0;
        if (hd_read_file(path, 4 << 20, false, &data, &len, NULL) < 0) {
                fprintf(stderr, "unreadable corpus file %s\n", path);
                n_failed++;
                return;
        }
        run((const uint8_t *)data, len);
        mutate_and_run((const uint8_t *)data, len, rounds);
        free(data);
}

/* Replay PATH: a file, or every file under a folder (recursively, in name order). */
static int walk(const char *path, unsigned rounds)
{
        struct stat st;
        if (stat(path, &st) < 0) {
                fprintf(stderr, "missing corpus %s\n", path);
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                one_file(path, rounds);
                return 0;
        }
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "cannot list corpus %s\n", path);
                return -1;
        }
        int r = 0;
        for (int k = 0; k < n; k++) {
                if (names[k]->d_name[0] != '.' && r == 0) {
                        _cleanup_free_ char *p = hd_asprintf("%s/%s", path, names[k]->d_name);
                        r = walk(p, rounds);
                }
                free(names[k]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv)
{
        unsigned rounds = 200;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--mutations") == 0 && i + 1 < argc) {
                        rounds = (unsigned)strtoul(argv[++i], NULL, 10);
                        continue;
                }
                if (walk(argv[i], rounds) < 0)
                        return 2;
        }
        printf("%zu inputs run\n", n_inputs);
        if (n_failed) {
                fprintf(stderr, "%zu corpus files could not be read\n", n_failed);
                return 2;
        }
        return n_inputs ? 0 : 2;
}
