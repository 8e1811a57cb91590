/* SPDX-License-Identifier: Apache-2.0 */
/* Discovery: expand the config's matches on the host, stat each node and build the device list
 * (names, built-in and admin attributes, rendered per-device edits). Pure apart from reading
 * the file system, so tests run it on a temporary tree of mknod nodes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kubeletplugin/config.h"
#include "kubeletplugin/edits.h"

struct hd_error;

/* An attribute value in text form: ints as decimal, bools as true/false. */
struct kp_attr {
        char *name;
        enum kp_attr_type type;
        char *value;
};

struct kp_device {
        char *name;                   /* published name: base name, or "<base>-<k>" when the group's
                                         count > 1 */
        char *base_name;              /* name of the physical device */
        unsigned replica;             /* 0..count-1 */
        const struct kp_group *group; /* borrowed from the config */
        char *path;                   /* host path of the device node */
        char type;                    /* 'c' or 'b' */
        unsigned major, minor;
        struct kp_attr *attrs; /* built-ins (group, path, major, minor) first */
        size_t n_attrs;
        struct kp_edits edits; /* matched node first, then the group's deviceEdits */
};

struct kp_inventory {
        const struct kp_config *config; /* borrowed; must outlive the inventory */
        struct kp_device *devices;      /* sorted by group order, then path, then replica */
        size_t n_devices;
        char **problems; /* strv: devices left out and why ("group 'gpu': ...") */
};

/* Discover CONFIG's devices. Per-device trouble (missing path, not a device node, a template
 * that does not render) leaves that device out and adds a line to PROBLEMS; a non-optional
 * group with no device adds one too. Two devices with the same name, or one node matched by
 * two groups, fail the whole discovery (-EEXIST, naming both): names and owners must be
 * unambiguous. Returns 0 or -errno. */
int kp_discover(const struct kp_config *config, struct kp_inventory **ret, struct hd_error *reterr);

struct kp_inventory *kp_inventory_free(struct kp_inventory *inv);

/* The device published as NAME; NULL when unknown. */
const struct kp_device *kp_inventory_find(const struct kp_inventory *inv, const char *name);

/* Health: the node at the device's path exists with the same type and numbers. Returns 0,
 * -ENOENT (gone), -ENOTBLK (not a device node) or -ESTALE (other numbers). */
int kp_device_check(const struct kp_device *dev, struct hd_error *reterr);
