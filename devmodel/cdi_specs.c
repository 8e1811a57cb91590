/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/cdi_specs.h"

#include <errno.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

void dm_edits_to_cdi(const struct dm_edits *e, struct cdi_edits *dst)
{
        for (size_t i = 0; i < e->n_nodes; i++) {
                const struct dm_node *n = &e->nodes[i];
                bool same = hd_streq(n->path, n->host_path);
                struct cdi_device_node *c =
                        cdi_edits_add_device_node(dst, n->path, same ? NULL : n->host_path);
                if (n->type) {
                        char type[2] = {n->type, '\0'};
                        c->type = hd_strdup(type);
                        c->has_major = true;
                        c->major = n->major;
                        c->has_minor = true;
                        c->minor = n->minor;
                }
                if (n->permissions)
                        cdi_device_node_set_permissions(c, n->permissions);
        }
        for (size_t i = 0; i < e->n_mounts; i++) {
                const struct dm_mount *m = &e->mounts[i];
                struct cdi_mount *c = cdi_edits_add_mount(
                        dst, m->host_path, m->container_path ? m->container_path : m->host_path,
                        m->type);
                for (char **o = m->options; o && *o; o++)
                        cdi_mount_add_option(c, *o);
        }
        for (char **env = e->env; env && *env; env++)
                cdi_edits_add_env(dst, *env);
        for (size_t i = 0; i < e->n_hooks; i++) {
                const struct dm_hook *h = &e->hooks[i];
                struct cdi_hook *c = cdi_edits_add_hook(dst, h->hook_name, h->path);
                for (char **a = h->args; a && *a; a++)
                        cdi_hook_add_arg(c, *a);
                for (char **a = h->env; a && *a; a++)
                        cdi_hook_add_env(c, *a);
                if (h->timeout > 0) {
                        c->has_timeout = true;
                        c->timeout = (uint32_t)h->timeout;
                }
        }
}

int dm_group_common_edits(const struct dm_group *group, const char *root, struct dm_edits *ret,
                          struct hd_error *reterr)
{
        struct dm_edits rendered = {0};
        /* Common edits hold no variables (refused at load), so no vars are needed. */
        int r = dm_edits_render(&group->common_edits, NULL, &rendered, reterr);
        if (r >= 0)
                r = dm_edits_resolve(&rendered, root, ret, reterr);
        dm_edits_done(&rendered);
        if (r < 0)
                return hd_error_wrap(reterr, "group '%s' commonEdits", group->name);
        return 0;
}

int dm_group_spec_build(const struct dm_inventory *inv, const struct dm_group *group,
                        const char *driver, struct cdi_spec **ret, struct hd_error *reterr)
{
        _cleanup_free_ char *kind = cdi_group_spec_kind(driver, group->name);
        struct cdi_spec *spec _cleanup_cdi_spec_ = cdi_spec_new(kind);
        int r;

        *ret = NULL;
        for (size_t i = 0; i < inv->n_devices; i++) {
                const struct dm_device *d = &inv->devices[i];
                if (d->group != group || d->replica != 0)
                        continue;
                struct dm_edits resolved = {0};
                r = dm_edits_resolve(&d->edits, dm_inventory_host_root(inv), &resolved, reterr);
                if (r >= 0) {
                        struct cdi_device *cd = cdi_spec_add_device(spec, d->base_name);
                        dm_edits_to_cdi(&resolved, &cd->edits);
                }
                dm_edits_done(&resolved);
                if (r < 0)
                        return hd_error_wrap(reterr, "device '%s'", d->base_name);
        }
        if (spec->n_devices == 0)
                return hd_error_setf(reterr, ENODEV,
                                     "group '%s' has no device on this node; a CDI spec needs "
                                     "at least one",
                                     group->name);

        struct dm_edits common = {0};
        r = dm_group_common_edits(group, dm_inventory_host_root(inv), &common, reterr);
        if (r >= 0)
                dm_edits_to_cdi(&common, &spec->edits);
        dm_edits_done(&common);
        if (r < 0)
                return r;
        r = cdi_spec_validate(spec, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "group '%s' spec", group->name);
        *ret = TAKE_PTR(spec);
        return 0;
}
