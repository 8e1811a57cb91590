/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/checkpoint.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "kube/kube.h"

unsigned long kp_checkpoint_crc32(const void *data, size_t len)
{
        const unsigned char *p = data;
        unsigned long crc = 0xffffffffUL;
        for (size_t i = 0; i < len; i++) {
                crc ^= p[i];
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0xedb88320UL & (0UL - (crc & 1)));
        }
        return crc ^ 0xffffffffUL;
}

const char *kp_checkpoint_state_name(enum kp_claim_state s)
{
        return s == KP_PREPARE_COMPLETED ? "PrepareCompleted" : "PrepareStarted";
}

char *kp_checkpoint_boot_id(void)
{
        char *data = NULL;
        if (hd_read_file("/proc/sys/kernel/random/boot_id", 256, false, &data, NULL, NULL) < 0)
                return NULL;
        data[strcspn(data, " \n")] = '\0';
        return data;
}

void kp_ckpt_claim_done(struct kp_ckpt_claim *c)
{
        if (!c)
                return;
        dm_prepared_claim_done(&c->prepared);
        c->state = KP_PREPARE_STARTED;
}

void kp_ckpt_claim_copy(struct kp_ckpt_claim *dst, const struct kp_ckpt_claim *src)
{
        dst->state = src->state;
        dm_prepared_claim_copy(&dst->prepared, &src->prepared);
}

struct kp_checkpoint *kp_checkpoint_new(const char *boot_id)
{
        struct kp_checkpoint *cp = hd_malloc0(sizeof(*cp));
        cp->boot_id = hd_strdup(boot_id);
        return cp;
}

struct kp_checkpoint *kp_checkpoint_free(struct kp_checkpoint *cp)
{
        if (!cp)
                return NULL;
        for (size_t i = 0; i < cp->n_claims; i++)
                kp_ckpt_claim_done(&cp->claims[i]);
        free(cp->claims);
        free(cp->boot_id);
        free(cp);
        return NULL;
}

struct kp_ckpt_claim *kp_checkpoint_find(struct kp_checkpoint *cp, const char *uid)
{
        for (size_t i = 0; i < cp->n_claims; i++)
                if (hd_streq(cp->claims[i].prepared.uid, uid))
                        return &cp->claims[i];
        return NULL;
}

void kp_checkpoint_put(struct kp_checkpoint *cp, struct kp_ckpt_claim *claim)
{
        struct kp_ckpt_claim *slot = kp_checkpoint_find(cp, claim->prepared.uid);
        if (slot) {
                kp_ckpt_claim_done(slot);
        } else {
                cp->claims = hd_realloc_array(cp->claims, cp->n_claims + 1, sizeof(*cp->claims));
                slot = &cp->claims[cp->n_claims++];
        }
        *slot = *claim;
        memset(claim, 0, sizeof(*claim));
}

bool kp_checkpoint_remove(struct kp_checkpoint *cp, const char *uid)
{
        struct kp_ckpt_claim *slot = kp_checkpoint_find(cp, uid);
        if (!slot)
                return false;
        kp_ckpt_claim_done(slot);
        size_t idx = (size_t)(slot - cp->claims);
        memmove(slot, slot + 1, (cp->n_claims - idx - 1) * sizeof(*slot));
        cp->n_claims--;
        return true;
}

/* --- JSON ----------------------------------------------------------------------------------- */

static json_t *strv_to_json(char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static void set_str(json_t *o, const char *key, const char *value)
{
        if (value)
                json_object_set_new(o, key, json_string(value));
}

static json_t *claim_to_json(const struct kp_ckpt_claim *c)
{
        const struct dm_prepared_claim *rec = &c->prepared;
        json_t *jc = json_object();
        set_str(jc, "uid", rec->uid);
        set_str(jc, "namespace", rec->namespace);
        set_str(jc, "name", rec->name);
        set_str(jc, "state", kp_checkpoint_state_name(c->state));
        set_str(jc, "specFile", rec->spec_file);
        json_t *devs = json_array();
        for (size_t k = 0; k < rec->n_devices; k++) {
                const struct dm_prepared_device *d = &rec->devices[k];
                json_t *jd = json_object();
                set_str(jd, "request", d->request);
                set_str(jd, "pool", d->pool);
                set_str(jd, "device", d->device);
                set_str(jd, "shareID", d->share_id);
                json_object_set_new(jd, "cdiIDs", strv_to_json(d->cdi_ids));
                char *const *env = dm_prepared_device_env(rec, k);
                if (env)
                        json_object_set_new(jd, "env", strv_to_json(env));
                json_array_append_new(devs, jd);
        }
        json_object_set_new(jc, "devices", devs);
        return jc;
}

static json_t *data_to_json(const struct kp_checkpoint *cp)
{
        json_t *claims = json_array();
        for (size_t i = 0; i < cp->n_claims; i++)
                json_array_append_new(claims, claim_to_json(&cp->claims[i]));
        json_t *data = json_object();
        set_str(data, "bootID", cp->boot_id);
        json_object_set_new(data, "claims", claims);
        return data;
}

static char *checksum_of(json_t *data)
{
        _cleanup_free_ char *canon = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        return hd_asprintf("crc32:%08lx", kp_checkpoint_crc32(canon, strlen(canon)));
}

json_t *kp_checkpoint_to_json(const struct kp_checkpoint *cp)
{
        json_t *data = data_to_json(cp);
        _cleanup_free_ char *sum = checksum_of(data);
        json_t *doc = json_object();
        json_object_set_new(doc, "apiVersion", json_string(KP_CHECKPOINT_API_VERSION));
        json_object_set_new(doc, "kind", json_string(KP_CHECKPOINT_KIND));
        json_object_set_new(doc, "checksum", json_string(sum));
        json_object_set_new(doc, "data", data);
        return doc;
}

/* Field tables: absent fields stay NULL, present ones of the wrong type are errors naming the
 * field, unknown fields are ignored (a newer plugin may have added some). */
#define DEV(field, path, type, req)                                         \
        {                                                                   \
                path, type, offsetof(struct dm_prepared_device, field), req \
        }
static const struct kube_field device_fields[] = {
        DEV(request, "request", KUBE_FIELD_STRING, false),
        DEV(pool, "pool", KUBE_FIELD_STRING, false),
        DEV(device, "device", KUBE_FIELD_STRING, true),
        DEV(share_id, "shareID", KUBE_FIELD_STRING, false),
        DEV(cdi_ids, "cdiIDs", KUBE_FIELD_STRING_LIST, false),
        {NULL, 0, 0, false},
};
#undef DEV
static const struct kube_field device_env_field[] = {
        {"env", KUBE_FIELD_STRING_LIST, 0, false},
        {NULL, 0, 0, false},
};

#define CLAIM(field, path, req)                                                         \
        {                                                                               \
                path, KUBE_FIELD_STRING, offsetof(struct dm_prepared_claim, field), req \
        }
static const struct kube_field claim_fields[] = {
        CLAIM(uid, "uid", true),    CLAIM(namespace, "namespace", false),
        CLAIM(name, "name", false), CLAIM(spec_file, "specFile", false),
        {NULL, 0, 0, false},
};
#undef CLAIM

static int claim_from_json(json_t *jc, struct kp_ckpt_claim *c, const char *where,
                           struct hd_error *reterr)
{
        const char *state = NULL;
        json_t *devs = NULL;
        struct dm_prepared_claim *rec = &c->prepared;
        int r = kube_json_decode(jc, claim_fields, rec, reterr);
        if (r >= 0)
                r = kube_json_get_string(jc, "state", true, &state, reterr);
        if (r >= 0)
                r = kube_json_get_array(jc, "devices", false, &devs, reterr);
        if (r < 0)
                return hd_error_wrap_r(reterr, r, "%s", where);
        if (hd_streq(state, "PrepareCompleted"))
                c->state = KP_PREPARE_COMPLETED;
        else if (hd_streq(state, "PrepareStarted"))
                c->state = KP_PREPARE_STARTED;
        else
                return hd_error_setf(reterr, EINVAL, "%s.state: unknown state '%s'", where, state);

        size_t n = json_array_size(devs);
        rec->devices = hd_new0(struct dm_prepared_device, n);
        for (size_t k = 0; k < n; k++) {
                json_t *jd = json_array_get(devs, k);
                char **env = NULL;
                rec->devices[k].env_set = -1;
                r = kube_json_decode(jd, device_fields, &rec->devices[k], reterr);
                rec->n_devices = k + 1; /* so a partial entry is freed too */
                if (r >= 0)
                        r = kube_json_decode(jd, device_env_field, &env, reterr);
                if (r < 0)
                        return hd_error_wrap_r(reterr, r, "%s.devices[%zu]", where, k);
                dm_prepared_claim_set_env(rec, k, env);
                hd_strv_free(env);
        }
        return 0;
}

int kp_checkpoint_from_json(json_t *doc, struct kp_checkpoint **ret, struct hd_error *reterr)
{
        if (!json_is_object(doc))
                return hd_error_setf(reterr, EINVAL, "checkpoint: expected a JSON object");
        const char *api = json_string_value(json_object_get(doc, "apiVersion"));
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        if (!hd_streq(api, KP_CHECKPOINT_API_VERSION) || !hd_streq(kind, KP_CHECKPOINT_KIND))
                return hd_error_setf(reterr, EPROTO,
                                     "checkpoint: unknown apiVersion/kind '%s/%s' (this plugin "
                                     "reads %s %s)",
                                     api ? api : "", kind ? kind : "", KP_CHECKPOINT_API_VERSION,
                                     KP_CHECKPOINT_KIND);
        json_t *data = json_object_get(doc, "data");
        if (!json_is_object(data))
                return hd_error_setf(reterr, EINVAL, "checkpoint: data: expected an object");
        const char *sum = json_string_value(json_object_get(doc, "checksum"));
        _cleanup_free_ char *want = checksum_of(data);
        if (!hd_streq(sum, want))
                return hd_error_setf(reterr, EBADMSG,
                                     "checkpoint: checksum mismatch (file says '%s', content is "
                                     "'%s')",
                                     sum ? sum : "", want);

        struct kp_checkpoint *cp = kp_checkpoint_new(NULL);
        const char *boot = NULL;
        json_t *claims = NULL;
        int r = kube_json_get_string(data, "bootID", false, &boot, reterr);
        if (r >= 0)
                r = kube_json_get_array(data, "claims", false, &claims, reterr);
        if (r < 0)
                r = hd_error_wrap_r(reterr, r, "data");
        else
                r = 0; /* the getters return 1 for "present" */
        cp->boot_id = hd_strdup(boot);
        size_t n = claims ? json_array_size(claims) : 0;
        cp->claims = hd_new0(struct kp_ckpt_claim, n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                _cleanup_free_ char *where = hd_asprintf("data.claims[%zu]", i);
                r = claim_from_json(json_array_get(claims, i), &cp->claims[i], where, reterr);
                cp->n_claims = i + 1; /* so a partial entry is freed too */
        }
        if (r < 0) {
                kp_checkpoint_free(cp);
                return r;
        }
        *ret = cp;
        return 0;
}

int kp_checkpoint_save(const char *path, const struct kp_checkpoint *cp, struct hd_error *reterr)
{
        _cleanup_json_ json_t *doc = kp_checkpoint_to_json(cp);
        _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2));
        return hd_atomic_write(path, text, strlen(text), 0600, reterr);
}

int kp_checkpoint_load(const char *path, struct kp_checkpoint **ret, char **ret_moved_aside,
                       struct hd_error *reterr)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        *ret_moved_aside = NULL;
        struct hd_error rerr = HD_ERROR_INIT;
        int r = hd_read_file(path, KP_CHECKPOINT_MAX_BYTES, true, &text, &len, &rerr);
        if (r == -ENOENT) {
                hd_error_done(&rerr);
                *ret = kp_checkpoint_new(NULL);
                return 0;
        }
        struct hd_error why = HD_ERROR_INIT;
        if (r == -EFBIG) {
                hd_error_move(&why, &rerr);
        } else if (r < 0) {
                return hd_error_move(reterr, &rerr);
        } else {
                json_error_t jerr;
                _cleanup_json_ json_t *doc = json_loadb(text, len, 0, &jerr);
                if (!doc)
                        hd_error_setf(&why, EBADMSG, "checkpoint: not JSON: line %d: %s", jerr.line,
                                      jerr.text);
                else if (kp_checkpoint_from_json(doc, ret, &why) == 0)
                        return 0;
        }

        /* Unreadable: keep the evidence, start empty; the caller rebuilds from CDI specs. */
        _cleanup_free_ char *aside = hd_asprintf("%s.corrupt-%lld", path, (long long)time(NULL));
        if (rename(path, aside) < 0) {
                r = hd_error_set(reterr, errno, "move corrupt checkpoint '%s' aside", path);
                hd_error_done(&why);
                return r;
        }
        hd_error_move(reterr, &why);
        hd_error_wrap(reterr, "checkpoint '%s' moved to '%s'", path, aside);
        *ret_moved_aside = TAKE_PTR(aside);
        *ret = kp_checkpoint_new(NULL);
        return 0;
}
