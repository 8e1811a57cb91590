/* SPDX-License-Identifier: Apache-2.0 */
#include "base/flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strutil.h"

/* A usage error, in the log format like every other error line the daemon writes. */
static void bad_flags(const char *program, const char *what, const char *key, const char *val,
                      const char *value, const char *expected)
{
        _cleanup_free_ char *msg = hd_asprintf("%s: %s; see --help", program, what);
        if (value)
                hd_log_error(msg, key, val, "value", value, "expected", expected);
        else
                hd_log_error(msg, key, val);
}

/* Store ARG for flag F in BASE. Returns 0, or -EINVAL after logging what was expected. */
static int set_flag(void *base, const struct hd_flag *f, const char *arg, const char *program)
{
        void *field = (char *)base + f->offset;
        char *end = NULL;
        double num = 0;
        switch (f->kind) {
        case HD_FLAG_STRING:
                *(const char **)field = arg;
                return 0;
        case HD_FLAG_BOOL:
                if (!arg || hd_streq(arg, "true") || hd_streq(arg, "false")) {
                        *(bool *)field = !arg || hd_streq(arg, "true");
                        return 0;
                }
                break;
        case HD_FLAG_LOG_FORMAT:
                if (hd_log_parse_format(arg, field) >= 0)
                        return 0;
                break;
        case HD_FLAG_INT:
                num = (double)strtol(arg, &end, 10);
                if (!*end && *arg && num > f->above && num <= 1e9) {
                        *(int *)field = (int)num;
                        return 0;
                }
                break;
        case HD_FLAG_DOUBLE:
                num = strtod(arg, &end);
                if (!*end && *arg && num > f->above) {
                        *(double *)field = num;
                        return 0;
                }
                break;
        default:
                return 0;
        }
        _cleanup_free_ char *flag = hd_asprintf("%s%s", f->name[1] ? "--" : "-", f->name);
        bad_flags(program, "bad flag value", "flag", flag, arg ? arg : "",
                  f->kind == HD_FLAG_BOOL ? "true or false"
                  : f->expect             ? f->expect
                                          : "?");
        return -EINVAL;
}

static const struct hd_flag *flag_named(const struct hd_flag *flags, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(flags[i].name, name) == 0)
                        return &flags[i];
        return NULL;
}

static int has_arg(enum hd_flag_kind k)
{
        if (k == HD_FLAG_VERSION || k == HD_FLAG_HELP)
                return no_argument;
        return k == HD_FLAG_BOOL ? optional_argument : required_argument;
}

/* Flag errors are logged, so the format must be known before parsing: look for the log-format
 * flag first and set logging up with it (verbosity is applied by the caller afterwards). */
static void setup_log_format(int argc, char **argv, const struct hd_flag *flags, size_t n)
{
        enum hd_log_format fmt = HD_LOG_TEXT;
        for (size_t k = 0; k < n; k++) {
                if (flags[k].kind != HD_FLAG_LOG_FORMAT)
                        continue;
                _cleanup_free_ char *opt = hd_asprintf("--%s", flags[k].name);
                _cleanup_free_ char *prefix = hd_asprintf("--%s=", flags[k].name);
                for (int i = 1; i < argc; i++)
                        if (hd_streq(argv[i], opt) && i + 1 < argc)
                                hd_log_parse_format(argv[i + 1], &fmt);
                        else if (hd_startswith(argv[i], prefix))
                                hd_log_parse_format(argv[i] + strlen(prefix), &fmt);
        }
        hd_log_setup(0, fmt);
}

int hd_flags_parse(int argc, char **argv, const struct hd_flag *flags, size_t n, void *base,
                   const char *program, void (*usage)(FILE *f))
{
        _cleanup_free_ struct option *longopts = hd_new0(struct option, n + 1);
        for (size_t i = 0; i < n; i++)
                longopts[i] = (struct option){flags[i].name, has_arg(flags[i].kind), NULL,
                                              (int)(256 + i)};
        setup_log_format(argc, argv, flags, n);
        int c;
        optind = 1;
        opterr = 0; /* getopt's own messages are not in the log format */
        while ((c = getopt_long(argc, argv, ":v:h", longopts, NULL)) != -1) {
                const struct hd_flag *f = NULL;
                if (c >= 256 && c < 256 + (int)n)
                        f = &flags[c - 256];
                else if (c == 'v')
                        f = flag_named(flags, n, "v");
                if (c == 'h' || (f && f->kind == HD_FLAG_HELP)) {
                        usage(stdout);
                        return 0;
                }
                if (f && f->kind == HD_FLAG_VERSION) {
                        printf("%s %s\n", program, HOSTDEV_VERSION);
                        return 0;
                }
                if (c == ':' || !f) {
                        bad_flags(program, c == ':' ? "flag needs a value" : "unknown flag", "flag",
                                  argv[optind - 1], NULL, NULL);
                        return 2;
                }
                if (set_flag(base, f, optarg, program) < 0)
                        return 2;
        }
        if (optind != argc) {
                bad_flags(program, "unexpected argument", "arg", argv[optind], NULL, NULL);
                return 2;
        }
        return 1;
}
