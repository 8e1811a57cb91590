/* SPDX-License-Identifier: Apache-2.0 */
/* JSON requests on top of kube_call_run(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

int kube_request_cancellable(struct kube_client *c, const char *method, const char *path,
                             const char *content_type, json_t *body, struct kube_cancel *cancel,
                             json_t **ret_body, struct hd_error *reterr)
{
        _cleanup_free_ char *data = NULL;
        struct kube_call call = {
                .method = method,
                .path = path,
                .content_type = content_type,
                .cancel = cancel,
        };
        int r;

        if (body) {
                data = json_dumps(body, JSON_COMPACT);
                if (!data)
                        return hd_error_setf(reterr, EINVAL, "%s %s: cannot serialise the body",
                                             method, path);
                call.body = data;
                call.body_len = strlen(data);
        }
        r = kube_call_run(c, &call, reterr);
        if (r < 0) {
                kube_call_done(&call);
                return r;
        }
        if (ret_body) {
                json_t *j;
                if (call.response.len == 0) {
                        j = json_null();
                } else {
                        json_error_t jerr;
                        j = json_loadb(call.response.buf, call.response.len, 0, &jerr);
                        if (!j) {
                                r = hd_error_setf(reterr, EBADMSG,
                                                  "%s %s: %d response is not JSON: %s", method,
                                                  path, r, jerr.text);
                                kube_call_done(&call);
                                return r;
                        }
                }
                *ret_body = j;
        }
        kube_call_done(&call);
        return r;
}

int kube_request(struct kube_client *c, const char *method, const char *path,
                 const char *content_type, json_t *body, json_t **ret_body, struct hd_error *reterr)
{
        return kube_request_cancellable(c, method, path, content_type, body, NULL, ret_body,
                                        reterr);
}

int kube_get(struct kube_client *c, const char *path, json_t **ret_obj, struct hd_error *reterr)
{
        return kube_request(c, "GET", path, NULL, NULL, ret_obj, reterr);
}

int kube_create(struct kube_client *c, const char *path, json_t *obj, json_t **ret_obj,
                struct hd_error *reterr)
{
        return kube_request(c, "POST", path, NULL, obj, ret_obj, reterr);
}

int kube_update(struct kube_client *c, const char *path, json_t *obj, json_t **ret_obj,
                struct hd_error *reterr)
{
        return kube_request(c, "PUT", path, NULL, obj, ret_obj, reterr);
}

int kube_patch(struct kube_client *c, const char *path, enum kube_patch_type type, json_t *patch,
               json_t **ret_obj, struct hd_error *reterr)
{
        static const char *const types[] = {
                [KUBE_PATCH_MERGE] = "application/merge-patch+json",
                [KUBE_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
                [KUBE_PATCH_JSON] = "application/json-patch+json",
                [KUBE_PATCH_APPLY] = "application/apply-patch+yaml",
        };
        if ((unsigned)type >= HD_ARRAY_SIZE(types))
                return hd_error_setf(reterr, EINVAL, "PATCH %s: unknown patch type %d", path,
                                     (int)type);
        return kube_request(c, "PATCH", path, types[type], patch, ret_obj, reterr);
}

int kube_delete(struct kube_client *c, const char *path, json_t *options, json_t **ret_obj,
                struct hd_error *reterr)
{
        return kube_request(c, "DELETE", path, NULL, options, ret_obj, reterr);
}
