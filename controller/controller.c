/* SPDX-License-Identifier: Apache-2.0 */
/* hostdev-controller: informers → ledger model (under one lock) → dirty nodes → writer. */
#include "controller/controller.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/httpd.h"
#include "base/log.h"
#include "base/strutil.h"
#include "controller/events.h"
#include "controller/lease.h"
#include "controller/ledger.h"
#include "controller/metrics.h"
#include "controller/writer.h"
#include "kube/cleanup.h"
#include "kube/kube.h"

enum { INF_CLAIMS, INF_SLICES, N_INFORMERS };

struct ctl_controller;

/* The userdata of one informer's callbacks. */
struct inf_ctx {
        struct ctl_controller *c;
        int which;
};

struct ctl_controller {
        const struct ctl_controller_options *o;
        struct kube_client *client;
        char *api_version;          /* resource.k8s.io version served */
        pthread_mutex_t model_lock; /* guards ledger */
        struct ctl_ledger *ledger;
        struct ctl_writer *writer;
        struct ctl_events *events;
        struct ctl_lease *lease; /* NULL without --leader-elect */
        struct kube_informer *inf[N_INFORMERS];
        struct inf_ctx inf_ctx[N_INFORMERS];
        struct hd_httpd *http;
        atomic_bool synced[N_INFORMERS], ready;
        atomic_uint_fast64_t handled[N_INFORMERS], watch_restarts;
};

/* ---- informer callbacks: into the model ---- */

static void object_set(struct inf_ctx *x, json_t *obj)
{
        struct ctl_controller *c = x->c;
        struct hd_error e = HD_ERROR_INIT;
        pthread_mutex_lock(&c->model_lock);
        int r = x->which == INF_CLAIMS ? ctl_ledger_claim_set(c->ledger, obj, &e)
                                       : ctl_ledger_slice_set(c->ledger, obj, &e);
        pthread_mutex_unlock(&c->model_lock);
        if (r < 0)
                hd_log_warn("ignoring an object that cannot be decoded (its last good version "
                            "stays recorded)",
                            "err", hd_error_message(&e));
        hd_error_done(&e);
        atomic_fetch_add(&c->handled[x->which], 1);
}

static void add_cb(json_t *obj, void *userdata)
{
        object_set(userdata, obj);
}

static void update_cb(json_t *old_obj, json_t *obj, void *userdata)
{
        object_set(userdata, obj);
}

static void delete_cb(json_t *obj, void *userdata)
{
        struct inf_ctx *x = userdata;
        pthread_mutex_lock(&x->c->model_lock);
        if (x->which == INF_CLAIMS)
                ctl_ledger_claim_delete(x->c->ledger, obj);
        else
                ctl_ledger_slice_delete(x->c->ledger, obj);
        pthread_mutex_unlock(&x->c->model_lock);
        atomic_fetch_add(&x->c->handled[x->which], 1);
}

static void synced_cb(void *userdata)
{
        struct inf_ctx *x = userdata;
        struct ctl_controller *c = x->c;
        atomic_store(&c->synced[x->which], true);
        /* A (re)list parsed every object at once; give that memory back to the system. */
        malloc_trim(0);
        if (atomic_load(&c->synced[INF_CLAIMS]) && atomic_load(&c->synced[INF_SLICES]) &&
            !atomic_exchange(&c->ready, true)) {
                ctl_writer_set_ready(c->writer, true);
                hd_log_info("controller ready: claims and slices listed");
        }
}

static void error_cb(const struct hd_error *err, void *userdata)
{
        struct inf_ctx *x = userdata;
        atomic_fetch_add(&x->c->watch_restarts, 1);
        hd_log_v(1, "list/watch failed; retrying", "resource",
                 x->which == INF_CLAIMS ? "resourceclaims" : "resourceslices", "err",
                 hd_error_message(err));
}

/* ---- model ↔ writer ---- */

static void dirty_cb(const char *node, void *userdata)
{
        struct ctl_controller *c = userdata;
        ctl_writer_mark(c->writer, node);
}

static int render_cb(const char *node, struct ctl_node_report *ret, void *userdata)
{
        struct ctl_controller *c = userdata;
        pthread_mutex_lock(&c->model_lock);
        int r = ctl_ledger_render(c->ledger, node, ret);
        pthread_mutex_unlock(&c->model_lock);
        return r;
}

static void event_cb(const struct ctl_claim_ref *claim, const char *reason, const char *message,
                     void *userdata)
{
        struct ctl_controller *c = userdata;
        _cleanup_free_ char *api_version = hd_asprintf("resource.k8s.io/%s", c->api_version);
        struct ctl_event_ref ref = {api_version, "ResourceClaim", claim->namespace, claim->name,
                                    claim->uid};
        hd_log_warn("claim problem", "claim", claim->namespace, "name", claim->name, "reason",
                    reason, "message", message);
        ctl_events_record(c->events, &ref, CTL_EVENT_WARNING, reason, "CheckAllocation", "%s",
                          message);
}

static bool leader_cb(void *userdata)
{
        struct ctl_controller *c = userdata;
        return !c->lease || ctl_lease_is_leader(c->lease);
}

static void lease_changed_cb(bool leading, void *userdata)
{
        struct ctl_controller *c = userdata;
        hd_log_info(leading ? "leading: writing ledgers" : "not leading: ledger writes stopped",
                    "identity", ctl_lease_identity(c->lease));
        ctl_writer_set_leader(c->writer, leading);
}

/* ---- HTTP ---- */

/* The lease's and the Event recorder's counters. */
static void snapshot_ha(struct ctl_controller *c, struct ctl_metrics_snapshot *s)
{
        if (c->lease) {
                struct ctl_lease_stats ls;
                ctl_lease_get_stats(c->lease, &ls);
                s->leader_acquired = ls.acquired;
                s->leader_lost = ls.lost;
                s->lease_transitions =
                        ls.lease_transitions > 0 ? (uint64_t)ls.lease_transitions : 0;
        }
        if (c->events) {
                struct ctl_events_stats es;
                ctl_events_get_stats(c->events, &es);
                s->event_creates = es.created;
                s->event_updates = es.patched;
                s->events_dropped = es.dropped;
        }
}

static void snapshot(struct ctl_controller *c, struct ctl_metrics_snapshot *s)
{
        struct ctl_ledger_stats ls;
        struct ctl_writer_stats ws;
        pthread_mutex_lock(&c->model_lock);
        ctl_ledger_stats(c->ledger, &ls);
        pthread_mutex_unlock(&c->model_lock);
        ctl_writer_stats(c->writer, &ws);
        *s = (struct ctl_metrics_snapshot){
                .driver = c->o->driver,
                .claims_tracked = ls.claims,
                .allocations = ls.allocations,
                .nodes = ls.nodes,
                .claim_events = atomic_load(&c->handled[INF_CLAIMS]),
                .slice_events = atomic_load(&c->handled[INF_SLICES]),
                .malformed = ls.malformed,
                .watch_restarts = atomic_load(&c->watch_restarts),
                .ledger_writes = ws.writes,
                .ledger_skipped = ws.skipped,
                .ledger_failures = ws.failures,
                .ledger_conflicts = ws.conflicts409,
                .ledger_pending = ws.pending,
                .device_conflicts = ws.conflicts,
                .events = ws.events,
                .leader = ctl_writer_is_leader(c->writer),
                .ready = atomic_load(&c->ready),
        };
        struct mallinfo2 mi = mallinfo2();
        s->heap_bytes = mi.uordblks + mi.hblkhd;
        snapshot_ha(c, s);
}

static char *handle(const char *url, unsigned *ret_status, const char **ret_type, void *userdata)
{
        struct ctl_controller *c = userdata;
        if (strcmp(url, "/metrics") == 0) {
                struct ctl_metrics_snapshot s;
                snapshot(c, &s);
                *ret_type = "text/plain; version=0.0.4";
                return ctl_metrics_render(&s);
        }
        if (strcmp(url, "/healthz") == 0)
                return hd_strdup("ok\n");
        if (strcmp(url, "/readyz") != 0)
                return NULL;
        bool ready = atomic_load(&c->ready);
        *ret_status = ready ? 200 : 503;
        return hd_strdup(ready ? "ok\n" : "not synced yet\n");
}

/* ---- start-up ---- */

static int connect_api(struct ctl_controller *c, struct hd_error *reterr)
{
        _cleanup_kube_config_ struct kube_config *cfg = NULL;
        int r = kube_config_load(c->o->kubeconfig, &cfg, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "load kube config");
        _cleanup_strv_ char **warnings = kube_config_warnings(cfg);
        for (char **w = warnings; w && *w; w++)
                hd_log_warn("kube config", "warning", *w);
        struct kube_client_options co = {
                .user_agent = "hostdev-controller/" HOSTDEV_VERSION,
                .qps = c->o->kube_qps > 0 ? c->o->kube_qps : 100,
                .burst = c->o->kube_burst > 0 ? c->o->kube_burst : 200,
        };
        r = kube_client_new(cfg, &co, &c->client, reterr);
        if (r < 0)
                return r;
        static const char *const preferred[] = {"v1", "v1beta2", "v1beta1", NULL};
        r = kube_discover_group_version(c->client, "resource.k8s.io", preferred, &c->api_version,
                                        reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "discover resource.k8s.io");
        hd_log_info("using resource.k8s.io", "version", c->api_version);
        return 0;
}

static int start_informers(struct ctl_controller *c, struct hd_error *reterr)
{
        _cleanup_free_ char *driver_sel = hd_asprintf("spec.driver=%s", c->o->driver);
        static const char *const resources[N_INFORMERS] = {"resourceclaims", "resourceslices"};
        struct kube_informer_callbacks cbs = {add_cb, update_cb, delete_cb, synced_cb, error_cb};
        for (int i = 0; i < N_INFORMERS; i++) {
                c->inf_ctx[i] = (struct inf_ctx){c, i};
                struct kube_informer_options io = {
                        .resource = {"resource.k8s.io", c->api_version, resources[i]},
                        .field_selector = i == INF_SLICES ? driver_sel : NULL,
                        .watch_timeout_seconds = c->o->watch_timeout_s,
                        .backoff_base_ms = 200,
                        .backoff_max_ms = 5000,
                        .metadata_only = true, /* the ledger keeps its own compact records */
                };
                int r = kube_informer_new(c->client, &io, &cbs, &c->inf_ctx[i], &c->inf[i], reterr);
                if (r >= 0)
                        r = kube_informer_start(c->inf[i], reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The Event recorder, and the lease (or the lead at once without --leader-elect). */
static int start_events_and_lease(struct ctl_controller *c, struct hd_error *reterr)
{
        _cleanup_free_ char *identity = ctl_lease_default_identity();
        _cleanup_free_ char *lease_name = hd_asprintf("%s-controller", c->o->driver);
        const char *ns = c->o->namespace ? c->o->namespace : kube_client_namespace(c->client);
        struct ctl_events_options eo = {.driver_name = c->o->driver, .instance = identity};
        int r = ctl_events_new(c->client, &eo, &c->events, reterr);
        if (r >= 0)
                r = ctl_events_start(c->events, reterr);
        if (r < 0 || !c->o->leader_elect) {
                if (r >= 0)
                        ctl_writer_set_leader(c->writer, true);
                return r;
        }
        struct ctl_lease_options lo = {
                .namespace = ns ? ns : "default",
                .name = c->o->lease_name ? c->o->lease_name : lease_name,
                .identity = identity,
                .lease_duration_ms = c->o->lease_duration_ms,
                .renew_deadline_ms = c->o->renew_deadline_ms,
                .retry_period_ms = c->o->retry_period_ms,
                .changed_cb = lease_changed_cb,
                .userdata = c,
        };
        r = ctl_lease_new(c->client, &lo, &c->lease, reterr);
        if (r >= 0)
                r = ctl_lease_start(c->lease, reterr);
        if (r >= 0)
                hd_log_info("leader election", "lease", lo.name, "namespace", lo.namespace,
                            "identity", identity);
        return r;
}

static int start(struct ctl_controller *c, struct hd_error *reterr)
{
        int r = connect_api(c, reterr);
        if (r < 0)
                return r;
        c->ledger = ctl_ledger_new(c->o->driver, dirty_cb, c);
        struct ctl_writer_options wo = {
                .client = c->client,
                .driver = c->o->driver,
                .window_ms = c->o->write_window_ms,
                .workers = c->o->writers,
                .render_cb = render_cb,
                .event_cb = event_cb,
                .leader_cb = leader_cb,
                .userdata = c,
        };
        r = ctl_writer_new(&wo, &c->writer, reterr);
        if (r >= 0)
                r = ctl_writer_start(c->writer, reterr);
        if (r < 0)
                return r;
        r = start_events_and_lease(c, reterr);
        if (r < 0)
                return r;
        if (c->o->metrics_addr) {
                unsigned port = 0;
                r = hd_httpd_start(c->o->metrics_addr, "--metrics-addr", handle, c, &c->http, &port,
                                   reterr);
                if (r < 0)
                        return r;
                hd_log_info("serving /metrics, /healthz, /readyz", "port", HD_INT(port));
        }
        return start_informers(c, reterr);
}

static void stop(struct ctl_controller *c)
{
        c->http = hd_httpd_stop(c->http);    /* first: /metrics reads the lease and the recorder */
        c->lease = ctl_lease_free(c->lease); /* stops writes, then releases the Lease */
        for (int i = 0; i < N_INFORMERS; i++)
                c->inf[i] = kube_informer_free(c->inf[i]);
        c->writer = ctl_writer_free(c->writer);
        c->events = ctl_events_free(c->events);
        c->ledger = ctl_ledger_free(c->ledger);
        c->client = kube_client_free(c->client);
        free(c->api_version);
        pthread_mutex_destroy(&c->model_lock);
}

int ctl_controller_run(const struct ctl_controller_options *o, struct hd_error *reterr)
{
        struct ctl_controller c = {.o = o};
        pthread_mutex_init(&c.model_lock, NULL);
        int r = start(&c, reterr);
        if (r >= 0) {
                sigset_t sigs;
                int sig = 0;
                sigemptyset(&sigs);
                sigaddset(&sigs, SIGTERM);
                sigaddset(&sigs, SIGINT);
                sigwait(&sigs, &sig);
                hd_log_info("stopping", "signal", HD_INT(sig));
        }
        stop(&c);
        return r;
}
