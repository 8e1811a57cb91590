/* SPDX-License-Identifier: Apache-2.0 */
/* The device config: which host device nodes the driver offers, grouped, with typed attributes
 * and the CDI edits a container gets. Loaded from YAML (schema in docs/config.md) all or
 * nothing: any error names file:line:column and the fix, and no config is returned. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hd_error;

#define DM_CONFIG_API_VERSION "hostdev.example.com/v1alpha1"
#define DM_CONFIG_KIND "DeviceConfig"
#define DM_CONFIG_MAX_BYTES (1024 * 1024)
#define DM_CONFIG_MAX_GROUPS 256
#define DM_CONFIG_MAX_COUNT 1024 /* allocations per device */
#define DM_CONFIG_MAX_LIST 256   /* entries in any list (paths, globs, mounts, env...) */

/* 1-based position in the config file. */
struct dm_mark {
        unsigned line, column;
};

enum dm_attr_type { DM_ATTR_INT, DM_ATTR_BOOL, DM_ATTR_STRING, DM_ATTR_VERSION };

/* One typed attribute; VALUE is a template unless it has no variables. */
struct dm_attr_spec {
        char *name;
        enum dm_attr_type type;
        char *value;
        struct dm_mark mark;
};

/* A device node to create in the container. PATH (container) and HOST_PATH are templates;
 * HOST_PATH defaults to PATH. PERMISSIONS is NULL (runtime default) or a subset of "rwm". */
struct dm_node_spec {
        char *path;
        char *host_path;
        char *permissions;
        bool optional; /* missing on the host → left out instead of failing */
        struct dm_mark mark;
        struct dm_mark permissions_mark;
};

/* A bind mount. In commonEdits HOST_PATH may be a glob: every match is mounted at its own path
 * (CONTAINER_PATH must then be omitted). */
struct dm_mount_spec {
        char *host_path;
        char *container_path; /* defaults to HOST_PATH */
        char *type;           /* NULL = unset (keeps cdiVersion at 0.3.0) */
        char **options;       /* strv or NULL */
        bool optional;        /* missing host path / zero glob matches → skipped */
        struct dm_mark mark;
};

struct dm_hook_spec {
        char *hook_name; /* prestart, createRuntime, createContainer, startContainer, poststart,
                            poststop */
        char *path;
        char **args;
        char **env;
        int timeout; /* seconds; 0 = unset */
        struct dm_mark mark;
};

struct dm_edits_spec {
        struct dm_node_spec *nodes;
        size_t n_nodes;
        struct dm_mount_spec *mounts;
        size_t n_mounts;
        char **env;                /* "KEY=VALUE" templates */
        struct dm_mark *env_marks; /* one per env entry */
        struct dm_hook_spec *hooks;
        size_t n_hooks;
};

/* What env a claim's opaque HostDeviceConfig may set (`claimEnv: {allow: [...]}`), at the top
 * of the config and per group; see devmodel/claim_env.h for the rules. */
struct dm_claim_env {
        bool set;     /* the config has claimEnv.allow here */
        char **allow; /* patterns: variable-name characters and '*' (any run) */
        struct dm_mark *allow_marks;
        struct dm_mark mark;
};

struct dm_group {
        char *name;     /* DNS label starting with a letter; also the CDI class of static specs */
        char **paths;   /* explicit host paths (strv or NULL) */
        char **globs;   /* host path globs (strv or NULL) */
        bool optional;  /* zero matches is fine */
        unsigned count; /* allocations per device (>= 1) */
        char *device_name;    /* template; NULL = derived from the host path */
        char *container_path; /* template for the matched node in the container; NULL = {path} */
        char *permissions;    /* for the matched node; NULL = runtime default */
        char *resource_name;  /* device-plugin mode's extended resource; NULL = <driver>/<name> */
        struct dm_attr_spec *attrs;
        size_t n_attrs;
        struct dm_edits_spec device_edits;
        struct dm_edits_spec common_edits;
        struct dm_claim_env claim_env;
        size_t n_captures;   /* glob captures every match provides ({1}..{n}) */
        struct dm_mark mark; /* the group's mapping */
        struct dm_mark name_mark, device_name_mark, container_path_mark, permissions_mark;
        struct dm_mark resource_name_mark;
        struct dm_mark *path_marks, *glob_marks; /* one per entry of paths / globs */
};

struct dm_config {
        char *file; /* as given to the loader, for messages */
        struct dm_group *groups;
        size_t n_groups;
        struct dm_claim_env claim_env; /* top level: applies to every group */
        /* Where the host's / is visible (--host-root; canonical, owned); NULL = "/". Not part
         * of the file: set with dm_config_set_host_root(). Discovery and prepare look up every
         * host path under it; what they write keeps the host's paths. */
        char *host_root;
};

/* Read and parse the config file PATH (at most 1 MiB). On success *RET is a new config the
 * caller frees with dm_config_free(). Returns 0 or -errno; RETERR says "file:line:col: what;
 * fix". */
int dm_config_load(const char *path, struct dm_config **ret, struct hd_error *reterr);

/* Same for an in-memory document; FILE is only used in messages. */
int dm_config_parse(const char *file, const char *data, size_t len, struct dm_config **ret,
                    struct hd_error *reterr);

/* Takes NULL; returns NULL. */
struct dm_config *dm_config_free(struct dm_config *c);

/* Look up C's host paths under DIR from now on (see devmodel/hostroot.h); NULL or "/" = the
 * host itself. DIR must be an existing directory. Returns 0 or -errno naming DIR. */
int dm_config_set_host_root(struct dm_config *c, const char *dir, struct hd_error *reterr);

/* Find a group by name; NULL when absent. */
const struct dm_group *dm_config_find_group(const struct dm_config *c, const char *name);

const char *dm_attr_type_name(enum dm_attr_type t);

/* Check a literal attribute value of type T the way the API server would (int parses as
 * int64, bool is true/false, strings ≤ 64, versions SemVer ≤ 64). Returns 0 or -EINVAL. */
int dm_attr_value_check(const char *name, enum dm_attr_type t, const char *value,
                        struct hd_error *reterr);
