/* SPDX-License-Identifier: Apache-2.0 */
/* The recorder's bounded LRU of event series (events.h): a hash table over the keys and a
 * doubly linked recency list. No locking, no I/O. */
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"
#include "controller/events.h"

struct cache_node {
        struct ctl_event_series s; /* first: a series pointer is its node */
        uint64_t hash;
        struct cache_node *hnext;
        struct cache_node *prev, *next; /* recency; the sentinel's next is the newest */
};

struct ctl_event_cache {
        size_t max, n, nbuckets;
        struct cache_node **buckets;
        struct cache_node lru; /* sentinel */
        void (*data_free)(void *);
};

static uint64_t fnv1a(const char *s)
{
        uint64_t h = 14695981039346656037ULL;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

struct ctl_event_cache *ctl_event_cache_new(size_t max, void (*data_free)(void *))
{
        struct ctl_event_cache *c = hd_malloc0(sizeof(*c));
        c->max = max ? max : 1;
        c->nbuckets = 16;
        while (c->nbuckets < 2 * c->max)
                c->nbuckets *= 2;
        c->buckets = hd_calloc_(c->nbuckets, sizeof(*c->buckets));
        c->lru.prev = c->lru.next = &c->lru;
        c->data_free = data_free;
        return c;
}

static void unlink_lru(struct cache_node *n)
{
        n->prev->next = n->next;
        n->next->prev = n->prev;
}

static void push_front(struct ctl_event_cache *c, struct cache_node *n)
{
        n->next = c->lru.next;
        n->prev = &c->lru;
        c->lru.next->prev = n;
        c->lru.next = n;
}

static void node_free(struct ctl_event_cache *c, struct cache_node *n)
{
        if (c->data_free && n->s.data)
                c->data_free(n->s.data);
        free(n->s.key);
        free(n->s.event_name);
        free(n);
}

static void remove_node(struct ctl_event_cache *c, struct cache_node *n)
{
        struct cache_node **pp = &c->buckets[n->hash & (c->nbuckets - 1)];
        while (*pp != n)
                pp = &(*pp)->hnext;
        *pp = n->hnext;
        unlink_lru(n);
        c->n--;
        node_free(c, n);
}

struct ctl_event_cache *ctl_event_cache_free(struct ctl_event_cache *c)
{
        if (!c)
                return NULL;
        while (c->lru.next != &c->lru)
                remove_node(c, c->lru.next);
        free(c->buckets);
        free(c);
        return NULL;
}

/* Make room for one more: drop the oldest series that is not busy. false when all are. */
static bool evict_one(struct ctl_event_cache *c)
{
        for (struct cache_node *n = c->lru.prev; n != &c->lru; n = n->prev)
                if (!n->s.busy) {
                        remove_node(c, n);
                        return true;
                }
        return false;
}

struct ctl_event_series *ctl_event_cache_get(struct ctl_event_cache *c, const char *key,
                                             bool *ret_new)
{
        uint64_t h = fnv1a(key);
        struct cache_node **bucket = &c->buckets[h & (c->nbuckets - 1)];
        for (struct cache_node *n = *bucket; n; n = n->hnext)
                if (n->hash == h && strcmp(n->s.key, key) == 0) {
                        unlink_lru(n);
                        push_front(c, n);
                        *ret_new = false;
                        return &n->s;
                }
        if (c->n >= c->max && !evict_one(c))
                return NULL;
        struct cache_node *n = hd_malloc0(sizeof(*n));
        n->s.key = hd_strdup(key);
        n->hash = h;
        n->hnext = *bucket;
        *bucket = n;
        push_front(c, n);
        c->n++;
        *ret_new = true;
        return &n->s;
}

size_t ctl_event_cache_size(const struct ctl_event_cache *c)
{
        return c->n;
}
