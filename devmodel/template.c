/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/template.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/glob.h"

static const struct {
        const char *name;
        unsigned flag;
} tvars[] = {
        {"index", DM_TVAR_INDEX}, {"name", DM_TVAR_NAME},   {"path", DM_TVAR_PATH},
        {"major", DM_TVAR_MAJOR}, {"minor", DM_TVAR_MINOR}, {"device", DM_TVAR_DEVICE},
};

static void allowed_list(struct hd_strbuf *b, unsigned allowed, size_t n_captures)
{
        bool first = true;
        for (size_t i = 0; i < HD_ARRAY_SIZE(tvars); i++) {
                if (!(allowed & tvars[i].flag))
                        continue;
                hd_strbuf_printf(b, "%s{%s}", first ? "" : ", ", tvars[i].name);
                first = false;
        }
        if ((allowed & DM_TVAR_CAPTURE) && n_captures > 0)
                hd_strbuf_printf(b, "%s{1}..{%zu}", first ? "" : ", ", n_captures);
        else if (first)
                hd_strbuf_puts(b, "none");
}

/* Walk TMPL; for each variable call VAR_CB, for literal text append to OUT (if not NULL).
 * Returns 0, or the callback's / a syntax error. */
typedef int (*tvar_cb)(const char *var, size_t len, void *userdata, struct hd_strbuf *out,
                       struct hd_error *reterr);

static int walk(const char *tmpl, tvar_cb cb, void *userdata, struct hd_strbuf *out,
                struct hd_error *reterr)
{
        for (const char *p = tmpl; *p; p++) {
                if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
                        if (out)
                                hd_strbuf_append(out, p, 1);
                        p++;
                        continue;
                }
                if (*p != '{') {
                        if (out)
                                hd_strbuf_append(out, p, 1);
                        continue;
                }
                const char *end = strchr(p + 1, '}');
                if (!end)
                        return hd_error_setf(reterr, EINVAL,
                                             "template '%s': '{' at offset %zu is not closed; "
                                             "close it with '}' or write '{{' for a literal "
                                             "brace",
                                             tmpl, (size_t)(p - tmpl));
                int r = cb(p + 1, (size_t)(end - p - 1), userdata, out, reterr);
                if (r < 0)
                        return r;
                p = end;
        }
        return 0;
}

static int capture_number(const char *var, size_t len)
{
        if (len == 1 && var[0] >= '1' && var[0] <= '9')
                return var[0] - '0';
        return 0;
}

struct check_ctx {
        const char *tmpl;
        unsigned allowed;
        size_t n_captures;
        size_t n_vars;
};

static int check_cb(const char *var, size_t len, void *userdata, struct hd_strbuf *out,
                    struct hd_error *reterr)
{
        struct check_ctx *c = userdata;
        int cap = capture_number(var, len);

        c->n_vars++;
        if (cap > 0) {
                if ((c->allowed & DM_TVAR_CAPTURE) && (size_t)cap <= c->n_captures)
                        return 0;
        } else {
                for (size_t i = 0; i < HD_ARRAY_SIZE(tvars); i++)
                        if (strlen(tvars[i].name) == len && memcmp(tvars[i].name, var, len) == 0 &&
                            (c->allowed & tvars[i].flag))
                                return 0;
        }

        struct hd_strbuf b = HD_STRBUF_INIT;
        allowed_list(&b, c->allowed, c->n_captures);
        int r;
        if (cap > 0 && (c->allowed & DM_TVAR_CAPTURE))
                r = hd_error_setf(reterr, EINVAL,
                                  "template '%s': '{%.*s}' needs glob wildcard %d but the group's "
                                  "matches provide %zu; use one of: %s",
                                  c->tmpl, (int)len, var, cap, c->n_captures, b.buf);
        else
                r = hd_error_setf(reterr, EINVAL,
                                  "template '%s': unknown or unavailable variable '{%.*s}'; use "
                                  "one of: %s (write '{{' for a literal brace)",
                                  c->tmpl, (int)len, var, b.buf);
        hd_strbuf_done(&b);
        return r;
}

bool dm_template_has_vars(const char *tmpl)
{
        struct check_ctx c = {tmpl, DM_TVAR_ALL, DM_GLOB_CAPTURES_MAX, 0};
        walk(tmpl, check_cb, &c, NULL, NULL);
        return c.n_vars > 0;
}

int dm_template_check(const char *tmpl, unsigned allowed, size_t n_captures,
                      struct hd_error *reterr)
{
        struct check_ctx c = {tmpl, allowed, n_captures, 0};
        return walk(tmpl, check_cb, &c, NULL, reterr);
}

static int render_cb(const char *var, size_t len, void *userdata, struct hd_strbuf *out,
                     struct hd_error *reterr)
{
        const struct dm_template_vars *v = userdata;
        int cap = capture_number(var, len);
        const char *text = NULL;

#define IS(s) (len == strlen(s) && memcmp(var, s, len) == 0)
        if (cap > 0 && (size_t)cap <= hd_strv_len(v->captures)) {
                text = v->captures[cap - 1];
        } else if (IS("index")) {
                hd_strbuf_printf(out, "%" PRIu64, v->index);
                return 0;
        } else if (IS("major")) {
                hd_strbuf_printf(out, "%u", v->major);
                return 0;
        } else if (IS("minor")) {
                hd_strbuf_printf(out, "%u", v->minor);
                return 0;
        } else if (IS("name")) {
                text = v->name;
        } else if (IS("path")) {
                text = v->path;
        } else if (IS("device")) {
                text = v->device;
        }
#undef IS
        if (!text)
                return hd_error_setf(reterr, EINVAL, "template variable '{%.*s}' has no value here",
                                     (int)len, var);
        hd_strbuf_puts(out, text);
        return 0;
}

int dm_template_render(const char *tmpl, const struct dm_template_vars *vars, char **ret,
                       struct hd_error *reterr)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        int r = walk(tmpl, render_cb, (void *)vars, &b, reterr);
        if (r < 0) {
                hd_strbuf_done(&b);
                return r;
        }
        *ret = hd_strbuf_take(&b);
        return 0;
}
