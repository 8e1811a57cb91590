/* SPDX-License-Identifier: Apache-2.0 */
#include "base/strutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *oom(void)
{
        static const char msg[] = "fatal: out of memory\n";
        ssize_t r = write(2, msg, sizeof(msg) - 1);
        (void)r;
        abort();
}

void *hd_malloc0(size_t size)
{
        void *p = calloc(1, size ? size : 1);
        return p ? p : oom();
}

void *hd_calloc_(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        return p ? p : oom();
}

void *hd_realloc_array(void *p, size_t n, size_t size)
{
        if (size && n > SIZE_MAX / size)
                return oom();
        size_t bytes = n * size;
        void *q = realloc(p, bytes ? bytes : 1);
        return q ? q : oom();
}

char *hd_strdup(const char *s)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        return d ? d : oom();
}

char *hd_strndup(const char *s, size_t n)
{
        if (!s)
                return NULL;
        char *d = strndup(s, n);
        return d ? d : oom();
}

char *hd_vasprintf(const char *fmt, va_list ap)
{
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                return oom();
        return s;
}

char *hd_asprintf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = hd_vasprintf(fmt, ap);
        va_end(ap);
        return s;
}

bool hd_endswith(const char *s, const char *suffix)
{
        if (!s || !suffix)
                return false;
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

size_t hd_strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void hd_strv_consume(char ***v, char *s)
{
        size_t n = hd_strv_len(*v);
        *v = hd_realloc_array(*v, n + 2, sizeof(char *));
        (*v)[n] = s;
        (*v)[n + 1] = NULL;
}

void hd_strv_push(char ***v, const char *s)
{
        hd_strv_consume(v, hd_strdup(s));
}

bool hd_strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

bool hd_strv_equal(char *const *a, char *const *b)
{
        size_t n = hd_strv_len(a);
        if (n != hd_strv_len(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return true;
}

char **hd_strv_copy(char *const *v)
{
        char **out = NULL;
        for (size_t i = 0; v && v[i]; i++)
                hd_strv_push(&out, v[i]);
        return out;
}

char **hd_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
        return NULL;
}

static void strbuf_reserve(struct hd_strbuf *b, size_t extra)
{
        if (b->len + extra + 1 <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + extra + 1) {
                if (cap > SIZE_MAX / 2)
                        oom();
                cap *= 2;
        }
        b->buf = hd_realloc_array(b->buf, cap, 1);
        b->cap = cap;
}

void hd_strbuf_append(struct hd_strbuf *b, const char *s, size_t n)
{
        strbuf_reserve(b, n);
        memcpy(b->buf + b->len, s, n);
        b->len += n;
        b->buf[b->len] = '\0';
}

void hd_strbuf_puts(struct hd_strbuf *b, const char *s)
{
        hd_strbuf_append(b, s, strlen(s));
}

void hd_strbuf_printf(struct hd_strbuf *b, const char *fmt, ...)
{
        va_list ap, ap2;
        va_start(ap, fmt);
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                va_end(ap2);
                return;
        }
        strbuf_reserve(b, (size_t)n);
        vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        b->len += (size_t)n;
}

void hd_strbuf_escape(struct hd_strbuf *b, const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                switch (*p) {
                case '"':
                        hd_strbuf_puts(b, "\\\"");
                        break;
                case '\\':
                        hd_strbuf_puts(b, "\\\\");
                        break;
                case '\n':
                        hd_strbuf_puts(b, "\\n");
                        break;
                case '\r':
                        hd_strbuf_puts(b, "\\r");
                        break;
                case '\t':
                        hd_strbuf_puts(b, "\\t");
                        break;
                default:
                        if (*p < 0x20)
                                hd_strbuf_printf(b, "\\u%04x", *p);
                        else
                                hd_strbuf_append(b, (const char *)p, 1);
                }
        }
}

void hd_strbuf_truncate(struct hd_strbuf *b, size_t len)
{
        if (len < b->len) {
                b->len = len;
                b->buf[len] = '\0';
        }
}

char *hd_strbuf_take(struct hd_strbuf *b)
{
        char *s = b->buf ? b->buf : hd_strdup("");
        b->buf = NULL;
        b->len = b->cap = 0;
        return s;
}

void hd_strbuf_done(struct hd_strbuf *b)
{
        free(b->buf);
        b->buf = NULL;
        b->len = b->cap = 0;
}
