/* SPDX-License-Identifier: Apache-2.0 */
/* hostdevctl: offline tool over the node plugin's modules. main() parses flags and calls one
 * function per subcommand; exit status 0 ok, 1 failed or did nothing of what was asked, 2
 * usage. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "devmodel/cdi_specs.h"
#include "devmodel/claim.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "devmodel/dp_specs.h"
#include "devmodel/names.h"
#include "devmodel/numa.h"
#include "devmodel/prepare.h"
#include "devmodel/opaque.h"
#include "devmodel/slices.h"

#define EXIT_USAGE 2
#define DEFAULT_DRIVER "hostdev.example.com"
#define DEFAULT_CDI_ROOT "/var/run/cdi"
#define DEFAULT_CONFIG "/etc/hostdev/config.yaml" /* as hostdev-kubelet-plugin and deploy/ */
#define EXIT_STATUS_TEXT                                                                          \
        "Exit status: 0 ok; 1 failed or did nothing of what was asked (a config error, a group\n" \
        "matching no device, nothing prepared, no spec written); 2 usage (unknown command,\n"     \
        "flag or argument).\n"

struct opts {
        const char *driver;
        const char *node;
        const char *cdi_root;
        const char *config;
        const char *claim;
        const char *claim_uid;
        const char *output;
        const char *host_root;
        const char *mode;       /* discover: dra (default) or device-plugin */
        const char *sysfs_root; /* discover --mode device-plugin: NUMA lookups */
        bool json;
        bool offline;
        bool extended_resource;
        char **args; /* positional arguments (borrowed from argv) */
        int n_args;
};

struct command {
        const char *name;
        const char *usage; /* after "hostdevctl " */
        const char *help;
        const char *flags; /* which of d n r c C u o j H f x m s the command takes */
        int (*run)(const struct opts *o);
        int min_args, max_args;
};

static void fail(const char *what, const struct hd_error *e)
{
        fprintf(stderr, "hostdevctl: %s%s%s\n", what ? what : "", what ? ": " : "",
                hd_error_message(e));
}

static int load_config(const char *path, struct dm_config **ret)
{
        struct hd_error e = HD_ERROR_INIT;
        int r = dm_config_load(path, ret, &e);
        if (r < 0)
                fail(NULL, &e);
        hd_error_done(&e);
        return r;
}

/* Load the config at PATH and discover its devices on this host (under HOST_ROOT when set). */
static int load_inventory(const char *path, const char *host_root, struct dm_config **ret_config,
                          struct dm_inventory **ret_inv, bool warn)
{
        struct hd_error e = HD_ERROR_INIT;
        int r = load_config(path, ret_config);
        if (r < 0)
                return r;
        r = dm_config_set_host_root(*ret_config, host_root, &e);
        if (r < 0)
                hd_error_wrap(&e, "--host-root");
        else
                r = dm_discover(*ret_config, ret_inv, &e);
        if (r < 0) {
                fail(NULL, &e);
                *ret_config = dm_config_free(*ret_config);
        } else if (warn) {
                for (char **p = (*ret_inv)->problems; p && *p; p++)
                        fprintf(stderr, "hostdevctl: warning: %s\n", *p);
        }
        hd_error_done(&e);
        return r;
}

static size_t group_devices(const struct dm_inventory *inv, const struct dm_group *g)
{
        size_t n = 0;
        for (size_t i = 0; i < inv->n_devices; i++)
                n += inv->devices[i].group == g;
        return n;
}

/* ---- subcommands ---- */

/* Print what discovery left out (not the groups without a device: the caller says those). */
static void warn_left_out(const struct dm_inventory *inv)
{
        for (char **p = inv->problems; p && *p; p++)
                if (strstr(*p, "left out"))
                        fprintf(stderr, "hostdevctl: warning: %s\n", *p);
}

/* Say which groups match nothing on this host: an error for a required group, a warning for an
 * optional one. Returns the number of required groups without a device. */
static size_t report_empty_groups(const struct dm_config *c, const struct dm_inventory *inv)
{
        const char *where = c->host_root ? " under --host-root" : "";
        size_t bad = 0;
        for (size_t i = 0; i < c->n_groups; i++) {
                const struct dm_group *g = &c->groups[i];
                if (group_devices(inv, g) > 0)
                        continue;
                if (g->optional) {
                        fprintf(stderr,
                                "hostdevctl: warning: %s: group '%s' (optional) matches no device "
                                "on this host%s\n",
                                c->file, g->name, where);
                        continue;
                }
                fprintf(stderr,
                        "hostdevctl: %s: group '%s' matches no device on this host%s; fix its "
                        "'match', set 'optional: true', or check the file alone with "
                        "--offline\n",
                        c->file, g->name, where);
                bad++;
        }
        return bad;
}

/* Resolve every device's edits and each group's common edits as a prepare would, so a mount
 * source or hook missing here is reported now, not by the first claim. Returns the number of
 * groups that fail. */
static size_t report_unresolvable(const struct opts *o, const struct dm_config *c,
                                  const struct dm_inventory *inv)
{
        size_t bad = 0;
        for (size_t i = 0; i < c->n_groups; i++) {
                const struct dm_group *g = &c->groups[i];
                struct cdi_spec *spec _cleanup_cdi_spec_ = NULL;
                struct hd_error e = HD_ERROR_INIT;
                if (group_devices(inv, g) == 0)
                        continue;
                if (dm_group_spec_build(inv, g, o->driver, &spec, &e) < 0) {
                        fprintf(stderr, "hostdevctl: %s: group '%s': %s\n", c->file, g->name,
                                hd_error_message(&e));
                        bad++;
                }
                hd_error_done(&e);
        }
        return bad;
}

static int run_validate(const struct opts *o)
{
        struct dm_config *c = NULL;
        struct dm_inventory *inv = NULL;
        if (o->offline) {
                if (load_config(o->args[0], &c) < 0)
                        return EXIT_FAILURE;
                printf("%s: valid (%zu group%s; devices not checked)\n", o->args[0], c->n_groups,
                       c->n_groups == 1 ? "" : "s");
                dm_config_free(c);
                return EXIT_SUCCESS;
        }
        if (load_inventory(o->args[0], o->host_root, &c, &inv, false) < 0)
                return EXIT_FAILURE;
        warn_left_out(inv);
        size_t bad = report_empty_groups(c, inv);
        bad += report_unresolvable(o, c, inv);
        int status = bad > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (status == EXIT_SUCCESS)
                printf("%s: valid (%zu group%s, %zu device%s on this host)\n", o->args[0],
                       c->n_groups, c->n_groups == 1 ? "" : "s", inv->n_devices,
                       inv->n_devices == 1 ? "" : "s");
        dm_inventory_free(inv);
        dm_config_free(c);
        return status;
}

static void print_device_table(const struct dm_inventory *inv)
{
        printf("%-32s %-12s %-6s %-9s %s\n", "DEVICE", "GROUP", "TYPE", "NUMBERS", "PATH");
        for (size_t i = 0; i < inv->n_devices; i++) {
                const struct dm_device *d = &inv->devices[i];
                _cleanup_free_ char *nums = hd_asprintf("%u:%u", d->major, d->minor);
                printf("%-32s %-12s %-6c %-9s %s\n", d->name, d->group->name, d->type, nums,
                       d->path);
        }
}

/* discover --mode device-plugin: what the device-plugin mode would advertise to the kubelet —
 * per group its extended resource, and per device ID the NUMA node sysfs gives (-1: none). */
static void print_device_plugin_view(const struct opts *o, const struct dm_inventory *inv)
{
        json_t *out = o->json ? json_array() : NULL;
        const char *sysfs = o->sysfs_root ? o->sysfs_root : DM_SYSFS_ROOT;
        if (!o->json)
                printf("%-40s %-32s %-5s %s\n", "RESOURCE", "DEVICE ID", "NUMA", "PATH");
        for (size_t i = 0; i < inv->n_devices; i++) {
                const struct dm_device *d = &inv->devices[i];
                _cleanup_free_ char *res = dm_dp_resource_name(d->group, o->driver);
                int numa = dm_numa_node(sysfs, d->type, d->major, d->minor);
                if (o->json) {
                        json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:s}", "resource",
                                                             res, "id", d->name, "numa", numa,
                                                             "path", d->path));
                        continue;
                }
                _cleanup_free_ char *n = numa >= 0 ? hd_asprintf("%d", numa) : hd_strdup("-");
                printf("%-40s %-32s %-5s %s\n", res, d->name, n, d->path);
        }
        if (o->json) {
                _cleanup_free_ char *text = json_dumps(out, JSON_INDENT(2));
                printf("%s\n", text);
                json_decref(out);
        }
}

static int run_discover(const struct opts *o)
{
        bool dp = hd_streq(o->mode, "device-plugin");
        if (o->mode && !dp && !hd_streq(o->mode, "dra")) {
                fprintf(stderr, "hostdevctl: --mode '%s': expected dra or device-plugin\n",
                        o->mode);
                return EXIT_USAGE;
        }
        if (dp) {
                struct dm_config *dc = NULL;
                struct dm_inventory *dinv = NULL;
                if (load_inventory(o->args[0], o->host_root, &dc, &dinv, true) < 0)
                        return EXIT_FAILURE;
                print_device_plugin_view(o, dinv);
                dm_inventory_free(dinv);
                dm_config_free(dc);
                return EXIT_SUCCESS;
        }
        struct dm_config *c = NULL;
        struct dm_inventory *inv = NULL;
        struct hd_error e = HD_ERROR_INIT;
        json_t *slices = NULL;
        char **dropped = NULL;
        int status = EXIT_FAILURE;

        if (load_inventory(o->args[0], o->host_root, &c, &inv, true) < 0)
                return EXIT_FAILURE;
        struct dm_slice_params p = {.driver = o->driver, .node = o->node, .generation = 1};
        if (dm_slices_build(inv, &p, &slices, &dropped, &e) < 0) {
                fail("build ResourceSlices", &e);
        } else {
                for (char **d = dropped; d && *d; d++)
                        fprintf(stderr, "hostdevctl: warning: not published: %s\n", *d);
                if (o->json) {
                        _cleanup_free_ char *text = json_dumps(slices, JSON_INDENT(2));
                        printf("%s\n", text);
                } else {
                        print_device_table(inv);
                }
                status = EXIT_SUCCESS;
        }
        json_decref(slices);
        hd_strv_free(dropped);
        hd_error_done(&e);
        dm_inventory_free(inv);
        dm_config_free(c);
        return status;
}

/* Write or print the spec of group G. Returns 1 when a spec was produced, 0 when an optional
 * group has no device, or -errno (reported). */
static int generate_group(const struct opts *o, const struct dm_inventory *inv,
                          const struct dm_group *g)
{
        struct hd_error e = HD_ERROR_INIT;
        struct cdi_spec *spec _cleanup_cdi_spec_ = NULL;
        _cleanup_free_ char *file = NULL;
        int r = dm_group_spec_build(inv, g, o->driver, &spec, &e);

        if (r == -ENODEV && g->optional) {
                fprintf(stderr, "hostdevctl: warning: %s (it is optional); no spec\n",
                        hd_error_message(&e));
                hd_error_done(&e);
                return 0;
        }
        if (r >= 0)
                r = cdi_group_spec_file_name(o->driver, g->name, &file, &e);
        if (r >= 0 && o->output) {
                r = cdi_spec_write(o->output, file, spec, &e);
                if (r >= 0)
                        printf("%s/%s\n", o->output, file);
        } else if (r >= 0) {
                _cleanup_free_ char *text = NULL;
                r = cdi_spec_to_json_checked(spec, &text, &e);
                if (r >= 0)
                        fputs(text, stdout);
        }
        if (r < 0)
                fail("cdi generate", &e);
        hd_error_done(&e);
        return r < 0 ? r : 1;
}

static int run_cdi_generate(const struct opts *o)
{
        struct dm_config *c = NULL;
        struct dm_inventory *inv = NULL;
        int status = EXIT_SUCCESS;
        size_t written = 0;

        if (load_inventory(o->args[0], o->host_root, &c, &inv, false) < 0)
                return EXIT_FAILURE;
        warn_left_out(inv);
        for (size_t i = 0; i < c->n_groups; i++) {
                int r = generate_group(o, inv, &c->groups[i]);
                if (r < 0)
                        status = EXIT_FAILURE;
                else
                        written += (size_t)r;
        }
        if (written == 0 && status == EXIT_SUCCESS) {
                fprintf(stderr,
                        "hostdevctl: %s: no group has a device on this host; no spec written\n",
                        c->file);
                status = EXIT_FAILURE;
        }
        dm_inventory_free(inv);
        dm_config_free(c);
        return status;
}

static int run_cdi_validate(const struct opts *o)
{
        int status = EXIT_SUCCESS;
        for (int i = 0; i < o->n_args; i++) {
                struct hd_error e = HD_ERROR_INIT;
                struct cdi_spec *spec = NULL;
                if (cdi_spec_load_file(o->args[i], &spec, &e) < 0) {
                        /* Say the file once: most loader errors name it already. */
                        fail(strstr(hd_error_message(&e), o->args[i]) ? NULL : o->args[i], &e);
                        status = EXIT_FAILURE;
                } else {
                        printf("%s: valid (kind %s, %zu device%s)\n", o->args[i], spec->kind,
                               spec->n_devices, spec->n_devices == 1 ? "" : "s");
                }
                cdi_spec_free(spec);
                hd_error_done(&e);
        }
        return status;
}

static int run_prepare(const struct opts *o)
{
        struct dm_config *c = NULL;
        struct dm_inventory *inv = NULL;
        struct dm_claim *claim = NULL;
        struct dm_prepared_claim res = {0};
        struct hd_error e = HD_ERROR_INIT;
        int status = EXIT_FAILURE;

        if (dm_claim_load(o->claim, &claim, &e) < 0) {
                fail(NULL, &e);
                hd_error_done(&e);
                return EXIT_FAILURE;
        }
        if (load_inventory(o->config, o->host_root, &c, &inv, false) < 0) {
                dm_claim_free(claim);
                return EXIT_FAILURE;
        }
        /* As the daemon does: each result gets the env its opaque configs give it, under the
         * same claimEnv rules (checked inside dm_prepare_claim). */
        char ***env = NULL;
        int r = dm_opaque_env(claim, o->driver, &env, &e);
        if (r < 0)
                hd_error_wrap(&e, "prepare claim %s", claim->uid);
        struct dm_prepare_params p = {.driver = o->driver,
                                      .pool = o->node,
                                      .cdi_root = o->cdi_root,
                                      .result_env = (char **const *)env};
        if (r >= 0)
                r = dm_prepare_claim(inv, claim, &p, &res, &e);
        dm_opaque_env_free(env, claim->n_results);
        if (r < 0) {
                fail(NULL, &e);
        } else if (!res.spec_file) {
                fprintf(stderr,
                        "hostdevctl: claim %s has no device of driver %s in pool %s; nothing "
                        "prepared (check --driver and --node)\n",
                        claim->uid, o->driver, o->node);
        } else {
                for (size_t i = 0; i < res.n_devices; i++)
                        printf("%s\n", res.devices[i].cdi_ids[0]);
                status = EXIT_SUCCESS;
        }
        dm_prepared_claim_done(&res);
        hd_error_done(&e);
        dm_claim_free(claim);
        dm_inventory_free(inv);
        dm_config_free(c);
        return status;
}

static int run_unprepare(const struct opts *o)
{
        struct hd_error e = HD_ERROR_INIT;
        int status = EXIT_SUCCESS;
        if (dm_unprepare_claim(o->driver, o->claim_uid, o->cdi_root, &e) < 0) {
                fail(NULL, &e);
                status = EXIT_FAILURE;
        }
        hd_error_done(&e);
        return status;
}

/* One DeviceClass per group, selecting the devices the plugin publishes for it: the built-in
 * attribute "group" lives in the driver's own domain (devmodel/discovery.c). Names, driver and
 * groups are DNS names, so the single-quoted YAML scalars never need escapes. */
static int run_deviceclasses(const struct opts *o)
{
        struct dm_config *c = NULL;
        if (load_config(o->args[0], &c) < 0)
                return EXIT_FAILURE;
        for (size_t i = 0; i < c->n_groups; i++) {
                const char *g = c->groups[i].name;
                printf("%s# group '%s' of %s\n"
                       "apiVersion: resource.k8s.io/v1\n"
                       "kind: DeviceClass\n"
                       "metadata:\n"
                       "  name: %s.%s\n"
                       "spec:\n"
                       "  selectors:\n"
                       "    - cel:\n"
                       "        expression: 'device.driver == \"%s\" && "
                       "device.attributes[\"%s\"].group == \"%s\"'\n",
                       i ? "---\n" : "", g, o->args[0], g, o->driver, o->driver, o->driver, g);
                if (o->extended_resource)
                        printf("  extendedResourceName: %s/%s\n", o->driver, g);
        }
        dm_config_free(c);
        return EXIT_SUCCESS;
}

/* ---- flags ---- */

static const struct command commands[] = {
        {"validate", "validate CONFIG [--offline] [--host-root DIR]",
         "Check a device config (errors name file:line:column and the fix), that every group "
         "matches a device on this host (a group marked optional only warns) and that the "
         "devices' mount sources and hooks exist. With --offline, check the file alone.",
         "Hf", run_validate, 1, 1},
        {"discover",
         "discover CONFIG [--node N] [--driver D] [--json] [--host-root DIR] "
         "[--mode dra|device-plugin] [--sysfs-root DIR]",
         "List this node's devices, or with --json print the ResourceSlices that would be "
         "published. With --mode device-plugin, list what the device-plugin mode would "
         "advertise instead: each device ID under its extended resource, with its NUMA node "
         "(- when sysfs does not know it).",
         "dnjHms", run_discover, 1, 1},
        {"deviceclasses", "deviceclasses CONFIG [--driver D] [--extended-resource]",
         "Print one DeviceClass (YAML) per group of CONFIG, named <group>.<driver>, selecting "
         "that group's devices; with --extended-resource each also serves the extended "
         "resource <driver>/<group>.",
         "dx", run_deviceclasses, 1, 1},
        {"cdi generate", "cdi generate CONFIG [--output DIR] [--driver D] [--host-root DIR]",
         "Write one static CDI spec per group (kind k8s.<driver>/<group>) into DIR, or print "
         "them.",
         "doH", run_cdi_generate, 1, 1},
        {"cdi validate", "cdi validate FILE...",
         "Check CDI spec files against the CDI rules and the minimum cdiVersion.", "",
         run_cdi_validate, 1, 1024},
        {"prepare",
         "prepare --claim FILE.json [--config CONFIG] [--cdi-root DIR] [--driver D] [--node N] "
         "[--host-root DIR]",
         "Prepare an allocated ResourceClaim offline: write its CDI spec and print the CDI "
         "IDs.",
         "dnrcCH", run_prepare, 0, 0},
        {"unprepare", "unprepare --claim-uid UID [--cdi-root DIR] [--driver D]",
         "Remove a claim's CDI spec (missing is fine).", "dru", run_unprepare, 0, 0},
};

static void usage_all(FILE *f)
{
        fprintf(f, "Usage: hostdevctl COMMAND [OPTIONS]\n\nCommands:\n");
        for (size_t i = 0; i < HD_ARRAY_SIZE(commands); i++)
                fprintf(f, "  %s\n      %s\n", commands[i].usage, commands[i].help);
        fprintf(f,
                "\nDefaults: --driver %s, --node $NODE_NAME or the host name, --cdi-root %s, "
                "--config %s.\nRun 'hostdevctl COMMAND --help' for one command.\n"
                "\n" EXIT_STATUS_TEXT,
                DEFAULT_DRIVER, DEFAULT_CDI_ROOT, DEFAULT_CONFIG);
}

/* One usage text for the "cdi" word alone: its two subcommands. */
static void usage_cdi(FILE *f)
{
        fprintf(f, "Usage: hostdevctl cdi generate|validate ...\n\nCommands:\n");
        for (size_t i = 0; i < HD_ARRAY_SIZE(commands); i++)
                if (hd_startswith(commands[i].name, "cdi "))
                        fprintf(f, "  %s\n      %s\n", commands[i].usage, commands[i].help);
        fprintf(f, "\nRun 'hostdevctl cdi COMMAND --help' for its options.\n");
}

static void usage_one(FILE *f, const struct command *c)
{
        fprintf(f, "Usage: hostdevctl %s\n\n%s\n", c->usage, c->help);
        static const struct {
                char flag;
                const char *text;
        } flags[] = {
                {'d', "  --driver D       driver name (default " DEFAULT_DRIVER ")"},
                {'n', "  --node N         node and pool name (default $NODE_NAME or host name)"},
                {'r', "  --cdi-root DIR   CDI spec directory (default " DEFAULT_CDI_ROOT ")"},
                {'c', "  --claim FILE     ResourceClaim JSON (required)"},
                {'C', "  --config FILE    device config (default " DEFAULT_CONFIG ")"},
                {'u', "  --claim-uid UID  claim UID (required)"},
                {'o', "  --output DIR     write spec files into DIR instead of printing"},
                {'j', "  --json           print the ResourceSlice objects as JSON"},
                {'H', "  --host-root DIR  the host's / is mounted at DIR: look up host paths "
                      "there"},
                {'f', "  --offline        check the file only, not this host's devices"},
                {'x', "  --extended-resource  also set extendedResourceName <driver>/<group>"},
                {'m', "  --mode MODE      dra (default) or device-plugin"},
                {'s', "  --sysfs-root DIR sysfs for NUMA lookups (default " DM_SYSFS_ROOT ")"},
        };
        fprintf(f, "\nOptions:\n");
        for (size_t i = 0; i < HD_ARRAY_SIZE(flags); i++)
                if (strchr(c->flags, flags[i].flag))
                        fprintf(f, "%s\n", flags[i].text);
        fprintf(f, "  -h, --help       show this help\n");
}

static char *default_node(void)
{
        const char *env = getenv("NODE_NAME");
        if (env && *env)
                return hd_strdup(env);
        char host[256] = {0};
        if (gethostname(host, sizeof(host) - 1) < 0)
                return hd_strdup("localhost");
        for (char *p = host; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        return hd_strdup(host);
}

static int usage_error(const struct command *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int usage_error(const struct command *c, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "hostdevctl: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nUsage: hostdevctl %s (see --help)\n", c->usage);
        return EXIT_USAGE;
}

/* Store the value of option OPT (its short letter) in O. */
static void set_option(struct opts *o, int opt, const char *arg)
{
        switch (opt) {
        case 'd':
                o->driver = arg;
                break;
        case 'n':
                o->node = arg;
                break;
        case 'r':
                o->cdi_root = arg;
                break;
        case 'c':
                o->claim = arg;
                break;
        case 'C':
                o->config = arg;
                break;
        case 'u':
                o->claim_uid = arg;
                break;
        case 'o':
                o->output = arg;
                break;
        case 'j':
                o->json = true;
                break;
        case 'H':
                o->host_root = arg;
                break;
        case 'f':
                o->offline = true;
                break;
        case 'x':
                o->extended_resource = true;
                break;
        case 'm':
                o->mode = arg;
                break;
        case 's':
                o->sysfs_root = arg;
                break;
        }
}

static int run_command(const struct command *c, int argc, char **argv)
{
        static const struct option longopts[] = {
                {"driver", required_argument, NULL, 'd'},
                {"node", required_argument, NULL, 'n'},
                {"cdi-root", required_argument, NULL, 'r'},
                {"claim", required_argument, NULL, 'c'},
                {"config", required_argument, NULL, 'C'},
                {"claim-uid", required_argument, NULL, 'u'},
                {"output", required_argument, NULL, 'o'},
                {"json", no_argument, NULL, 'j'},
                {"host-root", required_argument, NULL, 'H'},
                {"offline", no_argument, NULL, 'f'},
                {"extended-resource", no_argument, NULL, 'x'},
                {"mode", required_argument, NULL, 'm'},
                {"sysfs-root", required_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        _cleanup_free_ char *node = default_node();
        struct opts o = {.driver = DEFAULT_DRIVER,
                         .node = node,
                         .cdi_root = DEFAULT_CDI_ROOT,
                         .config = DEFAULT_CONFIG};
        int opt;

        opterr = 0;
        optind = 1;
        while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
                if (opt == 'h') {
                        usage_one(stdout, c);
                        return EXIT_SUCCESS;
                }
                if (opt == '?')
                        return usage_error(c, "unknown option '%s'", argv[optind - 1]);
                if (opt == ':')
                        return usage_error(c, "option '%s' needs a value", argv[optind - 1]);
                if (!strchr(c->flags, opt))
                        return usage_error(c, "option '%s' does not apply here", argv[optind - 1]);
                set_option(&o, opt, optarg);
        }
        o.args = argv + optind;
        o.n_args = argc - optind;
        if (o.n_args < c->min_args)
                return usage_error(c, "missing argument%s", c->min_args > 1 ? "s" : "");
        if (o.n_args > c->max_args)
                return usage_error(c, "unexpected argument '%s'", o.args[c->max_args]);
        if (strchr(c->flags, 'c') && !o.claim)
                return usage_error(c, "%s is required", "--claim");
        if (strchr(c->flags, 'u') && !o.claim_uid)
                return usage_error(c, "%s is required", "--claim-uid");
        if (!dm_is_dns_subdomain(o.driver) || strlen(o.driver) > DM_DNS_LABEL_MAX)
                return usage_error(c,
                                   "driver name '%s' must be a lowercase DNS subdomain of at "
                                   "most 63 characters",
                                   o.driver);
        return c->run(&o);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage_all(stderr);
                return EXIT_USAGE;
        }
        if (hd_streq(argv[1], "--help") || hd_streq(argv[1], "-h") || hd_streq(argv[1], "help")) {
                usage_all(stdout);
                return EXIT_SUCCESS;
        }
        if (hd_streq(argv[1], "--version")) {
                printf("hostdevctl %s\n", HOSTDEV_VERSION);
                return EXIT_SUCCESS;
        }
        /* "cdi" takes a second word; the command sees argv from its last word on. */
        int skip = 1;
        _cleanup_free_ char *name = hd_strdup(argv[1]);
        if (hd_streq(argv[1], "cdi")) {
                if (argc < 3 || hd_startswith(argv[2], "-")) {
                        bool help = argc >= 3 &&
                                    (hd_streq(argv[2], "--help") || hd_streq(argv[2], "-h"));
                        if (!help)
                                fprintf(stderr, "hostdevctl: 'cdi' needs a subcommand: generate "
                                                "or validate\n");
                        usage_cdi(help ? stdout : stderr);
                        return help ? EXIT_SUCCESS : EXIT_USAGE;
                }
                free(name);
                name = hd_asprintf("cdi %s", argv[2]);
                skip = 2;
        }
        for (size_t i = 0; i < HD_ARRAY_SIZE(commands); i++)
                if (hd_streq(commands[i].name, name))
                        return run_command(&commands[i], argc - skip, argv + skip);
        fprintf(stderr, "hostdevctl: unknown command '%s'\n", name);
        usage_all(stderr);
        return EXIT_USAGE;
}
