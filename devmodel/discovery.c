/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/discovery.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "devmodel/devnode.h"
#include "devmodel/glob.h"
#include "devmodel/names.h"
#include "devmodel/template.h"

/* One candidate node of a group before names are given. */
struct cand {
        char *path;
        char **captures;
};

static void attr_push(struct dm_device *d, const char *name, enum dm_attr_type t, char *value)
{
        d->attrs = hd_realloc_array(d->attrs, d->n_attrs + 1, sizeof(*d->attrs));
        d->attrs[d->n_attrs++] = (struct dm_attr){hd_strdup(name), t, value};
}

static void device_done(struct dm_device *d)
{
        free(d->name);
        free(d->base_name);
        free(d->path);
        for (size_t i = 0; i < d->n_attrs; i++) {
                free(d->attrs[i].name);
                free(d->attrs[i].value);
        }
        free(d->attrs);
        dm_edits_done(&d->edits);
}

struct dm_inventory *dm_inventory_free(struct dm_inventory *inv)
{
        if (!inv)
                return NULL;
        for (size_t i = 0; i < inv->n_devices; i++)
                device_done(&inv->devices[i]);
        free(inv->devices);
        hd_strv_free(inv->problems);
        free(inv);
        return NULL;
}

const char *dm_inventory_host_root(const struct dm_inventory *inv)
{
        return inv && inv->config ? inv->config->host_root : NULL;
}

const struct dm_device *dm_inventory_find(const struct dm_inventory *inv, const char *name)
{
        for (size_t i = 0; inv && i < inv->n_devices; i++)
                if (hd_streq(inv->devices[i].name, name))
                        return &inv->devices[i];
        return NULL;
}

static void problem(struct dm_inventory *inv, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void problem(struct dm_inventory *inv, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        hd_strv_consume(&inv->problems, hd_vasprintf(fmt, ap));
        va_end(ap);
}

static int cmp_cand(const void *a, const void *b)
{
        return strcmp(((const struct cand *)a)->path, ((const struct cand *)b)->path);
}

/* Collect the group's candidate paths: explicit paths (captures none) and glob matches, sorted,
 * duplicates dropped. */
static int collect(const char *root, const struct dm_group *g, struct cand **ret, size_t *ret_n,
                   struct hd_error *reterr)
{
        struct cand *c = NULL;
        size_t n = 0;

        for (char **p = g->paths; p && *p; p++) {
                c = hd_realloc_array(c, n + 1, sizeof(*c));
                c[n++] = (struct cand){hd_strdup(*p), NULL};
        }
        for (char **p = g->globs; p && *p; p++) {
                struct dm_glob_match *m = NULL;
                size_t nm = 0;
                int r = dm_glob_expand(root, *p, &m, &nm, reterr);
                if (r < 0) {
                        for (size_t i = 0; i < n; i++) {
                                free(c[i].path);
                                hd_strv_free(c[i].captures);
                        }
                        free(c);
                        return r;
                }
                for (size_t i = 0; i < nm; i++) {
                        c = hd_realloc_array(c, n + 1, sizeof(*c));
                        c[n++] = (struct cand){TAKE_PTR(m[i].path), TAKE_PTR(m[i].captures)};
                }
                dm_glob_matches_free(m, nm);
        }
        qsort(c, n, sizeof(*c), cmp_cand);
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
                if (out > 0 && strcmp(c[out - 1].path, c[i].path) == 0) {
                        free(c[i].path);
                        hd_strv_free(c[i].captures);
                        continue;
                }
                c[out++] = c[i];
        }
        *ret = c;
        *ret_n = out;
        return 0;
}

static char *replica_name(const char *base, unsigned k)
{
        _cleanup_free_ char *suffix = hd_asprintf("-%u", k);
        size_t keep = strlen(base);
        /* Cut the base, not the suffix, so the name stays a label of at most 63. */
        if (keep + strlen(suffix) > DM_DNS_LABEL_MAX)
                keep = DM_DNS_LABEL_MAX - strlen(suffix);
        while (keep > 0 && base[keep - 1] == '-')
                keep--;
        return hd_asprintf("%.*s%s", (int)keep, base, suffix);
}

/* Build the device for candidate C (index IDX in its group) into *D. On a per-device problem
 * returns -EINVAL with RETERR set; *D must be released either way. */
static int build_device(const char *root, const struct dm_group *g, const struct cand *c,
                        size_t idx, struct dm_device *d, struct hd_error *reterr)
{
        int r;

        d->group = g;
        d->path = hd_strdup(c->path);
        r = dm_devnode_stat(root, c->path, &d->type, &d->major, &d->minor, reterr);
        if (r < 0)
                return r;

        const char *slash = strrchr(c->path, '/');
        struct dm_template_vars v = {
                .index = idx,
                .name = slash ? slash + 1 : c->path,
                .path = c->path,
                .major = d->major,
                .minor = d->minor,
                .captures = c->captures,
        };
        if (g->device_name) {
                r = dm_template_render(g->device_name, &v, &d->base_name, reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "deviceName");
                if (!dm_is_dns_label(d->base_name))
                        return hd_error_setf(reterr, EINVAL,
                                             "deviceName renders to '%s', not a lowercase DNS "
                                             "label; change the template",
                                             d->base_name);
        } else {
                d->base_name = dm_device_name_from_path(c->path);
                if (!d->base_name)
                        return hd_error_setf(reterr, EINVAL,
                                             "no device name can be derived from the path; set "
                                             "deviceName");
        }
        v.device = d->base_name;

        attr_push(d, "group", DM_ATTR_STRING, hd_strdup(g->name));
        attr_push(d, "path", DM_ATTR_STRING, hd_strdup(c->path));
        attr_push(d, "major", DM_ATTR_INT, hd_asprintf("%u", d->major));
        attr_push(d, "minor", DM_ATTR_INT, hd_asprintf("%u", d->minor));
        for (size_t i = 0; i < g->n_attrs; i++) {
                char *value = NULL;
                r = dm_template_render(g->attrs[i].value, &v, &value, reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "attribute '%s'", g->attrs[i].name);
                attr_push(d, g->attrs[i].name, g->attrs[i].type, value);
        }

        /* The matched node itself comes first in the device's edits. */
        d->edits.nodes = hd_new0(struct dm_node, 1);
        d->edits.n_nodes = 1;
        struct dm_node *n = &d->edits.nodes[0];
        n->host_path = hd_strdup(c->path);
        n->permissions = hd_strdup(g->permissions);
        n->type = d->type;
        n->major = d->major;
        n->minor = d->minor;
        if (g->container_path) {
                r = dm_template_render(g->container_path, &v, &n->path, reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "containerPath");
        } else {
                n->path = hd_strdup(c->path);
        }
        r = dm_edits_render(&g->device_edits, &v, &d->edits, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "deviceEdits");
        return 0;
}

static void replicate(struct dm_inventory *inv, struct dm_device *base, unsigned count)
{
        for (unsigned k = 0; k < count; k++) {
                struct dm_device *d = &inv->devices[inv->n_devices++];
                *d = *base;
                d->replica = k;
                d->name = count > 1 ? replica_name(base->base_name, k) : hd_strdup(base->base_name);
                d->base_name = hd_strdup(base->base_name);
                d->path = hd_strdup(base->path);
                d->attrs = hd_new0(struct dm_attr, base->n_attrs ? base->n_attrs : 1);
                for (size_t i = 0; i < base->n_attrs; i++)
                        d->attrs[i] = (struct dm_attr){hd_strdup(base->attrs[i].name),
                                                       base->attrs[i].type,
                                                       hd_strdup(base->attrs[i].value)};
                d->edits = (struct dm_edits){0};
                dm_edits_merge(&d->edits, &base->edits);
        }
}

/* Device positions sorted by FIELD (offset of a char * in struct dm_device), ties by
 * position: equal keys end up adjacent, earliest first. */
struct by_field {
        const struct dm_inventory *inv;
        size_t field;
};

static const char *field_of(const struct by_field *f, size_t i)
{
        return *(const char *const *)((const char *)&f->inv->devices[i] + f->field);
}

static int by_field_cmp(const void *a, const void *b, void *arg)
{
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        int c = strcmp(field_of(arg, i), field_of(arg, j));
        return c ? c : (i > j) - (i < j);
}

static size_t *sorted_by(const struct dm_inventory *inv, size_t field)
{
        size_t n = inv->n_devices;
        size_t *order = hd_new0(size_t, n ? n : 1);
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        struct by_field f = {inv, field};
        qsort_r(order, n, sizeof(size_t), by_field_cmp, &f);
        return order;
}

/* For every device I, the earliest J < I it conflicts with (NO_CONFLICT if none): the same
 * path in another group (PATH_HIT set) or the same name. */
#define NO_CONFLICT SIZE_MAX

static void first_path_conflicts(const struct dm_inventory *inv, size_t *first, bool *path_hit)
{
        _cleanup_free_ size_t *o = sorted_by(inv, offsetof(struct dm_device, path));
        size_t n = inv->n_devices;
        for (size_t s = 0, e; s < n; s = e) {
                const struct dm_device *lead = &inv->devices[o[s]];
                size_t other = NO_CONFLICT; /* earliest of a group other than lead's */
                for (e = s; e < n && hd_streq(inv->devices[o[e]].path, lead->path); e++)
                        if (other == NO_CONFLICT && inv->devices[o[e]].group != lead->group)
                                other = o[e];
                for (size_t k = s; k < e; k++) {
                        size_t i = o[k];
                        size_t j = inv->devices[i].group != lead->group ? o[s] : other;
                        if (j < i) {
                                first[i] = j;
                                path_hit[i] = true;
                        }
                }
        }
}

static void first_name_conflicts(const struct dm_inventory *inv, size_t *first, bool *path_hit)
{
        _cleanup_free_ size_t *o = sorted_by(inv, offsetof(struct dm_device, name));
        size_t s = 0; /* where the run of equal names starts: its earliest device */
        for (size_t k = 1; k < inv->n_devices; k++) {
                size_t i = o[k];
                if (!hd_streq(inv->devices[i].name, inv->devices[o[k - 1]].name)) {
                        s = k;
                        continue;
                }
                size_t j = o[s];
                if (j < first[i]) {
                        first[i] = j;
                        path_hit[i] = false;
                }
        }
}

/* Reports the conflict a scan of every pair (I ascending, J < I ascending, the path check
 * before the name check) would meet first, in O(n log n): 10,000 devices are 50 M pairs. */
static int check_unique(const struct dm_inventory *inv, struct hd_error *reterr)
{
        size_t n = inv->n_devices;
        _cleanup_free_ size_t *first = hd_new0(size_t, n ? n : 1);
        _cleanup_free_ bool *path_hit = hd_new0(bool, n ? n : 1);
        for (size_t i = 0; i < n; i++)
                first[i] = NO_CONFLICT;
        first_path_conflicts(inv, first, path_hit);
        first_name_conflicts(inv, first, path_hit);
        for (size_t i = 0; i < n; i++) {
                if (first[i] == NO_CONFLICT)
                        continue;
                const struct dm_device *a = &inv->devices[first[i]], *b = &inv->devices[i];
                /* One node offered by two groups could be allocated twice at once. */
                if (path_hit[i])
                        return hd_error_setf(reterr, EEXIST,
                                             "'%s' is matched by groups '%s' and '%s'; "
                                             "a device node may belong to one group "
                                             "only (use 'count' to share it)",
                                             a->path, a->group->name, b->group->name);
                return hd_error_setf(reterr, EEXIST,
                                     "device name '%s' is given to both '%s' (group "
                                     "'%s') and '%s' (group '%s'); make the names "
                                     "distinct with 'deviceName' (e.g. a template with "
                                     "{index} or a glob capture) or remove one match",
                                     a->name, a->path, a->group->name, b->path, b->group->name);
        }
        return 0;
}

int dm_discover(const struct dm_config *config, struct dm_inventory **ret, struct hd_error *reterr)
{
        struct dm_inventory *inv = hd_new0(struct dm_inventory, 1);
        int r;

        *ret = NULL;
        inv->config = config;
        for (size_t gi = 0; gi < config->n_groups; gi++) {
                const struct dm_group *g = &config->groups[gi];
                struct cand *c = NULL;
                size_t n = 0, found = 0;

                r = collect(config->host_root, g, &c, &n, reterr);
                if (r < 0) {
                        dm_inventory_free(inv);
                        return hd_error_wrap(reterr, "group '%s'", g->name);
                }
                for (size_t i = 0; i < n; i++) {
                        struct hd_error e = HD_ERROR_INIT;
                        struct dm_device base = {0};
                        r = build_device(config->host_root, g, &c[i], found, &base, &e);
                        if (r == -ENOENT && g->optional) {
                                /* an optional group's explicit path may be absent */
                        } else if (r < 0) {
                                problem(inv, "group '%s': device '%s' left out: %s", g->name,
                                        c[i].path, hd_error_message(&e));
                        } else {
                                inv->devices =
                                        hd_realloc_array(inv->devices, inv->n_devices + g->count,
                                                         sizeof(*inv->devices));
                                replicate(inv, &base, g->count);
                                found++;
                        }
                        device_done(&base);
                        hd_error_done(&e);
                        free(c[i].path);
                        hd_strv_free(c[i].captures);
                }
                free(c);
                if (found == 0 && !g->optional)
                        problem(inv,
                                "group '%s': no device found; check 'match' or set "
                                "'optional: true'",
                                g->name);
        }
        r = check_unique(inv, reterr);
        if (r < 0) {
                dm_inventory_free(inv);
                return r;
        }
        *ret = inv;
        return 0;
}

int dm_device_check(const struct dm_device *dev, const char *root, struct hd_error *reterr)
{
        char type = 0;
        unsigned maj = 0, min = 0;
        int r = dm_devnode_stat(root, dev->path, &type, &maj, &min, reterr);
        if (r < 0)
                return r;
        if (type != dev->type || maj != dev->major || min != dev->minor)
                return hd_error_setf(reterr, ESTALE,
                                     "device node '%s' changed: expected %c %u:%u, found %c "
                                     "%u:%u",
                                     dev->path, dev->type, dev->major, dev->minor, type, maj, min);
        return 0;
}
