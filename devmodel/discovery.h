/* SPDX-License-Identifier: Apache-2.0 */
/* Discovery: expand the config's matches on the host, stat each node and build the device list
 * (names, built-in and admin attributes, rendered per-device edits). Pure apart from reading
 * the file system, so tests run it on a temporary tree of mknod nodes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "devmodel/config.h"
#include "devmodel/edits.h"

struct hd_error;

/* An attribute value in text form: ints as decimal, bools as true/false. */
struct dm_attr {
        char *name;
        enum dm_attr_type type;
        char *value;
};

struct dm_device {
        char *name;                   /* published name: base name, or "<base>-<k>" when the group's
                                         count > 1 */
        char *base_name;              /* name of the physical device */
        unsigned replica;             /* 0..count-1 */
        const struct dm_group *group; /* borrowed from the config */
        char *path;                   /* host path of the device node */
        char type;                    /* 'c' or 'b' */
        unsigned major, minor;
        struct dm_attr *attrs; /* built-ins (group, path, major, minor) first */
        size_t n_attrs;
        struct dm_edits edits; /* matched node first, then the group's deviceEdits */
};

struct dm_inventory {
        const struct dm_config *config; /* borrowed; must outlive the inventory */
        struct dm_device *devices;      /* sorted by group order, then path, then replica */
        size_t n_devices;
        char **problems; /* strv: devices left out and why ("group 'gpu': ...") */
};

/* Discover CONFIG's devices on the host, seen under CONFIG->host_root. Per-device trouble (missing
 * path, not a device node, a template that does not render) leaves that device out and adds a line
 * to PROBLEMS; a non-optional group with no device adds one too. Two devices with the same name, or
 * one node matched by two groups, fail the whole discovery (-EEXIST, naming both): names and owners
 * must be unambiguous. Returns 0 or -errno. */
int dm_discover(const struct dm_config *config, struct dm_inventory **ret, struct hd_error *reterr);

struct dm_inventory *dm_inventory_free(struct dm_inventory *inv);

/* The host root INV was discovered under (its config's; NULL = "/"). */
const char *dm_inventory_host_root(const struct dm_inventory *inv);

/* The device published as NAME; NULL when unknown. */
const struct dm_device *dm_inventory_find(const struct dm_inventory *inv, const char *name);

/* Health: the node at the device's path (seen under host root ROOT, NULL = "/") exists with the
 * same type and numbers. Returns 0, -ENOENT (gone), -ENOTBLK (not a device node) or -ESTALE
 * (other numbers). */
int dm_device_check(const struct dm_device *dev, const char *root, struct hd_error *reterr);
