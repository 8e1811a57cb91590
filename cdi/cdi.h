/* SPDX-License-Identifier: Apache-2.0 */
/* Container Device Interface (CDI) specs: an in-memory model, the minimum cdiVersion a spec
 * needs, name rules, validation, a JSON writer and a strict JSON reader, and safe operations on
 * a CDI spec directory (atomic write, idempotent remove, listing the specs we own).
 *
 * This module knows nothing of Kubernetes; the per-claim and per-group helpers at the end only
 * compose names the way DESIGN.md fixes them.
 *
 * Ownership: every struct below owns all its strings and children. Arrays are arrays of owned
 * pointers with a count, so a pointer returned by a cdi_*_add_*() builder stays valid until the
 * owning object is freed. Builders copy their string arguments and abort on out-of-memory, like
 * the base/ allocators. Functions that can fail return >= 0 on success and -errno on failure,
 * with a readable message in the caller-owned struct hd_error (which may be NULL). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/cleanup.h"

struct hd_error;

/* Newest CDI spec version this module reads and knows. */
#define CDI_VERSION_CURRENT "1.1.0"
/* Lowest version a writer ever declares (the baseline of the minimum-version table). */
#define CDI_VERSION_EARLIEST "0.3.0"

/* Upper bound on a spec file we read (4 MiB). */
#define CDI_SPEC_MAX_SIZE (4u * 1024u * 1024u)

/* ---------------------------------------------------------------------------------------- */
/* Model                                                                                    */

struct cdi_annotation {
        char *key;
        char *value;
};

/* Key/value map with unique keys; kept in insertion order, written sorted by key. */
struct cdi_annotations {
        struct cdi_annotation *items;
        size_t n;
};

struct cdi_device_node {
        char *path;      /* path in the container; required, absolute */
        char *host_path; /* path on the host; NULL = same as path (needs cdiVersion 0.5.0) */
        char *type;      /* "b", "c", "u", "p" or NULL (runtime stats the host path) */
        bool has_major;
        int64_t major;
        bool has_minor;
        int64_t minor;
        bool has_file_mode;
        uint32_t file_mode;
        char *permissions; /* subset of "rwm"; NULL = runtime default */
        bool has_uid;
        uint32_t uid;
        bool has_gid;
        uint32_t gid;
};

struct cdi_mount {
        char *host_path;
        char *container_path;
        char *type;     /* NULL = bind (a set type needs cdiVersion 0.4.0) */
        char **options; /* NULL-terminated strv, may be NULL */
};

struct cdi_hook {
        char *hook_name; /* prestart, createRuntime, createContainer, startContainer,
                          * poststart or poststop */
        char *path;      /* absolute */
        char **args;     /* strv, may be NULL */
        char **env;      /* strv of "K=V", may be NULL */
        bool has_timeout;
        uint32_t timeout;
};

struct cdi_net_device {
        char *host_interface_name;
        char *name;
};

struct cdi_intel_rdt {
        char *clos_id;
        char *l3_cache_schema;
        char *mem_bw_schema;
        char **schemata;        /* strv; non-empty needs cdiVersion 1.1.0 */
        bool enable_monitoring; /* true needs cdiVersion 1.1.0 */
};

/* The containerEdits of a spec or a device. Embedded: cdi_edits_init()/cdi_edits_done(). */
struct cdi_edits {
        char **env; /* strv of "K=V", may be NULL */
        struct cdi_device_node **device_nodes;
        size_t n_device_nodes;
        struct cdi_mount **mounts;
        size_t n_mounts;
        struct cdi_hook **hooks;
        size_t n_hooks;
        struct cdi_net_device **net_devices;
        size_t n_net_devices;
        struct cdi_intel_rdt *intel_rdt; /* NULL = absent */
        uint32_t *additional_gids;
        size_t n_additional_gids;
};

struct cdi_device {
        char *name;
        struct cdi_annotations annotations;
        struct cdi_edits edits;
};

struct cdi_spec {
        char *cdi_version; /* as declared by a parsed document; NULL for a built spec. Writers
                            * ignore it and always declare cdi_spec_min_version(). */
        char *kind;        /* "vendor/class" */
        struct cdi_annotations annotations;
        struct cdi_device **devices;
        size_t n_devices;
        struct cdi_edits edits; /* spec-level containerEdits, applied with every device */
};

/* Allocate an empty spec of KIND (copied; may be NULL and set later). Never fails. */
struct cdi_spec *cdi_spec_new(const char *kind);
/* Free SPEC and everything it owns. Takes NULL; returns NULL. */
struct cdi_spec *cdi_spec_free(struct cdi_spec *spec);
HD_DEFINE_PTR_CLEANUP(cdi_spec_free, struct cdi_spec, cdi_spec_free)
#define _cleanup_cdi_spec_ _cleanup_(cdi_spec_freep)

/* Append a device named NAME (copied) with empty edits; returns it (owned by SPEC). Names are
 * not checked here; cdi_spec_validate() does. */
struct cdi_device *cdi_spec_add_device(struct cdi_spec *spec, const char *name);
/* The device named NAME, or NULL. Borrowed. */
struct cdi_device *cdi_spec_find_device(const struct cdi_spec *spec, const char *name);

/* Set KEY to VALUE (both copied), replacing an existing value for KEY. */
void cdi_annotations_set(struct cdi_annotations *a, const char *key, const char *value);
/* The value of KEY or NULL. Borrowed. */
const char *cdi_annotations_get(const struct cdi_annotations *a, const char *key);
/* Free all keys and values and leave A empty. */
void cdi_annotations_done(struct cdi_annotations *a);

/* Initialise E as empty edits (an all-zero struct is also empty). */
void cdi_edits_init(struct cdi_edits *e);
/* Free everything E owns and leave it empty (re-initialised). */
void cdi_edits_done(struct cdi_edits *e);
/* true when E has no edit at all (the CDI "empty device edits" test). */
bool cdi_edits_is_empty(const struct cdi_edits *e);
/* Append deep copies of every edit in SRC to DST (used to merge group-common edits). An intelRdt
 * in SRC replaces DST's. */
void cdi_edits_append(struct cdi_edits *dst, const struct cdi_edits *src);
/* Initialise DST as a deep copy of SRC. */
void cdi_edits_copy(struct cdi_edits *dst, const struct cdi_edits *src);

/* Append one "K=V" environment entry (copied). */
void cdi_edits_add_env(struct cdi_edits *e, const char *key_value);
/* Append a device node for PATH (in the container) and HOST_PATH (NULL = same as PATH). Returns
 * it (owned by E) for the caller to set type/major/minor/permissions/... */
struct cdi_device_node *cdi_edits_add_device_node(struct cdi_edits *e, const char *path,
                                                  const char *host_path);
/* Append a mount; TYPE may be NULL. Returns it (owned by E); add options with
 * cdi_mount_add_option(). */
struct cdi_mount *cdi_edits_add_mount(struct cdi_edits *e, const char *host_path,
                                      const char *container_path, const char *type);
/* Append OPTION (copied), e.g. "ro", "nosuid", "bind". */
void cdi_mount_add_option(struct cdi_mount *m, const char *option);
/* Append a hook. Returns it (owned by E); add args/env with cdi_hook_add_arg/_env(). */
struct cdi_hook *cdi_edits_add_hook(struct cdi_edits *e, const char *hook_name, const char *path);
/* Append an argument (argv[0] included, as in OCI hooks) or a "K=V" entry; copied. */
void cdi_hook_add_arg(struct cdi_hook *h, const char *arg);
void cdi_hook_add_env(struct cdi_hook *h, const char *key_value);
/* Append a supplementary group for the container process (needs cdiVersion 0.7.0). */
void cdi_edits_add_additional_gid(struct cdi_edits *e, uint32_t gid);
/* Append a network device (needs cdiVersion 1.1.0). Returns it (owned by E). */
struct cdi_net_device *cdi_edits_add_net_device(struct cdi_edits *e, const char *host_name,
                                                const char *name);
/* The intelRdt block of E, created empty if absent (needs cdiVersion 0.7.0). Owned by E. */
struct cdi_intel_rdt *cdi_edits_intel_rdt(struct cdi_edits *e);

/* Set NODE's permissions (copied; NULL clears). */
void cdi_device_node_set_permissions(struct cdi_device_node *node, const char *permissions);
/* Fill NODE's type/major/minor from ST (a stat of the node): "c" or "b" with st_rdev's numbers.
 * Returns 0, or -ENODEV (message names PATH_FOR_ERRORS) when ST is not a char/block device. */
int cdi_device_node_fill_from_st(struct cdi_device_node *node, const struct stat *st,
                                 const char *path_for_errors, struct hd_error *reterr);
/* stat() NODE's host path (its path when no host path is set; symlinks such as
 * /dev/dri/by-path/... are followed to the node) and fill type/major/minor, so runtimes need
 * not stat. Refuses a missing node (-ENOENT...) or one that is not a char/block
 * device (-ENODEV); the message names the path. Returns 0 or -errno. */
int cdi_device_node_fill_from_stat(struct cdi_device_node *node, struct hd_error *reterr);

/* ---------------------------------------------------------------------------------------- */
/* Versions                                                                                 */

/* The lowest cdiVersion covering every field SPEC uses (static string):
 *   0.3.0 baseline; 0.4.0 a mount has a type; 0.5.0 a device node has a hostPath or a device
 *   name starts with a digit; 0.6.0 annotations (spec or device) or a '.' in the kind's class;
 *   0.7.0 additionalGids or intelRdt; 1.1.0 netDevices or intelRdt schemata/enableMonitoring.
 * A hostPath equal to the node's path is not written (see cdi_spec_to_json()) and so does not
 * count. */
const char *cdi_spec_min_version(const struct cdi_spec *spec);
/* true when VERSION is exactly one of the CDI spec versions "0.1.0" .. "1.1.0" (no 'v'). */
bool cdi_version_is_known(const char *version);
/* Compare two known versions: <0, 0, >0. Unknown versions sort before every known one. */
int cdi_version_compare(const char *a, const char *b);
/* Check SPEC's declared cdi_version: present, known, and not lower than the minimum its fields
 * need. Here any non-empty hostPath counts, as it does for the CDI library. Message e.g.
 * "cdiVersion \"0.4.0\" too low: the spec's fields need at least 0.5.0". Returns 0 or -EINVAL. */
int cdi_spec_check_version(const struct cdi_spec *spec, struct hd_error *reterr);

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                    */

/* Vendor: starts with a letter, ends alphanumeric, inner [A-Za-z0-9_.-], at most 253 bytes
 * (a DNS subdomain length). Returns 0 or -EINVAL with a message naming the input. */
int cdi_validate_vendor(const char *vendor, struct hd_error *reterr);
/* Class: same characters as a vendor, at most 63 bytes. Returns 0 or -EINVAL. */
int cdi_validate_class(const char *cls, struct hd_error *reterr);
/* Device name: starts and ends alphanumeric, inner [A-Za-z0-9_.:-]. Returns 0 or -EINVAL. */
int cdi_validate_device_name(const char *name, struct hd_error *reterr);
/* Kind "vendor/class", both parts valid. Returns 0 or -EINVAL. */
int cdi_validate_kind(const char *kind, struct hd_error *reterr);
/* Split and validate "vendor/class=name". Each RET_ may be NULL; on success the requested
 * parts are newly allocated strings the caller frees. Returns 0 or -EINVAL. */
int cdi_parse_qualified_name(const char *qualified, char **ret_vendor, char **ret_class,
                             char **ret_name, struct hd_error *reterr);
/* "KIND=NAME" (a CDI device ID as passed to a runtime). Caller frees. */
char *cdi_qualified_id(const char *kind, const char *name);
/* Spec file-name stem for KIND: "vendor/class" -> "vendor-class". Caller frees. KIND must
 * contain a '/'; otherwise returns NULL. */
char *cdi_kind_file_prefix(const char *kind);

/* ---------------------------------------------------------------------------------------- */
/* Validation, JSON                                                                         */

/* Check SPEC against our rules (stricter than the schema): valid kind, at least one device,
 * unique valid device names, no device with empty edits, device nodes with absolute paths,
 * permissions a subset of "rwm", type b/c/u/p (b/c/u need major and minor, p takes neither),
 * hooks with a known name and an absolute path, env entries "K=V", mounts with an absolute
 * containerPath (and hostPath unless a non-bind type is given), valid annotation keys, net
 * devices and intelRdt closID. The declared version is not checked here (see
 * cdi_spec_check_version()). The first failure is reported with the device and field, e.g.
 * "device \"gpu0\": containerEdits.deviceNodes[1].path \"dev/x\" is not absolute".
 * Returns 0 or -EINVAL. */
int cdi_spec_validate(const struct cdi_spec *spec, struct hd_error *reterr);

/* Serialise SPEC as indented JSON with a trailing newline: cdiVersion (always the minimum),
 * kind, annotations, devices, containerEdits, in that order; empty fields omitted (and a
 * device node's hostPath when it equals its path); annotation keys sorted. Deterministic for equal
 * specs. Does not validate. Caller frees. */
char *cdi_spec_to_json(const struct cdi_spec *spec);
/* Same, but fails with -EILSEQ (message quoting the string) when a string is not valid UTF-8,
 * which JSON cannot carry; cdi_spec_to_json() substitutes a placeholder instead. On success
 * *RET_TEXT is newly allocated. Returns 0 or -EILSEQ. */
int cdi_spec_to_json_checked(const struct cdi_spec *spec, char **ret_text, struct hd_error *reterr);

/* Parse TEXT (a JSON spec document) strictly: unknown or duplicate fields and wrong types are
 * errors naming the field path; then check the declared version (cdi_spec_check_version()) and
 * our rules (cdi_spec_validate()). On success *RET_SPEC is a new spec the caller frees. Returns
 * 0 or -EINVAL. */
int cdi_spec_from_json(const char *text, struct cdi_spec **ret_spec, struct hd_error *reterr);
/* The same for a YAML document (the CDI library's default output format): YAML 1.1 scalars as
 * the Go loader reads them (null/~, true/false, decimal/octal/hex integers; quoted scalars are
 * strings), duplicate keys refused, aliases expanded up to a size cap. Errors from the YAML
 * parser carry line and column. Returns 0 or -EINVAL. */
int cdi_spec_from_yaml(const char *text, struct cdi_spec **ret_spec, struct hd_error *reterr);
/* Read PATH (a regular file, symlink in the last component refused, at most
 * CDI_SPEC_MAX_SIZE) and parse it: cdi_spec_from_yaml() for names ending in .yaml or .yml,
 * cdi_spec_from_json() otherwise. Returns 0 or -errno. */
int cdi_spec_load_file(const char *path, struct cdi_spec **ret_spec, struct hd_error *reterr);

/* ---------------------------------------------------------------------------------------- */
/* Spec directory                                                                           */

/* Validate SPEC and write it as JSON to CDI_ROOT/FILE_NAME atomically (temp file, fsync,
 * rename, dir fsync), mode 0644, creating CDI_ROOT (0755) when missing. FILE_NAME must be a
 * safe single component ending in ".json". A symlink or non-regular file already at FILE_NAME,
 * or CDI_ROOT itself being a symlink, is refused and left untouched. A spec larger than
 * CDI_SPEC_MAX_SIZE (what the reader accepts) is refused with -EFBIG. Returns 0 or -errno. */
int cdi_spec_write(const char *cdi_root, const char *file_name, const struct cdi_spec *spec,
                   struct hd_error *reterr);
/* Remove CDI_ROOT/FILE_NAME (never following symlinks). A missing file or missing root is
 * success. FILE_NAME must be a safe single component. Returns 0 or -errno. */
int cdi_spec_remove(const char *cdi_root, const char *file_name, struct hd_error *reterr);
/* List the regular files in CDI_ROOT whose names start with PREFIX and end in ".json" or
 * ".yaml" (no recursion, symlinks skipped), sorted. *RET_NAMES is a NULL-terminated strv the
 * caller frees (empty strv, not NULL, when none or when CDI_ROOT is missing). Returns the
 * number of names or -errno. */
int cdi_spec_list_owned(const char *cdi_root, const char *prefix, char ***ret_names,
                        struct hd_error *reterr);
/* Remove the temp files an interrupted cdi_spec_write() left in CDI_ROOT for spec names
 * starting with PREFIX (".<name>.<8 hex>.tmp"; runtimes ignore them, but they pile up). A
 * missing root is 0. Returns how many were removed, or -errno. */
int cdi_spec_sweep_temp(const char *cdi_root, const char *prefix, struct hd_error *reterr);

/* ---------------------------------------------------------------------------------------- */
/* Per-claim transient specs and per-group static specs (names from DESIGN.md)              */

/* RFC 4122 textual form: 8-4-4-4-12 hex digits, lower or upper case. Anything else is refused
 * with -EINVAL before it reaches a path. */
int cdi_validate_claim_uid(const char *uid, struct hd_error *reterr);
/* "k8s.<driver>/claim". Caller frees. */
char *cdi_claim_spec_kind(const char *driver);
/* "k8s.<driver>-claim_" — the prefix every per-claim spec file of DRIVER starts with (for
 * cdi_spec_list_owned()). Caller frees. */
char *cdi_claim_spec_file_prefix(const char *driver);
/* "k8s.<driver>-claim_<claimUID>.json" after validating DRIVER (vendor grammar) and CLAIM_UID.
 * *RET_NAME is newly allocated. Returns 0 or -EINVAL. */
int cdi_claim_spec_file_name(const char *driver, const char *claim_uid, char **ret_name,
                             struct hd_error *reterr);
/* The claim UID in FILE_NAME if it is one of DRIVER's per-claim spec files
 * ("k8s.<driver>-claim_<uid>.json" or ".yaml" with a valid UID); *RET_UID newly allocated.
 * Returns 0, or -EINVAL when FILE_NAME is not such a name. */
int cdi_claim_uid_from_file_name(const char *driver, const char *file_name, char **ret_uid);
/* "<claimUID>-<device>" after validating CLAIM_UID and the resulting device name. *RET_NAME
 * newly allocated. Returns 0 or -EINVAL. */
int cdi_claim_device_name(const char *claim_uid, const char *device, char **ret_name,
                          struct hd_error *reterr);

/* "k8s.<driver>/<group>". Caller frees. */
char *cdi_group_spec_kind(const char *driver, const char *group);
/* "k8s.<driver>-<group>.json" after validating the kind it names. Returns 0 or -EINVAL. */
int cdi_group_spec_file_name(const char *driver, const char *group, char **ret_name,
                             struct hd_error *reterr);
