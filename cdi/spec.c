/* SPDX-License-Identifier: Apache-2.0 */
/* The CDI spec model: allocation, builders, deep copy, and filling device nodes from stat. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"

/* Append P to the owned-pointer array *ARR of *N entries. */
#define PTR_ARRAY_PUSH(arr, n, p)                                         \
        do {                                                              \
                (arr) = hd_realloc_array((arr), (n) + 1, sizeof(*(arr))); \
                (arr)[(n)++] = (p);                                       \
        } while (0)

static char **strv_copy(char *const *v)
{
        char **copy = NULL;

        for (size_t i = 0; v && v[i]; i++)
                hd_strv_push(&copy, v[i]);
        return copy;
}

void cdi_annotations_set(struct cdi_annotations *a, const char *key, const char *value)
{
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->items[i].key, key) == 0) {
                        free(a->items[i].value);
                        a->items[i].value = hd_strdup(value);
                        return;
                }
        a->items = hd_realloc_array(a->items, a->n + 1, sizeof(*a->items));
        a->items[a->n].key = hd_strdup(key);
        a->items[a->n].value = hd_strdup(value);
        a->n++;
}

const char *cdi_annotations_get(const struct cdi_annotations *a, const char *key)
{
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->items[i].key, key) == 0)
                        return a->items[i].value;
        return NULL;
}

void cdi_annotations_done(struct cdi_annotations *a)
{
        for (size_t i = 0; i < a->n; i++) {
                free(a->items[i].key);
                free(a->items[i].value);
        }
        free(a->items);
        a->items = NULL;
        a->n = 0;
}

static void device_node_free(struct cdi_device_node *d)
{
        if (!d)
                return;
        free(d->path);
        free(d->host_path);
        free(d->type);
        free(d->permissions);
        free(d);
}

static void mount_free(struct cdi_mount *m)
{
        if (!m)
                return;
        free(m->host_path);
        free(m->container_path);
        free(m->type);
        hd_strv_free(m->options);
        free(m);
}

static void hook_free(struct cdi_hook *h)
{
        if (!h)
                return;
        free(h->hook_name);
        free(h->path);
        hd_strv_free(h->args);
        hd_strv_free(h->env);
        free(h);
}

static void net_device_free(struct cdi_net_device *n)
{
        if (!n)
                return;
        free(n->host_interface_name);
        free(n->name);
        free(n);
}

static void intel_rdt_free(struct cdi_intel_rdt *r)
{
        if (!r)
                return;
        free(r->clos_id);
        free(r->l3_cache_schema);
        free(r->mem_bw_schema);
        hd_strv_free(r->schemata);
        free(r);
}

void cdi_edits_init(struct cdi_edits *e)
{
        *e = (struct cdi_edits){0};
}

void cdi_edits_done(struct cdi_edits *e)
{
        hd_strv_free(e->env);
        for (size_t i = 0; i < e->n_device_nodes; i++)
                device_node_free(e->device_nodes[i]);
        free(e->device_nodes);
        for (size_t i = 0; i < e->n_mounts; i++)
                mount_free(e->mounts[i]);
        free(e->mounts);
        for (size_t i = 0; i < e->n_hooks; i++)
                hook_free(e->hooks[i]);
        free(e->hooks);
        for (size_t i = 0; i < e->n_net_devices; i++)
                net_device_free(e->net_devices[i]);
        free(e->net_devices);
        intel_rdt_free(e->intel_rdt);
        free(e->additional_gids);
        cdi_edits_init(e);
}

bool cdi_edits_is_empty(const struct cdi_edits *e)
{
        return hd_strv_len(e->env) == 0 && e->n_device_nodes == 0 && e->n_mounts == 0 &&
               e->n_hooks == 0 && e->n_net_devices == 0 && !e->intel_rdt &&
               e->n_additional_gids == 0;
}

void cdi_edits_add_env(struct cdi_edits *e, const char *key_value)
{
        hd_strv_push(&e->env, key_value);
}

struct cdi_device_node *cdi_edits_add_device_node(struct cdi_edits *e, const char *path,
                                                  const char *host_path)
{
        struct cdi_device_node *d = hd_new0(struct cdi_device_node, 1);

        d->path = hd_strdup(path);
        d->host_path = hd_strdup(host_path);
        PTR_ARRAY_PUSH(e->device_nodes, e->n_device_nodes, d);
        return d;
}

struct cdi_mount *cdi_edits_add_mount(struct cdi_edits *e, const char *host_path,
                                      const char *container_path, const char *type)
{
        struct cdi_mount *m = hd_new0(struct cdi_mount, 1);

        m->host_path = hd_strdup(host_path);
        m->container_path = hd_strdup(container_path);
        m->type = hd_strdup(type);
        PTR_ARRAY_PUSH(e->mounts, e->n_mounts, m);
        return m;
}

void cdi_mount_add_option(struct cdi_mount *m, const char *option)
{
        hd_strv_push(&m->options, option);
}

struct cdi_hook *cdi_edits_add_hook(struct cdi_edits *e, const char *hook_name, const char *path)
{
        struct cdi_hook *h = hd_new0(struct cdi_hook, 1);

        h->hook_name = hd_strdup(hook_name);
        h->path = hd_strdup(path);
        PTR_ARRAY_PUSH(e->hooks, e->n_hooks, h);
        return h;
}

void cdi_hook_add_arg(struct cdi_hook *h, const char *arg)
{
        hd_strv_push(&h->args, arg);
}

void cdi_hook_add_env(struct cdi_hook *h, const char *key_value)
{
        hd_strv_push(&h->env, key_value);
}

void cdi_edits_add_additional_gid(struct cdi_edits *e, uint32_t gid)
{
        e->additional_gids = hd_realloc_array(e->additional_gids, e->n_additional_gids + 1,
                                              sizeof(*e->additional_gids));
        e->additional_gids[e->n_additional_gids++] = gid;
}

struct cdi_net_device *cdi_edits_add_net_device(struct cdi_edits *e, const char *host_name,
                                                const char *name)
{
        struct cdi_net_device *n = hd_new0(struct cdi_net_device, 1);

        n->host_interface_name = hd_strdup(host_name);
        n->name = hd_strdup(name);
        PTR_ARRAY_PUSH(e->net_devices, e->n_net_devices, n);
        return n;
}

struct cdi_intel_rdt *cdi_edits_intel_rdt(struct cdi_edits *e)
{
        if (!e->intel_rdt)
                e->intel_rdt = hd_new0(struct cdi_intel_rdt, 1);
        return e->intel_rdt;
}

void cdi_device_node_set_permissions(struct cdi_device_node *node, const char *permissions)
{
        free(node->permissions);
        node->permissions = hd_strdup(permissions);
}

static void device_node_copy_into(struct cdi_device_node *dst, const struct cdi_device_node *src)
{
        char *path = dst->path, *host_path = dst->host_path;

        *dst = *src;
        dst->path = path;
        dst->host_path = host_path;
        dst->type = hd_strdup(src->type);
        dst->permissions = hd_strdup(src->permissions);
}

void cdi_edits_append(struct cdi_edits *dst, const struct cdi_edits *src)
{
        for (size_t i = 0; src->env && src->env[i]; i++)
                cdi_edits_add_env(dst, src->env[i]);

        for (size_t i = 0; i < src->n_device_nodes; i++) {
                const struct cdi_device_node *s = src->device_nodes[i];
                struct cdi_device_node *d = cdi_edits_add_device_node(dst, s->path, s->host_path);

                device_node_copy_into(d, s);
        }

        for (size_t i = 0; i < src->n_mounts; i++) {
                const struct cdi_mount *s = src->mounts[i];
                struct cdi_mount *m =
                        cdi_edits_add_mount(dst, s->host_path, s->container_path, s->type);

                m->options = strv_copy(s->options);
        }

        for (size_t i = 0; i < src->n_hooks; i++) {
                const struct cdi_hook *s = src->hooks[i];
                struct cdi_hook *h = cdi_edits_add_hook(dst, s->hook_name, s->path);

                h->args = strv_copy(s->args);
                h->env = strv_copy(s->env);
                h->has_timeout = s->has_timeout;
                h->timeout = s->timeout;
        }

        for (size_t i = 0; i < src->n_net_devices; i++)
                cdi_edits_add_net_device(dst, src->net_devices[i]->host_interface_name,
                                         src->net_devices[i]->name);

        if (src->intel_rdt) {
                const struct cdi_intel_rdt *s = src->intel_rdt;
                struct cdi_intel_rdt *r = hd_new0(struct cdi_intel_rdt, 1);

                r->clos_id = hd_strdup(s->clos_id);
                r->l3_cache_schema = hd_strdup(s->l3_cache_schema);
                r->mem_bw_schema = hd_strdup(s->mem_bw_schema);
                r->schemata = strv_copy(s->schemata);
                r->enable_monitoring = s->enable_monitoring;
                intel_rdt_free(dst->intel_rdt);
                dst->intel_rdt = r;
        }

        for (size_t i = 0; i < src->n_additional_gids; i++)
                cdi_edits_add_additional_gid(dst, src->additional_gids[i]);
}

void cdi_edits_copy(struct cdi_edits *dst, const struct cdi_edits *src)
{
        cdi_edits_init(dst);
        cdi_edits_append(dst, src);
}

struct cdi_spec *cdi_spec_new(const char *kind)
{
        struct cdi_spec *spec = hd_new0(struct cdi_spec, 1);

        spec->kind = hd_strdup(kind);
        cdi_edits_init(&spec->edits);
        return spec;
}

static void device_free(struct cdi_device *d)
{
        if (!d)
                return;
        free(d->name);
        cdi_annotations_done(&d->annotations);
        cdi_edits_done(&d->edits);
        free(d);
}

struct cdi_spec *cdi_spec_free(struct cdi_spec *spec)
{
        if (!spec)
                return NULL;
        free(spec->cdi_version);
        free(spec->kind);
        cdi_annotations_done(&spec->annotations);
        for (size_t i = 0; i < spec->n_devices; i++)
                device_free(spec->devices[i]);
        free(spec->devices);
        cdi_edits_done(&spec->edits);
        free(spec);
        return NULL;
}

struct cdi_device *cdi_spec_add_device(struct cdi_spec *spec, const char *name)
{
        struct cdi_device *d = hd_new0(struct cdi_device, 1);

        d->name = hd_strdup(name);
        cdi_edits_init(&d->edits);
        PTR_ARRAY_PUSH(spec->devices, spec->n_devices, d);
        return d;
}

struct cdi_device *cdi_spec_find_device(const struct cdi_spec *spec, const char *name)
{
        for (size_t i = 0; i < spec->n_devices; i++)
                if (hd_streq(spec->devices[i]->name, name))
                        return spec->devices[i];
        return NULL;
}

int cdi_device_node_fill_from_st(struct cdi_device_node *node, const struct stat *st,
                                 const char *path_for_errors, struct hd_error *reterr)
{
        const char *type;

        if (S_ISCHR(st->st_mode))
                type = "c";
        else if (S_ISBLK(st->st_mode))
                type = "b";
        else
                return hd_error_setf(reterr, ENODEV,
                                     "device node '%s' is not a character or block device",
                                     path_for_errors);

        free(node->type);
        node->type = hd_strdup(type);
        node->has_major = node->has_minor = true;
        node->major = major(st->st_rdev);
        node->minor = minor(st->st_rdev);
        return 0;
}

int cdi_device_node_fill_from_stat(struct cdi_device_node *node, struct hd_error *reterr)
{
        const char *path = node->host_path ? node->host_path : node->path;
        struct stat st;

        if (!path || !*path)
                return hd_error_setf(reterr, EINVAL, "device node without a path");
        if (stat(path, &st) < 0)
                return hd_error_set(reterr, errno, "device node '%s'", path);
        return cdi_device_node_fill_from_st(node, &st, path, reterr);
}
