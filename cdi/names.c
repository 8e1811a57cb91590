/* SPDX-License-Identifier: Apache-2.0 */
/* CDI name rules (vendor, class, device name, qualified "vendor/class=name") and the names of
 * our per-claim and per-group spec files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "cdi/cdi-internal.h"
#include "cdi/cdi.h"

#define VENDOR_MAX 253 /* a DNS subdomain */
#define CLASS_MAX 63

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
        return is_alpha(c) || is_digit(c);
}

static bool is_hex(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Vendor and class share one grammar: letter first, alphanumeric last, [A-Za-z0-9_.-] inside.
 * WHAT names the part in messages. */
static int validate_vendor_or_class(const char *what, const char *s, size_t max,
                                    struct hd_error *reterr)
{
        size_t len;

        if (!s || !*s)
                return hd_error_setf(reterr, EINVAL, "invalid %s: empty", what);
        len = strlen(s);
        if (len > max)
                return hd_error_setf(reterr, EINVAL, "invalid %s \"%s\": longer than %zu bytes",
                                     what, s, max);
        if (!is_alpha(s[0]))
                return hd_error_setf(reterr, EINVAL, "invalid %s \"%s\": must start with a letter",
                                     what, s);
        for (size_t i = 1; i < len; i++)
                if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
                        return hd_error_setf(reterr, EINVAL,
                                             "invalid %s \"%s\": character '%c' not allowed "
                                             "(letters, digits, '_', '.', '-')",
                                             what, s, s[i]);
        if (!is_alnum(s[len - 1]))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid %s \"%s\": must end with a letter or digit", what, s);
        return 0;
}

int cdi_validate_vendor(const char *vendor, struct hd_error *reterr)
{
        return validate_vendor_or_class("vendor", vendor, VENDOR_MAX, reterr);
}

int cdi_validate_class(const char *cls, struct hd_error *reterr)
{
        return validate_vendor_or_class("class", cls, CLASS_MAX, reterr);
}

int cdi_validate_device_name(const char *name, struct hd_error *reterr)
{
        size_t len;

        if (!name || !*name)
                return hd_error_setf(reterr, EINVAL, "invalid device name: empty");
        len = strlen(name);
        if (!is_alnum(name[0]))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid device name \"%s\": must start with a letter or "
                                     "digit",
                                     name);
        for (size_t i = 1; i < len; i++)
                if (!is_alnum(name[i]) && !strchr("_.:-", name[i]))
                        return hd_error_setf(reterr, EINVAL,
                                             "invalid device name \"%s\": character '%c' not "
                                             "allowed (letters, digits, '_', '.', ':', '-')",
                                             name, name[i]);
        if (!is_alnum(name[len - 1]))
                return hd_error_setf(reterr, EINVAL,
                                     "invalid device name \"%s\": must end with a letter or digit",
                                     name);
        return 0;
}

int cdi_validate_kind(const char *kind, struct hd_error *reterr)
{
        _cleanup_free_ char *vendor = NULL;
        const char *slash;
        int r;

        if (!kind || !*kind)
                return hd_error_setf(reterr, EINVAL, "invalid kind: empty");
        slash = strchr(kind, '/');
        if (!slash)
                return hd_error_setf(reterr, EINVAL,
                                     "invalid kind \"%s\": expected \"vendor/class\"", kind);
        vendor = hd_strndup(kind, (size_t)(slash - kind));
        r = cdi_validate_vendor(vendor, reterr);
        if (r >= 0)
                r = cdi_validate_class(slash + 1, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "invalid kind \"%s\"", kind);
        return 0;
}

int cdi_parse_qualified_name(const char *qualified, char **ret_vendor, char **ret_class,
                             char **ret_name, struct hd_error *reterr)
{
        _cleanup_free_ char *vendor = NULL, *cls = NULL, *name = NULL;
        const char *slash, *eq;
        int r;

        if (!qualified || !*qualified)
                return hd_error_setf(reterr, EINVAL, "invalid device ID: empty");
        slash = strchr(qualified, '/');
        eq = slash ? strchr(slash, '=') : NULL;
        if (!slash || !eq)
                return hd_error_setf(reterr, EINVAL,
                                     "invalid device ID \"%s\": expected \"vendor/class=name\"",
                                     qualified);

        vendor = hd_strndup(qualified, (size_t)(slash - qualified));
        cls = hd_strndup(slash + 1, (size_t)(eq - slash - 1));
        name = hd_strdup(eq + 1);

        r = cdi_validate_vendor(vendor, reterr);
        if (r >= 0)
                r = cdi_validate_class(cls, reterr);
        if (r >= 0)
                r = cdi_validate_device_name(name, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "invalid device ID \"%s\"", qualified);

        if (ret_vendor)
                *ret_vendor = TAKE_PTR(vendor);
        if (ret_class)
                *ret_class = TAKE_PTR(cls);
        if (ret_name)
                *ret_name = TAKE_PTR(name);
        return 0;
}

char *cdi_qualified_id(const char *kind, const char *name)
{
        return hd_asprintf("%s=%s", kind, name);
}

char *cdi_kind_file_prefix(const char *kind)
{
        const char *slash = kind ? strchr(kind, '/') : NULL;

        if (!slash)
                return NULL;
        return hd_asprintf("%.*s-%s", (int)(slash - kind), kind, slash + 1);
}

int cdi_validate_claim_uid(const char *uid, struct hd_error *reterr)
{
        /* 8-4-4-4-12 */
        static const int dash_at[] = {8, 13, 18, 23};
        size_t len = uid ? strnlen(uid, 37) : 0;

        if (len != 36)
                goto invalid;
        for (size_t i = 0, d = 0; i < 36; i++) {
                if (d < HD_ARRAY_SIZE(dash_at) && (int)i == dash_at[d]) {
                        if (uid[i] != '-')
                                goto invalid;
                        d++;
                } else if (!is_hex(uid[i])) {
                        goto invalid;
                }
        }
        return 0;

invalid:
        /* Print at most 64 bytes of what we were given: it came from outside. */
        return hd_error_setf(reterr, EINVAL,
                             "invalid claim UID \"%.64s\": expected RFC 4122 form "
                             "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                             uid ? uid : "");
}

char *cdi_claim_spec_kind(const char *driver)
{
        return hd_asprintf("k8s.%s/claim", driver);
}

char *cdi_claim_spec_file_prefix(const char *driver)
{
        return hd_asprintf("k8s.%s-claim_", driver);
}

/* The driver becomes part of the vendor "k8s.<driver>" and of file names. */
static int validate_driver(const char *driver, struct hd_error *reterr)
{
        _cleanup_free_ char *vendor = NULL;

        if (!driver || !*driver)
                return hd_error_setf(reterr, EINVAL, "invalid driver name: empty");
        vendor = hd_asprintf("k8s.%s", driver);
        if (cdi_validate_vendor(vendor, reterr) < 0)
                return hd_error_wrap_r(reterr, -EINVAL, "invalid driver name \"%s\"", driver);
        return 0;
}

/* *RET_NAME = "k8s.<DRIVER>-<TAIL>.json" (both already checked), refused unless it is a plain
 * file name. */
static int spec_file_name(const char *driver, const char *tail, char **ret_name,
                          struct hd_error *reterr)
{
        _cleanup_free_ char *name = hd_asprintf("k8s.%s-%s.json", driver, tail);
        if (!hd_filename_is_safe(name))
                return hd_error_setf(reterr, EINVAL, "spec file name \"%s\" is not safe", name);
        *ret_name = TAKE_PTR(name);
        return 0;
}

int cdi_claim_spec_file_name(const char *driver, const char *claim_uid, char **ret_name,
                             struct hd_error *reterr)
{
        int r = validate_driver(driver, reterr);
        if (r >= 0)
                r = cdi_validate_claim_uid(claim_uid, reterr);
        if (r < 0)
                return r;
        _cleanup_free_ char *tail = hd_asprintf("claim_%s", claim_uid);
        return spec_file_name(driver, tail, ret_name, reterr);
}

int cdi_claim_uid_from_file_name(const char *driver, const char *file_name, char **ret_uid)
{
        _cleanup_free_ char *prefix = NULL, *uid = NULL;
        size_t plen, len;

        if (!driver || !file_name)
                return -EINVAL;
        prefix = cdi_claim_spec_file_prefix(driver);
        if (!hd_startswith(file_name, prefix))
                return -EINVAL;
        plen = strlen(prefix);
        len = strlen(file_name);
        if (!hd_endswith(file_name, ".json") && !hd_endswith(file_name, ".yaml"))
                return -EINVAL;
        if (len < plen + strlen(".json"))
                return -EINVAL;
        uid = hd_strndup(file_name + plen, len - plen - strlen(".json"));
        if (cdi_validate_claim_uid(uid, NULL) < 0)
                return -EINVAL;
        *ret_uid = TAKE_PTR(uid);
        return 0;
}

int cdi_claim_device_name(const char *claim_uid, const char *device, char **ret_name,
                          struct hd_error *reterr)
{
        _cleanup_free_ char *name = NULL;
        int r;

        r = cdi_validate_claim_uid(claim_uid, reterr);
        if (r < 0)
                return r;
        name = hd_asprintf("%s-%s", claim_uid, device ? device : "");
        r = cdi_validate_device_name(name, reterr);
        if (r < 0)
                return r;
        *ret_name = TAKE_PTR(name);
        return 0;
}

char *cdi_group_spec_kind(const char *driver, const char *group)
{
        return hd_asprintf("k8s.%s/%s", driver, group);
}

int cdi_group_spec_file_name(const char *driver, const char *group, char **ret_name,
                             struct hd_error *reterr)
{
        int r = validate_driver(driver, reterr);
        if (r < 0)
                return r;
        _cleanup_free_ char *kind = cdi_group_spec_kind(driver, group ? group : "");
        r = cdi_validate_kind(kind, reterr);
        if (r < 0)
                return r;
        return spec_file_name(driver, group, ret_name, reterr);
}
