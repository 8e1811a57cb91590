/* SPDX-License-Identifier: Apache-2.0 */
/* ObjectMeta and Status, decoded with base/jsonfield.h's field tables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonfield.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube.h"

/* ---- ObjectMeta ---------------------------------------------------------------------------- */

#define OREF(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct kube_owner_reference, member, path, __VA_ARGS__)
static const struct hd_json_field owner_fields[] = {
        OREF(HD_JSON_STRING, api_version, "apiVersion", .required = true),
        OREF(HD_JSON_STRING, kind, "kind", .required = true),
        OREF(HD_JSON_STRING, name, "name", .required = true),
        OREF(HD_JSON_STRING, uid, "uid", .required = true),
        OREF(HD_JSON_BOOL, controller, "controller"),
        OREF(HD_JSON_BOOL, block_owner_deletion, "blockOwnerDeletion"),
};
#undef OREF
static const struct hd_json_table owner_table =
        HD_JSON_TABLE(struct kube_owner_reference, owner_fields);

#define META(jtype, member, path, ...) \
        HD_JSON_FIELD(jtype, struct kube_object_meta, member, path, __VA_ARGS__)
static const struct hd_json_field meta_fields[] = {
        META(HD_JSON_STRING, name, "metadata.name"),
        META(HD_JSON_STRING, namespace, "metadata.namespace"),
        META(HD_JSON_STRING, uid, "metadata.uid"),
        META(HD_JSON_STRING, resource_version, "metadata.resourceVersion"),
        META(HD_JSON_STRING, generate_name, "metadata.generateName"),
        META(HD_JSON_STRING, creation_timestamp, "metadata.creationTimestamp"),
        META(HD_JSON_STRING, deletion_timestamp, "metadata.deletionTimestamp"),
        META(HD_JSON_INT, generation, "metadata.generation"),
        META(HD_JSON_STRMAP, labels, "metadata.labels"),
        META(HD_JSON_STRMAP, annotations, "metadata.annotations"),
        META(HD_JSON_STRV, finalizers, "metadata.finalizers"),
        META(HD_JSON_LIST, owner_references, "metadata.ownerReferences", .sub = &owner_table,
             HD_JSON_COUNT(struct kube_object_meta, n_owner_references)),
};
#undef META
static const struct hd_json_table meta_table = HD_JSON_TABLE(struct kube_object_meta, meta_fields);

void kube_object_meta_done(struct kube_object_meta *m)
{
        hd_json_decode_done(&meta_table, m);
}

int kube_object_meta_decode(json_t *obj, struct kube_object_meta *ret, struct hd_error *reterr)
{
        *ret = (struct kube_object_meta){0};
        int r = hd_json_decode(obj, &meta_table, ret, NULL, reterr);
        if (r < 0)
                kube_object_meta_done(ret);
        return r;
}

const char *kube_strmap_get(char *const *map, const char *key)
{
        for (char *const *p = map; p && p[0] && p[1]; p += 2)
                if (strcmp(p[0], key) == 0)
                        return p[1];
        return NULL;
}

const char *kube_object_meta_label(const struct kube_object_meta *m, const char *key)
{
        return kube_strmap_get(m->labels, key);
}

/* ---- Status -------------------------------------------------------------------------------- */

#define ST(jtype, member, path) HD_JSON_FIELD(jtype, struct kube_status, member, path)
static const struct hd_json_field status_fields[] = {
        ST(HD_JSON_STRING, status, "status"),
        ST(HD_JSON_STRING, reason, "reason"),
        ST(HD_JSON_STRING, message, "message"),
        ST(HD_JSON_INT, retry_after_seconds, "details.retryAfterSeconds"),
};
#undef ST
static const struct hd_json_table status_table = HD_JSON_TABLE(struct kube_status, status_fields);

int kube_status_decode(json_t *obj, struct kube_status *ret, struct hd_error *reterr)
{
        int64_t code = 0;
        int r;

        *ret = (struct kube_status){0};
        r = hd_json_get_int(obj, "code", false, &code, reterr);
        if (r >= 0)
                r = hd_json_decode(obj, &status_table, ret, NULL, reterr);
        if (r < 0) {
                kube_status_done(ret);
                return hd_error_wrap_r(reterr, r, "Status");
        }
        ret->code = (int)code;
        return 0;
}

void kube_status_done(struct kube_status *s)
{
        if (!s)
                return;
        hd_json_decode_done(&status_table, s);
        s->code = 0;
}
