/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/names.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool label_ok(const char *s, size_t n)
{
        if (n == 0 || n > DM_DNS_LABEL_MAX)
                return false;
        if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

bool dm_is_dns_label(const char *s)
{
        return s && label_ok(s, strlen(s));
}

bool dm_is_dns_subdomain(const char *s)
{
        if (!s)
                return false;
        size_t n = strlen(s);
        if (n == 0 || n > DM_DNS_SUBDOMAIN_MAX)
                return false;
        const char *p = s;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                /* Subdomain labels are checked for charset and ends only; the 63 cap is
                 * the API server's rule for the whole subdomain in attribute domains. */
                if (len == 0 || !is_lower_alnum(p[0]) || !is_lower_alnum(p[len - 1]))
                        return false;
                for (size_t i = 0; i < len; i++)
                        if (!is_lower_alnum(p[i]) && p[i] != '-')
                                return false;
                if (!dot)
                        return true;
                p = dot + 1;
        }
}

bool dm_is_c_identifier(const char *s)
{
        if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p > 127)
                        return false;
        return true;
}

/* A numeric identifier: digits, no leading zero unless it is "0". */
static bool semver_numeric(const char *s, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char)s[i]))
                        return false;
        return n == 1 || s[0] != '0';
}

/* Dot-separated identifiers of [0-9A-Za-z-]; in a pre-release, all-digit ones must not have a
 * leading zero. */
static bool semver_idents(const char *s, size_t n, bool prerelease)
{
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != '.') {
                        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                                return false;
                        continue;
                }
                size_t len = i - start;
                if (len == 0)
                        return false;
                bool digits = true;
                for (size_t j = start; j < i; j++)
                        digits = digits && isdigit((unsigned char)s[j]);
                if (prerelease && digits && !semver_numeric(s + start, len))
                        return false;
                start = i + 1;
        }
        return true;
}

bool dm_is_semver(const char *s)
{
        if (!s)
                return false;
        const char *p = s;
        for (int part = 0; part < 3; part++) {
                size_t n = strspn(p, "0123456789");
                if (!semver_numeric(p, n))
                        return false;
                p += n;
                if (part < 2) {
                        if (*p != '.')
                                return false;
                        p++;
                }
        }
        if (*p == '-') {
                p++;
                size_t n = strcspn(p, "+");
                if (!semver_idents(p, n, true))
                        return false;
                p += n;
        }
        if (*p == '+') {
                p++;
                if (!semver_idents(p, strlen(p), false))
                        return false;
                p += strlen(p);
        }
        return *p == '\0';
}

int dm_attr_name_check(const char *name, struct hd_error *reterr)
{
        const char *slash = strchr(name, '/');
        const char *id = slash ? slash + 1 : name;

        if (slash) {
                _cleanup_free_ char *domain = hd_strndup(name, (size_t)(slash - name));
                if (strlen(domain) > DM_ATTR_DOMAIN_MAX)
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute name '%s': domain '%s' is longer than %d "
                                             "characters; use a shorter domain prefix",
                                             name, domain, DM_ATTR_DOMAIN_MAX);
                if (!dm_is_dns_subdomain(domain))
                        return hd_error_setf(reterr, EINVAL,
                                             "attribute name '%s': domain '%s' is not a lowercase "
                                             "DNS subdomain (e.g. 'example.com')",
                                             name, domain);
        }
        if (strlen(id) > DM_ATTR_ID_MAX)
                return hd_error_setf(reterr, EINVAL,
                                     "attribute name '%s' is longer than %d characters; shorten it",
                                     name, DM_ATTR_ID_MAX);
        if (!dm_is_c_identifier(id))
                return hd_error_setf(reterr, EINVAL,
                                     "attribute name '%s' is not a C identifier; use letters, "
                                     "digits and '_', starting with a letter or '_' (e.g. "
                                     "'model_name')",
                                     name);
        return 0;
}

static uint32_t fnv1a(const char *s)
{
        uint32_t h = 2166136261u;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 16777619u;
        }
        return h;
}

char *dm_device_name_from_path(const char *path)
{
        const char *p = hd_startswith(path, "/dev/") ? path + strlen("/dev/") : path;
        struct hd_strbuf b = HD_STRBUF_INIT;
        bool dash = false;

        for (; *p; p++) {
                char c = (char)tolower((unsigned char)*p);
                if (is_lower_alnum(c)) {
                        if (dash && b.len > 0)
                                hd_strbuf_append(&b, "-", 1);
                        hd_strbuf_append(&b, &c, 1);
                        dash = false;
                } else {
                        dash = true;
                }
        }
        if (b.len == 0) {
                hd_strbuf_done(&b);
                return NULL;
        }
        if (b.len > DM_DNS_LABEL_MAX) {
                size_t keep = 54;
                while (keep > 0 && b.buf[keep - 1] == '-')
                        keep--;
                char *name = hd_asprintf("%.*s-%08x", (int)keep, b.buf, fnv1a(path));
                hd_strbuf_done(&b);
                return name;
        }
        return hd_strbuf_take(&b);
}

/* The name part of a qualified name: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63. */
static bool qualified_part_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > DM_DNS_LABEL_MAX)
                return false;
        if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] > 127 ||
                    !(isalnum((unsigned char)s[i]) || strchr("-_.", s[i])))
                        return false;
        return true;
}

int dm_resource_name_check(const char *name, struct hd_error *reterr)
{
        const char *slash = name ? strchr(name, '/') : NULL;
        if (!slash)
                return hd_error_setf(reterr, EINVAL,
                                     "resourceName '%s' must be domain-qualified, e.g. "
                                     "'example.com/gpu'",
                                     name ? name : "");
        _cleanup_free_ char *domain = hd_strndup(name, (size_t)(slash - name));
        if (!dm_is_dns_subdomain(domain))
                return hd_error_setf(reterr, EINVAL,
                                     "resourceName '%s': the domain '%s' is not a lowercase DNS "
                                     "subdomain",
                                     name, domain);
        if (hd_streq(domain, "kubernetes.io") || hd_endswith(domain, ".kubernetes.io"))
                return hd_error_setf(reterr, EINVAL,
                                     "resourceName '%s': the kubernetes.io domain is reserved "
                                     "for Kubernetes; use your own domain",
                                     name);
        if (!qualified_part_ok(slash + 1))
                return hd_error_setf(reterr, EINVAL,
                                     "resourceName '%s': the name after '/' must be 1-63 "
                                     "characters of a-z, A-Z, 0-9, '-', '_', '.', starting and "
                                     "ending with a letter or digit",
                                     name);
        return 0;
}
