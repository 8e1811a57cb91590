/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the reader of the kubelet's device-manager checkpoint (kubelet_internal_checkpoint),
 * which the DRA mode reads to withhold devices. Invariants: it never fails; every hold names
 * one of the resources asked for; a file with no problems that names a resource of ours in an
 * entry holds it, and a damaged one never holds less than the resources its bytes name (the
 * fail-safe). */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

#include "base/strutil.h"
#include "kubeletplugin/dp_checkpoint.h"

static char *const ours[] = {"hostdev.example.com/gpu", "hostdev.example.com/fpga", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = hd_strndup((const char *)data, size); /* NUL bytes cut the input short */
        struct kp_dp_checkpoint c = {0};
        kp_dp_checkpoint_parse("fuzz", text, strlen(text), ours, &c);
        for (size_t i = 0; i < c.n_holds; i++) {
                if (!hd_strv_contains(ours, c.holds[i].resource))
                        abort();
                for (char **id = c.holds[i].device_ids; id && *id; id++)
                        if (!*id)
                                abort();
        }
        if (c.problems) {
                /* a document that does not parse holds every resource its bytes name */
                json_error_t err;
                json_t *doc = json_loads(text, 0, &err);
                if (!doc)
                        for (char *const *r = ours; *r; r++) {
                                char *quoted = hd_asprintf("\"%s\"", *r);
                                bool named = strstr(text, quoted) != NULL;
                                bool held = false;
                                for (size_t i = 0; i < c.n_holds; i++)
                                        held |= hd_streq(c.holds[i].resource, *r) &&
                                                !c.holds[i].device_ids;
                                free(quoted);
                                if (named && !held)
                                        abort();
                        }
                json_decref(doc);
        }
        kp_dp_checkpoint_done(&c);
        free(text);
        return 0;
}
