/* SPDX-License-Identifier: Apache-2.0 */
/* Paged lists and streamed watches. Watch bodies are NDJSON: events may be split across curl
 * chunks and several may share one chunk, so lines are assembled incrementally. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

#define LIST_MAX_PAGES 100000
#define WATCH_DEFAULT_TIMEOUT_S 300

/* ---- NDJSON -------------------------------------------------------------------------------- */

void kube_ndjson_init(struct kube_ndjson *p, size_t max_line)
{
        *p = (struct kube_ndjson){.partial = HD_STRBUF_INIT, .max_line = max_line};
}

void kube_ndjson_done(struct kube_ndjson *p)
{
        hd_strbuf_done(&p->partial);
}

static int parse_line(struct kube_ndjson *p, const char *line, size_t n, kube_ndjson_cb cb,
                      void *userdata, struct hd_error *reterr)
{
        size_t i = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
                i++;
        if (i == n)
                return 0;
        p->lines++;
        json_error_t jerr;
        _cleanup_json_ json_t *v = json_loadb(line, n, 0, &jerr);
        if (!v)
                return hd_error_setf(reterr, EBADMSG, "watch stream line %zu: %s", p->lines,
                                     jerr.text);
        return cb(v, userdata);
}

int kube_ndjson_feed(struct kube_ndjson *p, const char *data, size_t len, kube_ndjson_cb cb,
                     void *userdata, struct hd_error *reterr)
{
        size_t off = 0;
        int r;

        while (off < len) {
                const char *nl = memchr(data + off, '\n', len - off);
                size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
                if (p->partial.len + n > p->max_line)
                        return hd_error_setf(reterr, EFBIG,
                                             "watch stream line %zu longer than %zu bytes",
                                             p->lines + 1, p->max_line);
                if (!nl) {
                        hd_strbuf_append(&p->partial, data + off, n);
                        return 0;
                }
                if (p->partial.len > 0) {
                        hd_strbuf_append(&p->partial, data + off, n);
                        r = parse_line(p, p->partial.buf, p->partial.len, cb, userdata, reterr);
                        p->partial.len = 0;
                        p->partial.buf[0] = '\0';
                } else {
                        r = parse_line(p, data + off, n, cb, userdata, reterr);
                }
                if (r < 0)
                        return r;
                off += n + 1;
        }
        return 0;
}

int kube_ndjson_finish(struct kube_ndjson *p, kube_ndjson_cb cb, void *userdata,
                       struct hd_error *reterr)
{
        if (p->partial.len == 0)
                return 0;
        int r = parse_line(p, p->partial.buf, p->partial.len, cb, userdata, reterr);
        p->partial.len = 0;
        p->partial.buf[0] = '\0';
        return r;
}

static const char *const event_names[] = {
        [KUBE_EVENT_ADDED] = "ADDED",     [KUBE_EVENT_MODIFIED] = "MODIFIED",
        [KUBE_EVENT_DELETED] = "DELETED", [KUBE_EVENT_BOOKMARK] = "BOOKMARK",
        [KUBE_EVENT_ERROR] = "ERROR",
};

const char *kube_event_type_to_string(enum kube_event_type t)
{
        return (unsigned)t < HD_ARRAY_SIZE(event_names) ? event_names[t] : "UNKNOWN";
}

int kube_watch_event_decode(json_t *ev, enum kube_event_type *ret_type, json_t **ret_object,
                            struct hd_error *reterr)
{
        const char *type = NULL;
        json_t *obj = NULL;
        int r;

        r = hd_json_get_string(ev, "type", true, &type, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "watch event");
        r = hd_json_get_object(ev, "object", true, &obj, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "watch event %s", type);
        for (size_t i = 0; i < HD_ARRAY_SIZE(event_names); i++)
                if (strcmp(type, event_names[i]) == 0) {
                        *ret_type = (enum kube_event_type)i;
                        *ret_object = obj;
                        return 0;
                }
        return hd_error_setf(reterr, EBADMSG, "watch event: unknown type \"%s\"", type);
}

/* ---- list ---------------------------------------------------------------------------------- */

static int list_path(const struct kube_resource *res, const char *ns,
                     const struct kube_list_options *o, char **ret_path, struct hd_error *reterr)
{
        char *p = NULL;
        int r = kube_path(res, ns, NULL, NULL, &p, reterr);
        if (r < 0)
                return r;
        if (o->label_selector && *o->label_selector)
                kube_path_add_query(&p, "labelSelector", o->label_selector);
        if (o->field_selector && *o->field_selector)
                kube_path_add_query(&p, "fieldSelector", o->field_selector);
        *ret_path = p;
        return 0;
}

/* List items come without kind/apiVersion (the list carries them); fill them in so listed and
 * watched objects look the same to callers. */
static void fill_item_kinds(json_t *list, json_t *items)
{
        const char *list_kind = NULL, *api_version = NULL;
        hd_json_get_string(list, "kind", false, &list_kind, NULL);
        hd_json_get_string(list, "apiVersion", false, &api_version, NULL);
        if (!list_kind || !hd_endswith(list_kind, "List") || !api_version)
                return;
        _cleanup_free_ char *kind = hd_strndup(list_kind, strlen(list_kind) - 4);
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
                if (!json_is_object(item))
                        continue;
                if (!json_object_get(item, "kind"))
                        json_object_set_new(item, "kind", json_string(kind));
                if (!json_object_get(item, "apiVersion"))
                        json_object_set_new(item, "apiVersion", json_string(api_version));
        }
}

int kube_list(struct kube_client *c, const struct kube_resource *res, const char *ns,
              const struct kube_list_options *opts, struct kube_cancel *cancel, json_t **ret_items,
              char **ret_resource_version, struct hd_error *reterr)
{
        static const struct kube_list_options none = {0};
        const struct kube_list_options *o = opts ? opts : &none;
        _cleanup_json_ json_t *items = json_array();
        _cleanup_free_ char *cont = NULL;
        _cleanup_free_ char *rv = NULL;
        unsigned limit = o->limit;
        bool restarted = false;
        int r;

        for (size_t page = 0;; page++) {
                if (page >= LIST_MAX_PAGES)
                        return hd_error_setf(reterr, EFBIG, "list %s: more than %d pages",
                                             res->resource, LIST_MAX_PAGES);
                _cleanup_free_ char *path = NULL;
                r = list_path(res, ns, o, &path, reterr);
                if (r < 0)
                        return r;
                _cleanup_json_ json_t *body = NULL;
                if (limit > 0) {
                        char buf[16];
                        snprintf(buf, sizeof(buf), "%u", limit);
                        kube_path_add_query(&path, "limit", buf);
                }
                if (cont)
                        kube_path_add_query(&path, "continue", cont);
                else if (o->resource_version)
                        kube_path_add_query(&path, "resourceVersion", o->resource_version);

                struct hd_error err = HD_ERROR_INIT;
                r = kube_request_cancellable(c, "GET", path, NULL, NULL, cancel, &body, &err);
                if (r < 0 && !(r == -EIDRM && cont && !restarted))
                        return hd_error_move(reterr, &err);
                hd_error_done(&err);
                if (r == -EIDRM) {
                        /* The continue token expired (compaction): start over in one piece. */
                        restarted = true;
                        limit = 0;
                        free(cont);
                        cont = NULL;
                        json_array_clear(items);
                        page = (size_t)-1;
                        continue;
                }

                json_t *page_items = NULL;
                const char *page_rv = NULL, *page_cont = NULL;
                if (hd_json_get_array(body, "items", false, &page_items, reterr) < 0 ||
                    hd_json_get_string(body, "metadata.resourceVersion", false, &page_rv, reterr) <
                            0 ||
                    hd_json_get_string(body, "metadata.continue", false, &page_cont, reterr) < 0)
                        return hd_error_wrap(reterr, "list %s", path);
                if (page_items) {
                        fill_item_kinds(body, page_items);
                        json_array_extend(items, page_items);
                }
                free(rv);
                rv = hd_strdup(page_rv);
                free(cont);
                cont = page_cont && *page_cont ? hd_strdup(page_cont) : NULL;
                if (!cont)
                        break;
        }
        size_t n = json_array_size(items);
        *ret_items = TAKE_PTR(items);
        if (ret_resource_version)
                *ret_resource_version = TAKE_PTR(rv);
        return (int)(n > 0x7fffffff ? 0x7fffffff : n);
}

/* ---- watch --------------------------------------------------------------------------------- */

struct watch_ctx {
        struct kube_ndjson nd;
        struct kube_call *call;
        kube_watch_event_cb cb;
        void *userdata;
        struct hd_error *reterr;
        const char *path;
};

static int watch_line_cb(json_t *value, void *userdata)
{
        struct watch_ctx *w = userdata;
        enum kube_event_type type;
        json_t *obj = NULL;
        int r;

        r = kube_watch_event_decode(value, &type, &obj, w->reterr);
        if (r < 0)
                return r;
        r = w->cb(type, obj, w->userdata);
        if (r < 0)
                return r;
        if (type == KUBE_EVENT_ERROR) {
                struct kube_status st = {0};
                int code = 500;
                if (kube_status_decode(obj, &st, NULL) >= 0 && st.code > 0)
                        code = st.code;
                /* Same shape as a failed request: "GET /apis/...: 410 Expired: too old ..." */
                r = hd_error_setf(w->reterr, kube_http_errno(code), "GET %.*s: %d %s: %s",
                                  (int)strcspn(w->path, "?"), w->path, code,
                                  st.reason ? st.reason : "", st.message ? st.message : "");
                if (w->reterr)
                        w->reterr->http_status = code;
                kube_status_done(&st);
                return r;
        }
        return 0;
}

static bool watch_stream_cb(const char *data, size_t len, void *userdata)
{
        struct watch_ctx *w = userdata;
        int r = kube_ndjson_feed(&w->nd, data, len, watch_line_cb, w, w->reterr);
        if (r < 0) {
                w->call->stream_result = r;
                return false;
        }
        return true;
}

int kube_watch(struct kube_client *c, const struct kube_resource *res, const char *ns,
               const struct kube_list_options *opts, struct kube_cancel *cancel,
               kube_watch_event_cb event_cb, void *userdata, struct hd_error *reterr)
{
        static const struct kube_list_options none = {0};
        const struct kube_list_options *o = opts ? opts : &none;
        int timeout = o->timeout_seconds > 0 ? o->timeout_seconds : WATCH_DEFAULT_TIMEOUT_S;
        _cleanup_free_ char *path = NULL;
        char buf[16];
        int ret;

        ret = list_path(res, ns, o, &path, reterr);
        if (ret < 0)
                return ret;

        kube_path_add_query(&path, "watch", "true");
        if (o->resource_version && *o->resource_version)
                kube_path_add_query(&path, "resourceVersion", o->resource_version);
        if (o->allow_bookmarks)
                kube_path_add_query(&path, "allowWatchBookmarks", "true");
        snprintf(buf, sizeof(buf), "%d", timeout);
        kube_path_add_query(&path, "timeoutSeconds", buf);

        struct kube_call call = {
                .method = "GET",
                .path = path,
                .timeout_ms = ((long)timeout + 30) * 1000,
                .no_retry = true,
                .cancel = cancel,
                .stream_cb = watch_stream_cb,
        };
        struct watch_ctx w = {
                .call = &call,
                .cb = event_cb,
                .userdata = userdata,
                .reterr = reterr,
                .path = path,
        };
        kube_ndjson_init(&w.nd, kube_client_max_body(c));
        call.stream_userdata = &w;

        ret = kube_call_run(c, &call, reterr);
        if (ret >= 0)
                ret = kube_ndjson_finish(&w.nd, watch_line_cb, &w, reterr);
        kube_ndjson_done(&w.nd);
        kube_call_done(&call);
        return ret < 0 ? ret : 0;
}
