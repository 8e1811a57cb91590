/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-kubelet-plugin: flags, logging set-up and signals; the work is in plugin.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/failpoint.h"
#include "base/log.h"
#include "kubeletplugin/plugin.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: hostdev-kubelet-plugin --config FILE [flags]\n"
                "\n"
                "Publishes the host devices described in FILE to Kubernetes DRA and prepares them\n"
                "for pods by writing one CDI spec per ResourceClaim.\n"
                "\n"
                "Flags (environment fallback in brackets):\n"
                "  --config FILE                device config (YAML)\n"
                "  --driver-name NAME           DRA driver name (default hostdev.example.com)\n"
                "  --node-name NAME             this node [NODE_NAME]\n"
                "  --pod-uid UID                suffix for socket names during rolling updates "
                "[POD_UID]\n"
                "  --kubeconfig FILE            kubeconfig (default: in-cluster service account)\n"
                "  --kubelet-registry-dir DIR   default /var/lib/kubelet/plugins_registry\n"
                "  --kubelet-plugins-dir DIR    default /var/lib/kubelet/plugins\n"
                "  --device-plugins-dir DIR     default /var/lib/kubelet/device-plugins\n"
                "  --cdi-root DIR               default /var/run/cdi\n"
                "  --mode auto|dra|device-plugin  default auto\n"
                "  --metrics-addr HOST:PORT     serve /metrics and /healthz (default off)\n"
                "  --health-interval-ms MS      device rescan period (default 5000)\n"
                "  --kube-api-qps N             API requests per second (default 50)\n"
                "  --kube-api-burst N           API request burst (default 100)\n"
                "  -v, --v LEVEL                log verbosity (default 0)\n"
                "  --log-format text|json       default text\n"
                "  --version, --help\n");
}

static const char *env_or(const char *name, const char *fallback)
{
        const char *v = getenv(name);
        return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
        struct kp_plugin_options o = {
                .driver = "hostdev.example.com",
                .node = env_or("NODE_NAME", NULL),
                .pod_uid = env_or("POD_UID", NULL),
                .registry_dir = "/var/lib/kubelet/plugins_registry",
                .plugins_dir = "/var/lib/kubelet/plugins",
                .device_plugins_dir = "/var/lib/kubelet/device-plugins",
                .cdi_root = "/var/run/cdi",
                .mode = "auto",
        };
        int verbosity = 0;
        enum hd_log_format fmt = HD_LOG_TEXT;
        enum {
                O_CONFIG = 256,
                O_DRIVER,
                O_NODE,
                O_POD_UID,
                O_KUBECONFIG,
                O_REGISTRY,
                O_PLUGINS,
                O_DEVPLUGINS,
                O_CDI,
                O_MODE,
                O_METRICS,
                O_LOGFMT,
                O_VERSION,
                O_HEALTH,
                O_QPS,
                O_BURST
        };
        static const struct option longopts[] = {
                {"config", required_argument, NULL, O_CONFIG},
                {"driver-name", required_argument, NULL, O_DRIVER},
                {"node-name", required_argument, NULL, O_NODE},
                {"pod-uid", required_argument, NULL, O_POD_UID},
                {"kubeconfig", required_argument, NULL, O_KUBECONFIG},
                {"kubelet-registry-dir", required_argument, NULL, O_REGISTRY},
                {"kubelet-plugins-dir", required_argument, NULL, O_PLUGINS},
                {"device-plugins-dir", required_argument, NULL, O_DEVPLUGINS},
                {"cdi-root", required_argument, NULL, O_CDI},
                {"mode", required_argument, NULL, O_MODE},
                {"metrics-addr", required_argument, NULL, O_METRICS},
                {"health-interval-ms", required_argument, NULL, O_HEALTH},
                {"kube-api-qps", required_argument, NULL, O_QPS},
                {"kube-api-burst", required_argument, NULL, O_BURST},
                {"v", required_argument, NULL, 'v'},
                {"log-format", required_argument, NULL, O_LOGFMT},
                {"version", no_argument, NULL, O_VERSION},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "v:h", longopts, NULL)) != -1) {
                char *end = NULL;
                switch (c) {
                case O_CONFIG:
                        o.config_path = optarg;
                        break;
                case O_DRIVER:
                        o.driver = optarg;
                        break;
                case O_NODE:
                        o.node = optarg;
                        break;
                case O_POD_UID:
                        o.pod_uid = optarg;
                        break;
                case O_KUBECONFIG:
                        o.kubeconfig = optarg;
                        break;
                case O_REGISTRY:
                        o.registry_dir = optarg;
                        break;
                case O_PLUGINS:
                        o.plugins_dir = optarg;
                        break;
                case O_DEVPLUGINS:
                        o.device_plugins_dir = optarg;
                        break;
                case O_CDI:
                        o.cdi_root = optarg;
                        break;
                case O_MODE:
                        o.mode = optarg;
                        break;
                case O_METRICS:
                        o.metrics_addr = optarg;
                        break;
                case O_HEALTH:
                        o.rescan_ms = (int)strtol(optarg, &end, 10);
                        if (*end || o.rescan_ms < 50) {
                                fprintf(stderr,
                                        "--health-interval-ms '%s': expected a number "
                                        "of milliseconds >= 50\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case O_QPS:
                        o.kube_qps = strtod(optarg, &end);
                        if (*end || o.kube_qps <= 0) {
                                fprintf(stderr, "--kube-api-qps '%s': expected a number > 0\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case O_BURST:
                        o.kube_burst = (int)strtol(optarg, &end, 10);
                        if (*end || o.kube_burst <= 0) {
                                fprintf(stderr, "--kube-api-burst '%s': expected a number > 0\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'v':
                        verbosity = (int)strtol(optarg, &end, 10);
                        if (*end || verbosity < 0) {
                                fprintf(stderr, "-v '%s': expected a level >= 0\n", optarg);
                                return 2;
                        }
                        break;
                case O_LOGFMT:
                        if (hd_log_parse_format(optarg, &fmt) < 0) {
                                fprintf(stderr, "--log-format '%s': expected text or json\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case O_VERSION:
                        printf("hostdev-kubelet-plugin %s\n", HOSTDEV_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return 2;
        }
        hd_log_setup(verbosity, fmt);

        /* Signals go to sigwait() in kp_plugin_run(); block them before any thread starts. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct hd_error err = HD_ERROR_INIT;
        int r = hd_failpoints_setup(getenv("HOSTDEV_FAILPOINTS"), &err);
        if (r >= 0)
                r = kp_plugin_run(&o, &err);
        if (r < 0) {
                hd_log_error("hostdev-kubelet-plugin failed", "err", hd_error_message(&err));
                hd_error_done(&err);
                return r == -EINVAL ? 2 : 1;
        }
        hd_log_info("stopped cleanly");
        return 0;
}
