/* SPDX-License-Identifier: Apache-2.0 */
/* One ledger write: render, report new findings as Events, compare the content (the status
 * without timestamps and without the Synced condition) with what was last written or what the
 * server holds, create the object when missing (owned by its Node), then PUT the status
 * subresource with the resourceVersion read; 409 and 404 re-read and retry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/jsonfield.h"
#include "base/log.h"
#include "base/strutil.h"
#include "controller/writer-internal.h"
#include "kube/kube.h"

#define WRITE_ATTEMPTS 5

static const struct kube_resource ledger_res = {CTL_LEDGER_GROUP, CTL_LEDGER_VERSION,
                                                CTL_LEDGER_RESOURCE};
static const struct kube_resource node_res = {"", "v1", "nodes"};

bool ctl_writer_leading(struct ctl_writer *w)
{
        return atomic_load(&w->leader) && (!w->o.leader_cb || w->o.leader_cb(w->o.userdata));
}

void ctl_writer_count(struct ctl_writer *w, uint64_t *field, int64_t n)
{
        pthread_mutex_lock(&w->lock);
        *field += (uint64_t)n;
        pthread_mutex_unlock(&w->lock);
}

void ctl_wnode_forget(struct wnode *n)
{
        n->have_hash = false;
        free(n->rv);
        n->rv = NULL;
}

static char *now_rfc3339(void)
{
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return hd_strdup(buf);
}

static uint64_t fnv1a(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

/* Hash of a status' content: a copy without timestamps, bookkeeping and Synced. */
static uint64_t content_hash(json_t *status)
{
        _cleanup_json_ json_t *c = json_deep_copy(status);
        if (!json_is_object(c))
                return 0;
        json_object_del(c, "lastUpdateTime");
        json_object_del(c, "observedGeneration");
        json_t *conds = json_object_get(c, "conditions"), *cond;
        for (size_t i = json_array_size(conds); i-- > 0;) {
                cond = json_array_get(conds, i);
                json_object_del(cond, "lastTransitionTime");
                if (hd_streq(json_string_value(json_object_get(cond, "type")), "Synced"))
                        json_array_remove(conds, i);
        }
        _cleanup_free_ char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
        return text ? fnv1a(text) : 0;
}

static json_t *condition(json_t *status, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(
                json_object_get(status, "conditions"), i,
                c) if (hd_streq(json_string_value(json_object_get(c, "type")), type)) return c;
        return NULL;
}

/* Remember the server's ledger OBJ: resourceVersion, generation, condition times, hash. */
static void adopt_server_copy(struct wnode *n, json_t *obj)
{
        const char *rv = NULL, *since = NULL, *st = NULL;
        json_t *status = json_object_get(obj, "status");
        hd_json_get_string(obj, "metadata.resourceVersion", false, &rv, NULL);
        n->generation = 0;
        hd_json_get_int(obj, "metadata.generation", false, &n->generation, NULL);
        free(n->rv);
        n->rv = hd_strdup(rv);
        json_t *c = condition(status, "Conflict");
        if (c && hd_json_get_string(c, "lastTransitionTime", false, &since, NULL) >= 0 && since) {
                hd_json_get_string(c, "status", false, &st, NULL);
                free(n->conflict_since);
                n->conflict_since = hd_strdup(since);
                n->conflict_true = hd_streq(st, "True");
        }
        since = NULL;
        c = condition(status, "Synced");
        if (c && hd_json_get_string(c, "lastTransitionTime", false, &since, NULL) >= 0 && since) {
                free(n->synced_since);
                n->synced_since = hd_strdup(since);
        }
        n->have_hash = json_is_object(status);
        n->hash = n->have_hash ? content_hash(status) : 0;
}

static int read_ledger(struct ctl_writer *w, struct wnode *n, struct hd_error *reterr)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *obj = NULL;
        int r = kube_path(&ledger_res, NULL, n->key, NULL, &path, reterr);
        if (r >= 0)
                r = kube_get(w->o.client, path, &obj, reterr);
        if (r < 0)
                return r;
        adopt_server_copy(n, obj);
        return 0;
}

/* The Node's uid; -ENOENT when the Node is gone (nothing to own the ledger). */
static int node_uid(struct ctl_writer *w, struct wnode *n, const char *kube_node,
                    struct hd_error *reterr)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *obj = NULL;
        const char *uid = NULL;
        int r = kube_path(&node_res, NULL, kube_node, NULL, &path, reterr);
        if (r >= 0)
                r = kube_get(w->o.client, path, &obj, reterr);
        if (r >= 0)
                r = hd_json_get_string(obj, "metadata.uid", true, &uid, reterr);
        if (r < 0)
                return r;
        free(n->node_uid);
        n->node_uid = hd_strdup(uid);
        return 0;
}

static int create_ledger(struct ctl_writer *w, struct wnode *n, const char *kube_node,
                         struct hd_error *reterr)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *created = NULL;
        int r = node_uid(w, n, kube_node, reterr);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *obj =
                json_pack("{ss ss s{ss s{ss} s[{ss ss ss ss sb}]} s{ss ss}}", "apiVersion",
                          CTL_LEDGER_GROUP "/" CTL_LEDGER_VERSION, "kind", CTL_LEDGER_KIND,
                          "metadata", "name", n->key, "labels", "app.kubernetes.io/managed-by",
                          "hostdev-controller", "ownerReferences", "apiVersion", "v1", "kind",
                          "Node", "name", kube_node, "uid", n->node_uid, "blockOwnerDeletion",
                          false, "spec", "nodeName", kube_node, "driver", w->driver);
        r = kube_path(&ledger_res, NULL, NULL, NULL, &path, reterr);
        if (r >= 0)
                r = kube_create(w->o.client, path, obj, &created, reterr);
        if (r < 0)
                return r;
        adopt_server_copy(n, created);
        n->have_hash = false; /* a new object has no status yet */
        hd_log_info("created ledger", "node", n->key);
        return 0;
}

/* REP's status with the Synced condition, transition times and bookkeeping. New reference. */
static json_t *full_status(struct wnode *n, const struct ctl_node_report *rep)
{
        _cleanup_free_ char *now = now_rfc3339();
        json_t *status = json_deep_copy(rep->status);
        json_t *conflict = condition(status, "Conflict");
        bool is_true = rep->n_conflicts > 0;
        if (!n->conflict_since || n->conflict_true != is_true) {
                free(n->conflict_since);
                n->conflict_since = hd_strdup(now);
                n->conflict_true = is_true;
        }
        json_object_set_new(conflict, "lastTransitionTime", json_string(n->conflict_since));
        if (!n->synced_since)
                n->synced_since = hd_strdup(now);
        json_array_append_new(
                json_object_get(status, "conditions"),
                json_pack("{ss ss ss ss ss}", "type", "Synced", "status", "True", "reason",
                          "Synced", "message",
                          "recorded from the informers' view of ResourceClaims and ResourceSlices",
                          "lastTransitionTime", n->synced_since));
        json_object_set_new(status, "lastUpdateTime", json_string(now));
        json_object_set_new(status, "observedGeneration", json_integer(n->generation));
        return status;
}

static int put_status(struct ctl_writer *w, struct wnode *n, const struct ctl_node_report *rep,
                      struct hd_error *reterr)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *updated = NULL;
        _cleanup_json_ json_t *obj = json_pack(
                "{ss ss s{ss ss} so}", "apiVersion", CTL_LEDGER_GROUP "/" CTL_LEDGER_VERSION,
                "kind", CTL_LEDGER_KIND, "metadata", "name", n->key, "resourceVersion", n->rv,
                "status", full_status(n, rep));
        int r = kube_path(&ledger_res, NULL, n->key, "status", &path, reterr);
        if (r >= 0)
                r = kube_update(w->o.client, path, obj, &updated, reterr);
        if (r < 0)
                return r;
        const char *rv = NULL;
        hd_json_get_string(updated, "metadata.resourceVersion", false, &rv, NULL);
        free(n->rv);
        n->rv = hd_strdup(rv);
        return 0;
}

/* Read the ledger if its resourceVersion is unknown, creating it when missing. 1: go on and
 * PUT; 0: nothing to write (unchanged on the server, or no Node to own it); -errno. */
static int ensure_ledger(struct ctl_writer *w, struct wnode *n, const struct ctl_node_report *rep,
                         uint64_t hash, struct hd_error *reterr)
{
        if (n->rv)
                return 1;
        int r = read_ledger(w, n, reterr);
        if (r >= 0)
                return n->have_hash && n->hash == hash ? 0 : 1;
        if (r != -ENOENT)
                return r;
        hd_error_done(reterr);
        if (rep->total == 0 && rep->missing == 0)
                return 0; /* nothing to record for a node without devices */
        if (!ctl_writer_leading(w))
                return -ECANCELED;
        r = create_ledger(w, n, rep->kube_node ? rep->kube_node : n->key, reterr);
        if (r == -ENOENT && !kube_error_has_reason(reterr, "AlreadyExists")) {
                hd_log_v(2, "node is gone; not creating its ledger", "node", n->key);
                hd_error_done(reterr);
                return 0;
        }
        return r < 0 ? r : 1;
}

static int write_content(struct ctl_writer *w, struct wnode *n, const struct ctl_node_report *rep,
                         uint64_t hash, struct hd_error *reterr)
{
        int r = -EIO;
        for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
                if (!ctl_writer_leading(w))
                        return -ECANCELED;
                r = ensure_ledger(w, n, rep, hash, reterr);
                if (r == -ESTALE) { /* created by someone else meanwhile */
                        hd_error_done(reterr);
                        continue;
                }
                if (r <= 0)
                        return r;
                if (!ctl_writer_leading(w))
                        return -ECANCELED;
                r = put_status(w, n, rep, reterr);
                if (r >= 0) {
                        n->hash = hash;
                        n->have_hash = true;
                        return 1;
                }
                if (r != -ESTALE && r != -ENOENT)
                        return r;
                ctl_writer_count(w, &w->stats.conflicts409, 1);
                ctl_wnode_forget(n);
                hd_error_done(reterr);
        }
        return hd_error_setf(reterr, ESTALE, "ledger %s: still conflicting after %d attempts",
                             n->key, WRITE_ATTEMPTS);
}

static void emit(struct ctl_writer *w, const struct ctl_claim_ref *c, const char *reason,
                 char *message /* taken */)
{
        _cleanup_free_ char *m = message;
        if (w->o.event_cb)
                w->o.event_cb(c, reason, m, w->o.userdata);
        ctl_writer_count(w, &w->stats.events, 1);
}

static void report_conflict(struct ctl_writer *w, struct wnode *n, const struct ctl_finding *f)
{
        emit(w, &f->claim, "DeviceConflict",
             hd_asprintf("device %s on node %s is also allocated to claim %s/%s (uid %s); "
                         "neither claim has admin access",
                         f->device, n->key, f->other.namespace, f->other.name, f->other.uid));
        emit(w, &f->other, "DeviceConflict",
             hd_asprintf("device %s on node %s is also allocated to claim %s/%s (uid %s); "
                         "neither claim has admin access",
                         f->device, n->key, f->claim.namespace, f->claim.name, f->claim.uid));
}

/* Events for findings not reported before; the remembered set becomes the current one. */
static void report_findings(struct ctl_writer *w, struct wnode *n,
                            const struct ctl_node_report *rep)
{
        json_t *now = json_object();
        for (size_t i = 0; i < rep->n_conflicts; i++) {
                const struct ctl_finding *f = &rep->conflicts[i];
                _cleanup_free_ char *key =
                        hd_asprintf("C|%s|%s|%s", f->device, f->claim.uid, f->other.uid);
                if (!json_object_get(n->emitted, key))
                        report_conflict(w, n, f);
                json_object_set_new(now, key, json_true());
        }
        for (size_t i = 0; i < rep->n_missing; i++) {
                const struct ctl_finding *f = &rep->missing_devices[i];
                _cleanup_free_ char *key = hd_asprintf("M|%s|%s", f->device, f->claim.uid);
                if (!json_object_get(n->emitted, key))
                        emit(w, &f->claim, "DeviceMissing",
                             hd_asprintf("device %s on node %s is allocated to this claim but no "
                                         "ResourceSlice of %s publishes it",
                                         f->device, n->key, w->driver));
                json_object_set_new(now, key, json_true());
        }
        json_decref(n->emitted);
        n->emitted = now;
        ctl_writer_count(w, &w->stats.conflicts, (int64_t)rep->n_conflicts - n->n_conflicts);
        n->n_conflicts = (int64_t)rep->n_conflicts;
}

int ctl_writer_write_node(struct ctl_writer *w, struct wnode *n, struct hd_error *reterr)
{
        struct ctl_node_report rep;
        int r = w->o.render_cb(n->key, &rep, w->o.userdata);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        report_findings(w, n, &rep);
        uint64_t hash = content_hash(rep.status);
        if (n->have_hash && n->hash == hash)
                r = 0;
        else
                r = write_content(w, n, &rep, hash, reterr);
        ctl_writer_count(w, r > 0 ? &w->stats.writes : &w->stats.skipped, r >= 0 ? 1 : 0);
        ctl_node_report_done(&rep);
        return r;
}
