/* SPDX-License-Identifier: Apache-2.0 */
/* cdi-emit: test helper for tests/e2e/test_cdi_schema.py.
 *
 *   cdi-emit DIR          write a representative set of specs into DIR with cdi_spec_write()
 *                         (every minimum-version row, per-claim and per-group specs) plus
 *                         DIR/manifest.json mapping each file name to the version it must declare
 *   cdi-emit --read FILE...  run the strict reader on each file; print "ok FILE" or
 *                         "error FILE: message"; exit 0 when all were accepted, 1 otherwise
 *
 * Exit status 2 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup-json.h"

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "cdi_fixtures.h"

#define DRIVER "hostdev.example.com"

static int emit(const char *dir, json_t *manifest, const char *file, const struct cdi_spec *spec,
                const char *expected)
{
        struct hd_error e = HD_ERROR_INIT;

        if (cdi_spec_write(dir, file, spec, &e) < 0) {
                fprintf(stderr, "cdi-emit: %s\n", hd_error_message(&e));
                hd_error_done(&e);
                return -1;
        }
        json_object_set_new(manifest, file, json_string(expected));
        return 0;
}

static int emit_fixture(const char *dir, json_t *manifest, const char *stem, unsigned features)
{
        _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_spec(features);
        _cleanup_free_ char *file = hd_asprintf("fx-%s.json", stem);

        return emit(dir, manifest, file, spec,
                    cdi_fx_expected_version(features & CDI_FX_ALL_TRIGGERS));
}

/* Every field the model has, so the schema sees all of them at once. */
static struct cdi_spec *everything_spec(void)
{
        struct cdi_spec *spec = cdi_fx_spec(CDI_FX_ALL_TRIGGERS);
        struct cdi_device_node *n = spec->devices[0]->edits.device_nodes[0];
        struct cdi_hook *h;
        struct cdi_device *d;

        n->has_file_mode = n->has_uid = n->has_gid = true;
        n->file_mode = 0660;
        n->uid = 0;
        n->gid = 44;
        h = cdi_edits_add_hook(&spec->edits, "createContainer", "/usr/bin/nvidia-cdi-hook");
        cdi_hook_add_arg(h, "nvidia-cdi-hook");
        cdi_hook_add_arg(h, "update-ldcache");
        cdi_hook_add_env(h, "LD_DEBUG=0");
        h->has_timeout = true;
        h->timeout = 10;
        d = cdi_spec_add_device(spec, "fifo0");
        n = cdi_edits_add_device_node(&d->edits, "/dev/fifo0", NULL);
        n->type = hd_strdup("p");
        cdi_edits_add_mount(&d->edits, "tmpfs", "/scratch", "tmpfs");
        return spec;
}

static int emit_all(const char *dir)
{
        _cleanup_json_ json_t *manifest = json_object();
        _cleanup_free_ char *manifest_path = NULL;
        int r = 0;

        r |= emit_fixture(dir, manifest, "baseline", 0);
        for (unsigned i = 0; i < CDI_FX_N_TRIGGERS; i++) {
                _cleanup_free_ char *stem = hd_asprintf("%s", cdi_fx_name(1u << i));
                _cleanup_free_ char *spec_level = hd_asprintf("%s-spec-level", stem);

                r |= emit_fixture(dir, manifest, stem, 1u << i);
                r |= emit_fixture(dir, manifest, spec_level, (1u << i) | CDI_FX_SPEC_LEVEL);
        }
        r |= emit_fixture(dir, manifest, "combo-type-hostpath",
                          CDI_FX_MOUNT_TYPE | CDI_FX_HOST_PATH);
        r |= emit_fixture(dir, manifest, "combo-annot-digit", CDI_FX_DEV_ANNOT | CDI_FX_DIGIT_NAME);
        r |= emit_fixture(dir, manifest, "combo-upto-070",
                          CDI_FX_ALL_TRIGGERS &
                                  ~(CDI_FX_NETDEV | CDI_FX_RDT_SCHEMATA | CDI_FX_RDT_MONITOR));
        r |= emit_fixture(dir, manifest, "all", CDI_FX_ALL_TRIGGERS);

        {
                _cleanup_cdi_spec_ struct cdi_spec *spec = everything_spec();

                r |= emit(dir, manifest, "everything.json", spec, "1.1.0");
        }

        /* Per-claim transient specs: a UID starting with a letter stays at 0.3.0; one starting
         * with a digit makes every device name start with a digit (0.5.0). */
        {
                static const struct {
                        const char *uid;
                        const char *version;
                } claims[] = {
                        {"af1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b", "0.3.0"},
                        {"6f1a2b3c-0d4e-4f50-8a6b-7c8d9e0f1a2b", "0.5.0"},
                };

                for (size_t i = 0; i < HD_ARRAY_SIZE(claims); i++) {
                        _cleanup_cdi_spec_ struct cdi_spec *spec =
                                cdi_fx_claim_spec(DRIVER, claims[i].uid, (int)i * 4, 4);
                        _cleanup_free_ char *file = NULL;

                        if (cdi_claim_spec_file_name(DRIVER, claims[i].uid, &file, NULL) < 0)
                                return 1;
                        r |= emit(dir, manifest, file, spec, claims[i].version);
                }
        }

        /* Static per-group spec for device-plugin mode. */
        {
                _cleanup_cdi_spec_ struct cdi_spec *spec = cdi_fx_group_spec(DRIVER, "gpu", 8);
                _cleanup_free_ char *file = NULL;

                if (cdi_group_spec_file_name(DRIVER, "gpu", &file, NULL) < 0)
                        return 1;
                r |= emit(dir, manifest, file, spec, "0.3.0");
        }

        if (r)
                return 1;
        manifest_path = hd_asprintf("%s/manifest.json", dir);
        if (json_dump_file(manifest, manifest_path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
                fprintf(stderr, "cdi-emit: cannot write %s\n", manifest_path);
                return 1;
        }
        return 0;
}

static int read_files(int argc, char **argv)
{
        int status = 0;

        for (int i = 0; i < argc; i++) {
                _cleanup_cdi_spec_ struct cdi_spec *spec = NULL;
                struct hd_error e = HD_ERROR_INIT;

                if (cdi_spec_load_file(argv[i], &spec, &e) < 0) {
                        printf("error %s: %s\n", argv[i], hd_error_message(&e));
                        status = 1;
                } else {
                        printf("ok %s\n", argv[i]);
                }
                hd_error_done(&e);
        }
        return status;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "--read") == 0)
                return read_files(argc - 2, argv + 2);
        if (argc == 2 && argv[1][0] != '-')
                return emit_all(argv[1]);
        fprintf(stderr, "usage: cdi-emit DIR | cdi-emit --read FILE...\n");
        return 2;
}
