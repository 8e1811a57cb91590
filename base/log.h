/* SPDX-License-Identifier: Apache-2.0 */
/* klog-compatible logging to stderr.
 *
 * Text:  I1122 13:45:01.123456   12345 file.c:42] "Prepared claim" claim="ns/name" devices="4"
 * JSON:  {"ts":1763818701.123456,"caller":"file.c:42","msg":"Prepared
 * claim","v":0,"claim":"ns/name"}
 *
 * Messages are constant strings; details go in key/value pairs (both const char *), terminated
 * automatically by the macros. Values are always quoted and escaped. Use HD_INT() for numbers.
 * Libraries (base, rpc, kube, cdi) log at verbosity >= 4 only; the caller that decides logs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum hd_log_format { HD_LOG_TEXT, HD_LOG_JSON };

/* Set once at start, before threads: verbosity (-v) and format. */
void hd_log_setup(int verbosity, enum hd_log_format format);
/* Parse "text" or "json". Returns 0 or -EINVAL. */
int hd_log_parse_format(const char *s, enum hd_log_format *ret_format);
bool hd_log_v_enabled(int v);

/* Emit one line; the variadic part is key, value, ..., NULL. Thread-safe, one write(2) per line. */
void hd_log_emit(char severity, int v, const char *file, int line, const char *msg, ...);

#define hd_log_error(msg, ...) \
        hd_log_emit('E', 0, __FILE__, __LINE__, (msg), ##__VA_ARGS__, (char *)NULL)
#define hd_log_warn(msg, ...) \
        hd_log_emit('W', 0, __FILE__, __LINE__, (msg), ##__VA_ARGS__, (char *)NULL)
#define hd_log_info(msg, ...) \
        hd_log_emit('I', 0, __FILE__, __LINE__, (msg), ##__VA_ARGS__, (char *)NULL)
#define hd_log_v(level, msg, ...)                                                           \
        do {                                                                                \
                if (hd_log_v_enabled(level))                                                \
                        hd_log_emit('I', (level), __FILE__, __LINE__, (msg), ##__VA_ARGS__, \
                                    (char *)NULL);                                          \
        } while (0)

/* Format an integer into a block-scoped buffer for use as a log value. */
const char *hd_fmt_i64(char buf[static 24], int64_t v);
#define HD_INT(v) hd_fmt_i64((char[24]){0}, (int64_t)(v))
