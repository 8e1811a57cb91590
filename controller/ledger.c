/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger's store: owning trees of claims and slices keyed by name, and per node the trees
 * of the claims and slices that touch it. A change swaps one record for another and marks the
 * nodes of both dirty. */
#include "controller/ledger.h"

#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "controller/ledger-internal.h"

int ctl_key_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void *ctl_tree_find(void *root, const char *key)
{
        const char *probe = key;
        void **hit = tfind(&probe, &root, ctl_key_cmp);
        return hit ? *hit : NULL;
}

struct ctl_node *ctl_ledger_node(struct ctl_ledger *l, const char *key)
{
        return ctl_tree_find(l->nodes, key);
}

struct ctl_ledger *ctl_ledger_new(const char *driver, ctl_ledger_dirty_cb dirty_cb, void *userdata)
{
        struct ctl_ledger *l = hd_new0(struct ctl_ledger, 1);
        l->driver = hd_strdup(driver);
        l->dirty_cb = dirty_cb;
        l->userdata = userdata;
        return l;
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(a, b);
}

static void noop_free(void *p)
{
}

static void free_claim_cb(void *p)
{
        ctl_claim_free(p);
}

static void free_slice_cb(void *p)
{
        ctl_slice_free(p);
}

static void free_node_cb(void *p)
{
        struct ctl_node *n = p;
        tdestroy(n->claims, noop_free);
        tdestroy(n->slices, noop_free);
        free(n->key);
        free(n);
}

struct ctl_ledger *ctl_ledger_free(struct ctl_ledger *l)
{
        if (!l)
                return NULL;
        tdestroy(l->nodes, free_node_cb);
        tdestroy(l->claims, free_claim_cb);
        tdestroy(l->slices, free_slice_cb);
        tdestroy(l->bad_claims, free);
        tdestroy(l->bad_slices, free);
        free(l->driver);
        free(l);
        return NULL;
}

/* The node KEY, created when missing. */
static struct ctl_node *node_get(struct ctl_ledger *l, const char *key)
{
        struct ctl_node *n = ctl_tree_find(l->nodes, key);
        if (n)
                return n;
        n = hd_new0(struct ctl_node, 1);
        n->key = hd_strdup(key);
        tsearch(n, &l->nodes, ctl_key_cmp);
        l->n_nodes++;
        return n;
}

static void mark(struct ctl_ledger *l, const char *node)
{
        if (l->dirty_cb)
                l->dirty_cb(node, l->userdata);
}

/* Link (ADD) or unlink record REC (a claim or slice, tree chosen by SLICES) with node KEY. */
static void node_link(struct ctl_ledger *l, const char *key, void *rec, bool slices, bool add)
{
        struct ctl_node *n = add ? node_get(l, key) : ctl_tree_find(l->nodes, key);
        if (!n)
                return;
        void **root = slices ? &n->slices : &n->claims;
        if (add && !tfind(rec, root, ctl_key_cmp)) {
                tsearch(rec, root, ctl_key_cmp);
        } else if (!add && tfind(rec, root, ctl_key_cmp)) {
                tdelete(rec, root, ctl_key_cmp);
        }
        mark(l, key);
}

static void claim_link(struct ctl_ledger *l, struct ctl_claim *c, bool add)
{
        for (size_t i = 0; i < c->n_results; i++) {
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = hd_streq(c->results[j].pool, c->results[i].pool);
                if (!seen)
                        node_link(l, c->results[i].pool, c, false, add);
        }
        l->n_allocations = add ? l->n_allocations + c->n_results : l->n_allocations - c->n_results;
}

/* Remember KEY in the malformed set *BAD; true when it was not there yet. */
static bool bad_add(void **bad, const char *key)
{
        if (tfind(key, bad, str_cmp))
                return false;
        tsearch(hd_strdup(key), bad, str_cmp);
        return true;
}

static void bad_forget(void **bad, const char *key)
{
        void **hit = tfind(key, bad, str_cmp);
        if (hit) {
                char *stored = *hit;
                tdelete(key, bad, str_cmp);
                free(stored);
        }
}

/* Replace the record stored under KEY in *ROOT by NEW_REC (NULL = remove); returns the old one
 * (caller frees) after unlinking it. */
static void *swap_record(void **root, const char *key, void *new_rec)
{
        void *old = ctl_tree_find(*root, key);
        if (old)
                tdelete(old, root, ctl_key_cmp);
        if (new_rec)
                tsearch(new_rec, root, ctl_key_cmp);
        return old;
}

static void claim_replace(struct ctl_ledger *l, const char *key, struct ctl_claim *c)
{
        struct ctl_claim *old = swap_record(&l->claims, key, c);
        if (old) {
                claim_link(l, old, false);
                l->n_claims--;
        }
        if (c) {
                claim_link(l, c, true);
                l->n_claims++;
        }
        ctl_claim_free(old);
}

int ctl_ledger_claim_set(struct ctl_ledger *l, json_t *claim, struct hd_error *reterr)
{
        _cleanup_free_ char *key = ctl_object_key(claim);
        struct ctl_claim *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        int r = ctl_claim_decode(claim, l->driver, &c, &e);
        if (r < 0 || !key) {
                l->malformed++;
                if (!key)
                        r = hd_error_setf(reterr, EINVAL, "ResourceClaim without a name");
                else if (bad_add(&l->bad_claims, key))
                        r = hd_error_wrap_r(reterr, hd_error_move(reterr, &e), "claim %s", key);
                else
                        r = 0;
                hd_error_done(&e);
                return r;
        }
        bad_forget(&l->bad_claims, key);
        claim_replace(l, key, c);
        return 0;
}

void ctl_ledger_claim_delete(struct ctl_ledger *l, json_t *claim)
{
        _cleanup_free_ char *key = ctl_object_key(claim);
        if (!key)
                return;
        bad_forget(&l->bad_claims, key);
        claim_replace(l, key, NULL);
}

static void slice_replace(struct ctl_ledger *l, const char *key, struct ctl_slice *s)
{
        struct ctl_slice *old = swap_record(&l->slices, key, s);
        if (old) {
                node_link(l, old->pool, old, true, false);
                l->n_slices--;
        }
        if (s) {
                node_link(l, s->pool, s, true, true);
                l->n_slices++;
        }
        ctl_slice_free(old);
}

int ctl_ledger_slice_set(struct ctl_ledger *l, json_t *slice, struct hd_error *reterr)
{
        _cleanup_free_ char *key = ctl_object_key(slice);
        struct ctl_slice *s = NULL;
        struct hd_error e = HD_ERROR_INIT;
        int r = ctl_slice_decode(slice, l->driver, &s, &e);
        if (r < 0 || !key) {
                l->malformed++;
                if (!key)
                        r = hd_error_setf(reterr, EINVAL, "ResourceSlice without a name");
                else if (bad_add(&l->bad_slices, key))
                        r = hd_error_move(reterr, &e);
                else
                        r = 0;
                hd_error_done(&e);
                return r;
        }
        bad_forget(&l->bad_slices, key);
        slice_replace(l, key, s);
        return 0;
}

void ctl_ledger_slice_delete(struct ctl_ledger *l, json_t *slice)
{
        _cleanup_free_ char *key = ctl_object_key(slice);
        if (!key)
                return;
        bad_forget(&l->bad_slices, key);
        slice_replace(l, key, NULL);
}

void ctl_ledger_stats(const struct ctl_ledger *l, struct ctl_ledger_stats *ret)
{
        *ret = (struct ctl_ledger_stats){
                .claims = l->n_claims,
                .allocations = l->n_allocations,
                .slices = l->n_slices,
                .nodes = l->n_nodes,
                .malformed = l->malformed,
        };
}

struct foreach_ctx {
        ctl_ledger_dirty_cb cb;
        void *userdata;
};

static void foreach_node_cb(const void *nodep, VISIT which, void *closure)
{
        struct foreach_ctx *ctx = closure;
        if (which == postorder || which == leaf)
                ctx->cb((*(struct ctl_node *const *)nodep)->key, ctx->userdata);
}

void ctl_ledger_foreach_node(const struct ctl_ledger *l, ctl_ledger_dirty_cb cb, void *userdata)
{
        struct foreach_ctx ctx = {cb, userdata};
        twalk_r(l->nodes, foreach_node_cb, &ctx);
}
