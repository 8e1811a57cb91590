/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-kubelet-plugin: flags, logging set-up and signals; the work is in plugin.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/failpoint.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kubeletplugin/plugin.h"

/* Shared with hostdevctl and deploy/base's DaemonSet. */
#define DEFAULT_CONFIG "/etc/hostdev/config.yaml"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: hostdev-kubelet-plugin [--config FILE] [flags]\n"
                "\n"
                "Publishes the host devices described in FILE to Kubernetes DRA and prepares them\n"
                "for pods by writing one CDI spec per ResourceClaim.\n"
                "\n"
                "Flags (environment fallback in brackets):\n"
                "  --config FILE                device config (YAML; default " DEFAULT_CONFIG ")\n"
                "  --driver-name NAME           DRA driver name (default hostdev.example.com)\n"
                "  --node-name NAME             this node [NODE_NAME]\n"
                "  --pod-uid UID                suffix for socket names during rolling updates "
                "[POD_UID]\n"
                "  --kubeconfig FILE            kubeconfig (default: in-cluster service account)\n"
                "  --kubelet-registry-dir DIR   default /var/lib/kubelet/plugins_registry\n"
                "  --kubelet-plugins-dir DIR    default /var/lib/kubelet/plugins\n"
                "  --device-plugins-dir DIR     default /var/lib/kubelet/device-plugins\n"
                "  --cdi-root DIR               default /var/run/cdi\n"
                "  --host-root DIR              the host's / is mounted at DIR: host paths are\n"
                "                               checked and watched there (default /)\n"
                "  --mode auto|dra|device-plugin  default auto\n"
                "  --device-plugin-edits cdi|legacy  device-plugin Allocate answers: CDI IDs\n"
                "                               (default) or devices/mounts/envs\n"
                "  --sysfs-root DIR             where sysfs is (NUMA nodes; default /sys)\n"
                "  --metrics-addr HOST:PORT     serve /metrics and /healthz (default off)\n"
                "  --health-interval-ms MS      device rescan period (default 5000)\n"
                "  --kube-api-qps N             API requests per second (default 50)\n"
                "  --kube-api-burst N           API request burst (default 100)\n"
                "  -v, --v LEVEL                log verbosity (default 0)\n"
                "  --log-format text|json       default text\n"
                "  --version, --help\n"
                "\n"
                "Exit status: 0 stopped cleanly, 1 failed (config, devices, API server, sockets),\n"
                "2 usage (unknown flag, bad flag value).\n");
}

static const char *env_or(const char *name, const char *fallback)
{
        const char *v = getenv(name);
        return v && *v ? v : fallback;
}

/* Everything the command line sets. */
struct cli {
        struct kp_plugin_options o;
        int verbosity;
        enum hd_log_format fmt;
};

enum flag_kind { F_STRING, F_INT, F_DOUBLE, F_LOG_FORMAT, F_VERSION, F_HELP };

/* One flag: where its value goes and, for numbers, the bound a value must exceed. */
struct flag {
        const char *name;
        enum flag_kind kind;
        size_t offset; /* into struct cli */
        double above;
        const char *expect; /* "expected ..." for a bad value */
};

#define OPT(field) offsetof(struct cli, o.field)
static const struct flag flags[] = {
        {"config", F_STRING, OPT(config_path), 0, NULL},
        {"driver-name", F_STRING, OPT(driver), 0, NULL},
        {"node-name", F_STRING, OPT(node), 0, NULL},
        {"pod-uid", F_STRING, OPT(pod_uid), 0, NULL},
        {"kubeconfig", F_STRING, OPT(kubeconfig), 0, NULL},
        {"kubelet-registry-dir", F_STRING, OPT(registry_dir), 0, NULL},
        {"kubelet-plugins-dir", F_STRING, OPT(plugins_dir), 0, NULL},
        {"device-plugins-dir", F_STRING, OPT(device_plugins_dir), 0, NULL},
        {"cdi-root", F_STRING, OPT(cdi_root), 0, NULL},
        {"host-root", F_STRING, OPT(host_root), 0, NULL},
        {"mode", F_STRING, OPT(mode), 0, NULL},
        {"device-plugin-edits", F_STRING, OPT(device_plugin_edits), 0, NULL},
        {"sysfs-root", F_STRING, OPT(sysfs_root), 0, NULL},
        {"metrics-addr", F_STRING, OPT(metrics_addr), 0, NULL},
        {"health-interval-ms", F_INT, OPT(rescan_ms), 49, "a number of milliseconds >= 50"},
        {"kube-api-qps", F_DOUBLE, OPT(kube_qps), 0, "a number > 0"},
        {"kube-api-burst", F_INT, OPT(kube_burst), 0, "a number > 0"},
        {"v", F_INT, offsetof(struct cli, verbosity), -1, "a level >= 0"},
        {"log-format", F_LOG_FORMAT, offsetof(struct cli, fmt), 0, "text or json"},
        {"version", F_VERSION, 0, 0, NULL},
        {"help", F_HELP, 0, 0, NULL},
};
#undef OPT

/* A usage error, in the daemon's log format like every other error line it writes. */
#define bad_flags(msg, ...) \
        hd_log_error("hostdev-kubelet-plugin: " msg "; see --help", ##__VA_ARGS__)

/* Store ARG for flag F in CLI. Returns 0, or -EINVAL after printing what was expected. */
static int set_flag(struct cli *cli, const struct flag *f, const char *arg)
{
        void *field = (char *)cli + f->offset;
        char *end = NULL;
        double num = 0;
        switch (f->kind) {
        case F_STRING:
                *(const char **)field = arg;
                return 0;
        case F_LOG_FORMAT:
                if (hd_log_parse_format(arg, field) >= 0)
                        return 0;
                break;
        case F_INT:
                num = (double)strtol(arg, &end, 10);
                if (!*end && *arg && num > f->above && num <= 1e9) {
                        *(int *)field = (int)num;
                        return 0;
                }
                break;
        case F_DOUBLE:
                num = strtod(arg, &end);
                if (!*end && *arg && num > f->above) {
                        *(double *)field = num;
                        return 0;
                }
                break;
        default:
                return 0;
        }
        _cleanup_free_ char *flag = hd_asprintf("%s%s", f->name[1] ? "--" : "-", f->name);
        bad_flags("bad flag value", "flag", flag, "value", arg, "expected", f->expect);
        return -EINVAL;
}

static const struct flag *flag_named(const char *name)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(flags); i++)
                if (strcmp(flags[i].name, name) == 0)
                        return &flags[i];
        return NULL;
}

/* Parse ARGV into CLI. Returns 1 to go on, or an exit status (0 after --help/--version). */
static int parse_flags(int argc, char **argv, struct cli *cli)
{
        struct option longopts[HD_ARRAY_SIZE(flags) + 1];
        for (size_t i = 0; i < HD_ARRAY_SIZE(flags); i++) {
                bool arg = flags[i].kind != F_VERSION && flags[i].kind != F_HELP;
                longopts[i] = (struct option){flags[i].name, arg ? required_argument : no_argument,
                                              NULL, (int)(256 + i)};
        }
        longopts[HD_ARRAY_SIZE(flags)] = (struct option){0};
        int c;
        opterr = 0; /* getopt's own messages are not in the log format */
        while ((c = getopt_long(argc, argv, ":v:h", longopts, NULL)) != -1) {
                const struct flag *f = NULL;
                if (c >= 256 && c < 256 + (int)HD_ARRAY_SIZE(flags))
                        f = &flags[c - 256];
                else if (c == 'v')
                        f = flag_named("v");
                if (c == 'h' || (f && f->kind == F_HELP)) {
                        usage(stdout);
                        return 0;
                }
                if (f && f->kind == F_VERSION) {
                        printf("hostdev-kubelet-plugin %s\n", HOSTDEV_VERSION);
                        return 0;
                }
                if (c == ':') {
                        bad_flags("flag needs a value", "flag", argv[optind - 1]);
                        return 2;
                }
                if (!f) {
                        bad_flags("unknown flag", "flag", argv[optind - 1]);
                        return 2;
                }
                if (set_flag(cli, f, optarg) < 0)
                        return 2;
        }
        if (optind != argc) {
                bad_flags("unexpected argument", "arg", argv[optind]);
                return 2;
        }
        return 1;
}

int main(int argc, char **argv)
{
        struct cli cli = {
                .o =
                        {
                                .config_path = DEFAULT_CONFIG,
                                .driver = "hostdev.example.com",
                                .node = env_or("NODE_NAME", NULL),
                                .pod_uid = env_or("POD_UID", NULL),
                                .registry_dir = "/var/lib/kubelet/plugins_registry",
                                .plugins_dir = "/var/lib/kubelet/plugins",
                                .device_plugins_dir = "/var/lib/kubelet/device-plugins",
                                .cdi_root = "/var/run/cdi",
                                .mode = "auto",
                        },
                .fmt = HD_LOG_TEXT,
        };
        /* Flag errors are logged, so the format must be known first; -v is applied after. */
        for (int i = 1; i < argc; i++)
                if (hd_streq(argv[i], "--log-format") && i + 1 < argc)
                        hd_log_parse_format(argv[i + 1], &cli.fmt);
                else if (hd_startswith(argv[i], "--log-format="))
                        hd_log_parse_format(argv[i] + strlen("--log-format="), &cli.fmt);
        hd_log_setup(0, cli.fmt);
        int r = parse_flags(argc, argv, &cli);
        if (r != 1)
                return r;
        hd_log_setup(cli.verbosity, cli.fmt);

        struct hd_error err = HD_ERROR_INIT;
        if (kp_plugin_check_options(&cli.o, &err) < 0) {
                bad_flags("bad flags", "err", hd_error_message(&err));
                hd_error_done(&err);
                return 2;
        }

        /* Signals go to sigwait() in kp_plugin_run(); block them before any thread starts. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = hd_failpoints_setup(getenv("HOSTDEV_FAILPOINTS"), &err);
        if (r >= 0)
                r = kp_plugin_run(&cli.o, &err);
        if (r < 0) {
                hd_log_error("hostdev-kubelet-plugin failed", "err", hd_error_message(&err));
                hd_error_done(&err);
                return 1;
        }
        hd_log_info("stopped cleanly");
        return 0;
}
