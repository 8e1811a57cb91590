/* SPDX-License-Identifier: Apache-2.0 */
/* API discovery through the legacy (non-aggregated) documents: /apis/<group> (APIGroup) and
 * /apis/<group>/<version> (APIResourceList); the core group answers /api and /api/v1. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

/* The versions GROUP serves, as a strv in the server's order. */
static int served_versions(struct kube_client *c, const char *group, char ***ret,
                           struct hd_error *reterr)
{
        _cleanup_free_ char *path = *group ? hd_asprintf("/apis/%s", group) : hd_strdup("/api");
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_strv_ char **out = hd_new0(char *, 1);
        json_t *versions = NULL;
        int r;

        r = kube_get(c, path, &doc, reterr);
        if (r < 0)
                return r;
        r = hd_json_get_array(doc, "versions", true, &versions, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "GET %s", path);
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v)
        {
                const char *name = NULL;
                if (json_is_string(v)) { /* /api: APIVersions lists plain strings */
                        name = json_string_value(v);
                } else {
                        r = hd_json_get_string(v, "version", true, &name, reterr);
                        if (r < 0)
                                return hd_error_wrap(reterr, "GET %s: versions[%zu]", path, i);
                }
                hd_strv_push(&out, name);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int kube_discover_group_version(struct kube_client *c, const char *group,
                                const char *const *preferred, char **ret_version,
                                struct hd_error *reterr)
{
        _cleanup_strv_ char **served = NULL;
        const char *g = group ? group : "";
        int r;

        r = served_versions(c, g, &served, reterr);
        if (r == -ENOENT) {
                r = hd_error_wrap(reterr, "API group \"%s\" is not served", g);
                return r;
        }
        if (r < 0)
                return hd_error_wrap(reterr, "discover API group \"%s\"", g);
        for (const char *const *p = preferred; p && *p; p++)
                if (hd_strv_contains(served, *p)) {
                        *ret_version = hd_strdup(*p);
                        return 0;
                }

        struct hd_strbuf want = HD_STRBUF_INIT, have = HD_STRBUF_INIT;
        for (const char *const *p = preferred; p && *p; p++)
                hd_strbuf_printf(&want, "%s%s", want.len ? ", " : "", *p);
        for (char **p = served; *p; p++)
                hd_strbuf_printf(&have, "%s%s", have.len ? ", " : "", *p);
        r = hd_error_setf(reterr, ENOENT, "API group \"%s\": none of %s is served (server has: %s)",
                          g, want.len ? want.buf : "(none)", have.len ? have.buf : "nothing");
        hd_strbuf_done(&want);
        hd_strbuf_done(&have);
        return r;
}

int kube_discover_resource(struct kube_client *c, const char *group, const char *version,
                           const char *resource, struct hd_error *reterr)
{
        _cleanup_free_ char *path = group && *group ? hd_asprintf("/apis/%s/%s", group, version)
                                                    : hd_asprintf("/api/%s", version);
        _cleanup_json_ json_t *doc = NULL;
        json_t *resources = NULL;
        int r;

        struct hd_error err = HD_ERROR_INIT;
        r = kube_get(c, path, &doc, &err);
        if (r == -ENOENT) { /* the version itself is not served */
                hd_error_done(&err);
                return 0;
        }
        if (r < 0) {
                hd_error_move(reterr, &err);
                return hd_error_wrap(reterr, "discover %s", path);
        }
        r = hd_json_get_array(doc, "resources", true, &resources, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "GET %s", path);
        size_t i;
        json_t *e;
        json_array_foreach(resources, i, e)
        {
                const char *name = NULL;
                r = hd_json_get_string(e, "name", true, &name, reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "GET %s: resources[%zu]", path, i);
                if (strcmp(name, resource) == 0)
                        return 1;
        }
        return 0;
}
