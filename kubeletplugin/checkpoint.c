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
#include "base/jsonfield.h"
#include "base/strutil.h"

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
                if (d->admin_access)
                        json_object_set_new(jd, "adminAccess", json_true());
                json_object_set_new(jd, "cdiIDs", strv_to_json(d->cdi_ids));
                if (d->env_set >= 0)
                        json_object_set_new(jd, "envSet", json_integer(d->env_set));
                json_array_append_new(devs, jd);
        }
        json_object_set_new(jc, "devices", devs);
        if (rec->n_env_sets) {
                json_t *sets = json_array();
                for (size_t s = 0; s < rec->n_env_sets; s++)
                        json_array_append_new(sets, strv_to_json(rec->env_sets[s]));
                json_object_set_new(jc, "envSets", sets);
        }
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
#define DEV(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct dm_prepared_device, member, path, __VA_ARGS__)
static const struct hd_json_field device_fields[] = {
        DEV(HD_JSON_STRING, request, "request"),
        DEV(HD_JSON_STRING, pool, "pool"),
        DEV(HD_JSON_STRING, device, "device", .required = true),
        DEV(HD_JSON_STRING, share_id, "shareID"),
        DEV(HD_JSON_BOOL, admin_access, "adminAccess"),
        DEV(HD_JSON_STRV, cdi_ids, "cdiIDs"),
};
#undef DEV
static const struct hd_json_table device_table =
        HD_JSON_TABLE(struct dm_prepared_device, device_fields);

/* A device's env: "envSet", an index into the claim's "envSets", or the "env" list older
 * versions wrote on every device. */
struct device_env {
        int64_t set;
        char **env;
};
static const struct hd_json_field env_fields[] = {
        HD_JSON_FIELD(HD_JSON_INT, struct device_env, set, "envSet"),
        HD_JSON_FIELD(HD_JSON_STRV, struct device_env, env, "env"),
};
static const struct hd_json_table env_table = HD_JSON_TABLE(struct device_env, env_fields);

/* Device K's env into REC (whose env sets are decoded already). */
static int device_env_decode(json_t *jd, struct dm_prepared_claim *rec, size_t k, const char *where,
                             struct hd_error *reterr)
{
        struct device_env de = {.set = -1};
        int r = hd_json_decode(jd, &env_table, &de, where, reterr);
        if (r >= 0 && de.env)
                dm_prepared_claim_set_env(rec, k, de.env);
        else if (r >= 0 && (de.set < -1 || de.set >= (int64_t)rec->n_env_sets))
                r = hd_error_setf(reterr, EINVAL, "%s.envSet: %lld is not an index of envSets",
                                  where, (long long)de.set);
        else if (r >= 0)
                rec->devices[k].env_set = (int)de.set;
        hd_strv_free(de.env);
        return r;
}

static int devices_decode_cb(json_t *value, void *slot, const char *path, struct hd_error *reterr)
{
        struct dm_prepared_claim *rec = slot;

        if (!json_is_array(value))
                return hd_error_setf(reterr, EINVAL, "%s: expected an array", path);
        rec->devices = hd_new0(struct dm_prepared_device, json_array_size(value));
        for (size_t k = 0; k < json_array_size(value); k++) {
                _cleanup_free_ char *where = hd_asprintf("%s[%zu]", path, k);
                json_t *jd = json_array_get(value, k);

                rec->devices[k].env_set = -1;
                rec->n_devices = k + 1; /* so a partial entry is freed too */
                int r = hd_json_decode(jd, &device_table, &rec->devices[k], where, reterr);
                if (r >= 0)
                        r = device_env_decode(jd, rec, k, where, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The claim's "envSets": lists of strings, each stored once. */
static int env_sets_decode_cb(json_t *value, void *slot, const char *path, struct hd_error *reterr)
{
        struct dm_prepared_claim *rec = slot;

        if (!json_is_array(value))
                return hd_error_setf(reterr, EINVAL, "%s: expected an array", path);
        rec->env_sets = hd_new0(char **, json_array_size(value));
        for (size_t s = 0; s < json_array_size(value); s++) {
                json_t *set = json_array_get(value, s);
                rec->env_sets[rec->n_env_sets++] = hd_new0(char *, 1);
                if (!json_is_array(set))
                        return hd_error_setf(reterr, EINVAL, "%s[%zu]: expected an array", path, s);
                for (size_t i = 0; i < json_array_size(set); i++) {
                        const char *e = json_string_value(json_array_get(set, i));
                        if (!e)
                                return hd_error_setf(reterr, EINVAL,
                                                     "%s[%zu][%zu]: expected a string", path, s, i);
                        hd_strv_push(&rec->env_sets[s], e);
                }
        }
        return 0;
}

static int state_decode_cb(json_t *value, void *slot, const char *path, struct hd_error *reterr)
{
        const char *state = json_string_value(value);
        if (hd_streq(state, "PrepareCompleted"))
                *(enum kp_claim_state *)slot = KP_PREPARE_COMPLETED;
        else if (hd_streq(state, "PrepareStarted"))
                *(enum kp_claim_state *)slot = KP_PREPARE_STARTED;
        else if (!state)
                return hd_error_setf(reterr, EINVAL, "%s: expected a string", path);
        else
                return hd_error_setf(reterr, EINVAL, "%s: unknown state '%s'", path, state);
        return 0;
}

#define CLAIM(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct kp_ckpt_claim, member, path, __VA_ARGS__)
static const struct hd_json_field claim_fields[] = {
        CLAIM(HD_JSON_STRING, prepared.uid, "uid", .required = true),
        CLAIM(HD_JSON_STRING, prepared.namespace, "namespace"),
        CLAIM(HD_JSON_STRING, prepared.name, "name"),
        CLAIM(HD_JSON_STRING, prepared.spec_file, "specFile"),
        CLAIM(HD_JSON_CUSTOM, state, "state", .required = true, .decode_cb = state_decode_cb),
        /* envSets before devices: the devices name their set by index. */
        CLAIM(HD_JSON_CUSTOM, prepared, "envSets", .decode_cb = env_sets_decode_cb),
        CLAIM(HD_JSON_CUSTOM, prepared, "devices", .decode_cb = devices_decode_cb),
};
#undef CLAIM
static const struct hd_json_table claim_table = HD_JSON_TABLE(struct kp_ckpt_claim, claim_fields);

static const struct hd_json_field data_fields[] = {
        HD_JSON_FIELD(HD_JSON_STRING, struct kp_checkpoint, boot_id, "bootID"),
        HD_JSON_FIELD(HD_JSON_LIST, struct kp_checkpoint, claims, "claims", .sub = &claim_table,
                      HD_JSON_COUNT(struct kp_checkpoint, n_claims)),
};
static const struct hd_json_table data_table = HD_JSON_TABLE(struct kp_checkpoint, data_fields);

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
        int r = hd_json_decode(data, &data_table, cp, "data", reterr);
        if (r < 0) {
                kp_checkpoint_free(cp);
                return r;
        }
        *ret = cp;
        return 0;
}

int kp_checkpoint_dump(const struct kp_checkpoint *cp, char **ret, size_t *ret_len,
                       struct hd_error *reterr)
{
        _cleanup_json_ json_t *doc = kp_checkpoint_to_json(cp);
        char *text = json_dumps(doc, JSON_INDENT(2));
        size_t len = strlen(text);
        if (len > KP_CHECKPOINT_MAX_BYTES) {
                free(text);
                return hd_error_setf(reterr, EFBIG,
                                     "checkpoint would be %zu bytes, more than the %d bytes the "
                                     "plugin reads back (KP_CHECKPOINT_MAX_BYTES)",
                                     len, KP_CHECKPOINT_MAX_BYTES);
        }
        *ret = text;
        *ret_len = len;
        return 0;
}

int kp_checkpoint_save(const char *path, const struct kp_checkpoint *cp, struct hd_error *reterr)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = kp_checkpoint_dump(cp, &text, &len, reterr);
        if (r < 0)
                return r;
        return hd_atomic_write(path, text, len, 0600, reterr);
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
                _cleanup_json_ json_t *doc = NULL;
                if (hd_json_parse(text, len, 0, "checkpoint: not JSON", &doc, &why) == 0 &&
                    kp_checkpoint_from_json(doc, ret, &why) == 0)
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
