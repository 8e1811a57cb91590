/* SPDX-License-Identifier: Apache-2.0 */
#include "base/failpoint.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"

#define FP_MAX_ENTRIES 64
#define FP_MAX_SLEEP_MS 600000L

enum fp_action { FP_KILL, FP_SLEEP };

struct fp_entry {
        char *point;
        char *glob; /* NULL: any file (or none) */
        enum fp_action action;
        long sleep_ms;
        unsigned long nth;  /* 0: every hit */
        unsigned percent;   /* 100: always */
        unsigned long hits; /* matching hits so far (atomic) */
};

struct fp_table {
        struct fp_entry entries[FP_MAX_ENTRIES];
        size_t n;
};

/* Set once before threads (or by the pthread_once below), read-only afterwards, like the log
 * settings. The random state is only advanced atomically. */
static struct fp_table *table;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static bool set_up;
static uint64_t rng_state;

static struct fp_table *table_free(struct fp_table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++) {
                free(t->entries[i].point);
                free(t->entries[i].glob);
        }
        free(t);
        return NULL;
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end = NULL;
        if (!*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* ENTRY is one "POINT[:GLOB]=ACTION[@N][%P]"; it is modified in place. */
static int parse_entry(char *entry, struct fp_entry *e)
{
        char *eq = strchr(entry, '=');
        if (!eq || eq == entry)
                return -EINVAL;
        *eq = '\0';
        char *action = eq + 1;
        char *colon = strchr(entry, ':');
        if (colon) {
                *colon = '\0';
                if (!colon[1])
                        return -EINVAL;
                e->glob = hd_strdup(colon + 1);
        }
        if (!*entry)
                return -EINVAL;
        e->point = hd_strdup(entry);

        e->percent = 100;
        char *pct = strchr(action, '%');
        if (pct) {
                unsigned long p;
                *pct = '\0';
                if (parse_ulong(pct + 1, 1, 100, &p) < 0)
                        return -EINVAL;
                e->percent = (unsigned)p;
        }
        char *at = strchr(action, '@');
        if (at) {
                *at = '\0';
                if (parse_ulong(at + 1, 1, ULONG_MAX, &e->nth) < 0)
                        return -EINVAL;
        }
        if (strcmp(action, "kill") == 0) {
                e->action = FP_KILL;
                return 0;
        }
        size_t len = strlen(action);
        if (hd_startswith(action, "sleep(") && len > 7 && action[len - 1] == ')') {
                unsigned long ms;
                action[len - 1] = '\0';
                if (parse_ulong(action + 6, 0, FP_MAX_SLEEP_MS, &ms) < 0)
                        return -EINVAL;
                e->action = FP_SLEEP;
                e->sleep_ms = (long)ms;
                return 0;
        }
        return -EINVAL;
}

int hd_failpoints_setup(const char *spec, struct hd_error *reterr)
{
        table = table_free(table);
        set_up = true;
        const char *seed = getenv("HOSTDEV_FAILPOINTS_SEED");
        rng_state = seed && *seed ? strtoull(seed, NULL, 0)
                                  : ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
        if (!spec || !*spec)
                return 0;

        struct fp_table *t = hd_malloc0(sizeof(*t));
        _cleanup_free_ char *copy = hd_strdup(spec);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                _cleanup_free_ char *shown = hd_strdup(tok);
                if (t->n >= FP_MAX_ENTRIES) {
                        table_free(t);
                        return hd_error_setf(reterr, EINVAL,
                                             "HOSTDEV_FAILPOINTS: more than %d entries",
                                             FP_MAX_ENTRIES);
                }
                struct fp_entry *e = &t->entries[t->n++];
                if (parse_entry(tok, e) < 0) {
                        table_free(t);
                        return hd_error_setf(reterr, EINVAL,
                                             "HOSTDEV_FAILPOINTS: bad entry '%s' (want "
                                             "POINT[:FILEGLOB]=kill|sleep(MS)[@N][%%P])",
                                             shown);
                }
        }
        table = t;
        return 0;
}

static void setup_from_env(void)
{
        if (!set_up)
                hd_failpoints_setup(getenv("HOSTDEV_FAILPOINTS"), NULL);
}

/* splitmix64 over an atomically advanced counter: thread-safe without a lock. */
static unsigned random_percent(void)
{
        uint64_t z = __atomic_add_fetch(&rng_state, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return (unsigned)(z % 100);
}

void hd_failpoint_file(const char *name, const char *file)
{
        pthread_once(&env_once, setup_from_env);
        struct fp_table *t = table;
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++) {
                struct fp_entry *e = &t->entries[i];
                if (strcmp(e->point, name) != 0)
                        continue;
                if (e->glob && (!file || fnmatch(e->glob, file, 0) != 0))
                        continue;
                unsigned long hit = __atomic_add_fetch(&e->hits, 1, __ATOMIC_RELAXED);
                if (e->nth && hit != e->nth)
                        continue;
                if (e->percent < 100 && random_percent() >= e->percent)
                        continue;
                hd_log_v(4, "failpoint fired", "point", name, "file", file ? file : "", "action",
                         e->action == FP_KILL ? "kill" : "sleep", "hit", HD_INT(hit));
                if (e->action == FP_KILL) {
                        raise(SIGKILL);
                } else {
                        struct timespec ts = {e->sleep_ms / 1000, (e->sleep_ms % 1000) * 1000000L};
                        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                                ;
                }
        }
}

void hd_failpoint(const char *name)
{
        hd_failpoint_file(name, NULL);
}
