/* SPDX-License-Identifier: Apache-2.0 */
#include "rpc/workqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/strutil.h"

struct job {
        rpc_job_cb fn;
        void *arg;
        struct job *next;
};

struct rpc_workqueue {
        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t cond;
        struct job *head, *tail;
        size_t pending; /* queued + running */
        bool stopping;
        unsigned nthreads;
        pthread_t threads[];
};

static void *worker_main(void *p)
{
        struct rpc_workqueue *wq = p;
        pthread_setname_np(pthread_self(), "rpc-worker");
        pthread_mutex_lock(&wq->lock);
        for (;;) {
                while (!wq->head && !wq->stopping)
                        pthread_cond_wait(&wq->cond, &wq->lock);
                struct job *j = wq->head;
                if (!j)
                        break; /* stopping and drained */
                wq->head = j->next;
                if (!wq->head)
                        wq->tail = NULL;
                pthread_mutex_unlock(&wq->lock);
                j->fn(j->arg);
                free(j);
                pthread_mutex_lock(&wq->lock);
                wq->pending--;
        }
        pthread_mutex_unlock(&wq->lock);
        return NULL;
}

int rpc_workqueue_new(unsigned nthreads, struct rpc_workqueue **ret, struct hd_error *reterr)
{
        if (nthreads < 1)
                nthreads = 1;
        if (nthreads > 64)
                nthreads = 64;
        struct rpc_workqueue *wq = hd_malloc0(sizeof(*wq) + nthreads * sizeof(pthread_t));
        pthread_mutex_init(&wq->lock, NULL);
        pthread_cond_init(&wq->cond, NULL);
        for (unsigned i = 0; i < nthreads; i++) {
                int r = pthread_create(&wq->threads[i], NULL, worker_main, wq);
                if (r != 0) {
                        rpc_workqueue_free(wq);
                        return hd_error_set(reterr, r, "start worker thread %u of %u", i + 1,
                                            nthreads);
                }
                wq->nthreads++;
        }
        *ret = wq;
        return 0;
}

int rpc_workqueue_push(struct rpc_workqueue *wq, rpc_job_cb fn, void *arg)
{
        struct job *j = hd_malloc0(sizeof(*j));
        j->fn = fn;
        j->arg = arg;
        pthread_mutex_lock(&wq->lock);
        if (wq->stopping) {
                pthread_mutex_unlock(&wq->lock);
                free(j);
                return -ESHUTDOWN;
        }
        if (wq->tail)
                wq->tail->next = j;
        else
                wq->head = j;
        wq->tail = j;
        wq->pending++;
        pthread_cond_signal(&wq->cond);
        pthread_mutex_unlock(&wq->lock);
        return 0;
}

size_t rpc_workqueue_pending(struct rpc_workqueue *wq)
{
        pthread_mutex_lock(&wq->lock);
        size_t n = wq->pending;
        pthread_mutex_unlock(&wq->lock);
        return n;
}

struct rpc_workqueue *rpc_workqueue_free(struct rpc_workqueue *wq)
{
        if (!wq)
                return NULL;
        pthread_mutex_lock(&wq->lock);
        wq->stopping = true;
        pthread_cond_broadcast(&wq->cond);
        pthread_mutex_unlock(&wq->lock);
        for (unsigned i = 0; i < wq->nthreads; i++)
                pthread_join(wq->threads[i], NULL);
        pthread_cond_destroy(&wq->cond);
        pthread_mutex_destroy(&wq->lock);
        free(wq);
        return NULL;
}
