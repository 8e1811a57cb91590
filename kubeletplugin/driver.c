/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/driver.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/failpoint.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "devmodel/claim.h"
#include "devmodel/opaque.h"
#include "devmodel/prepare.h"
#include "kubeletplugin/metrics.h"

struct busy_claim {
        char *uid;
        struct busy_claim *next;
};

/* One discovered inventory, immutable once published. Prepares hold a reference while they
 * use it, so a hot-plug swap never waits for a prepare and never frees what one reads. */
struct inv_snapshot {
        unsigned refs; /* guarded by kp_driver.inv_lock */
        struct dm_inventory *inv;
};

struct kp_driver {
        char *driver, *node, *cdi_root, *checkpoint_path;
        kp_claim_fetch_cb fetch;
        void *fetch_userdata;
        struct kp_metrics *metrics;
        const struct dm_config *config;

        pthread_mutex_t inv_lock; /* guards inv and every snapshot's refs */
        struct inv_snapshot *inv; /* current; the driver holds one reference */

        pthread_mutex_t lock; /* guards ckpt, busy and the commit state */
        pthread_cond_t busy_cond;
        struct kp_checkpoint *ckpt;
        struct busy_claim *busy; /* claim UIDs with a call in progress */

        /* Group commit of the checkpoint: changes bump change_gen; one writer at a time puts
         * the newest state on disk and every caller whose change it includes shares it. */
        pthread_cond_t commit_cond;
        unsigned long long change_gen, saved_gen;
        bool saving;
};

/* The current inventory, with a reference the caller drops with inv_put(). */
static struct inv_snapshot *inv_get(struct kp_driver *d)
{
        pthread_mutex_lock(&d->inv_lock);
        struct inv_snapshot *s = d->inv;
        s->refs++;
        pthread_mutex_unlock(&d->inv_lock);
        return s;
}

static void inv_put(struct kp_driver *d, struct inv_snapshot *s)
{
        pthread_mutex_lock(&d->inv_lock);
        bool last = --s->refs == 0;
        pthread_mutex_unlock(&d->inv_lock);
        if (last) {
                dm_inventory_free(s->inv);
                free(s);
        }
}

struct kp_driver *kp_driver_new(const struct kp_driver_options *o, const struct dm_config *config,
                                struct dm_inventory *inv)
{
        struct kp_driver *d = hd_malloc0(sizeof(*d));
        d->driver = hd_strdup(o->driver);
        d->node = hd_strdup(o->node);
        d->cdi_root = hd_strdup(o->cdi_root);
        d->checkpoint_path = hd_strdup(o->checkpoint_path);
        d->fetch = o->fetch;
        d->fetch_userdata = o->fetch_userdata;
        d->metrics = o->metrics;
        d->config = config;
        d->inv = hd_malloc0(sizeof(*d->inv));
        *d->inv = (struct inv_snapshot){.refs = 1, .inv = inv};
        pthread_mutex_init(&d->inv_lock, NULL);
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->busy_cond, NULL);
        pthread_cond_init(&d->commit_cond, NULL);
        return d;
}

struct kp_driver *kp_driver_free(struct kp_driver *d)
{
        if (!d)
                return NULL;
        inv_put(d, d->inv);
        kp_checkpoint_free(d->ckpt);
        pthread_cond_destroy(&d->busy_cond);
        pthread_cond_destroy(&d->commit_cond);
        pthread_mutex_destroy(&d->lock);
        pthread_mutex_destroy(&d->inv_lock);
        free(d->driver);
        free(d->node);
        free(d->cdi_root);
        free(d->checkpoint_path);
        free(d);
        return NULL;
}

void kp_driver_set_inventory(struct kp_driver *d, struct dm_inventory *inv)
{
        struct inv_snapshot *fresh = hd_malloc0(sizeof(*fresh));
        *fresh = (struct inv_snapshot){.refs = 1, .inv = inv};
        pthread_mutex_lock(&d->inv_lock);
        struct inv_snapshot *old = d->inv;
        d->inv = fresh;
        pthread_mutex_unlock(&d->inv_lock);
        inv_put(d, old);
}

void kp_driver_with_inventory(struct kp_driver *d,
                              void (*fn)(const struct dm_inventory *inv, void *userdata),
                              void *userdata)
{
        struct inv_snapshot *s = inv_get(d);
        fn(s->inv, userdata);
        inv_put(d, s);
}

bool kp_driver_holds_claim(struct kp_driver *d, const char *uid)
{
        pthread_mutex_lock(&d->lock);
        const struct kp_ckpt_claim *c = kp_checkpoint_find(d->ckpt, uid);
        bool held = c && c->state == KP_PREPARE_COMPLETED;
        pthread_mutex_unlock(&d->lock);
        return held;
}

void kp_driver_prepared_refs(struct kp_driver *d, struct dm_prepared_claim **ret, size_t *ret_n)
{
        pthread_mutex_lock(&d->lock);
        size_t n = 0;
        struct dm_prepared_claim *out = hd_new0(
                struct dm_prepared_claim, d->ckpt && d->ckpt->n_claims ? d->ckpt->n_claims : 1);
        for (size_t i = 0; d->ckpt && i < d->ckpt->n_claims; i++) {
                const struct kp_ckpt_claim *c = &d->ckpt->claims[i];
                if (c->state != KP_PREPARE_COMPLETED || !c->prepared.namespace || !c->prepared.name)
                        continue;
                out[n++] = (struct dm_prepared_claim){.uid = hd_strdup(c->prepared.uid),
                                                      .namespace = hd_strdup(c->prepared.namespace),
                                                      .name = hd_strdup(c->prepared.name)};
        }
        pthread_mutex_unlock(&d->lock);
        *ret = out;
        *ret_n = n;
}

char **kp_driver_held_devices(struct kp_driver *d)
{
        char **out = NULL;
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; d->ckpt && i < d->ckpt->n_claims; i++) {
                const struct dm_prepared_claim *c = &d->ckpt->claims[i].prepared;
                for (size_t j = 0; j < c->n_devices; j++)
                        if (hd_streq(c->devices[j].pool, d->node) &&
                            !hd_strv_contains(out, c->devices[j].device))
                                hd_strv_push(&out, c->devices[j].device);
        }
        pthread_mutex_unlock(&d->lock);
        return out;
}

size_t kp_driver_prepared_claims(struct kp_driver *d)
{
        pthread_mutex_lock(&d->lock);
        size_t n = 0;
        for (size_t i = 0; d->ckpt && i < d->ckpt->n_claims; i++)
                n += d->ckpt->claims[i].state == KP_PREPARE_COMPLETED;
        pthread_mutex_unlock(&d->lock);
        return n;
}

/* --- per-claim serialization -------------------------------------------------------------- */

static bool busy_has(struct kp_driver *d, const char *uid)
{
        for (struct busy_claim *b = d->busy; b; b = b->next)
                if (strcmp(b->uid, uid) == 0)
                        return true;
        return false;
}

static void claim_lock(struct kp_driver *d, const char *uid)
{
        pthread_mutex_lock(&d->lock);
        while (busy_has(d, uid))
                pthread_cond_wait(&d->busy_cond, &d->lock);
        struct busy_claim *b = hd_malloc0(sizeof(*b));
        b->uid = hd_strdup(uid);
        b->next = d->busy;
        d->busy = b;
        pthread_mutex_unlock(&d->lock);
}

static void claim_unlock(struct kp_driver *d, const char *uid)
{
        pthread_mutex_lock(&d->lock);
        for (struct busy_claim **pp = &d->busy; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->uid, uid) == 0) {
                        struct busy_claim *b = *pp;
                        *pp = b->next;
                        free(b->uid);
                        free(b);
                        break;
                }
        pthread_cond_broadcast(&d->busy_cond);
        pthread_mutex_unlock(&d->lock);
}

/* Persist the change the caller just made to d->ckpt. Call with d->lock held; returns with it
 * held, but releases it while writing, so concurrent prepares share one write (temp file,
 * fsync, rename, directory fsync) instead of queueing one each behind the lock. */
static int save_locked(struct kp_driver *d, struct hd_error *reterr)
{
        unsigned long long want = ++d->change_gen;
        while (d->saved_gen < want) {
                if (d->saving) {
                        pthread_cond_wait(&d->commit_cond, &d->lock);
                        continue;
                }
                d->saving = true;
                unsigned long long gen = d->change_gen;
                char *text = NULL;
                size_t len = 0;
                int r = kp_checkpoint_dump(d->ckpt, &text, &len, reterr);
                pthread_mutex_unlock(&d->lock);
                if (r >= 0)
                        r = hd_atomic_write(d->checkpoint_path, text, len, 0600, reterr);
                free(text);
                pthread_mutex_lock(&d->lock);
                d->saving = false;
                pthread_cond_broadcast(&d->commit_cond);
                if (r < 0)
                        return hd_error_wrap_r(reterr, r, "save checkpoint");
                if (gen > d->saved_gen)
                        d->saved_gen = gen;
        }
        return 0;
}

/* --- prepare ------------------------------------------------------------------------------ */

/* Which other claim already holds DEVICE? Admin-access results hold nothing. Call with d->lock
 * held. */
static const struct dm_prepared_claim *holder_locked(struct kp_driver *d, const char *uid,
                                                     const char *device)
{
        for (size_t i = 0; i < d->ckpt->n_claims; i++) {
                const struct dm_prepared_claim *c = &d->ckpt->claims[i].prepared;
                if (hd_streq(c->uid, uid))
                        continue;
                for (size_t k = 0; k < c->n_devices; k++)
                        if (!c->devices[k].admin_access && hd_streq(c->devices[k].device, device))
                                return c;
        }
        return NULL;
}

/* Fetch and decode the claim, checking it is the one the kubelet means and is allocated.
 * *GET_SECONDS is what the fetch itself took (the API server's share). */
static int fetch_claim(struct kp_driver *d, const struct kp_claim_ref *ref, struct dm_claim **ret,
                       double *get_seconds, struct hd_error *reterr)
{
        if (!d->fetch)
                return hd_error_setf(reterr, ENOTCONN, "no API server connection configured");
        _cleanup_json_ json_t *obj = NULL;
        double t0 = kp_metrics_now();
        int r = d->fetch(d->fetch_userdata, ref->namespace, ref->name, &obj, reterr);
        *get_seconds = kp_metrics_now() - t0;
        kp_metrics_phase(d->metrics, KP_PHASE_CLAIM_GET, *get_seconds);
        if (r == -ENOENT)
                return hd_error_setf(reterr, ENOENT, "ResourceClaim %s/%s not found",
                                     ref->namespace, ref->name);
        if (r < 0)
                return hd_error_wrap(reterr, "get ResourceClaim %s/%s", ref->namespace, ref->name);
        struct dm_claim *claim = NULL;
        r = dm_claim_from_json_value(obj, &claim, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "decode ResourceClaim %s/%s", ref->namespace,
                                     ref->name);
        if (!hd_streq(claim->uid, ref->uid)) {
                r = hd_error_setf(reterr, ESTALE,
                                  "ResourceClaim %s/%s has UID %s, not %s: the claim was "
                                  "deleted and replaced",
                                  ref->namespace, ref->name, claim->uid ? claim->uid : "",
                                  ref->uid);
                dm_claim_free(claim);
                return r;
        }
        if (!claim->allocated) {
                dm_claim_free(claim);
                return hd_error_setf(reterr, EINVAL, "ResourceClaim %s/%s is not allocated",
                                     ref->namespace, ref->name);
        }
        *ret = claim;
        return 0;
}

/* The record of what the API server allocated to us for REF: our results with the env their
 * opaque configs give them, no CDI IDs yet. */
static int record_from_api(struct kp_driver *d, const struct kp_claim_ref *ref,
                           struct dm_prepared_claim *rec, double *get_seconds,
                           struct hd_error *reterr)
{
        struct dm_claim *claim = NULL;
        char ***env = NULL;
        double t0 = kp_metrics_now();
        int r = fetch_claim(d, ref, &claim, get_seconds, reterr);
        if (r < 0)
                return r;
        r = dm_opaque_env(claim, d->driver, &env, reterr);
        if (r >= 0)
                dm_prepared_claim_init(rec, claim, d->driver, d->node, (char **const *)env);
        dm_opaque_env_free(env, claim->n_results);
        dm_claim_free(claim);
        kp_metrics_phase(d->metrics, KP_PHASE_CLAIM_DECODE, kp_metrics_now() - t0 - *get_seconds);
        return r;
}

/* The recorded answer when REF's claim is already prepared: nothing is rewritten. */
static bool answer_if_prepared(struct kp_driver *d, const char *uid, struct dm_prepared_claim *ret)
{
        pthread_mutex_lock(&d->lock);
        struct kp_ckpt_claim *done = kp_checkpoint_find(d->ckpt, uid);
        bool found = done && done->state == KP_PREPARE_COMPLETED;
        if (found)
                dm_prepared_claim_copy(ret, &done->prepared);
        pthread_mutex_unlock(&d->lock);
        return found;
}

/* Reserve: check nobody else holds E's devices and record E as PrepareStarted, in one step.
 * *RET_PUT tells whether the entry went into the checkpoint (then the caller undoes it). */
static int reserve(struct kp_driver *d, const struct kp_ckpt_claim *e, bool *ret_put,
                   struct hd_error *reterr)
{
        const struct dm_prepared_claim *rec = &e->prepared;
        int r = 0;
        double t0 = kp_metrics_now();
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; i < rec->n_devices && r >= 0; i++) {
                if (rec->devices[i].admin_access)
                        continue; /* monitoring: shares the device with its holder */
                const struct dm_prepared_claim *h =
                        holder_locked(d, rec->uid, rec->devices[i].device);
                if (h)
                        r = hd_error_setf(reterr, EBUSY,
                                          "device '%s' is already in use by ResourceClaim %s/%s "
                                          "(uid %s)",
                                          rec->devices[i].device, h->namespace ? h->namespace : "?",
                                          h->name ? h->name : "?", h->uid);
        }
        if (r >= 0) {
                struct kp_ckpt_claim started = {0};
                kp_ckpt_claim_copy(&started, e);
                kp_checkpoint_put(d->ckpt, &started);
                *ret_put = true;
                r = save_locked(d, reterr);
        }
        pthread_mutex_unlock(&d->lock);
        kp_metrics_phase(d->metrics, KP_PHASE_CKPT_STARTED, kp_metrics_now() - t0);
        return r;
}

/* Build: write the CDI spec from the current inventory, filling REC's CDI IDs in place. */
static int build(struct kp_driver *d, struct dm_prepared_claim *rec, struct hd_error *reterr)
{
        double write = 0, t0 = kp_metrics_now();
        struct dm_prepare_params p = {.driver = d->driver,
                                      .pool = d->node,
                                      .cdi_root = d->cdi_root,
                                      .spec_write_seconds = &write};
        struct inv_snapshot *s = inv_get(d);
        int r = dm_prepare_record(s->inv, &p, rec, reterr);
        inv_put(d, s);
        kp_metrics_phase(d->metrics, KP_PHASE_SPEC_BUILD, kp_metrics_now() - t0 - write);
        if (write > 0) /* a spec was written */
                kp_metrics_phase(d->metrics, KP_PHASE_SPEC_WRITE, write);
        return r;
}

/* Commit: record E as PrepareCompleted; on success *RET takes E's record. */
static int commit(struct kp_driver *d, struct kp_ckpt_claim *e, struct dm_prepared_claim *ret,
                  struct hd_error *reterr)
{
        double t0 = kp_metrics_now();
        e->state = KP_PREPARE_COMPLETED;
        struct kp_ckpt_claim completed = {0};
        kp_ckpt_claim_copy(&completed, e);
        pthread_mutex_lock(&d->lock);
        kp_checkpoint_put(d->ckpt, &completed);
        int r = save_locked(d, reterr);
        pthread_mutex_unlock(&d->lock);
        kp_metrics_phase(d->metrics, KP_PHASE_CKPT_COMMIT, kp_metrics_now() - t0);
        if (r >= 0) {
                *ret = e->prepared;
                e->prepared = (struct dm_prepared_claim){0};
        }
        return r;
}

/* Undo a reservation: drop UID's entry and persist that. Failures are logged: the start-up
 * repair undoes a PrepareStarted leftover. */
static void undo_reserve(struct kp_driver *d, const char *uid)
{
        struct hd_error undo = HD_ERROR_INIT;
        pthread_mutex_lock(&d->lock);
        kp_checkpoint_remove(d->ckpt, uid);
        if (save_locked(d, &undo) < 0)
                hd_log_error("rollback: cannot write checkpoint", "claim", uid, "err",
                             hd_error_message(&undo));
        pthread_mutex_unlock(&d->lock);
        hd_error_done(&undo);
}

/* Undo a build: remove the spec (a missing one is fine). */
static void undo_build(struct kp_driver *d, const char *uid)
{
        struct hd_error undo = HD_ERROR_INIT;
        if (dm_unprepare_claim(d->driver, uid, d->cdi_root, &undo) < 0)
                hd_log_error("rollback: cannot remove CDI spec", "claim", uid, "err",
                             hd_error_message(&undo));
        hd_error_done(&undo);
}

/* kp_driver_prepare() once the UID is checked; *GET_SECONDS is the claim GET's share. */
static int prepare_locked_claim(struct kp_driver *d, const struct kp_claim_ref *ref,
                                struct dm_prepared_claim *ret, double *get_seconds,
                                struct hd_error *reterr)
{
        int r;
        struct kp_ckpt_claim entry = {.state = KP_PREPARE_STARTED};
        bool put = false;
        if (answer_if_prepared(d, ref->uid, ret)) {
                r = 0;
                goto out;
        }

        r = record_from_api(d, ref, &entry.prepared, get_seconds, reterr);
        if (r >= 0) /* before anything is written for it */
                r = dm_prepared_claim_check_size(&entry.prepared, reterr);
        if (r < 0)
                goto out;
        hd_failpoint("prepare-after-get");
        r = reserve(d, &entry, &put, reterr);
        if (r < 0)
                goto fail_reserve;
        hd_failpoint("prepare-after-started");
        r = build(d, &entry.prepared, reterr);
        if (r < 0)
                goto fail_build; /* a failed write leaves no spec, but a half-built claim may */
        hd_failpoint("prepare-after-spec");
        r = commit(d, &entry, ret, reterr);
        if (r < 0)
                goto fail_build;
        hd_failpoint("prepare-after-completed");
        goto out;

fail_build:
        undo_build(d, ref->uid);
fail_reserve:
        if (put)
                undo_reserve(d, ref->uid);
out:
        kp_ckpt_claim_done(&entry);
        return r;
}

int kp_driver_prepare(struct kp_driver *d, const struct kp_claim_ref *ref,
                      struct dm_prepared_claim *ret, struct hd_error *reterr)
{
        int r = cdi_validate_claim_uid(ref->uid, reterr);
        if (r < 0)
                return r;
        double get = 0, t0 = kp_metrics_now();
        claim_lock(d, ref->uid);
        r = prepare_locked_claim(d, ref, ret, &get, reterr);
        claim_unlock(d, ref->uid);
        kp_metrics_phase(d->metrics, KP_PHASE_PREPARE_OWN, kp_metrics_now() - t0 - get);
        return r;
}

int kp_driver_unprepare(struct kp_driver *d, const struct kp_claim_ref *ref,
                        struct hd_error *reterr)
{
        int r = cdi_validate_claim_uid(ref->uid, reterr);
        if (r < 0)
                return r;
        claim_lock(d, ref->uid);
        double t0 = kp_metrics_now();
        r = dm_unprepare_claim(d->driver, ref->uid, d->cdi_root, reterr);
        double t1 = kp_metrics_now();
        kp_metrics_phase(d->metrics, KP_PHASE_SPEC_REMOVE, t1 - t0);
        if (r >= 0) {
                hd_failpoint("unprepare-after-spec-removed");
                pthread_mutex_lock(&d->lock);
                /* Also save when an earlier write failed: a retry of an unprepare whose entry
                 * is gone from memory but not from disk must not answer success. */
                bool save = kp_checkpoint_remove(d->ckpt, ref->uid) || d->saved_gen < d->change_gen;
                if (save)
                        r = save_locked(d, reterr);
                pthread_mutex_unlock(&d->lock);
                if (save)
                        kp_metrics_phase(d->metrics, KP_PHASE_CKPT_REMOVE, kp_metrics_now() - t1);
        }
        claim_unlock(d, ref->uid);
        return r;
}

/* --- start-up repair ---------------------------------------------------------------------- */

/* Rebuild entries from the per-claim specs we own (after the checkpoint was lost). */
static void rebuild_from_specs(struct kp_driver *d)
{
        _cleanup_free_ char *kind = cdi_claim_spec_kind(d->driver);
        _cleanup_free_ char *prefix = cdi_claim_spec_file_prefix(d->driver);
        char **names = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (cdi_spec_list_owned(d->cdi_root, prefix, &names, &e) < 0) {
                hd_log_error("cannot list CDI specs to rebuild the checkpoint", "dir", d->cdi_root,
                             "err", hd_error_message(&e));
                hd_error_done(&e);
                return;
        }
        for (size_t i = 0; names && names[i]; i++) {
                const char *file = names[i];
                _cleanup_free_ char *uid = NULL;
                if (cdi_claim_uid_from_file_name(d->driver, file, &uid) < 0)
                        continue;
                _cleanup_free_ char *path = hd_asprintf("%s/%s", d->cdi_root, file);
                struct cdi_spec *spec = NULL;
                if (cdi_spec_load_file(path, &spec, &e) < 0) {
                        hd_log_error("unreadable CDI spec left in place", "file", path, "err",
                                     hd_error_message(&e));
                        hd_error_done(&e);
                        continue;
                }
                struct kp_ckpt_claim c = {.state = KP_PREPARE_COMPLETED};
                struct dm_prepared_claim *rec = &c.prepared;
                rec->uid = hd_strdup(uid);
                rec->spec_file = hd_strdup(file);
                rec->devices = hd_new0(struct dm_prepared_device, spec->n_devices);
                size_t uid_len = strlen(uid);
                for (size_t k = 0; k < spec->n_devices; k++) {
                        const char *dn = spec->devices[k]->name;
                        if (strncmp(dn, uid, uid_len) != 0 || dn[uid_len] != '-')
                                continue;
                        struct dm_prepared_device *dev = &rec->devices[rec->n_devices++];
                        dev->device = hd_strdup(dn + uid_len + 1);
                        dev->pool = hd_strdup(d->node);
                        dev->request = hd_strdup("");
                        dev->env_set = -1;
                        hd_strv_consume(&dev->cdi_ids, cdi_qualified_id(kind, dn));
                }
                /* The claim's opaque env is in the spec too: what the admin's edits do not
                 * give these devices. adminAccess is not (see docs/plugin.md). */
                struct inv_snapshot *s = inv_get(d);
                if (dm_prepared_claim_recover_env(s->inv, rec, spec, &e) < 0)
                        hd_log_warn("cannot recover the claim's env from its CDI spec", "claim",
                                    uid, "err", hd_error_message(&e));
                inv_put(d, s);
                hd_error_done(&e);
                cdi_spec_free(spec);
                hd_log_info("recovered prepared claim from its CDI spec", "claim", uid, "devices",
                            HD_INT(rec->n_devices), "envSets", HD_INT(rec->n_env_sets));
                kp_checkpoint_put(d->ckpt, &c);
        }
        hd_strv_free(names);
}

static bool spec_exists(struct kp_driver *d, const char *file)
{
        _cleanup_free_ char *path = hd_asprintf("%s/%s", d->cdi_root, file);
        struct stat st;
        return lstat(path, &st) == 0;
}

int kp_driver_start(struct kp_driver *d, struct hd_error *reterr)
{
        _cleanup_free_ char *aside = NULL;
        struct hd_error e = HD_ERROR_INIT;
        _cleanup_free_ char *prefix = cdi_claim_spec_file_prefix(d->driver);
        if (hd_atomic_sweep(d->checkpoint_path, &e) < 0 ||
            cdi_spec_sweep_temp(d->cdi_root, prefix, &e) < 0)
                hd_log_warn("cannot remove temporary files of interrupted writes", "err",
                            hd_error_message(&e));
        hd_error_done(&e);
        int r = kp_checkpoint_load(d->checkpoint_path, &d->ckpt, &aside, &e);
        if (r < 0)
                return hd_error_move(reterr, &e);
        if (aside) {
                hd_log_error("checkpoint unreadable; rebuilding it from the CDI specs", "err",
                             hd_error_message(&e), "movedTo", aside);
                rebuild_from_specs(d);
        }
        hd_error_done(&e);

        _cleanup_free_ char *boot = kp_checkpoint_boot_id();
        if (d->ckpt->boot_id && boot && !hd_streq(d->ckpt->boot_id, boot))
                hd_log_info("node rebooted since the checkpoint was written", "previous",
                            d->ckpt->boot_id, "now", boot);
        free(d->ckpt->boot_id);
        d->ckpt->boot_id = TAKE_PTR(boot);

        /* Work on a copy of the entries: repairs change the checkpoint. */
        size_t n = d->ckpt->n_claims;
        struct kp_ckpt_claim *snap = hd_new0(struct kp_ckpt_claim, n ? n : 1);
        for (size_t i = 0; i < n; i++)
                kp_ckpt_claim_copy(&snap[i], &d->ckpt->claims[i]);

        for (size_t i = 0; i < n; i++) {
                struct dm_prepared_claim *c = &snap[i].prepared;
                if (snap[i].state == KP_PREPARE_STARTED) {
                        /* Only once its spec is gone may the entry go: until then it keeps
                         * reserving its devices, and the next start (or the kubelet's
                         * unprepare) tries again. */
                        hd_log_info("undoing interrupted prepare", "claim", c->uid);
                        if (dm_unprepare_claim(d->driver, c->uid, d->cdi_root, &e) < 0)
                                hd_log_error("cannot undo interrupted prepare; keeping its entry",
                                             "claim", c->uid, "err", hd_error_message(&e));
                        else
                                kp_checkpoint_remove(d->ckpt, c->uid);
                        hd_error_done(&e);
                        continue;
                }
                /* Whether the API server still has the claim is checked later, in the
                 * background (kubeletplugin/sweep.c), once the DRA socket is served. */
                if (c->spec_file && !spec_exists(d, c->spec_file)) {
                        if (build(d, c, &e) < 0) /* same names, same env */
                                hd_log_error("cannot restore CDI spec of prepared claim", "claim",
                                             c->uid, "err", hd_error_message(&e));
                        else
                                hd_log_info("restored missing CDI spec", "claim", c->uid, "file",
                                            c->spec_file);
                        hd_error_done(&e);
                }
        }
        for (size_t i = 0; i < n; i++)
                kp_ckpt_claim_done(&snap[i]);
        free(snap);

        /* A checkpoint that cannot be saved now (a full or read-only disk) must not stop the
         * daemon: the repaired entries are in memory and every later prepare or unprepare
         * saves the whole checkpoint again, failing per claim until the disk has room. */
        pthread_mutex_lock(&d->lock);
        r = save_locked(d, &e);
        pthread_mutex_unlock(&d->lock);
        if (r < 0)
                hd_log_error("cannot save the checkpoint at start; serving anyway", "path",
                             d->checkpoint_path, "errno", strerror(-r), "err",
                             hd_error_message(&e));
        hd_error_done(&e);
        (void)reterr;
        return 0;
}
