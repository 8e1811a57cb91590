/* SPDX-License-Identifier: Apache-2.0 */
/* ctl-test-client: drives controller/lease and controller/events against the simulated API
 * server for the end-to-end tests.
 *
 *   ctl-test-client --kubeconfig F lease NS NAME [--identity I] [--duration-ms N]
 *           [--deadline-ms N] [--retry-ms N] [--no-release] [--write-path P] [--write-ms N]
 *       Runs an elector until SIGTERM/SIGINT. Prints "LEADING <t>" / "STOPPED <t>" when the
 *       state changes (t = ms on CLOCK_MONOTONIC) and "IDENTITY <id>" first. With --write-path,
 *       acts as a writer: every --write-ms (100) while ctl_lease_is_leader() it merge-patches the
 *       object at P (an annotation with a counter) and prints "WRITE <t> <n>". On exit prints
 *       "STATS {...}".
 *   ctl-test-client --kubeconfig F event NS NAME UID REASON NOTE [--times N] [--warning]
 *           [--gap-ms N] [--driver D]
 *       Records the occurrence N times (--gap-ms apart), waits for the writes, prints
 *       "STATS {...}" and exits 0 (1 when the writes did not finish). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup-json.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "controller/events.h"
#include "controller/lease.h"
#include "kube/cleanup.h"
#include "kube/kube.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        stop_requested = 1;
}

static long long mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct hd_error *e, int r)
{
        fprintf(stderr, "error: %s\n", hd_error_message(e));
        hd_error_done(e);
        return -r;
}

static void changed(bool leading, void *userdata)
{
        printf("%s %lld\n", leading ? "LEADING" : "STOPPED", mono_ms());
        fflush(stdout);
}

struct lease_args {
        struct ctl_lease_options o;
        const char *write_path;
        int write_ms;
};

static int parse_lease(int argc, char **argv, struct lease_args *a)
{
        static const struct option longopts[] = {
                {"identity", required_argument, NULL, 'i'},
                {"duration-ms", required_argument, NULL, 'd'},
                {"deadline-ms", required_argument, NULL, 'D'},
                {"retry-ms", required_argument, NULL, 'r'},
                {"no-release", no_argument, NULL, 'n'},
                {"write-path", required_argument, NULL, 'w'},
                {"write-ms", required_argument, NULL, 'W'},
                {},
        };
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (ch) {
                case 'i':
                        a->o.identity = optarg;
                        break;
                case 'd':
                        a->o.lease_duration_ms = atoi(optarg);
                        break;
                case 'D':
                        a->o.renew_deadline_ms = atoi(optarg);
                        break;
                case 'r':
                        a->o.retry_period_ms = atoi(optarg);
                        break;
                case 'n':
                        a->o.no_release = true;
                        break;
                case 'w':
                        a->write_path = optarg;
                        break;
                case 'W':
                        a->write_ms = atoi(optarg);
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (argc - optind != 2)
                return -EINVAL;
        a->o.namespace = argv[optind];
        a->o.name = argv[optind + 1];
        return 0;
}

static void write_once(struct kube_client *c, const char *path, long n)
{
        char val[32];
        snprintf(val, sizeof(val), "%ld", n);
        _cleanup_json_ json_t *patch =
                json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "ctl-test/write", val);
        struct hd_error err = HD_ERROR_INIT;
        if (kube_patch(c, path, KUBE_PATCH_MERGE, patch, NULL, &err) >= 0)
                printf("WRITE %lld %ld\n", mono_ms(), n);
        else
                printf("WRITE-FAILED %lld %s\n", mono_ms(), hd_error_message(&err));
        fflush(stdout);
        hd_error_done(&err);
}

static int cmd_lease(struct kube_client *c, int argc, char **argv)
{
        struct lease_args a = {.write_ms = 100};
        if (parse_lease(argc, argv, &a) < 0) {
                fprintf(stderr, "usage: lease NS NAME [options]\n");
                return EINVAL;
        }
        a.o.changed_cb = changed;
        struct hd_error err = HD_ERROR_INIT;
        struct ctl_lease *l = NULL;
        int r = ctl_lease_new(c, &a.o, &l, &err);
        if (r < 0)
                return fail(&err, r);
        printf("IDENTITY %s\n", ctl_lease_identity(l));
        fflush(stdout);
        r = ctl_lease_start(l, &err);
        if (r < 0) {
                ctl_lease_free(l);
                return fail(&err, r);
        }
        long n = 0;
        while (!stop_requested) {
                if (a.write_path && ctl_lease_is_leader(l))
                        write_once(c, a.write_path, ++n);
                usleep((useconds_t)a.write_ms * 1000);
        }
        ctl_lease_stop(l);
        struct ctl_lease_stats st;
        ctl_lease_get_stats(l, &st);
        printf("STATS {\"leader\":%s,\"acquired\":%llu,\"lost\":%llu,\"renew_failures\":%llu,"
               "\"lease_transitions\":%lld}\n",
               st.leader ? "true" : "false", (unsigned long long)st.acquired,
               (unsigned long long)st.lost, (unsigned long long)st.renew_failures,
               (long long)st.lease_transitions);
        ctl_lease_free(l);
        return 0;
}

static int cmd_event(struct kube_client *c, int argc, char **argv)
{
        static const struct option longopts[] = {
                {"times", required_argument, NULL, 't'},
                {"warning", no_argument, NULL, 'w'},
                {"gap-ms", required_argument, NULL, 'g'},
                {"driver", required_argument, NULL, 'd'},
                {},
        };
        int times = 1, gap_ms = 0, ch;
        bool warning = false;
        const char *driver = "hostdev.example.com";
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (ch) {
                case 't':
                        times = atoi(optarg);
                        break;
                case 'w':
                        warning = true;
                        break;
                case 'g':
                        gap_ms = atoi(optarg);
                        break;
                case 'd':
                        driver = optarg;
                        break;
                default:
                        return EINVAL;
                }
        }
        if (argc - optind != 5) {
                fprintf(stderr, "usage: event NS NAME UID REASON NOTE [options]\n");
                return EINVAL;
        }
        char **p = argv + optind;
        struct ctl_event_ref ref = {"resource.k8s.io/v1", "ResourceClaim", p[0], p[1], p[2]};
        struct ctl_events_options o = {.driver_name = driver, .instance = "ctl-test-client"};
        struct hd_error err = HD_ERROR_INIT;
        struct ctl_events *ev = NULL;
        int r = ctl_events_new(c, &o, &ev, &err);
        if (r >= 0)
                r = ctl_events_start(ev, &err);
        if (r < 0) {
                ctl_events_free(ev);
                return fail(&err, r);
        }
        for (int i = 0; i < times; i++) {
                ctl_events_record(ev, &ref, warning ? CTL_EVENT_WARNING : CTL_EVENT_NORMAL, p[3],
                                  "Checked", "%s", p[4]);
                if (gap_ms)
                        usleep((useconds_t)gap_ms * 1000);
        }
        int fr = ctl_events_flush(ev, 30000);
        struct ctl_events_stats st;
        ctl_events_get_stats(ev, &st);
        printf("STATS {\"recorded\":%llu,\"created\":%llu,\"patched\":%llu,\"failed\":%llu,"
               "\"dropped\":%llu}\n",
               (unsigned long long)st.recorded, (unsigned long long)st.created,
               (unsigned long long)st.patched, (unsigned long long)st.failed_attempts,
               (unsigned long long)st.dropped);
        ctl_events_free(ev);
        return fr < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        if (argc < 4 || strcmp(argv[1], "--kubeconfig") != 0) {
                fprintf(stderr, "usage: ctl-test-client --kubeconfig F lease|event ...\n");
                return EINVAL;
        }
        hd_log_setup(getenv("CTL_TEST_V") ? atoi(getenv("CTL_TEST_V")) : 0, HD_LOG_TEXT);
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        struct hd_error err = HD_ERROR_INIT;
        _cleanup_kube_config_ struct kube_config *cfg = NULL;
        int r = kube_config_load(argv[2], &cfg, &err);
        if (r < 0)
                return fail(&err, r);
        struct kube_client_options copts = {.backoff_base_ms = 50, .max_retries = 2};
        _cleanup_kube_client_ struct kube_client *c = NULL;
        r = kube_client_new(cfg, &copts, &c, &err);
        if (r < 0)
                return fail(&err, r);
        if (strcmp(argv[3], "lease") == 0)
                return cmd_lease(c, argc - 3, argv + 3);
        if (strcmp(argv[3], "event") == 0)
                return cmd_event(c, argc - 3, argv + 3);
        fprintf(stderr, "unknown command '%s'\n", argv[3]);
        return EINVAL;
}
