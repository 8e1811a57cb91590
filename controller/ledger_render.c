/* SPDX-License-Identifier: Apache-2.0 */
/* One node's records → its ledger status. Published devices come from the node's slices of the
 * newest pool generation; each claim result on the pool adds its claim as a holder of the device
 * (once per claim), or of a "Missing" entry when nothing publishes that device. States: Missing
 * (held, not published), Unhealthy (tainted), Shared (more than one claim), Allocated, Free.
 * Two claims conflict on a device unless one of them has admin access or both hold distinct
 * shares (shareID) of it. */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "controller/ledger-internal.h"

struct holder {
        const struct ctl_claim *claim;
        const struct ctl_result *res;
};

struct dev_entry {
        const char *name, *group;
        bool published, unhealthy, conflict;
        struct holder *holders;
        size_t n_holders;
};

struct view {
        const char *pool;
        struct dev_entry *e; /* published devices sorted by name, then missing ones */
        size_t n, n_published;
        int64_t generation;
        const char *kube_node;
};

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const struct dev_entry *)a)->name, ((const struct dev_entry *)b)->name);
}

static void max_generation_cb(const void *nodep, VISIT which, void *closure)
{
        struct view *v = closure;
        const struct ctl_slice *s = *(struct ctl_slice *const *)nodep;
        if ((which == postorder || which == leaf) && s->generation > v->generation)
                v->generation = s->generation;
}

static void add_published_cb(const void *nodep, VISIT which, void *closure)
{
        struct view *v = closure;
        const struct ctl_slice *s = *(struct ctl_slice *const *)nodep;
        if ((which != postorder && which != leaf) || s->generation != v->generation)
                return;
        if (s->node_name && !v->kube_node)
                v->kube_node = s->node_name;
        v->e = hd_realloc_array(v->e, v->n + s->n_devices, sizeof(*v->e));
        for (size_t i = 0; i < s->n_devices; i++)
                v->e[v->n++] = (struct dev_entry){.name = s->devices[i].name,
                                                  .group = s->devices[i].group,
                                                  .published = true,
                                                  .unhealthy = s->devices[i].unhealthy};
}

/* Sort the published devices and drop duplicate names (the first slice wins). */
static void dedup_published(struct view *v)
{
        if (v->n > 1) /* v->e is NULL for a node without devices */
                qsort(v->e, v->n, sizeof(*v->e), entry_cmp);
        size_t out = 0;
        for (size_t i = 0; i < v->n; i++)
                if (out == 0 || strcmp(v->e[out - 1].name, v->e[i].name) != 0)
                        v->e[out++] = v->e[i];
        v->n = v->n_published = out;
}

static struct dev_entry *entry_for(struct view *v, const char *device)
{
        struct dev_entry probe = {.name = device};
        struct dev_entry *e = v->n_published == 0 ? NULL
                                                  : bsearch(&probe, v->e, v->n_published,
                                                            sizeof(*v->e), entry_cmp);
        if (e)
                return e;
        for (size_t i = v->n_published; i < v->n; i++)
                if (hd_streq(v->e[i].name, device))
                        return &v->e[i];
        v->e = hd_realloc_array(v->e, v->n + 1, sizeof(*v->e));
        v->e[v->n] = (struct dev_entry){.name = device, .group = ""};
        return &v->e[v->n++];
}

static void add_holders_cb(const void *nodep, VISIT which, void *closure)
{
        struct view *v = closure;
        const struct ctl_claim *c = *(struct ctl_claim *const *)nodep;
        if (which != postorder && which != leaf)
                return;
        for (size_t i = 0; i < c->n_results; i++) {
                const struct ctl_result *res = &c->results[i];
                if (!hd_streq(res->pool, v->pool))
                        continue;
                struct dev_entry *e = entry_for(v, res->device);
                bool again = false;
                for (size_t h = 0; h < e->n_holders && !again; h++)
                        again = e->holders[h].claim == c;
                if (again)
                        continue;
                e->holders = hd_realloc_array(e->holders, e->n_holders + 1, sizeof(*e->holders));
                e->holders[e->n_holders++] = (struct holder){c, res};
        }
}

static bool conflicting(const struct holder *a, const struct holder *b)
{
        if (a->res->admin_access || b->res->admin_access)
                return false;
        if (a->res->share_id && b->res->share_id && !hd_streq(a->res->share_id, b->res->share_id))
                return false;
        return true;
}

static struct ctl_claim_ref claim_ref(const struct ctl_claim *c)
{
        return (struct ctl_claim_ref){hd_strdup(c->namespace), hd_strdup(c->name),
                                      hd_strdup(c->uid)};
}

static void push_finding(struct ctl_finding **list, size_t *n, const char *device,
                         const struct ctl_claim *c, const struct ctl_claim *other)
{
        *list = hd_realloc_array(*list, *n + 1, sizeof(**list));
        (*list)[(*n)++] = (struct ctl_finding){
                .device = hd_strdup(device),
                .claim = claim_ref(c),
                .other = other ? claim_ref(other) : (struct ctl_claim_ref){0},
        };
}

/* Conflicts and missing devices into RET. */
static void find_problems(struct view *v, struct ctl_node_report *ret)
{
        for (size_t i = 0; i < v->n; i++) {
                struct dev_entry *e = &v->e[i];
                for (size_t a = 0; a < e->n_holders; a++) {
                        if (!e->published)
                                push_finding(&ret->missing_devices, &ret->n_missing, e->name,
                                             e->holders[a].claim, NULL);
                        for (size_t b = a + 1; b < e->n_holders; b++) {
                                if (!conflicting(&e->holders[a], &e->holders[b]))
                                        continue;
                                e->conflict = true;
                                push_finding(&ret->conflicts, &ret->n_conflicts, e->name,
                                             e->holders[a].claim, e->holders[b].claim);
                        }
                }
        }
}

static const char *entry_state(const struct dev_entry *e)
{
        if (!e->published)
                return "Missing";
        if (e->unhealthy)
                return "Unhealthy";
        if (e->n_holders > 1)
                return "Shared";
        return e->n_holders ? "Allocated" : "Free";
}

static json_t *holder_json(const struct holder *h)
{
        json_t *pods = json_array();
        for (char **p = h->claim->pods; p && *p; p++)
                json_array_append_new(pods, json_string(*p));
        return json_pack("{ss ss ss ss sb so}", "namespace", h->claim->namespace, "name",
                         h->claim->name, "uid", h->claim->uid, "request", h->res->request,
                         "adminAccess", h->res->admin_access, "pods", pods);
}

static json_t *entry_json(const struct dev_entry *e)
{
        json_t *holders = json_array();
        for (size_t h = 0; h < e->n_holders; h++)
                json_array_append_new(holders, holder_json(&e->holders[h]));
        json_t *d = json_pack("{ss ss ss so}", "name", e->name, "group", e->group, "state",
                              entry_state(e), "holders", holders);
        if (e->conflict)
                json_object_set_new(d, "conflict", json_true());
        return d;
}

struct totals {
        const char *name;
        int64_t total, allocated, free, unhealthy;
};

static int totals_cmp(const void *a, const void *b)
{
        return strcmp(((const struct totals *)a)->name, ((const struct totals *)b)->name);
}

/* Count E into T: a held device is allocated (and unhealthy too when tainted). */
static void count(struct totals *t, const struct dev_entry *e)
{
        t->total++;
        if (e->n_holders)
                t->allocated++;
        if (e->unhealthy)
                t->unhealthy++;
        if (!e->n_holders && !e->unhealthy)
                t->free++;
}

/* Per-group totals in name order; the node's totals into RET. */
static json_t *groups_json(const struct view *v, struct ctl_node_report *ret)
{
        _cleanup_free_ struct totals *g = NULL;
        struct totals node = {0};
        size_t n = 0;
        for (size_t i = 0; i < v->n; i++) {
                const struct dev_entry *e = &v->e[i];
                if (!e->published) {
                        ret->missing++;
                        continue;
                }
                size_t k = 0;
                while (k < n && !hd_streq(g[k].name, e->group))
                        k++;
                if (k == n) {
                        g = hd_realloc_array(g, n + 1, sizeof(*g));
                        g[n++] = (struct totals){.name = e->group};
                }
                count(&g[k], e);
                count(&node, e);
        }
        ret->total = node.total;
        ret->allocated = node.allocated;
        ret->free = node.free;
        ret->unhealthy = node.unhealthy;
        if (n > 1)
                qsort(g, n, sizeof(*g), totals_cmp);
        json_t *list = json_array();
        for (size_t k = 0; k < n; k++)
                json_array_append_new(list, json_pack("{ss sI sI sI sI}", "name", g[k].name,
                                                      "total", (json_int_t)g[k].total, "allocated",
                                                      (json_int_t)g[k].allocated, "free",
                                                      (json_int_t)g[k].free, "unhealthy",
                                                      (json_int_t)g[k].unhealthy));
        return list;
}

static json_t *conflict_condition(const struct ctl_node_report *r)
{
        if (r->n_conflicts == 0)
                return json_pack("{ss ss ss ss}", "type", "Conflict", "status", "False", "reason",
                                 "NoConflict", "message", "no device is held by two claims");
        struct hd_strbuf msg = {0};
        for (size_t i = 0; i < r->n_conflicts && i < 16; i++) {
                const struct ctl_finding *f = &r->conflicts[i];
                hd_strbuf_printf(&msg, "%sdevice %s held by %s/%s and %s/%s", i ? "; " : "",
                                 f->device, f->claim.namespace, f->claim.name, f->other.namespace,
                                 f->other.name);
        }
        if (r->n_conflicts > 16)
                hd_strbuf_printf(&msg, "; and %zu more", r->n_conflicts - 16);
        _cleanup_free_ char *text = hd_strbuf_take(&msg);
        return json_pack("{ss ss ss ss}", "type", "Conflict", "status", "True", "reason",
                         "DeviceConflict", "message", text);
}

static json_t *status_json(const struct view *v, struct ctl_node_report *ret)
{
        json_t *devices = json_array();
        size_t conflicted = 0;
        for (size_t i = 0; i < v->n; i++) {
                json_array_append_new(devices, entry_json(&v->e[i]));
                conflicted += v->e[i].conflict;
        }
        json_t *groups = groups_json(v, ret);
        return json_pack("{ss sI sI sI sI sI sI so so s[o]}", "node", v->pool, "total",
                         (json_int_t)ret->total, "allocated", (json_int_t)ret->allocated, "free",
                         (json_int_t)ret->free, "unhealthy", (json_int_t)ret->unhealthy, "missing",
                         (json_int_t)ret->missing, "conflicts", (json_int_t)conflicted, "groups",
                         groups, "devices", devices, "conditions", conflict_condition(ret));
}

int ctl_ledger_render(struct ctl_ledger *l, const char *node, struct ctl_node_report *ret)
{
        *ret = (struct ctl_node_report){0};
        struct ctl_node *n = ctl_ledger_node(l, node);
        if (!n)
                return -ENOENT;
        struct view v = {.pool = n->key, .generation = INT64_MIN};
        twalk_r(n->slices, max_generation_cb, &v);
        twalk_r(n->slices, add_published_cb, &v);
        dedup_published(&v);
        twalk_r(n->claims, add_holders_cb, &v);
        find_problems(&v, ret);
        ret->status = status_json(&v, ret);
        ret->kube_node = hd_strdup(v.kube_node);
        for (size_t i = 0; i < v.n; i++)
                free(v.e[i].holders);
        free(v.e);
        return 0;
}

static void claim_ref_done(struct ctl_claim_ref *r)
{
        free(r->namespace);
        free(r->name);
        free(r->uid);
}

static void findings_free(struct ctl_finding *f, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(f[i].device);
                claim_ref_done(&f[i].claim);
                claim_ref_done(&f[i].other);
        }
        free(f);
}

void ctl_node_report_done(struct ctl_node_report *r)
{
        if (!r)
                return;
        json_decref(r->status);
        findings_free(r->conflicts, r->n_conflicts);
        findings_free(r->missing_devices, r->n_missing);
        free(r->kube_node);
        *r = (struct ctl_node_report){0};
}
