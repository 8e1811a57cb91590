/* SPDX-License-Identifier: Apache-2.0 */
#include "devmodel/numa.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"

/* Largest NUMA node number we believe (Linux's MAX_NUMNODES is at most 1024). */
#define DM_NUMA_NODE_MAX 1023

int dm_numa_node(const char *sysfs_root, char type, unsigned major, unsigned minor)
{
        _cleanup_free_ char *path = hd_asprintf("%s/dev/%s/%u:%u/device/numa_node",
                                                sysfs_root ? sysfs_root : DM_SYSFS_ROOT,
                                                type == 'b' ? "block" : "char", major, minor);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        char buf[32];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        char *end = NULL;
        errno = 0;
        long v = strtol(buf, &end, 10);
        if (errno || end == buf || (*end && *end != '\n') || v < 0 || v > DM_NUMA_NODE_MAX)
                return -1;
        return (int)v;
}

struct cand {
        const char *id;
        size_t pos; /* in device order */
        int numa;
        bool taken;
};

static int cmp_order_id(const void *a, const void *b)
{
        return strcmp(((const struct dm_numa_device *)a)->id,
                      ((const struct dm_numa_device *)b)->id);
}

static int cmp_cand_pos(const void *a, const void *b)
{
        size_t pa = ((const struct cand *)a)->pos, pb = ((const struct cand *)b)->pos;
        return pa < pb ? -1 : pa > pb;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ID's entry in SORTED: a name-sorted copy of the device order whose numa fields hold each
 * device's position in that order. */
static const struct dm_numa_device *order_find(const struct dm_numa_device *sorted, size_t n,
                                               const char *id)
{
        struct dm_numa_device key = {id, 0};
        return bsearch(&key, sorted, n, sizeof(*sorted), cmp_order_id);
}

/* Candidates: available IDs, deduplicated, not in CHOSEN, sorted by device order. */
static struct cand *candidates(const struct dm_numa_device *order, size_t n_order,
                               char *const *available, size_t n_available, const char **chosen,
                               size_t n_chosen, size_t *ret_n)
{
        struct dm_numa_device *sorted = hd_new0(struct dm_numa_device, n_order ? n_order : 1);
        for (size_t i = 0; i < n_order; i++)
                sorted[i] = (struct dm_numa_device){order[i].id, (int)i};
        qsort(sorted, n_order, sizeof(*sorted), cmp_order_id);
        _cleanup_free_ const char **seen = hd_new0(const char *, n_available + n_chosen + 1);
        size_t n_seen = 0;
        for (size_t i = 0; i < n_chosen; i++)
                seen[n_seen++] = chosen[i];
        struct cand *c = hd_new0(struct cand, n_available ? n_available : 1);
        size_t n = 0;
        for (size_t i = 0; i < n_available; i++) {
                const char *id = available[i];
                bool dup = false;
                for (size_t j = 0; j < n_seen && !dup; j++)
                        dup = hd_streq(seen[j], id);
                if (dup)
                        continue;
                seen[n_seen++] = id;
                const struct dm_numa_device *o = order_find(sorted, n_order, id);
                size_t pos = o ? (size_t)o->numa : n_order + i;
                c[n++] = (struct cand){id, pos, o ? order[pos].numa : -1, false};
        }
        free(sorted);
        qsort(c, n, sizeof(*c), cmp_cand_pos);
        *ret_n = n;
        return c;
}

/* Take up to NEED untaken candidates on node NUMA, in order, into RET. */
static size_t take_node(struct cand *c, size_t n, int numa, size_t need, const char **ret)
{
        size_t k = 0;
        for (size_t i = 0; i < n && k < need; i++)
                if (!c[i].taken && c[i].numa == numa) {
                        c[i].taken = true;
                        ret[k++] = c[i].id;
                }
        return k;
}

/* The node to fill next: the first in device order with NEED untaken candidates, else the one
 * with the most; -2 when none is left. */
static int next_node(const struct cand *c, size_t n, size_t need)
{
        int best = -2;
        size_t best_count = 0;
        for (size_t i = 0; i < n; i++) {
                if (c[i].taken)
                        continue;
                bool first = true; /* first untaken candidate of its node? */
                for (size_t j = 0; j < i && first; j++)
                        first = c[j].taken || c[j].numa != c[i].numa;
                if (!first)
                        continue;
                size_t count = 0;
                for (size_t j = i; j < n; j++)
                        count += !c[j].taken && c[j].numa == c[i].numa;
                if (count >= need)
                        return c[i].numa;
                if (count > best_count) {
                        best = c[i].numa;
                        best_count = count;
                }
        }
        return best;
}

size_t dm_numa_prefer(const struct dm_numa_device *order, size_t n_order, char *const *available,
                      size_t n_available, char *const *must, size_t n_must, size_t size,
                      const char **ret)
{
        size_t k = 0;
        _cleanup_free_ char **avail_sorted = hd_new0(char *, n_available + 1);
        memcpy(avail_sorted, available, n_available * sizeof(char *));
        qsort(avail_sorted, n_available, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n_must && k < size; i++) {
                bool ok = bsearch(&must[i], avail_sorted, n_available, sizeof(char *), cmp_str);
                for (size_t j = 0; j < k && ok; j++)
                        ok = !hd_streq(ret[j], must[i]);
                if (ok)
                        ret[k++] = must[i];
        }
        size_t n = 0;
        _cleanup_free_ struct cand *c =
                candidates(order, n_order, available, n_available, ret, k, &n);
        size_t first_free = k;
        /* Nodes the must-include devices already use. */
        for (size_t i = 0; i < first_free && k < size; i++) {
                int numa = -1;
                for (size_t j = 0; j < n_order; j++)
                        if (hd_streq(order[j].id, ret[i]))
                                numa = order[j].numa;
                k += take_node(c, n, numa, size - k, ret + k);
        }
        while (k < size) {
                int numa = next_node(c, n, size - k);
                if (numa == -2)
                        break;
                k += take_node(c, n, numa, size - k, ret + k);
        }
        /* What was picked beyond the must-include IDs goes out in device order. */
        size_t m = first_free;
        for (size_t j = 0; j < n; j++)
                if (c[j].taken)
                        ret[m++] = c[j].id;
        return k;
}
