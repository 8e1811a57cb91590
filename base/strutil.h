/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation helpers (abort on out-of-memory) and small string tools. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

void *hd_malloc0(size_t size);
void *hd_realloc_array(void *p, size_t n, size_t size);
char *hd_strdup(const char *s); /* NULL in, NULL out */
char *hd_strndup(const char *s, size_t n);
char *hd_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *hd_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Zeroed array of N TYPEs; aborts on overflow or out-of-memory. */
void *hd_calloc_(size_t n, size_t size);
#define hd_new0(type, n) ((type *)hd_calloc_((n), sizeof(type)))

static inline bool hd_streq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}
static inline bool hd_startswith(const char *s, const char *prefix)
{
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}
bool hd_endswith(const char *s, const char *suffix);

/* NULL-terminated string vectors. */
size_t hd_strv_len(char *const *v);
/* Append a copy of S; *V may be NULL. */
void hd_strv_push(char ***v, const char *s);
/* Append S itself (ownership taken). */
void hd_strv_consume(char ***v, char *s);
bool hd_strv_contains(char *const *v, const char *s);
/* Same strings in the same order (NULL equals an empty vector). */
bool hd_strv_equal(char *const *a, char *const *b);
/* Deep copy; NULL in, NULL out. */
char **hd_strv_copy(char *const *v);
char **hd_strv_free(char **v); /* returns NULL */

/* Growable string buffer. Embedded: struct hd_strbuf b = HD_STRBUF_INIT; ... hd_strbuf_done(&b) */
struct hd_strbuf {
        char *buf; /* always NUL-terminated once anything is appended */
        size_t len;
        size_t cap;
};
#define HD_STRBUF_INIT     \
        {                  \
                NULL, 0, 0 \
        }
void hd_strbuf_append(struct hd_strbuf *b, const char *s, size_t n);
void hd_strbuf_puts(struct hd_strbuf *b, const char *s);
void hd_strbuf_printf(struct hd_strbuf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Append S as a JSON string literal body (escaped, no quotes). */
void hd_strbuf_escape(struct hd_strbuf *b, const char *s);
/* Cut B back to LEN bytes (no-op when already shorter). */
void hd_strbuf_truncate(struct hd_strbuf *b, size_t len);
/* Hand the buffer to the caller ("" if empty) and reset B. */
char *hd_strbuf_take(struct hd_strbuf *b);
void hd_strbuf_done(struct hd_strbuf *b);
