/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger writer's scheduling: one record per node (dirty, due time, in flight), worker
 * threads that take the node whose window has passed first, and the bookkeeping after a write.
 * The REST side of one write is in ledger_write.c. Lock order: the caller's model lock, then
 * w->lock; workers never hold w->lock while rendering or talking to the API server. */
#include "controller/writer.h"

#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "controller/ledger-internal.h"
#include "controller/writer-internal.h"

int64_t ctl_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_writer_new(const struct ctl_writer_options *opts, struct ctl_writer **ret,
                   struct hd_error *reterr)
{
        if (!opts->client || !opts->render_cb || !opts->driver)
                return hd_error_setf(reterr, EINVAL, "writer: client, driver and render needed");
        if (opts->workers < 0 || opts->workers > CTL_WRITER_WORKERS_MAX)
                return hd_error_setf(reterr, EINVAL, "writer: %d workers; 1 to %d", opts->workers,
                                     CTL_WRITER_WORKERS_MAX);
        struct ctl_writer *w = hd_new0(struct ctl_writer, 1);
        w->o = *opts;
        w->driver = hd_strdup(opts->driver);
        w->o.driver = w->driver;
        w->window_ms = opts->window_ms > 0 ? opts->window_ms : 200;
        w->n_workers = opts->workers > 0 ? opts->workers : 4;
        w->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 10000;
        w->threads = hd_new0(pthread_t, (size_t)w->n_workers);
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->wake, &ca);
        pthread_cond_init(&w->idle, &ca);
        pthread_condattr_destroy(&ca);
        *ret = w;
        return 0;
}

static void wnode_free(void *p)
{
        struct wnode *n = p;
        free(n->key);
        free(n->rv);
        free(n->node_uid);
        free(n->conflict_since);
        free(n->synced_since);
        json_decref(n->emitted);
        free(n);
}

struct ctl_writer *ctl_writer_free(struct ctl_writer *w)
{
        if (!w)
                return NULL;
        ctl_writer_stop(w);
        tdestroy(w->nodes, wnode_free);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->idle);
        pthread_mutex_destroy(&w->lock);
        free(w->threads);
        free(w->driver);
        free(w);
        return NULL;
}

static struct wnode *wnode_get_locked(struct ctl_writer *w, const char *key)
{
        struct wnode *n = ctl_tree_find(w->nodes, key);
        if (!n) {
                n = hd_new0(struct wnode, 1);
                n->key = hd_strdup(key);
                n->emitted = json_object();
                n->last_write_ms = INT64_MIN / 2;
                tsearch(n, &w->nodes, ctl_key_cmp);
        }
        return n;
}

static void mark_locked(struct ctl_writer *w, struct wnode *n, int64_t due)
{
        if (n->due_ms < due)
                n->due_ms = due;
        if (n->dirty)
                return; /* already scheduled: churn costs no wake-up */
        n->dirty = true;
        w->pending++;
        pthread_cond_signal(&w->wake);
}

void ctl_writer_mark(struct ctl_writer *w, const char *node)
{
        pthread_mutex_lock(&w->lock);
        struct wnode *n = wnode_get_locked(w, node);
        int64_t now = ctl_now_ms();
        int64_t due = n->last_write_ms + w->window_ms;
        if (!n->dirty)
                n->due_ms = now;
        mark_locked(w, n, due > now ? due : now);
        pthread_mutex_unlock(&w->lock);
}

void ctl_writer_set_ready(struct ctl_writer *w, bool ready)
{
        pthread_mutex_lock(&w->lock);
        w->ready = ready;
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

static void forget_cb(const void *nodep, VISIT which, void *closure)
{
        struct ctl_writer *w = closure;
        struct wnode *n = *(struct wnode *const *)nodep;
        if (which != postorder && which != leaf)
                return;
        n->forget = true; /* applied by the worker that holds it, or at the next pick */
        mark_locked(w, n, ctl_now_ms());
}

void ctl_writer_set_leader(struct ctl_writer *w, bool leader)
{
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->leader, leader);
        if (leader)
                twalk_r(w->nodes, forget_cb, w);
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

bool ctl_writer_is_leader(struct ctl_writer *w)
{
        return atomic_load(&w->leader);
}

void ctl_writer_stats(struct ctl_writer *w, struct ctl_writer_stats *ret)
{
        pthread_mutex_lock(&w->lock);
        *ret = w->stats;
        ret->pending = w->pending;
        pthread_mutex_unlock(&w->lock);
}

struct pick {
        int64_t now, next_due;
        struct wnode *best;
};

static void pick_cb(const void *nodep, VISIT which, void *closure)
{
        struct pick *p = closure;
        struct wnode *n = *(struct wnode *const *)nodep;
        if ((which != postorder && which != leaf) || !n->dirty || n->inflight)
                return;
        if (n->due_ms <= p->now && (!p->best || n->due_ms < p->best->due_ms))
                p->best = n;
        else if (n->due_ms > p->now && n->due_ms < p->next_due)
                p->next_due = n->due_ms;
}

/* The next node to write, marked in flight; NULL once stopping. Waits with w->lock held. */
static struct wnode *take_next_locked(struct ctl_writer *w)
{
        while (!w->stopping) {
                struct pick p = {.now = ctl_now_ms(), .next_due = INT64_MAX};
                if (w->ready && atomic_load(&w->leader))
                        twalk_r(w->nodes, pick_cb, &p);
                if (p.best) {
                        p.best->dirty = false;
                        p.best->inflight = true;
                        w->pending--;
                        w->inflight++;
                        return p.best;
                }
                long wait = p.next_due == INT64_MAX ? 1000 : (long)(p.next_due - p.now);
                struct timespec dl = hd_deadline_after_ms(CLOCK_MONOTONIC, wait);
                pthread_cond_timedwait(&w->wake, &w->lock, &dl);
        }
        return NULL;
}

/* Bookkeeping after writing N (R < 0: failed, to be retried with backoff). */
static void finish_locked(struct ctl_writer *w, struct wnode *n, int r)
{
        int64_t now = ctl_now_ms();
        n->inflight = false;
        w->inflight--;
        if (r < 0) {
                w->stats.failures++;
                if (n->failures < 20)
                        n->failures++;
                int64_t delay = (int64_t)w->window_ms << (n->failures < 10 ? n->failures : 10);
                mark_locked(w, n, now + (delay < w->backoff_max_ms ? delay : w->backoff_max_ms));
        } else {
                n->failures = 0;
                if (r > 0)
                        n->last_write_ms = now;
                if (n->dirty && n->due_ms < n->last_write_ms + w->window_ms)
                        n->due_ms = n->last_write_ms + w->window_ms;
        }
        if (w->pending == 0 && w->inflight == 0)
                pthread_cond_broadcast(&w->idle);
}

static void *worker(void *arg)
{
        struct ctl_writer *w = arg;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                struct wnode *n = take_next_locked(w);
                if (!n)
                        break;
                if (n->forget) {
                        ctl_wnode_forget(n);
                        n->forget = false;
                }
                pthread_mutex_unlock(&w->lock);
                struct hd_error err = HD_ERROR_INIT;
                int r = ctl_writer_write_node(w, n, &err);
                if (r < 0 && r != -ECANCELED)
                        hd_log_error("cannot write the ledger; retrying", "node", n->key, "err",
                                     hd_error_message(&err));
                hd_error_done(&err);
                pthread_mutex_lock(&w->lock);
                finish_locked(w, n, r);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int ctl_writer_start(struct ctl_writer *w, struct hd_error *reterr)
{
        for (int i = 0; i < w->n_workers; i++) {
                int r = pthread_create(&w->threads[i], NULL, worker, w);
                if (r != 0) {
                        ctl_writer_stop(w);
                        return hd_error_set(reterr, r, "writer: start thread");
                }
                w->started++;
        }
        return 0;
}

void ctl_writer_stop(struct ctl_writer *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
        for (int i = 0; i < w->started; i++)
                pthread_join(w->threads[i], NULL);
        w->started = 0;
}

int ctl_writer_wait_idle(struct ctl_writer *w, int timeout_ms)
{
        struct timespec dl = hd_deadline_after_ms(CLOCK_MONOTONIC, timeout_ms);
        int r = 0;
        pthread_mutex_lock(&w->lock);
        while ((w->pending > 0 || w->inflight > 0) && r == 0)
                r = pthread_cond_timedwait(&w->idle, &w->lock, &dl) == ETIMEDOUT ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&w->lock);
        return r;
}
