/* SPDX-License-Identifier: Apache-2.0 */
/* Test fixtures for cdi/: build valid specs that switch on chosen minimum-version triggers, and
 * the realistic per-claim and per-group specs the kubelet plugin writes. Shared by test_cdi and
 * the cdi-emit program the schema test drives. */
#pragma once

#include "cdi/cdi.h"

/* One bit per trigger in the minimum-version table. */
enum {
        CDI_FX_MOUNT_TYPE = 1u << 0,   /* 0.4.0 */
        CDI_FX_HOST_PATH = 1u << 1,    /* 0.5.0 */
        CDI_FX_DIGIT_NAME = 1u << 2,   /* 0.5.0 */
        CDI_FX_SPEC_ANNOT = 1u << 3,   /* 0.6.0 */
        CDI_FX_DEV_ANNOT = 1u << 4,    /* 0.6.0 */
        CDI_FX_DOT_CLASS = 1u << 5,    /* 0.6.0 */
        CDI_FX_GIDS = 1u << 6,         /* 0.7.0 */
        CDI_FX_RDT = 1u << 7,          /* 0.7.0 */
        CDI_FX_NETDEV = 1u << 8,       /* 1.1.0 */
        CDI_FX_RDT_SCHEMATA = 1u << 9, /* 1.1.0 */
        CDI_FX_RDT_MONITOR = 1u << 10, /* 1.1.0 */
        CDI_FX_SPEC_LEVEL = 1u << 11,  /* modifier: put the edit triggers in spec-level edits */
};
#define CDI_FX_N_TRIGGERS 11
#define CDI_FX_ALL_TRIGGERS ((1u << CDI_FX_N_TRIGGERS) - 1)

/* Name of one trigger bit ("mount-type", ...). */
const char *cdi_fx_name(unsigned bit);
/* The version one trigger bit needs. */
const char *cdi_fx_version(unsigned bit);
/* The version a set of triggers needs (0.3.0 for none), computed from the table, not from
 * cdi_spec_min_version(). */
const char *cdi_fx_expected_version(unsigned features);
/* A valid spec with exactly FEATURES switched on. Caller frees. */
struct cdi_spec *cdi_fx_spec(unsigned features);

/* The per-claim spec for claim UID with N mock GPUs device_<first..first+n-1>, each a device
 * node /dev/mock/device_<i> (char 240:i) plus its .so mounted read-only, and the group's
 * list_device.sh at spec level. Caller frees. */
struct cdi_spec *cdi_fx_claim_spec(const char *driver, const char *claim_uid, int first, int n);
/* The static per-group spec for device-plugin mode: kind k8s.<driver>/<group>, N devices. */
struct cdi_spec *cdi_fx_group_spec(const char *driver, const char *group, int n);
