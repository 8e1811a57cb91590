/* SPDX-License-Identifier: Apache-2.0 */
/* Our validation of a CDI spec. Stricter than the JSON schema (which checks only types and
 * required fields) and at least as strict as the CDI library's loader, so a spec we write or
 * accept is one every runtime loads. Each failure names the device and the field path. */
#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

#define ANNOTATIONS_TOTAL_MAX (256u * 1024u) /* the Kubernetes limit the CDI library reuses */
#define ANNOTATION_NAME_MAX 63
#define ANNOTATION_PREFIX_MAX 253
#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

static const char *const hook_names[] = {
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_absolute(const char *p)
{
        return p && p[0] == '/';
}

/* "K=V" with a non-empty K. */
static bool env_is_valid(const char *kv)
{
        const char *eq = kv ? strchr(kv, '=') : NULL;

        return eq && eq != kv;
}

static int validate_env(const char *where, const char *field, char *const *env,
                        struct hd_error *reterr)
{
        for (size_t i = 0; env && env[i]; i++)
                if (!env_is_valid(env[i]))
                        return hd_error_setf(reterr, EINVAL,
                                             "%s.%s[%zu] \"%s\" is not of the form KEY=VALUE",
                                             where, field, i, env[i]);
        return 0;
}

static int validate_device_node(const char *where, size_t i, const struct cdi_device_node *d,
                                struct hd_error *reterr)
{
        bool needs_numbers;

        if (!d->path || !*d->path)
                return hd_error_setf(reterr, EINVAL, "%s.deviceNodes[%zu].path is missing", where,
                                     i);
        if (!is_absolute(d->path))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.deviceNodes[%zu].path \"%s\" is not absolute", where, i,
                                     d->path);
        if (d->host_path && *d->host_path && !is_absolute(d->host_path))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.deviceNodes[%zu].hostPath \"%s\" is not absolute", where,
                                     i, d->host_path);

        for (const char *p = d->permissions; p && *p; p++)
                if (*p != 'r' && *p != 'w' && *p != 'm')
                        return hd_error_setf(reterr, EINVAL,
                                             "%s.deviceNodes[%zu].permissions \"%s\" of \"%s\" "
                                             "must be a subset of \"rwm\"",
                                             where, i, d->permissions, d->path);

        if (!d->type || !*d->type)
                return 0;
        if (!hd_streq(d->type, "b") && !hd_streq(d->type, "c") && !hd_streq(d->type, "u") &&
            !hd_streq(d->type, "p"))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.deviceNodes[%zu].type \"%s\" of \"%s\" must be one of "
                                     "b, c, u, p",
                                     where, i, d->type, d->path);
        /* OCI: major and minor are required unless the type is p (a FIFO, which has none). */
        needs_numbers = !hd_streq(d->type, "p");
        if (needs_numbers && (!d->has_major || !d->has_minor))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.deviceNodes[%zu] \"%s\" of type \"%s\" needs major and "
                                     "minor",
                                     where, i, d->path, d->type);
        if (!needs_numbers && ((d->has_major && d->major != 0) || (d->has_minor && d->minor != 0)))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.deviceNodes[%zu] \"%s\" is a FIFO (type \"p\") and takes "
                                     "no major/minor",
                                     where, i, d->path);
        if (d->has_major && d->major < 0)
                return hd_error_setf(reterr, EINVAL, "%s.deviceNodes[%zu].major is negative", where,
                                     i);
        if (d->has_minor && d->minor < 0)
                return hd_error_setf(reterr, EINVAL, "%s.deviceNodes[%zu].minor is negative", where,
                                     i);
        return 0;
}

/* A bind mount's source is a host path; for other types (tmpfs, proc, ...) it names a source
 * the kernel interprets, so only bind mounts need an absolute hostPath. */
static bool mount_is_bind(const struct cdi_mount *m)
{
        return !m->type || !*m->type || hd_streq(m->type, "bind") || hd_streq(m->type, "rbind");
}

static int validate_mount(const char *where, size_t i, const struct cdi_mount *m,
                          struct hd_error *reterr)
{
        if (!m->host_path || !*m->host_path)
                return hd_error_setf(reterr, EINVAL, "%s.mounts[%zu].hostPath is missing", where,
                                     i);
        if (!m->container_path || !*m->container_path)
                return hd_error_setf(reterr, EINVAL, "%s.mounts[%zu].containerPath is missing",
                                     where, i);
        if (!is_absolute(m->container_path))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.mounts[%zu].containerPath \"%s\" is not absolute", where,
                                     i, m->container_path);
        if (mount_is_bind(m) && !is_absolute(m->host_path))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.mounts[%zu].hostPath \"%s\" is not absolute", where, i,
                                     m->host_path);
        for (size_t j = 0; m->options && m->options[j]; j++)
                if (!*m->options[j])
                        return hd_error_setf(reterr, EINVAL, "%s.mounts[%zu].options[%zu] is empty",
                                             where, i, j);
        return 0;
}

static int validate_hook(const char *where, size_t i, const struct cdi_hook *h,
                         struct hd_error *reterr)
{
        _cleanup_free_ char *field = NULL;
        bool known = false;

        for (size_t j = 0; j < HD_ARRAY_SIZE(hook_names); j++)
                known = known || hd_streq(h->hook_name, hook_names[j]);
        if (!known)
                return hd_error_setf(reterr, EINVAL,
                                     "%s.hooks[%zu].hookName \"%s\" is not one of prestart, "
                                     "createRuntime, createContainer, startContainer, poststart, "
                                     "poststop",
                                     where, i, h->hook_name ? h->hook_name : "");
        if (!h->path || !*h->path)
                return hd_error_setf(reterr, EINVAL, "%s.hooks[%zu].path is missing", where, i);
        if (!is_absolute(h->path))
                return hd_error_setf(reterr, EINVAL, "%s.hooks[%zu].path \"%s\" is not absolute",
                                     where, i, h->path);
        field = hd_asprintf("hooks[%zu].env", i);
        return validate_env(where, field, h->env, reterr);
}

static bool ifname_is_valid(const char *n)
{
        if (!n || !*n || strlen(n) > IFNAME_MAX || hd_streq(n, ".") || hd_streq(n, ".."))
                return false;
        for (; *n; n++)
                if (*n == '/' || *n == ':' || *n == ' ' || *n == '\t' || *n == '\n' || *n == '\r' ||
                    *n == '\v' || *n == '\f')
                        return false;
        return true;
}

static int validate_net_devices(const char *where, const struct cdi_edits *e,
                                struct hd_error *reterr)
{
        for (size_t i = 0; i < e->n_net_devices; i++) {
                const struct cdi_net_device *n = e->net_devices[i];

                if (!ifname_is_valid(n->host_interface_name))
                        return hd_error_setf(reterr, EINVAL,
                                             "%s.netDevices[%zu].hostInterfaceName \"%s\" is not "
                                             "a valid interface name",
                                             where, i,
                                             n->host_interface_name ? n->host_interface_name : "");
                if (!ifname_is_valid(n->name))
                        return hd_error_setf(reterr, EINVAL,
                                             "%s.netDevices[%zu].name \"%s\" is not a valid "
                                             "interface name",
                                             where, i, n->name ? n->name : "");
                for (size_t j = 0; j < i; j++) {
                        if (hd_streq(e->net_devices[j]->host_interface_name,
                                     n->host_interface_name))
                                return hd_error_setf(reterr, EINVAL,
                                                     "%s.netDevices[%zu].hostInterfaceName \"%s\" "
                                                     "is used twice",
                                                     where, i, n->host_interface_name);
                        if (hd_streq(e->net_devices[j]->name, n->name))
                                return hd_error_setf(reterr, EINVAL,
                                                     "%s.netDevices[%zu].name \"%s\" is used twice",
                                                     where, i, n->name);
                }
        }
        return 0;
}

static int validate_edits(const char *where, const struct cdi_edits *e, struct hd_error *reterr)
{
        int r;

        r = validate_env(where, "env", e->env, reterr);
        if (r < 0)
                return r;
        for (size_t i = 0; i < e->n_device_nodes; i++) {
                r = validate_device_node(where, i, e->device_nodes[i], reterr);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_mounts; i++) {
                r = validate_mount(where, i, e->mounts[i], reterr);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_hooks; i++) {
                r = validate_hook(where, i, e->hooks[i], reterr);
                if (r < 0)
                        return r;
        }
        r = validate_net_devices(where, e, reterr);
        if (r < 0)
                return r;
        if (e->intel_rdt && e->intel_rdt->clos_id && *e->intel_rdt->clos_id &&
            !hd_filename_is_safe(e->intel_rdt->clos_id))
                return hd_error_setf(reterr, EINVAL,
                                     "%s.intelRdt.closID \"%s\" must be a plain file name", where,
                                     e->intel_rdt->clos_id);
        return 0;
}

/* Lowercase RFC 1123 subdomain: dot-separated labels of [a-z0-9-], alphanumeric at both ends. */
static bool is_dns_subdomain(const char *s, size_t len)
{
        size_t label = 0;

        if (len == 0 || len > ANNOTATION_PREFIX_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                bool lower_alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!lower_alnum && c != '-')
                        return false;
                if (label == 0 && c == '-')
                        return false;
                label++;
        }
        return label > 0 && s[len - 1] != '-';
}

/* A Kubernetes qualified name: [prefix/]name, name <= 63 of [A-Za-z0-9_.-] with alphanumeric
 * ends, prefix a DNS subdomain. */
static bool annotation_key_is_valid(const char *key)
{
        const char *slash = strchr(key, '/');
        const char *name = slash ? slash + 1 : key;
        size_t len = strlen(name);

        if (slash && !is_dns_subdomain(key, (size_t)(slash - key)))
                return false;
        if (len == 0 || len > ANNOTATION_NAME_MAX || !is_alnum(name[0]) || !is_alnum(name[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
                        return false;
        return true;
}

static int validate_annotations(const char *where, const struct cdi_annotations *a,
                                struct hd_error *reterr)
{
        size_t total = 0;

        for (size_t i = 0; i < a->n; i++) {
                if (!a->items[i].key || !annotation_key_is_valid(a->items[i].key))
                        return hd_error_setf(reterr, EINVAL,
                                             "%sannotations key \"%s\" is not a valid qualified "
                                             "name ([prefix/]name)",
                                             where, a->items[i].key ? a->items[i].key : "");
                total += strlen(a->items[i].key) +
                         strlen(a->items[i].value ? a->items[i].value : "");
        }
        if (total > ANNOTATIONS_TOTAL_MAX)
                return hd_error_setf(reterr, EINVAL, "%sannotations larger than %u bytes", where,
                                     ANNOTATIONS_TOTAL_MAX);
        return 0;
}

static int validate_device(const struct cdi_spec *spec, size_t i, struct hd_error *reterr)
{
        const struct cdi_device *d = spec->devices[i];
        _cleanup_free_ char *where = NULL, *prefix = NULL;
        int r;

        if (!d->name || !*d->name)
                return hd_error_setf(reterr, EINVAL, "devices[%zu].name is missing", i);
        r = cdi_validate_device_name(d->name, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "devices[%zu]", i);
        for (size_t j = 0; j < i; j++)
                if (hd_streq(spec->devices[j]->name, d->name))
                        return hd_error_setf(reterr, EINVAL,
                                             "device \"%s\": name used by more than one device",
                                             d->name);

        prefix = hd_asprintf("device \"%s\": ", d->name);
        r = validate_annotations(prefix, &d->annotations, reterr);
        if (r < 0)
                return r;
        if (cdi_edits_is_empty(&d->edits))
                return hd_error_setf(reterr, EINVAL,
                                     "device \"%s\": invalid device, empty device edits", d->name);
        where = hd_asprintf("device \"%s\": containerEdits", d->name);
        return validate_edits(where, &d->edits, reterr);
}

int cdi_spec_validate(const struct cdi_spec *spec, struct hd_error *reterr)
{
        int r;

        r = cdi_validate_kind(spec->kind, reterr);
        if (r < 0)
                return r;
        r = validate_annotations("", &spec->annotations, reterr);
        if (r < 0)
                return r;
        r = validate_edits("containerEdits", &spec->edits, reterr);
        if (r < 0)
                return r;
        if (spec->n_devices == 0)
                return hd_error_setf(reterr, EINVAL, "spec of kind \"%s\" has no devices",
                                     spec->kind);
        for (size_t i = 0; i < spec->n_devices; i++) {
                r = validate_device(spec, i, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}
