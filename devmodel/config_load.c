/* SPDX-License-Identifier: Apache-2.0 */
/* Loading a device config: read, decode (config_yaml.c), then the semantic checks that need the
 * whole config (names, paths, templates, limits). Errors name file:line:column. */
#include "devmodel/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "devmodel/config-internal.h"
#include "devmodel/glob.h"
#include "devmodel/names.h"
#include "devmodel/template.h"

/* Attributes discovery adds to every device; the admin may not redefine them. */
static const char *const builtin_attrs[] = {"group", "path", "major", "minor"};

/* ---- checks ---- */

struct checker {
        const struct dm_config *c;
        struct hd_error *err;
};

static int cerr(struct checker *k, struct dm_mark m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int cerr(struct checker *k, struct dm_mark m, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = hd_error_vsetf_at(k->err, EINVAL, k->c->file, m.line, m.column, fmt, ap);
        va_end(ap);
        return r;
}

/* Wrap a message already in K->err with the position M. */
static int cwrap(struct checker *k, struct dm_mark m, const char *context)
{
        _cleanup_free_ char *msg = hd_strdup(hd_error_message(k->err));
        if (context)
                return cerr(k, m, "%s: %s", context, msg);
        return cerr(k, m, "%s", msg);
}

static int check_permissions(struct checker *k, struct dm_mark m, const char *perm)
{
        bool seen[3] = {false};
        if (!perm)
                return 0;
        for (const char *p = perm; *p; p++) {
                const char *slot = strchr("rwm", *p);
                if (!slot || seen[slot - "rwm"])
                        return cerr(k, m,
                                    "permissions '%s' must be a non-repeating subset of 'rwm' "
                                    "(read, write, mknod), e.g. 'rw'",
                                    perm);
                seen[slot - "rwm"] = true;
        }
        if (!*perm)
                return cerr(k, m, "permissions must not be empty; use a subset of 'rwm'");
        return 0;
}

/* A path template must be absolute once rendered: it starts with '/' or with a variable that
 * is itself an absolute path ({path}). */
static int check_path_tmpl(struct checker *k, struct dm_mark m, const char *what, const char *tmpl,
                           unsigned allowed, size_t n_captures)
{
        if (tmpl[0] != '/' && !hd_startswith(tmpl, "{path}"))
                return cerr(k, m,
                            "%s '%s' is a relative path; use an absolute path starting "
                            "with '/'",
                            what, tmpl);
        if (dm_template_check(tmpl, allowed, n_captures, k->err) < 0)
                return cwrap(k, m, what);
        return 0;
}

static bool hook_name_ok(const char *n)
{
        static const char *const names[] = {"prestart",       "createRuntime", "createContainer",
                                            "startContainer", "poststart",     "poststop"};
        for (size_t i = 0; i < HD_ARRAY_SIZE(names); i++)
                if (hd_streq(n, names[i]))
                        return true;
        return false;
}

static int check_edits(struct checker *k, const struct dm_group *g, const struct dm_edits_spec *e,
                       bool common)
{
        /* Common edits are shared by every device of the group: no per-device variables. */
        unsigned allowed = common ? 0 : DM_TVAR_ALL;
        size_t caps = common ? 0 : g->n_captures;
        const char *where = common ? "commonEdits" : "deviceEdits";
        int r;

        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct dm_node_spec *n = &e->nodes[i];
                r = check_path_tmpl(k, n->mark, "deviceNodes path", n->path, allowed, caps);
                if (r < 0)
                        return r;
                if (n->host_path) {
                        r = check_path_tmpl(k, n->mark, "deviceNodes hostPath", n->host_path,
                                            allowed, caps);
                        if (r < 0)
                                return r;
                }
                r = check_permissions(k, n->permissions_mark, n->permissions);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_mounts; i++) {
                const struct dm_mount_spec *m = &e->mounts[i];
                bool glob = dm_glob_is_pattern(m->host_path);
                if (glob) {
                        if (!common)
                                return cerr(k, m->mark,
                                            "mount hostPath '%s' is a glob; globs in mounts are "
                                            "expanded only in commonEdits (per-device mounts use "
                                            "templates such as {1} or {name})",
                                            m->host_path);
                        if (m->container_path)
                                return cerr(k, m->mark,
                                            "mount hostPath '%s' is a glob, so each match is "
                                            "mounted at its own path; remove 'containerPath'",
                                            m->host_path);
                        if (dm_glob_check(m->host_path, NULL, k->err) < 0)
                                return cwrap(k, m->mark, NULL);
                } else {
                        r = check_path_tmpl(k, m->mark, "mount hostPath", m->host_path, allowed,
                                            caps);
                        if (r < 0)
                                return r;
                }
                if (m->container_path) {
                        r = check_path_tmpl(k, m->mark, "mount containerPath", m->container_path,
                                            allowed, caps);
                        if (r < 0)
                                return r;
                }
        }
        for (size_t i = 0; e->env && e->env[i]; i++) {
                const char *env = e->env[i], *eq = strchr(env, '=');
                if (!eq || eq == env)
                        return cerr(k, e->env_marks[i],
                                    "%s: env entry '%s' must have the form KEY=VALUE", where, env);
                if (dm_template_check(env, allowed, caps, k->err) < 0)
                        return cwrap(k, e->env_marks[i], where);
        }
        for (size_t i = 0; i < e->n_hooks; i++) {
                const struct dm_hook_spec *h = &e->hooks[i];
                if (!hook_name_ok(h->hook_name))
                        return cerr(k, h->mark,
                                    "unknown hookName '%s'; use prestart, createRuntime, "
                                    "createContainer, startContainer, poststart or poststop",
                                    h->hook_name);
                if (h->path[0] != '/')
                        return cerr(k, h->mark,
                                    "hook path '%s' is a relative path; use an absolute path",
                                    h->path);
        }
        return 0;
}

static int check_attrs(struct checker *k, const struct dm_group *g)
{
        size_t total = g->n_attrs + HD_ARRAY_SIZE(builtin_attrs);
        if (total > DM_ATTRS_PER_DEVICE_MAX)
                return cerr(k,
                            g->attrs[DM_ATTRS_PER_DEVICE_MAX - HD_ARRAY_SIZE(builtin_attrs)].mark,
                            "group '%s' has %zu attributes plus the %zu built-in ones (group, "
                            "path, major, minor); the API server allows at most %d per device, "
                            "remove %zu",
                            g->name, g->n_attrs, HD_ARRAY_SIZE(builtin_attrs),
                            DM_ATTRS_PER_DEVICE_MAX, total - DM_ATTRS_PER_DEVICE_MAX);
        for (size_t i = 0; i < g->n_attrs; i++) {
                const struct dm_attr_spec *a = &g->attrs[i];
                if (dm_attr_name_check(a->name, k->err) < 0)
                        return cwrap(k, a->mark, NULL);
                for (size_t b = 0; b < HD_ARRAY_SIZE(builtin_attrs); b++)
                        if (hd_streq(a->name, builtin_attrs[b]))
                                return cerr(k, a->mark,
                                            "attribute '%s' is built in (every device has "
                                            "group, path, major, minor); choose another name",
                                            a->name);
                if (dm_template_check(a->value, DM_TVAR_ALL, g->n_captures, k->err) < 0)
                        return cwrap(k, a->mark, a->name);
                if (!dm_template_has_vars(a->value) &&
                    dm_attr_value_check(a->name, a->type, a->value, k->err) < 0)
                        return cwrap(k, a->mark, NULL);
        }
        return 0;
}

static int check_group(struct checker *k, struct dm_group *g)
{
        int r;

        if (!dm_is_dns_label(g->name) || !(g->name[0] >= 'a' && g->name[0] <= 'z'))
                return cerr(k, g->name_mark,
                            "group name '%s' must be a lowercase DNS label starting with a "
                            "letter (a-z, 0-9, '-', at most 63), e.g. 'gpu'",
                            g->name);

        /* Captures usable in templates: the fewest any match source provides. */
        g->n_captures = hd_strv_len(g->paths) > 0 ? 0 : DM_GLOB_CAPTURES_MAX;
        for (size_t i = 0; g->paths && g->paths[i]; i++) {
                const char *p = g->paths[i];
                if (p[0] != '/')
                        return cerr(k, g->path_marks[i],
                                    "group '%s': path '%s' is a relative path; use an absolute "
                                    "path such as '/dev/%s'",
                                    g->name, p, p);
                if (dm_glob_is_pattern(p))
                        return cerr(k, g->path_marks[i],
                                    "group '%s': path '%s' holds glob characters; move it to "
                                    "'globs'",
                                    g->name, p);
        }
        for (size_t i = 0; g->globs && g->globs[i]; i++) {
                size_t caps = 0;
                if (dm_glob_check(g->globs[i], &caps, k->err) < 0)
                        return cwrap(k, g->glob_marks[i], NULL);
                if (caps < g->n_captures)
                        g->n_captures = caps;
        }
        if (g->device_name) {
                unsigned allowed = DM_TVAR_ALL & ~DM_TVAR_DEVICE;
                if (dm_template_check(g->device_name, allowed, g->n_captures, k->err) < 0)
                        return cwrap(k, g->device_name_mark, "deviceName");
                if (!dm_template_has_vars(g->device_name) && !dm_is_dns_label(g->device_name))
                        return cerr(k, g->device_name_mark,
                                    "deviceName '%s' is not a lowercase DNS label (a-z, 0-9, "
                                    "'-', at most 63); fix it or use a template like 'gpu-{index}'",
                                    g->device_name);
                if (!dm_template_has_vars(g->device_name) &&
                    hd_strv_len(g->paths) + hd_strv_len(g->globs) > 1)
                        return cerr(k, g->device_name_mark,
                                    "deviceName '%s' has no template variable but the group "
                                    "matches several paths; add one such as {index}",
                                    g->device_name);
        }
        if (g->container_path) {
                r = check_path_tmpl(k, g->container_path_mark, "containerPath", g->container_path,
                                    DM_TVAR_ALL, g->n_captures);
                if (r < 0)
                        return r;
        }
        r = check_permissions(k, g->permissions_mark, g->permissions);
        if (r < 0)
                return r;
        if (g->resource_name && dm_resource_name_check(g->resource_name, k->err) < 0) {
                _cleanup_free_ char *ctx = hd_asprintf("group '%s'", g->name);
                return cwrap(k, g->resource_name_mark, ctx);
        }
        r = check_attrs(k, g);
        if (r < 0)
                return r;
        r = check_edits(k, g, &g->device_edits, false);
        if (r < 0)
                return r;
        return check_edits(k, g, &g->common_edits, true);
}

/* Explicit paths have names known before discovery: catch duplicates with positions now.
 * (Glob matches are checked by discovery, naming both paths.) */
static int check_static_names(struct checker *k)
{
        struct entry {
                char *name;
                const char *path;
                const struct dm_group *g;
                struct dm_mark mark;
        } *seen = NULL;
        size_t n = 0;
        int r = 0;

        for (size_t gi = 0; gi < k->c->n_groups && r == 0; gi++) {
                const struct dm_group *g = &k->c->groups[gi];
                if (g->globs ||
                    (g->device_name &&
                     dm_template_check(g->device_name, DM_TVAR_INDEX | DM_TVAR_NAME | DM_TVAR_PATH,
                                       0, NULL) < 0))
                        continue; /* names depend on matches or stat results */
                for (size_t idx = 0; g->paths && g->paths[idx] && r == 0; idx++) {
                        const char *p = g->paths[idx];
                        struct dm_mark mark = g->path_marks[idx];
                        char *name = NULL;
                        if (g->device_name) {
                                const char *base = strrchr(p, '/') + 1;
                                struct dm_template_vars v = {.index = idx, .name = base, .path = p};
                                if (dm_template_render(g->device_name, &v, &name, NULL) < 0)
                                        continue;
                        } else {
                                name = dm_device_name_from_path(p);
                                if (!name) {
                                        r = cerr(k, mark,
                                                 "group '%s': no device name can be derived from "
                                                 "path '%s'; set 'deviceName'",
                                                 g->name, p);
                                        break;
                                }
                        }
                        for (size_t i = 0; i < n && r == 0; i++)
                                if (hd_streq(seen[i].name, name))
                                        r = cerr(k, mark,
                                                 "device name '%s' of path '%s' (group '%s') "
                                                 "is also the name of path '%s' (group '%s', "
                                                 "line %u column %u); set a distinct "
                                                 "'deviceName' or remove one path",
                                                 name, p, g->name, seen[i].path, seen[i].g->name,
                                                 seen[i].mark.line, seen[i].mark.column);
                        seen = hd_realloc_array(seen, n + 1, sizeof(*seen));
                        seen[n++] = (struct entry){name, p, g, mark};
                }
        }
        for (size_t i = 0; i < n; i++)
                free(seen[i].name);
        free(seen);
        return r;
}

/* Semantic checks over a decoded config (names, paths, templates, limits). */
static int config_check(const struct dm_config *c, struct hd_error *reterr)
{
        struct checker k = {c, reterr};
        int r;

        for (size_t i = 0; i < c->n_groups; i++) {
                for (size_t j = 0; j < i; j++)
                        if (hd_streq(c->groups[i].name, c->groups[j].name))
                                return cerr(&k, c->groups[i].name_mark,
                                            "duplicate group name '%s' (first at line %u); "
                                            "group names must be unique",
                                            c->groups[i].name, c->groups[j].name_mark.line);
                r = check_group(&k, &c->groups[i]);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i && c->groups[i].resource_name; j++)
                        if (hd_streq(c->groups[i].resource_name, c->groups[j].resource_name))
                                return cerr(&k, c->groups[i].resource_name_mark,
                                            "group '%s': resourceName '%s' is already used by "
                                            "group '%s'; each group needs its own resource",
                                            c->groups[i].name, c->groups[i].resource_name,
                                            c->groups[j].name);
        }
        return check_static_names(&k);
}

int dm_config_parse(const char *file, const char *data, size_t len, struct dm_config **ret,
                    struct hd_error *reterr)
{
        struct dm_config *c = NULL;
        int r;

        *ret = NULL;
        if (len > DM_CONFIG_MAX_BYTES)
                return hd_error_setf(reterr, EFBIG, "%s: config is larger than %d bytes", file,
                                     DM_CONFIG_MAX_BYTES);
        r = dm_config_decode_yaml(file, data, len, &c, reterr);
        if (r < 0)
                return r;
        r = config_check(c, reterr);
        if (r < 0) {
                dm_config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static int config_parse_cb(const char *path, const char *data, size_t len, void *userdata,
                           struct hd_error *reterr)
{
        return dm_config_parse(path, data, len, userdata, reterr);
}

int dm_config_load(const char *path, struct dm_config **ret, struct hd_error *reterr)
{
        *ret = NULL;
        return hd_read_file_parse(path, DM_CONFIG_MAX_BYTES, false, "read config", config_parse_cb,
                                  ret, reterr);
}
