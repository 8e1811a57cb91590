/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/strutil.h"

/* Log settings are the only mutable globals: set once at start, read by every thread. */
static int log_verbosity;
static enum hd_log_format log_format = HD_LOG_TEXT;

void hd_log_setup(int verbosity, enum hd_log_format format)
{
        log_verbosity = verbosity;
        log_format = format;
}

int hd_log_parse_format(const char *s, enum hd_log_format *ret_format)
{
        if (hd_streq(s, "text"))
                *ret_format = HD_LOG_TEXT;
        else if (hd_streq(s, "json"))
                *ret_format = HD_LOG_JSON;
        else
                return -EINVAL;
        return 0;
}

bool hd_log_v_enabled(int v)
{
        return v <= log_verbosity;
}

const char *hd_fmt_i64(char buf[static 24], int64_t v)
{
        snprintf(buf, 24, "%" PRId64, v);
        return buf;
}

static const char *base_name(const char *file)
{
        const char *slash = strrchr(file, '/');
        return slash ? slash + 1 : file;
}

static void put_quoted(struct hd_strbuf *b, const char *s)
{
        hd_strbuf_puts(b, "\"");
        hd_strbuf_escape(b, s ? s : "<nil>");
        hd_strbuf_puts(b, "\"");
}

void hd_log_emit(char severity, int v, const char *file, int line, const char *msg, ...)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);

        if (log_format == HD_LOG_JSON) {
                hd_strbuf_printf(&b, "{\"ts\":%lld.%06ld,\"caller\":", (long long)tv.tv_sec,
                                 (long)tv.tv_usec);
                char caller[256];
                snprintf(caller, sizeof(caller), "%s:%d", base_name(file), line);
                put_quoted(&b, caller);
                hd_strbuf_puts(&b, ",\"msg\":");
                put_quoted(&b, msg);
                if (severity == 'E' || severity == 'W')
                        hd_strbuf_printf(&b, ",\"severity\":\"%c\"", severity);
                else
                        hd_strbuf_printf(&b, ",\"v\":%d", v);
        } else {
                localtime_r(&tv.tv_sec, &tm);
                hd_strbuf_printf(&b, "%c%02d%02d %02d:%02d:%02d.%06ld %7ld %s:%d] ", severity,
                                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                                 (long)tv.tv_usec, (long)syscall(SYS_gettid), base_name(file),
                                 line);
                put_quoted(&b, msg);
        }

        va_list ap;
        va_start(ap, msg);
        for (;;) {
                const char *key = va_arg(ap, const char *);
                if (!key)
                        break;
                const char *value = va_arg(ap, const char *);
                if (log_format == HD_LOG_JSON) {
                        hd_strbuf_puts(&b, ",");
                        put_quoted(&b, key);
                        hd_strbuf_puts(&b, ":");
                } else {
                        hd_strbuf_printf(&b, " %s=", key);
                }
                put_quoted(&b, value);
        }
        va_end(ap);
        hd_strbuf_puts(&b, log_format == HD_LOG_JSON ? "}\n" : "\n");

        /* One write per line: lines from different threads never interleave. */
        int saved = errno;
        const char *p = b.buf;
        size_t left = b.len;
        while (left > 0) {
                ssize_t n = write(STDERR_FILENO, p, left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                p += n;
                left -= (size_t)n;
        }
        errno = saved;
        hd_strbuf_done(&b);
}
