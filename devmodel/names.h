/* SPDX-License-Identifier: Apache-2.0 */
/* Name and value rules the Kubernetes API server applies to ResourceSlices, checked on our side
 * so a bad config is reported with its file position instead of a rejected slice. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hd_error;

#define DM_DNS_LABEL_MAX 63
#define DM_DNS_SUBDOMAIN_MAX 253
#define DM_ATTR_ID_MAX 32     /* C-identifier part of an attribute name */
#define DM_ATTR_DOMAIN_MAX 63 /* optional "<domain>/" prefix of an attribute name */
#define DM_ATTR_VALUE_MAX 64  /* string and version attribute values */
#define DM_ATTRS_PER_DEVICE_MAX 32
#define DM_SLICE_DEVICES_MAX 128

/* Lowercase RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
bool dm_is_dns_label(const char *s);

/* Lowercase RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
bool dm_is_dns_subdomain(const char *s);

/* C identifier: [A-Za-z_][A-Za-z0-9_]*. */
bool dm_is_c_identifier(const char *s);

/* Semantic Versioning 2.0.0 (semver.org), e.g. "1.2.3-rc.1+build.5". */
bool dm_is_semver(const char *s);

/* Check a device attribute name the way the API server does: a C identifier of at most 32
 * characters, optionally prefixed by "<DNS subdomain of at most 63>/". On failure fills RETERR
 * with what is wrong and how to fix it; returns 0 or -EINVAL. */
int dm_attr_name_check(const char *name, struct hd_error *reterr);

/* Check an extended resource name for the device-plugin API the way the kubelet and the API
 * server do: "<domain>/<name>" where the domain is a DNS subdomain (at most 253) outside
 * kubernetes.io and *.kubernetes.io, and the name part is at most 63 characters of
 * [A-Za-z0-9._-] starting and ending alphanumeric. RETERR reads "resourceName '...': ...".
 * Returns 0 or -EINVAL. */
int dm_resource_name_check(const char *name, struct hd_error *reterr);

/* Derive a device name (DNS label) from a host path: drop a leading "/dev/", lowercase, turn every
 * run of other characters into one '-', trim '-' at both ends ("/dev/mock/device_0" →
 * "mock-device-0"). Names longer than 63 are cut to 54 characters plus '-' and 8 hex digits of
 * a hash of the whole path, so they stay deterministic and distinct. Returns a new string, or
 * NULL when nothing usable is left (e.g. "/dev/___"). */
char *dm_device_name_from_path(const char *path);
