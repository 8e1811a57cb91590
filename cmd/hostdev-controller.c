/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-controller: flags, logging set-up and signals; the work is in controller/. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/flags.h"
#include "base/log.h"
#include "controller/controller.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: hostdev-controller [flags]\n"
                   "\n"
                   "Watches ResourceClaims and the driver's ResourceSlices and records every\n"
                   "allocation of the driver's devices in one HostDeviceLedger per node.\n"
                   "\n"
                   "Flags:\n"
                   "  --kubeconfig FILE                 kubeconfig (default: in-cluster)\n"
                   "  --driver-name NAME                DRA driver (default hostdev.example.com)\n"
                   "  --namespace NS                    namespace of the Lease [POD_NAMESPACE]\n"
                   "  --leader-elect[=true|false]       elect one writer (default true)\n"
                   "  --leader-elect-lease-name NAME    default <driver>-controller\n"
                   "  --leader-elect-lease-duration-ms MS   default 15000\n"
                   "  --leader-elect-renew-deadline-ms MS   default 10000\n"
                   "  --leader-elect-retry-period-ms MS     default 2000\n"
                   "  --write-window-ms MS              one ledger write per node per window "
                   "(default 200)\n"
                   "  --writers N                       ledger writer threads (default 4)\n"
                   "  --watch-timeout-s S               server-side watch timeout (default 300)\n"
                   "  --metrics-addr HOST:PORT          serve /metrics, /healthz, /readyz\n"
                   "  --kube-api-qps N                  API requests per second (default 100)\n"
                   "  --kube-api-burst N                API request burst (default 200)\n"
                   "  -v, --v LEVEL                     log verbosity (default 0)\n"
                   "  --log-format text|json            default text\n"
                   "  --version, --help\n");
}

struct cli {
        struct ctl_controller_options o;
        int verbosity;
        enum hd_log_format fmt;
};

#define OPT(field) offsetof(struct cli, o.field)
static const struct hd_flag flags[] = {
        {"kubeconfig", HD_FLAG_STRING, OPT(kubeconfig), 0, NULL},
        {"driver-name", HD_FLAG_STRING, OPT(driver), 0, NULL},
        {"namespace", HD_FLAG_STRING, OPT(namespace), 0, NULL},
        {"leader-elect", HD_FLAG_BOOL, OPT(leader_elect), 0, NULL},
        {"leader-elect-lease-name", HD_FLAG_STRING, OPT(lease_name), 0, NULL},
        {"leader-elect-lease-duration-ms", HD_FLAG_INT, OPT(lease_duration_ms), 0,
         "milliseconds > 0"},
        {"leader-elect-renew-deadline-ms", HD_FLAG_INT, OPT(renew_deadline_ms), 0,
         "milliseconds > 0"},
        {"leader-elect-retry-period-ms", HD_FLAG_INT, OPT(retry_period_ms), 0, "milliseconds > 0"},
        {"write-window-ms", HD_FLAG_INT, OPT(write_window_ms), 0, "milliseconds > 0"},
        {"writers", HD_FLAG_INT, OPT(writers), 0, "a number > 0"},
        {"watch-timeout-s", HD_FLAG_INT, OPT(watch_timeout_s), 0, "seconds > 0"},
        {"metrics-addr", HD_FLAG_STRING, OPT(metrics_addr), 0, NULL},
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
        const char *ns = getenv("POD_NAMESPACE");
        struct cli cli = {
                .o = {.driver = "hostdev.example.com",
                      .namespace = ns && *ns ? ns : NULL,
                      .leader_elect = true},
                .fmt = HD_LOG_TEXT,
        };
        int r = hd_flags_parse(argc, argv, flags, HD_ARRAY_SIZE(flags), &cli, "hostdev-controller",
                               usage);
        if (r != 1)
                return r;
        hd_log_setup(cli.verbosity, cli.fmt);

        /* Signals go to sigwait() in ctl_controller_run(); block them before any thread. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct hd_error err = HD_ERROR_INIT;
        r = ctl_controller_run(&cli.o, &err);
        if (r < 0) {
                hd_log_error("hostdev-controller failed", "err", hd_error_message(&err));
                hd_error_done(&err);
                return r == -EINVAL ? 2 : 1;
        }
        hd_log_info("stopped cleanly");
        return 0;
}
