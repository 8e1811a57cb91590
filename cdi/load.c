/* SPDX-License-Identifier: Apache-2.0 */
/* Loading a spec: read the file, pick the format by name, convert YAML to a JSON tree
 * (yaml_read.c) and decode the tree strictly (json_read.c). The loader sits above both readers,
 * which never call each other. */
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "base/fileio.h"
#include "base/jsonfield.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

int cdi_spec_from_yaml(const char *text, struct cdi_spec **ret_spec, struct hd_error *reterr)
{
        _cleanup_json_ json_t *root = NULL;
        int r = cdi_yaml_to_json(text, &root, reterr);
        if (r < 0)
                return r;
        return cdi_spec_from_json_value(root, ret_spec, reterr);
}

static int spec_parse_cb(const char *path, const char *data, size_t len, void *userdata,
                         struct hd_error *reterr)
{
        int r;

        if (strlen(data) != len)
                return hd_error_setf(reterr, EINVAL, "%s: contains a NUL byte", path);
        if (hd_endswith(path, ".yaml") || hd_endswith(path, ".yml"))
                r = cdi_spec_from_yaml(data, userdata, reterr);
        else
                r = cdi_spec_from_json(data, userdata, reterr);
        return r < 0 ? hd_error_wrap_r(reterr, r, "%s", path) : 0;
}

int cdi_spec_load_file(const char *path, struct cdi_spec **ret_spec, struct hd_error *reterr)
{
        return hd_read_file_parse(path, CDI_SPEC_MAX_SIZE, true, NULL, spec_parse_cb, ret_spec,
                                  reterr);
}
