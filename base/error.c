/* SPDX-License-Identifier: Apache-2.0 */
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strutil.h"

void hd_error_done(struct hd_error *e)
{
        if (!e)
                return;
        free(e->message);
        *e = (struct hd_error)HD_ERROR_INIT;
}

int hd_error_vsetf(struct hd_error *e, int code, const char *fmt, va_list ap)
{
        if (code < 0)
                code = -code;
        if (code == 0)
                code = EIO;
        if (!e)
                return -code;
        char *msg = hd_vasprintf(fmt, ap);
        free(e->message);
        e->message = msg;
        e->code = code;
        e->http_status = 0;
        return -code;
}

int hd_error_setf(struct hd_error *e, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = hd_error_vsetf(e, code, fmt, ap);
        va_end(ap);
        return r;
}

int hd_error_set(struct hd_error *e, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = hd_error_vsetf(e, code, fmt, ap);
        va_end(ap);
        if (e) {
                char *full = hd_asprintf("%s: %s", e->message, strerror(-r));
                free(e->message);
                e->message = full;
        }
        return r;
}

int hd_error_vsetf_at(struct hd_error *e, int code, const char *file, unsigned line,
                      unsigned column, const char *fmt, va_list ap)
{
        if (!e)
                return hd_error_vsetf(NULL, code, fmt, ap);
        _cleanup_free_ char *msg = hd_vasprintf(fmt, ap);
        return hd_error_setf(e, code, "%s:%u:%u: %s", file, line, column, msg);
}

int hd_error_setf_at(struct hd_error *e, int code, const char *file, unsigned line, unsigned column,
                     const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = hd_error_vsetf_at(e, code, file, line, column, fmt, ap);
        va_end(ap);
        return r;
}

/* Prepend "<fmt>: " to E's message (E non-NULL, its code already set). Returns -code. */
static int wrap_v(struct hd_error *e, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static int wrap_v(struct hd_error *e, const char *fmt, va_list ap)
{
        char *ctx = hd_vasprintf(fmt, ap);
        char *full = e->message ? hd_asprintf("%s: %s", ctx, e->message) : ctx;
        if (full != ctx)
                free(ctx);
        free(e->message);
        e->message = full;
        return -e->code;
}

int hd_error_wrap(struct hd_error *e, const char *fmt, ...)
{
        if (!e)
                return -EIO;
        if (e->code == 0)
                e->code = EIO;
        va_list ap;
        va_start(ap, fmt);
        int r = wrap_v(e, fmt, ap);
        va_end(ap);
        return r;
}

int hd_error_wrap_r(struct hd_error *e, int r, const char *fmt, ...)
{
        if (r >= 0)
                r = -EIO;
        if (!e)
                return r;
        if (e->code == 0)
                e->code = -r;
        va_list ap;
        va_start(ap, fmt);
        r = wrap_v(e, fmt, ap);
        va_end(ap);
        return r;
}

int hd_error_move(struct hd_error *dst, struct hd_error *src)
{
        int code = src->code ? src->code : EIO;
        if (dst) {
                free(dst->message);
                *dst = *src;
                dst->code = code;
        } else {
                free(src->message);
        }
        *src = (struct hd_error)HD_ERROR_INIT;
        return -code;
}

const char *hd_error_message(const struct hd_error *e)
{
        return e && e->message ? e->message : "";
}
