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
#include "kubeletplugin/opaque.h"
#include "devmodel/prepare.h"

struct busy_claim {
        char *uid;
        struct busy_claim *next;
};

struct kp_driver {
        char *driver, *node, *cdi_root, *checkpoint_path;
        kp_claim_fetch_cb fetch;
        void *fetch_userdata;
        const struct dm_config *config;

        pthread_rwlock_t inv_lock; /* readers: prepares; writer: inventory swap */
        struct dm_inventory *inv;

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
        d->config = config;
        d->inv = inv;
        pthread_rwlock_init(&d->inv_lock, NULL);
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->busy_cond, NULL);
        pthread_cond_init(&d->commit_cond, NULL);
        return d;
}

struct kp_driver *kp_driver_free(struct kp_driver *d)
{
        if (!d)
                return NULL;
        dm_inventory_free(d->inv);
        kp_checkpoint_free(d->ckpt);
        pthread_cond_destroy(&d->busy_cond);
        pthread_cond_destroy(&d->commit_cond);
        pthread_mutex_destroy(&d->lock);
        pthread_rwlock_destroy(&d->inv_lock);
        free(d->driver);
        free(d->node);
        free(d->cdi_root);
        free(d->checkpoint_path);
        free(d);
        return NULL;
}

void kp_driver_set_inventory(struct kp_driver *d, struct dm_inventory *inv)
{
        pthread_rwlock_wrlock(&d->inv_lock);
        struct dm_inventory *old = d->inv;
        d->inv = inv;
        pthread_rwlock_unlock(&d->inv_lock);
        dm_inventory_free(old);
}

void kp_driver_with_inventory(struct kp_driver *d,
                              void (*fn)(const struct dm_inventory *inv, void *userdata),
                              void *userdata)
{
        pthread_rwlock_rdlock(&d->inv_lock);
        fn(d->inv, userdata);
        pthread_rwlock_unlock(&d->inv_lock);
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
                json_t *doc = kp_checkpoint_to_json(d->ckpt);
                char *text = json_dumps(doc, JSON_INDENT(2));
                json_decref(doc);
                pthread_mutex_unlock(&d->lock);
                int r = hd_atomic_write(d->checkpoint_path, text, strlen(text), 0600, reterr);
                free(text);
                pthread_mutex_lock(&d->lock);
                d->saving = false;
                pthread_cond_broadcast(&d->commit_cond);
                if (r < 0)
                        return hd_error_wrap_r(reterr, r, "write checkpoint");
                if (gen > d->saved_gen)
                        d->saved_gen = gen;
        }
        return 0;
}

/* --- prepare ------------------------------------------------------------------------------ */

static bool result_is_ours(const struct kp_driver *d, const struct dm_claim_result *res)
{
        return hd_streq(res->driver, d->driver) && hd_streq(res->pool, d->node);
}

/* Which other claim already holds DEVICE? Call with d->lock held. */
static const struct kp_ckpt_claim *holder_locked(struct kp_driver *d, const char *uid,
                                                 const char *device)
{
        for (size_t i = 0; i < d->ckpt->n_claims; i++) {
                const struct kp_ckpt_claim *c = &d->ckpt->claims[i];
                if (hd_streq(c->uid, uid))
                        continue;
                for (size_t k = 0; k < c->n_devices; k++)
                        if (hd_streq(c->devices[k].device, device))
                                return c;
        }
        return NULL;
}

/* A checkpoint entry for CLAIM's results that are ours (without CDI IDs yet). */
static void entry_from_claim(struct kp_driver *d, const struct dm_claim *claim,
                             const struct kp_claim_ref *ref, char ***env, struct kp_ckpt_claim *e)
{
        e->uid = hd_strdup(ref->uid);
        e->namespace = hd_strdup(ref->namespace);
        e->name = hd_strdup(ref->name);
        e->state = KP_PREPARE_STARTED;
        e->devices = hd_new0(struct kp_ckpt_device, claim->n_results);
        for (size_t i = 0; i < claim->n_results; i++) {
                const struct dm_claim_result *res = &claim->results[i];
                if (!result_is_ours(d, res))
                        continue;
                struct kp_ckpt_device *dev = &e->devices[e->n_devices++];
                dev->request = hd_strdup(res->request);
                dev->pool = hd_strdup(res->pool);
                dev->device = hd_strdup(res->device);
                dev->share_id = hd_strdup(res->share_id);
                for (size_t k = 0; env && env[i] && env[i][k]; k++)
                        hd_strv_push(&dev->env, env[i][k]);
        }
}

/* Fetch and decode the claim, checking it is the one the kubelet means and is allocated. */
static int fetch_claim(struct kp_driver *d, const struct kp_claim_ref *ref, struct dm_claim **ret,
                       struct hd_error *reterr)
{
        if (!d->fetch)
                return hd_error_setf(reterr, ENOTCONN, "no API server connection configured");
        _cleanup_json_ json_t *obj = NULL;
        int r = d->fetch(d->fetch_userdata, ref->namespace, ref->name, &obj, reterr);
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

static int copy_devices_out(struct dm_prepare_result *res, struct kp_ckpt_claim *e)
{
        /* dm_prepare_claim lists our results in claim order, as entry_from_claim did; match
         * them by device name and request to be safe. */
        for (size_t i = 0; i < e->n_devices; i++) {
                struct kp_ckpt_device *dev = &e->devices[i];
                for (size_t k = 0; k < res->n_devices; k++)
                        if (hd_streq(res->devices[k].device, dev->device) &&
                            hd_streq(res->devices[k].request, dev->request) &&
                            !hd_strv_contains(dev->cdi_ids, res->devices[k].cdi_id)) {
                                hd_strv_push(&dev->cdi_ids, res->devices[k].cdi_id);
                                break;
                        }
                if (!dev->cdi_ids)
                        return -ENODEV;
        }
        return 0;
}

int kp_driver_prepare(struct kp_driver *d, const struct kp_claim_ref *ref,
                      struct kp_ckpt_claim *ret, struct hd_error *reterr)
{
        int r = cdi_validate_claim_uid(ref->uid, reterr);
        if (r < 0)
                return r;
        claim_lock(d, ref->uid);

        /* Already prepared: the same answer, nothing rewritten. */
        pthread_mutex_lock(&d->lock);
        struct kp_ckpt_claim *done = kp_checkpoint_find(d->ckpt, ref->uid);
        if (done && done->state == KP_PREPARE_COMPLETED) {
                kp_ckpt_claim_copy(ret, done);
                pthread_mutex_unlock(&d->lock);
                claim_unlock(d, ref->uid);
                return 0;
        }
        pthread_mutex_unlock(&d->lock);

        struct dm_claim *claim = NULL;
        char ***env = NULL;
        struct kp_ckpt_claim entry = {0};
        struct dm_prepare_result res = {0};
        bool reserved = false;

        r = fetch_claim(d, ref, &claim, reterr);
        if (r < 0)
                goto out;
        hd_failpoint("prepare-after-get");
        r = kp_opaque_env(claim, d->driver, &env, reterr);
        if (r < 0)
                goto out;

        pthread_rwlock_rdlock(&d->inv_lock);

        /* Reserve: check nobody else holds our devices and record PrepareStarted in one step. */
        pthread_mutex_lock(&d->lock);
        entry_from_claim(d, claim, ref, env, &entry);
        for (size_t i = 0; i < entry.n_devices && r >= 0; i++) {
                const struct kp_ckpt_claim *h = holder_locked(d, ref->uid, entry.devices[i].device);
                if (h)
                        r = hd_error_setf(reterr, EBUSY,
                                          "device '%s' is already in use by ResourceClaim %s/%s "
                                          "(uid %s)",
                                          entry.devices[i].device,
                                          h->namespace ? h->namespace : "?",
                                          h->name ? h->name : "?", h->uid);
        }
        if (r >= 0) {
                struct kp_ckpt_claim started = {0};
                kp_ckpt_claim_copy(&started, &entry);
                kp_checkpoint_put(d->ckpt, &started);
                reserved = true;
                r = save_locked(d, reterr);
        }
        pthread_mutex_unlock(&d->lock);

        if (r >= 0) {
                hd_failpoint("prepare-after-started");
                struct dm_prepare_params p = {
                        .driver = d->driver,
                        .pool = d->node,
                        .cdi_root = d->cdi_root,
                        .result_env = (char **const *)env,
                };
                r = dm_prepare_claim(d->inv, claim, &p, &res, reterr);
        }
        pthread_rwlock_unlock(&d->inv_lock);
        if (r < 0)
                goto out;
        hd_failpoint("prepare-after-spec");

        if (copy_devices_out(&res, &entry) < 0) {
                r = hd_error_setf(reterr, EPROTO, "prepared devices do not match the allocation");
                goto out;
        }
        entry.spec_file = hd_strdup(res.spec_file);
        entry.state = KP_PREPARE_COMPLETED;
        pthread_mutex_lock(&d->lock);
        struct kp_ckpt_claim completed = {0};
        kp_ckpt_claim_copy(&completed, &entry);
        kp_checkpoint_put(d->ckpt, &completed);
        r = save_locked(d, reterr);
        pthread_mutex_unlock(&d->lock);
        if (r >= 0) {
                hd_failpoint("prepare-after-completed");
                *ret = entry;
                memset(&entry, 0, sizeof(entry));
        }

out:
        if (r < 0 && reserved) {
                /* Roll back in reverse: spec (if written), then the reservation. */
                struct hd_error undo = HD_ERROR_INIT;
                if (dm_unprepare_claim(d->driver, ref->uid, d->cdi_root, &undo) < 0)
                        hd_log_error("rollback: cannot remove CDI spec", "claim", ref->uid, "err",
                                     hd_error_message(&undo));
                pthread_mutex_lock(&d->lock);
                kp_checkpoint_remove(d->ckpt, ref->uid);
                if (save_locked(d, &undo) < 0)
                        hd_log_error("rollback: cannot write checkpoint", "claim", ref->uid, "err",
                                     hd_error_message(&undo));
                pthread_mutex_unlock(&d->lock);
                hd_error_done(&undo);
        }
        dm_prepare_result_done(&res);
        kp_ckpt_claim_done(&entry);
        if (claim)
                kp_opaque_env_free(env, claim->n_results);
        dm_claim_free(claim);
        claim_unlock(d, ref->uid);
        return r;
}

int kp_driver_unprepare(struct kp_driver *d, const struct kp_claim_ref *ref,
                        struct hd_error *reterr)
{
        int r = cdi_validate_claim_uid(ref->uid, reterr);
        if (r < 0)
                return r;
        claim_lock(d, ref->uid);
        r = dm_unprepare_claim(d->driver, ref->uid, d->cdi_root, reterr);
        if (r >= 0) {
                hd_failpoint("unprepare-after-spec-removed");
                pthread_mutex_lock(&d->lock);
                if (kp_checkpoint_remove(d->ckpt, ref->uid))
                        r = save_locked(d, reterr);
                pthread_mutex_unlock(&d->lock);
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
                struct kp_ckpt_claim c = {.uid = hd_strdup(uid),
                                          .state = KP_PREPARE_COMPLETED,
                                          .spec_file = hd_strdup(file)};
                c.devices = hd_new0(struct kp_ckpt_device, spec->n_devices);
                size_t uid_len = strlen(uid);
                for (size_t k = 0; k < spec->n_devices; k++) {
                        const char *dn = spec->devices[k]->name;
                        if (strncmp(dn, uid, uid_len) != 0 || dn[uid_len] != '-')
                                continue;
                        struct kp_ckpt_device *dev = &c.devices[c.n_devices++];
                        dev->device = hd_strdup(dn + uid_len + 1);
                        dev->pool = hd_strdup(d->node);
                        dev->request = hd_strdup("");
                        hd_strv_consume(&dev->cdi_ids, cdi_qualified_id(kind, dn));
                }
                cdi_spec_free(spec);
                hd_log_info("recovered prepared claim from its CDI spec", "claim", uid, "devices",
                            HD_INT(c.n_devices));
                kp_checkpoint_put(d->ckpt, &c);
        }
        hd_strv_free(names);
}

/* Rewrite the spec of a completed entry from the inventory (same names, same env). */
static int rewrite_spec(struct kp_driver *d, const struct kp_ckpt_claim *c, struct hd_error *reterr)
{
        struct dm_claim claim = {.uid = c->uid,
                                 .namespace = c->namespace,
                                 .name = c->name,
                                 .allocated = true,
                                 .n_results = c->n_devices};
        claim.results = hd_new0(struct dm_claim_result, c->n_devices ? c->n_devices : 1);
        char ***env = hd_new0(char **, c->n_devices ? c->n_devices : 1);
        for (size_t i = 0; i < c->n_devices; i++) {
                claim.results[i] = (struct dm_claim_result){.request = c->devices[i].request,
                                                            .driver = d->driver,
                                                            .pool = c->devices[i].pool,
                                                            .device = c->devices[i].device,
                                                            .share_id = c->devices[i].share_id};
                env[i] = c->devices[i].env;
        }
        struct dm_prepare_params p = {.driver = d->driver,
                                      .pool = d->node,
                                      .cdi_root = d->cdi_root,
                                      .result_env = (char **const *)env};
        struct dm_prepare_result res = {0};
        pthread_rwlock_rdlock(&d->inv_lock);
        int r = dm_prepare_claim(d->inv, &claim, &p, &res, reterr);
        pthread_rwlock_unlock(&d->inv_lock);
        dm_prepare_result_done(&res);
        free(env);
        free(claim.results);
        return r;
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
        int r = kp_checkpoint_load(d->checkpoint_path, &d->ckpt, &aside, &e);
        if (r < 0)
                return hd_error_move(reterr, &e);
        if (aside) {
                hd_log_error("checkpoint unreadable; rebuilding it from the CDI specs", "err",
                             hd_error_message(&e), "movedTo", aside);
                rebuild_from_specs(d);
        }
        hd_error_done(&e);

        _cleanup_free_ char *boot = kp_boot_id();
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
                struct kp_ckpt_claim *c = &snap[i];
                struct kp_claim_ref ref = {c->namespace, c->name, c->uid};
                if (c->state == KP_PREPARE_STARTED) {
                        hd_log_info("undoing interrupted prepare", "claim", c->uid);
                        dm_unprepare_claim(d->driver, c->uid, d->cdi_root, NULL);
                        kp_checkpoint_remove(d->ckpt, c->uid);
                        continue;
                }
                if (d->fetch && c->namespace && c->name) {
                        _cleanup_json_ json_t *obj = NULL;
                        int fr = d->fetch(d->fetch_userdata, c->namespace, c->name, &obj, &e);
                        const char *uid = json_string_value(
                                json_object_get(json_object_get(obj, "metadata"), "uid"));
                        if (fr == -ENOENT || (fr == 0 && !hd_streq(uid, c->uid))) {
                                hd_log_info("claim is gone from the API server; unpreparing",
                                            "claim", c->uid, "ns", c->namespace, "name", c->name);
                                kp_driver_unprepare(d, &ref, NULL);
                                continue;
                        }
                        if (fr < 0)
                                hd_log_warn("cannot check claim with the API server; keeping it",
                                            "claim", c->uid, "err", hd_error_message(&e));
                        hd_error_done(&e);
                }
                if (c->spec_file && !spec_exists(d, c->spec_file)) {
                        if (rewrite_spec(d, c, &e) < 0)
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

        pthread_mutex_lock(&d->lock);
        r = save_locked(d, reterr);
        pthread_mutex_unlock(&d->lock);
        return r;
}
