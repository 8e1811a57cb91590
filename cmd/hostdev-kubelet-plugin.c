/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-kubelet-plugin: flags, logging set-up and signals; the work is in plugin.c. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/failpoint.h"
#include "base/flags.h"
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

#define OPT(field) offsetof(struct cli, o.field)
static const struct hd_flag flags[] = {
        {"config", HD_FLAG_STRING, OPT(config_path), 0, NULL},
        {"driver-name", HD_FLAG_STRING, OPT(driver), 0, NULL},
        {"node-name", HD_FLAG_STRING, OPT(node), 0, NULL},
        {"pod-uid", HD_FLAG_STRING, OPT(pod_uid), 0, NULL},
        {"kubeconfig", HD_FLAG_STRING, OPT(kubeconfig), 0, NULL},
        {"kubelet-registry-dir", HD_FLAG_STRING, OPT(registry_dir), 0, NULL},
        {"kubelet-plugins-dir", HD_FLAG_STRING, OPT(plugins_dir), 0, NULL},
        {"device-plugins-dir", HD_FLAG_STRING, OPT(device_plugins_dir), 0, NULL},
        {"cdi-root", HD_FLAG_STRING, OPT(cdi_root), 0, NULL},
        {"host-root", HD_FLAG_STRING, OPT(host_root), 0, NULL},
        {"mode", HD_FLAG_STRING, OPT(mode), 0, NULL},
        {"device-plugin-edits", HD_FLAG_STRING, OPT(device_plugin_edits), 0, NULL},
        {"sysfs-root", HD_FLAG_STRING, OPT(sysfs_root), 0, NULL},
        {"metrics-addr", HD_FLAG_STRING, OPT(metrics_addr), 0, NULL},
        {"health-interval-ms", HD_FLAG_INT, OPT(rescan_ms), 49, "a number of milliseconds >= 50"},
        {"kube-api-qps", HD_FLAG_DOUBLE, OPT(kube_qps), 0, "a number > 0"},
        {"kube-api-burst", HD_FLAG_INT, OPT(kube_burst), 0, "a number > 0"},
        {"v", HD_FLAG_INT, offsetof(struct cli, verbosity), -1, "a level >= 0"},
        {"log-format", HD_FLAG_LOG_FORMAT, offsetof(struct cli, fmt), 0, "text or json"},
        {"version", HD_FLAG_VERSION, 0, 0, NULL},
        {"help", HD_FLAG_HELP, 0, 0, NULL},
};
#undef OPT

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
        int r = hd_flags_parse(argc, argv, flags, HD_ARRAY_SIZE(flags), &cli,
                               "hostdev-kubelet-plugin", usage);
        if (r != 1)
                return r;
        hd_log_setup(cli.verbosity, cli.fmt);

        struct hd_error err = HD_ERROR_INIT;
        if (kp_plugin_check_options(&cli.o, &err) < 0) {
                hd_log_error("hostdev-kubelet-plugin: bad flags; see --help", "err",
                             hd_error_message(&err));
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
