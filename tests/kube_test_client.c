/* SPDX-License-Identifier: Apache-2.0 */
/* kube-test-client: drives kube/ from the command line for the end-to-end tests.
 *
 *   kube-test-client [global options] <command> [args]
 *   global: --kubeconfig F | --in-cluster [--sa-dir D]   --user-agent S  --timeout-ms N
 *           --retries N  --qps Q  --burst N  --backoff-ms N  --max-body BYTES  -v N
 *   get PATH | delete PATH | create PATH JSON | update PATH JSON | patch PATH TYPE JSON
 *   list GROUP VERSION RESOURCE [--ns NS] [--limit N] [--label S] [--field S]
 *   watch GROUP VERSION RESOURCE [--ns NS] [--rv RV] [--max-events N] [--timeout S]
 *   informer GROUP VERSION RESOURCE [--ns NS] [--label S] [--field S] [--watch-timeout S]
 *           prints ADDED/UPDATED/DELETED/SYNCED lines; SIGUSR1 dumps the cache; SIGTERM stops
 *   informer-rw GROUP VERSION RESOURCE PATH JSON   create, then read it back from an informer
 *   discover GROUP V1,V2,...        discover-resource GROUP VERSION RESOURCE
 *   parallel-get PATH THREADS COUNT       get-loop PATH COUNT INTERVAL_MS (one line per GET)
 *
 * Output is JSON (or event lines) on stdout. A failure prints
 * "error: errno=<NAME> http=<status>: <message>" on stderr and exits with the errno value. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kube/kube.h"

static int fail(struct hd_error *e, int r)
{
        const char *name = strerrorname_np(-r);
        fprintf(stderr, "error: errno=%s http=%d: %s\n", name ? name : "?", e->http_status,
                hd_error_message(e));
        hd_error_done(e);
        return -r;
}

static void print_json(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%s\n", s ? s : "null");
        free(s);
        fflush(stdout);
}

static json_t *parse_arg_json(const char *s)
{
        json_error_t err;
        json_t *j = json_loads(s, JSON_DECODE_ANY, &err);
        if (!j) {
                fprintf(stderr, "invalid JSON argument: %s\n", err.text);
                exit(EINVAL);
        }
        return j;
}

struct sub_opts {
        const char *ns, *label, *field, *rv;
        unsigned limit;
        int max_events, timeout, watch_timeout;
};

static int parse_sub(int argc, char **argv, struct sub_opts *o)
{
        static const struct option longopts[] = {
                {"ns", required_argument, NULL, 'n'},
                {"label", required_argument, NULL, 'l'},
                {"field", required_argument, NULL, 'f'},
                {"rv", required_argument, NULL, 'r'},
                {"limit", required_argument, NULL, 'L'},
                {"max-events", required_argument, NULL, 'm'},
                {"timeout", required_argument, NULL, 't'},
                {"watch-timeout", required_argument, NULL, 'w'},
                {},
        };
        int ch;
        optind = 0; /* full re-initialisation of GNU getopt (argument permutation) */
        while ((ch = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (ch) {
                case 'n':
                        o->ns = optarg;
                        break;
                case 'l':
                        o->label = optarg;
                        break;
                case 'f':
                        o->field = optarg;
                        break;
                case 'r':
                        o->rv = optarg;
                        break;
                case 'L':
                        o->limit = (unsigned)atoi(optarg);
                        break;
                case 'm':
                        o->max_events = atoi(optarg);
                        break;
                case 't':
                        o->timeout = atoi(optarg);
                        break;
                case 'w':
                        o->watch_timeout = atoi(optarg);
                        break;
                default:
                        return -EINVAL;
                }
        }
        return optind;
}

static int cmd_list(struct kube_client *c, int argc, char **argv)
{
        struct sub_opts so = {0};
        struct hd_error e = HD_ERROR_INIT;
        int i = parse_sub(argc, argv, &so);
        if (i < 0 || argc - i != 3)
                return EINVAL;
        struct kube_resource res = {argv[i], argv[i + 1], argv[i + 2]};
        struct kube_list_options o = {.label_selector = so.label,
                                      .field_selector = so.field,
                                      .limit = so.limit,
                                      .resource_version = so.rv};
        _cleanup_json_ json_t *items = NULL;
        _cleanup_free_ char *rv = NULL;
        int r = kube_list(c, &res, so.ns, &o, NULL, &items, &rv, &e);
        if (r < 0)
                return fail(&e, r);
        _cleanup_json_ json_t *out = json_pack("{s:s?,s:O}", "resourceVersion", rv, "items", items);
        print_json(out);
        return 0;
}

struct watch_print {
        int max, seen;
};

static int watch_print_cb(enum kube_event_type type, json_t *obj, void *userdata)
{
        struct watch_print *wp = userdata;
        _cleanup_json_ json_t *ev =
                json_pack("{s:s,s:O}", "type", kube_event_type_to_string(type), "object", obj);
        print_json(ev);
        if (wp->max > 0 && ++wp->seen >= wp->max)
                return -ECANCELED;
        return 0;
}

static int cmd_watch(struct kube_client *c, int argc, char **argv)
{
        struct sub_opts so = {0};
        struct hd_error e = HD_ERROR_INIT;
        int i = parse_sub(argc, argv, &so);
        if (i < 0 || argc - i != 3)
                return EINVAL;
        struct kube_resource res = {argv[i], argv[i + 1], argv[i + 2]};
        struct kube_list_options o = {.label_selector = so.label,
                                      .field_selector = so.field,
                                      .resource_version = so.rv,
                                      .timeout_seconds = so.timeout,
                                      .allow_bookmarks = true};
        struct watch_print wp = {.max = so.max_events};
        int r = kube_watch(c, &res, so.ns, &o, NULL, watch_print_cb, &wp, &e);
        if (r == -ECANCELED && wp.max > 0 && wp.seen >= wp.max)
                return 0;
        if (r < 0)
                return fail(&e, r);
        return 0;
}

/* ---- informer ------------------------------------------------------------------------------ */

static void line_for(const char *what, json_t *obj)
{
        struct kube_object_meta m;
        struct hd_error e = HD_ERROR_INIT;
        if (kube_object_meta_decode(obj, &m, &e) < 0) {
                printf("%s ? ? (%s)\n", what, hd_error_message(&e));
                hd_error_done(&e);
        } else {
                printf("%s %s%s%s %s\n", what, m.namespace ? m.namespace : "",
                       m.namespace ? "/" : "", m.name ? m.name : "?",
                       m.resource_version ? m.resource_version : "?");
                kube_object_meta_done(&m);
        }
        fflush(stdout);
}

static void inf_add_cb(json_t *obj, void *u)
{
        line_for("ADDED", obj);
}
static void inf_update_cb(json_t *old, json_t *obj, void *u)
{
        line_for("UPDATED", obj);
}
static void inf_delete_cb(json_t *obj, void *u)
{
        line_for("DELETED", obj);
}
static void inf_synced_cb(void *u)
{
        struct kube_informer **inf = u;
        _cleanup_json_ json_t *all = kube_informer_list(*inf);
        printf("SYNCED %zu\n", json_array_size(all));
        fflush(stdout);
}
static void inf_error_cb(const struct hd_error *e, void *u)
{
        printf("ERROR %s\n", hd_error_message(e));
        fflush(stdout);
}

static int cmd_informer(struct kube_client *c, int argc, char **argv)
{
        struct sub_opts so = {0};
        struct hd_error e = HD_ERROR_INIT;
        int i = parse_sub(argc, argv, &so);
        if (i < 0 || argc - i != 3)
                return EINVAL;
        struct kube_informer_options o = {
                .resource = {argv[i], argv[i + 1], argv[i + 2]},
                .ns = so.ns,
                .label_selector = so.label,
                .field_selector = so.field,
                .page_size = so.limit,
                .watch_timeout_seconds = so.watch_timeout,
                .backoff_base_ms = 100,
                .backoff_max_ms = 1000,
        };
        struct kube_informer_callbacks cbs = {
                .add_cb = inf_add_cb,
                .update_cb = inf_update_cb,
                .delete_cb = inf_delete_cb,
                .synced_cb = inf_synced_cb,
                .error_cb = inf_error_cb,
        };
        struct kube_informer *inf = NULL;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &set, NULL);

        int r = kube_informer_new(c, &o, &cbs, &inf, &inf, &e);
        if (r < 0)
                return fail(&e, r);
        r = kube_informer_start(inf, &e);
        if (r < 0)
                return fail(&e, r);
        printf("STARTED\n");
        fflush(stdout);
        for (;;) {
                int sig = 0;
                sigwait(&set, &sig);
                if (sig != SIGUSR1)
                        break;
                _cleanup_json_ json_t *all = kube_informer_list(inf);
                _cleanup_free_ char *rv = kube_informer_resource_version(inf);
                printf("CACHE %zu %s\n", json_array_size(all), rv ? rv : "-");
                size_t k;
                json_t *obj;
                json_array_foreach(all, k, obj) line_for("ITEM", obj);
                printf("END\n");
                fflush(stdout);
        }
        double t0 = 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        kube_informer_free(inf);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("STOPPED %.0f\n", ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0) * 1000);
        fflush(stdout);
        return 0;
}

/* Read-your-writes through an informer: create BODY at PATH, wait until the informer has seen
 * the returned resourceVersion, then look the object up in the cache. */
static int cmd_informer_rw(struct kube_client *c, int argc, char **argv)
{
        struct hd_error e = HD_ERROR_INIT;
        if (argc != 6)
                return EINVAL;
        struct kube_informer_options o = {.resource = {argv[1], argv[2], argv[3]}};
        struct kube_informer *inf = NULL;
        int r = kube_informer_new(c, &o, NULL, NULL, &inf, &e);
        if (r < 0)
                return fail(&e, r);
        r = kube_informer_start(inf, &e);
        if (r >= 0 && kube_informer_wait_synced(inf, 10000) < 0)
                r = hd_error_setf(&e, ETIMEDOUT, "informer did not sync");
        _cleanup_json_ json_t *body = parse_arg_json(argv[5]);
        _cleanup_json_ json_t *stored = NULL;
        if (r >= 0)
                r = kube_create(c, argv[4], body, &stored, &e);
        struct kube_object_meta m = {0};
        if (r >= 0)
                r = kube_object_meta_decode(stored, &m, &e);
        if (r >= 0) {
                r = kube_informer_wait_resource_version(inf, m.resource_version, 10000);
                _cleanup_json_ json_t *cached = kube_informer_get(inf, m.namespace, m.name);
                printf("%s %s %s\n", cached ? "SEEN" : "MISSING", m.name, m.resource_version);
                _cleanup_free_ char *later = hd_asprintf("%lld", atoll(m.resource_version) + 1000);
                printf("LATER %s\n",
                       strerrorname_np(-kube_informer_wait_resource_version(inf, later, 300)));
                printf("BAD %s\n",
                       strerrorname_np(-kube_informer_wait_resource_version(inf, "x1", 300)));
        }
        kube_object_meta_done(&m);
        kube_informer_stop(inf);
        /* after stop a wait that is not yet satisfied ends at once, even without a timeout */
        printf("STOPPED %s\n",
               strerrorname_np(-kube_informer_wait_resource_version(inf, "999999999", -1)));
        kube_informer_free(inf);
        if (r < 0)
                return fail(&e, r);
        return 0;
}

/* ---- parallel ------------------------------------------------------------------------------ */

struct par {
        struct kube_client *c;
        const char *path;
        int count, failures;
};

static void *par_thread(void *arg)
{
        struct par *p = arg;
        for (int i = 0; i < p->count; i++) {
                struct hd_error e = HD_ERROR_INIT;
                _cleanup_json_ json_t *j = NULL;
                if (kube_get(p->c, p->path, &j, &e) < 0) {
                        fprintf(stderr, "parallel-get: %s\n", hd_error_message(&e));
                        p->failures++;
                }
                hd_error_done(&e);
        }
        return NULL;
}

static int cmd_parallel(struct kube_client *c, const char *path, int threads, int count)
{
        pthread_t tid[64];
        struct par ps[64];
        int failures = 0;
        if (threads < 1 || threads > 64)
                return EINVAL;
        for (int i = 0; i < threads; i++) {
                ps[i] = (struct par){c, path, count, 0};
                pthread_create(&tid[i], NULL, par_thread, &ps[i]);
        }
        for (int i = 0; i < threads; i++) {
                pthread_join(tid[i], NULL);
                failures += ps[i].failures;
        }
        printf("{\"requests\":%d,\"failures\":%d}\n", threads * count, failures);
        return failures ? EIO : 0;
}

static int cmd_get_loop(struct kube_client *c, const char *path, int count, int interval_ms)
{
        int ret = 0;
        for (int i = 0; i < count; i++) {
                struct hd_error e = HD_ERROR_INIT;
                _cleanup_json_ json_t *j = NULL;
                int r = kube_get(c, path, &j, &e);
                if (r < 0) {
                        printf("%d error %s\n", i, hd_error_message(&e));
                        ret = -r;
                } else {
                        printf("%d ok\n", i);
                }
                fflush(stdout);
                hd_error_done(&e);
                struct timespec ts = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
        }
        return ret;
}

/* Simple request commands print the answer; the others print their own output. Returns the
 * exit code. */
static int simple_request(struct kube_client *c, int argc, char **argv)
{
        static const char *const patch_types[] = {"merge", "strategic", "json", "apply"};
        struct hd_error e = HD_ERROR_INIT;
        _cleanup_json_ json_t *out = NULL;
        _cleanup_json_ json_t *body = NULL;
        const char *cmd = argv[0];
        int r;

        if (hd_streq(cmd, "get") && argc == 2) {
                r = kube_get(c, argv[1], &out, &e);
        } else if (hd_streq(cmd, "delete") && argc == 2) {
                r = kube_delete(c, argv[1], NULL, &out, &e);
        } else if (hd_streq(cmd, "create") && argc == 3) {
                body = parse_arg_json(argv[2]);
                r = kube_create(c, argv[1], body, &out, &e);
        } else if (hd_streq(cmd, "update") && argc == 3) {
                body = parse_arg_json(argv[2]);
                r = kube_update(c, argv[1], body, &out, &e);
        } else if (hd_streq(cmd, "patch") && argc == 4) {
                int t = -1;
                for (int k = 0; k < (int)HD_ARRAY_SIZE(patch_types); k++)
                        if (hd_streq(argv[2], patch_types[k]))
                                t = k;
                if (t < 0)
                        return EINVAL;
                body = parse_arg_json(argv[3]);
                r = kube_patch(c, argv[1], (enum kube_patch_type)t, body, &out, &e);
        } else if (hd_streq(cmd, "discover") && argc == 3) {
                _cleanup_strv_ char **pref = NULL;
                _cleanup_free_ char *copy = hd_strdup(argv[2]);
                _cleanup_free_ char *version = NULL;
                char *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        hd_strv_push(&pref, t);
                r = kube_discover_group_version(c, argv[1], (const char *const *)pref, &version,
                                                &e);
                if (r >= 0)
                        printf("%s\n", version);
        } else if (hd_streq(cmd, "discover-resource") && argc == 4) {
                r = kube_discover_resource(c, argv[1], argv[2], argv[3], &e);
                if (r >= 0)
                        printf("%s\n", r ? "yes" : "no");
        } else {
                fprintf(stderr, "unknown command or wrong arguments: %s\n", cmd);
                return EINVAL;
        }
        if (r < 0)
                return fail(&e, r);
        if (e.message) { /* kube/ leaves the error alone on success */
                fprintf(stderr, "success with a stale error: %s\n", e.message);
                hd_error_done(&e);
                return EIO;
        }
        if (out)
                print_json(out);
        return 0;
}

static int dispatch(struct kube_client *c, int argc, char **argv)
{
        const char *cmd = argv[0];
        if (hd_streq(cmd, "list"))
                return cmd_list(c, argc, argv);
        if (hd_streq(cmd, "watch"))
                return cmd_watch(c, argc, argv);
        if (hd_streq(cmd, "informer"))
                return cmd_informer(c, argc, argv);
        if (hd_streq(cmd, "informer-rw"))
                return cmd_informer_rw(c, argc, argv);
        if (hd_streq(cmd, "get-loop") && argc == 4)
                return cmd_get_loop(c, argv[1], atoi(argv[2]), atoi(argv[3]));
        if (hd_streq(cmd, "parallel-get") && argc == 4)
                return cmd_parallel(c, argv[1], atoi(argv[2]), atoi(argv[3]));
        return simple_request(c, argc, argv);
}

static int run(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"kubeconfig", required_argument, NULL, 'k'},
                {"in-cluster", no_argument, NULL, 'i'},
                {"sa-dir", required_argument, NULL, 's'},
                {"user-agent", required_argument, NULL, 'u'},
                {"timeout-ms", required_argument, NULL, 'T'},
                {"retries", required_argument, NULL, 'R'},
                {"qps", required_argument, NULL, 'q'},
                {"burst", required_argument, NULL, 'b'},
                {"backoff-ms", required_argument, NULL, 'B'},
                {"max-body", required_argument, NULL, 'M'},
                {},
        };
        const char *kubeconfig = NULL, *sa_dir = NULL;
        bool incluster = false;
        struct kube_client_options co = {.user_agent = "kube-test-client/" HOSTDEV_VERSION};
        struct hd_error e = HD_ERROR_INIT;
        int ch, verbosity = 0, r;

        while ((ch = getopt_long(argc, argv, "+v:", longopts, NULL)) >= 0) {
                switch (ch) {
                case 'k':
                        kubeconfig = optarg;
                        break;
                case 'i':
                        incluster = true;
                        break;
                case 's':
                        sa_dir = optarg;
                        break;
                case 'u':
                        co.user_agent = optarg;
                        break;
                case 'T':
                        co.timeout_ms = atoi(optarg);
                        break;
                case 'R':
                        co.max_retries = atoi(optarg);
                        break;
                case 'q':
                        co.qps = atof(optarg);
                        break;
                case 'b':
                        co.burst = atoi(optarg);
                        break;
                case 'B':
                        co.backoff_base_ms = atoi(optarg);
                        break;
                case 'M':
                        co.max_body_bytes = (size_t)atol(optarg);
                        break;
                case 'v':
                        verbosity = atoi(optarg);
                        break;
                default:
                        return EINVAL;
                }
        }
        hd_log_setup(verbosity, HD_LOG_TEXT);
        argc -= optind;
        argv += optind;
        if (argc < 1) {
                fprintf(stderr, "usage: kube-test-client [options] <command> ...\n");
                return EINVAL;
        }

        struct kube_config *cfg = NULL;
        if (incluster)
                r = kube_config_load_incluster(sa_dir, &cfg, &e);
        else
                r = kube_config_load(kubeconfig, &cfg, &e);
        if (r < 0)
                return fail(&e, r);
        _cleanup_strv_ char **warnings = kube_config_warnings(cfg);
        for (char **w = warnings; w && *w; w++)
                fprintf(stderr, "warning: %s\n", *w);
        struct kube_client *c = NULL;
        r = kube_client_new(cfg, &co, &c, &e);
        kube_config_free(cfg);
        if (r < 0)
                return fail(&e, r);

        int ret = dispatch(c, argc, argv);
        kube_client_free(c);
        return ret;
}

int main(int argc, char **argv)
{
        return run(argc, argv);
}
