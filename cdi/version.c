/* SPDX-License-Identifier: Apache-2.0 */
/* The minimum cdiVersion a spec needs, and the check a loader applies to a declared version.
 *
 * Writers declare the lowest version that covers the fields they use so that runtimes with
 * older CDI libraries (whose parsers reject unknown fields) still load the spec; Podman 4.3
 * reads only up to 0.5.0. */
#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

/* Every released spec version, oldest first. 0.8.0 and 1.0.0 changed only the Go API. */
static const char *const known_versions[] = {
        "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
};

static int version_index(const char *v)
{
        for (size_t i = 0; v && i < HD_ARRAY_SIZE(known_versions); i++)
                if (strcmp(known_versions[i], v) == 0)
                        return (int)i;
        return -1;
}

bool cdi_version_is_known(const char *version)
{
        return version_index(version) >= 0;
}

int cdi_version_compare(const char *a, const char *b)
{
        int ia = version_index(a), ib = version_index(b);

        return (ia > ib) - (ia < ib);
}

/* What one set of edits needs, as a version string, beyond the baseline. AS_WRITTEN: judge the
 * document our writer produces (which omits a hostPath equal to the path) rather than the
 * fields as they were read. */
static const char *edits_min_version(const struct cdi_edits *e, bool as_written)
{
        if (e->n_net_devices > 0)
                return "1.1.0";
        if (e->intel_rdt &&
            (hd_strv_len(e->intel_rdt->schemata) > 0 || e->intel_rdt->enable_monitoring))
                return "1.1.0";
        if (e->intel_rdt || e->n_additional_gids > 0)
                return "0.7.0";
        for (size_t i = 0; i < e->n_device_nodes; i++)
                if (as_written
                            ? cdi_device_node_writes_host_path(e->device_nodes[i])
                            : (e->device_nodes[i]->host_path && e->device_nodes[i]->host_path[0]))
                        return "0.5.0";
        for (size_t i = 0; i < e->n_mounts; i++)
                if (e->mounts[i]->type && e->mounts[i]->type[0])
                        return "0.4.0";
        return CDI_VERSION_EARLIEST;
}

static const char *max_version(const char *a, const char *b)
{
        return cdi_version_compare(a, b) >= 0 ? a : b;
}

static const char *spec_min_version(const struct cdi_spec *spec, bool as_written)
{
        const char *v = CDI_VERSION_EARLIEST;
        const char *slash = spec->kind ? strchr(spec->kind, '/') : NULL;

        v = max_version(v, edits_min_version(&spec->edits, as_written));
        if (spec->annotations.n > 0)
                v = max_version(v, "0.6.0");
        if (slash && strchr(slash + 1, '.'))
                v = max_version(v, "0.6.0");

        for (size_t i = 0; i < spec->n_devices; i++) {
                const struct cdi_device *d = spec->devices[i];

                v = max_version(v, edits_min_version(&d->edits, as_written));
                if (d->annotations.n > 0)
                        v = max_version(v, "0.6.0");
                if (d->name && d->name[0] >= '0' && d->name[0] <= '9')
                        v = max_version(v, "0.5.0");
        }
        return v;
}

const char *cdi_spec_min_version(const struct cdi_spec *spec)
{
        return spec_min_version(spec, true);
}

int cdi_spec_check_version(const struct cdi_spec *spec, struct hd_error *reterr)
{
        const char *min;

        if (!spec->cdi_version || !*spec->cdi_version)
                return hd_error_setf(reterr, EINVAL, "cdiVersion missing");
        if (!cdi_version_is_known(spec->cdi_version))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid cdiVersion \"%s\": not a known CDI spec version "
                                     "(0.3.0 .. %s)",
                                     spec->cdi_version, CDI_VERSION_CURRENT);
        /* A document that carries a field at all needs the version that introduced it, even
         * where our writer would have left it out. */
        min = spec_min_version(spec, false);
        if (cdi_version_compare(spec->cdi_version, min) < 0)
                return hd_error_setf(reterr, EINVAL,
                                     "cdiVersion \"%s\" too low: the spec's fields need at "
                                     "least %s",
                                     spec->cdi_version, min);
        return 0;
}
