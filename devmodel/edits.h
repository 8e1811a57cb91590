/* SPDX-License-Identifier: Apache-2.0 */
/* Container edits after templating: what one device (or one group, for common edits) adds to a
 * container. "Resolving" checks them against the host right now: device nodes are stat-ed
 * (type/major/minor filled in), mount globs expanded, missing required paths refused. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "devmodel/config.h"
#include "devmodel/template.h"

struct hd_error;

struct dm_node {
        char *path;        /* in the container */
        char *host_path;   /* on the host */
        char *permissions; /* NULL = runtime default */
        bool optional;
        char type; /* 'c' or 'b' once resolved, else 0 */
        unsigned major, minor;
};

struct dm_mount {
        char *host_path;
        char *container_path;
        char *type;
        char **options;
        bool optional;
};

struct dm_hook {
        char *hook_name;
        char *path;
        char **args;
        char **env;
        int timeout;
};

struct dm_edits {
        struct dm_node *nodes;
        size_t n_nodes;
        struct dm_mount *mounts;
        size_t n_mounts;
        char **env;
        struct dm_hook *hooks;
        size_t n_hooks;
};

void dm_edits_done(struct dm_edits *e);

/* true when E adds nothing. */
bool dm_edits_empty(const struct dm_edits *e);

/* Render SPEC's templates with VARS into *RET (zeroed by the caller). Returns 0 or -EINVAL;
 * on failure *RET holds what was rendered so far and must still be released. */
int dm_edits_render(const struct dm_edits_spec *spec, const struct dm_template_vars *vars,
                    struct dm_edits *ret, struct hd_error *reterr);

/* Append copies of SRC's entries to DST, skipping entries DST already holds (same container
 * path for nodes and mounts, same string for env, same hook). */
void dm_edits_merge(struct dm_edits *dst, const struct dm_edits *src);

/* Check IN against the host now, seen under host root ROOT (NULL or "/" = here; the result keeps
 * the host's paths), and write the result to *RET (zeroed by the caller): nodes must
 * exist as char/block devices (optional ones that are missing are left out) and get type,
 * major and minor; glob mounts expand to one mount per match; other mount sources must exist
 * unless optional; hook programs must exist. Returns 0 or -errno naming the path; *RET must be
 * released either way. */
int dm_edits_resolve(const struct dm_edits *in, const char *root, struct dm_edits *ret,
                     struct hd_error *reterr);
