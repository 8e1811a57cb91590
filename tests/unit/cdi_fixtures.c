/* SPDX-License-Identifier: Apache-2.0 */
/* Test fixtures for cdi/ (see cdi_fixtures.h). */
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "cdi_fixtures.h"

static const struct {
        const char *name;
        const char *version;
} triggers[CDI_FX_N_TRIGGERS] = {
        {"mount-type", "0.4.0"},   {"host-path", "0.5.0"},   {"digit-name", "0.5.0"},
        {"spec-annot", "0.6.0"},   {"dev-annot", "0.6.0"},   {"dot-class", "0.6.0"},
        {"gids", "0.7.0"},         {"rdt", "0.7.0"},         {"netdev", "1.1.0"},
        {"rdt-schemata", "1.1.0"}, {"rdt-monitor", "1.1.0"},
};

static int bit_index(unsigned bit)
{
        for (int i = 0; i < CDI_FX_N_TRIGGERS; i++)
                if (bit == 1u << i)
                        return i;
        abort();
}

const char *cdi_fx_name(unsigned bit)
{
        return triggers[bit_index(bit)].name;
}

const char *cdi_fx_version(unsigned bit)
{
        return triggers[bit_index(bit)].version;
}

const char *cdi_fx_expected_version(unsigned features)
{
        const char *v = "0.3.0";

        for (int i = 0; i < CDI_FX_N_TRIGGERS; i++)
                if ((features & (1u << i)) && cdi_version_compare(triggers[i].version, v) > 0)
                        v = triggers[i].version;
        return v;
}

struct cdi_spec *cdi_fx_spec(unsigned features)
{
        struct cdi_spec *spec;
        struct cdi_device *dev;
        struct cdi_edits *e;
        struct cdi_device_node *node;
        struct cdi_mount *m;

        spec = cdi_spec_new(features & CDI_FX_DOT_CLASS ? "example.com/gpu.v2" : "example.com/gpu");
        dev = cdi_spec_add_device(spec, features & CDI_FX_DIGIT_NAME ? "0gpu" : "gpu0");
        e = features & CDI_FX_SPEC_LEVEL ? &spec->edits : &dev->edits;

        /* Every device has a fully described node so it is never empty. */
        node = cdi_edits_add_device_node(&dev->edits, "/dev/gpu0",
                                         features & CDI_FX_HOST_PATH ? "/dev/null" : NULL);
        node->type = hd_strdup("c");
        node->has_major = node->has_minor = true;
        node->major = 1;
        node->minor = 3;
        cdi_device_node_set_permissions(node, "rw");
        if (features & CDI_FX_HOST_PATH && features & CDI_FX_SPEC_LEVEL) {
                /* Also exercise a hostPath at spec level. */
                node = cdi_edits_add_device_node(e, "/dev/gpuctl", "/dev/zero");
                node->type = hd_strdup("c");
                node->has_major = node->has_minor = true;
                node->major = 1;
                node->minor = 5;
        }

        m = cdi_edits_add_mount(e, "/usr/lib/libgpu.so.1", "/usr/lib/libgpu.so.1",
                                features & CDI_FX_MOUNT_TYPE ? "bind" : NULL);
        cdi_mount_add_option(m, "ro");
        cdi_mount_add_option(m, "nosuid");
        cdi_mount_add_option(m, "bind");
        cdi_edits_add_env(e, "GPU_VISIBLE=0");

        if (features & CDI_FX_SPEC_ANNOT)
                cdi_annotations_set(&spec->annotations, "example.com/owner", "test");
        if (features & CDI_FX_DEV_ANNOT)
                cdi_annotations_set(&dev->annotations, "example.com/serial", "S123");
        if (features & CDI_FX_GIDS)
                cdi_edits_add_additional_gid(e, 44);
        if (features & (CDI_FX_RDT | CDI_FX_RDT_SCHEMATA | CDI_FX_RDT_MONITOR)) {
                struct cdi_intel_rdt *rdt = cdi_edits_intel_rdt(e);

                rdt->clos_id = hd_strdup("gpu-clos");
                if (features & CDI_FX_RDT)
                        rdt->l3_cache_schema = hd_strdup("L3:0=ff");
                if (features & CDI_FX_RDT_SCHEMATA)
                        hd_strv_push(&rdt->schemata, "MB:0=50");
                if (features & CDI_FX_RDT_MONITOR)
                        rdt->enable_monitoring = true;
        }
        if (features & CDI_FX_NETDEV)
                cdi_edits_add_net_device(e, "eth1", "net0");
        return spec;
}

static void add_mock_gpu(struct cdi_spec *spec, const char *claim_uid, int i)
{
        _cleanup_free_ char *dev = hd_asprintf("mock-device-%d", i);
        _cleanup_free_ char *name = NULL;
        _cleanup_free_ char *node_path = hd_asprintf("/dev/mock/device_%d", i);
        _cleanup_free_ char *so = hd_asprintf("/mock/so/device_%d.so", i);
        struct cdi_device *d;
        struct cdi_device_node *node;
        struct cdi_mount *m;

        if (claim_uid) {
                if (cdi_claim_device_name(claim_uid, dev, &name, NULL) < 0)
                        abort();
        } else {
                name = TAKE_PTR(dev);
        }
        d = cdi_spec_add_device(spec, name);
        node = cdi_edits_add_device_node(&d->edits, node_path, NULL);
        node->type = hd_strdup("c");
        node->has_major = node->has_minor = true;
        node->major = 240;
        node->minor = i;
        cdi_device_node_set_permissions(node, "rw");
        m = cdi_edits_add_mount(&d->edits, so, so, NULL);
        cdi_mount_add_option(m, "ro");
        cdi_mount_add_option(m, "nosuid");
        cdi_mount_add_option(m, "nodev");
        cdi_mount_add_option(m, "bind");
}

static void add_group_common(struct cdi_spec *spec)
{
        struct cdi_mount *m = cdi_edits_add_mount(&spec->edits, "/mock/bin/list_device.sh",
                                                  "/usr/local/bin/list_device.sh", NULL);

        cdi_mount_add_option(m, "ro");
        cdi_mount_add_option(m, "bind");
}

struct cdi_spec *cdi_fx_claim_spec(const char *driver, const char *claim_uid, int first, int n)
{
        _cleanup_free_ char *kind = cdi_claim_spec_kind(driver);
        struct cdi_spec *spec = cdi_spec_new(kind);

        for (int i = first; i < first + n; i++)
                add_mock_gpu(spec, claim_uid, i);
        add_group_common(spec);
        return spec;
}

struct cdi_spec *cdi_fx_group_spec(const char *driver, const char *group, int n)
{
        _cleanup_free_ char *kind = cdi_group_spec_kind(driver, group);
        struct cdi_spec *spec = cdi_spec_new(kind);

        for (int i = 0; i < n; i++)
                add_mock_gpu(spec, NULL, i);
        add_group_common(spec);
        return spec;
}
