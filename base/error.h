/* SPDX-License-Identifier: Apache-2.0 */
/* One error type for failures a person must read: an errno-style code, an optional HTTP status
 * and a message that reads as a chain of context ("prepare claim 6f..: open '/dev/x': No such
 * file or directory"). The caller owns the struct; functions that fail fill it. */
#pragma once

#include <stdarg.h>

struct hd_error {
        int code;        /* positive errno value; 0 = no error */
        int http_status; /* HTTP status when the failure came from an API server, else 0 */
        char *message;   /* owned; NULL until set */
};

#define HD_ERROR_INIT      \
        {                  \
                0, 0, NULL \
        }

/* Release the message and reset to "no error". Takes NULL. */
void hd_error_done(struct hd_error *e);

/* Record a failure of errno-style CODE (positive); ": strerror(CODE)" is appended to the
 * formatted text. Replaces any previous error. E may be NULL. Returns -CODE. */
int hd_error_set(struct hd_error *e, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Same as hd_error_set() without the strerror() suffix: for failures whose text already says
 * everything (config errors, validation). Returns -CODE. */
int hd_error_setf(struct hd_error *e, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int hd_error_vsetf(struct hd_error *e, int code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* A failure at a place in a file a person edits: "FILE:LINE:COLUMN: <formatted>" with CODE and
 * no strerror() suffix (config and document errors). Returns -CODE. */
int hd_error_setf_at(struct hd_error *e, int code, const char *file, unsigned line, unsigned column,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int hd_error_vsetf_at(struct hd_error *e, int code, const char *file, unsigned line,
                      unsigned column, const char *fmt, va_list ap)
        __attribute__((format(printf, 6, 0)));

/* Prepend context: "<formatted>: <old message>". If E holds no error yet the code becomes EIO.
 * Returns -code. */
int hd_error_wrap(struct hd_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like hd_error_wrap() for a failure R (negative errno) that a callee already returned: with
 * E == NULL it still returns R (hd_error_wrap(NULL, ...) cannot know the code and says -EIO).
 * Use as "return hd_error_wrap_r(reterr, r, "ctx %s", x);". */
int hd_error_wrap_r(struct hd_error *e, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Move SRC's error into DST (DST's old message is freed); SRC is left empty. Returns -code. */
int hd_error_move(struct hd_error *dst, struct hd_error *src);

/* The message, or "" when none. Never NULL. */
const char *hd_error_message(const struct hd_error *e);
