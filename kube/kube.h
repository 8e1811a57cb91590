/* SPDX-License-Identifier: Apache-2.0 */
/* kube/ — a generic Kubernetes REST client (libcurl + jansson, kubeconfig via libyaml).
 * It knows nothing of DRA.
 *
 * API summary
 *   Config     kube_config_load(kubeconfig_or_NULL) → struct kube_config (kubeconfig file with
 *              current-context, or in-cluster service account; token files re-read on change).
 *   Client     kube_client_new(cfg, opts) → thread-safe client: a pool of curl handles, TLS always
 *              verified, QPS/burst token bucket, retries with jittered backoff for 429/5xx and
 *              connection failures (Retry-After honoured), never for other 4xx.
 *   Requests   kube_get / kube_create (POST) / kube_update (PUT) / kube_patch / kube_delete and
 *              the general kube_request; paths from kube_path(). JSON in and out.
 *   Errors     every function returns >= 0 or -errno and fills the caller's struct hd_error:
 *              404 -ENOENT, 409 -ESTALE (Conflict and AlreadyExists; kube_error_has_reason()
 *              tells them apart), 401/403 -EACCES, 410 -EIDRM, 400/422 -EINVAL, 429/5xx
 *              -EAGAIN (after retries), refused -ECONNREFUSED, reset -ECONNRESET, timeout
 *              -ETIMEDOUT, TLS verification -EPROTO. reterr->http_status keeps the raw status;
 *              the message reads "GET /apis/...: 404 NotFound: <Status message>".
 *   List/watch kube_list() merges limit/continue pages; kube_watch() streams NDJSON events
 *              until the server ends the stream or a struct kube_cancel fires.
 *   Informer   kube_informer: list + watch on its own thread, resume from the last
 *              resourceVersion, relist on 410, backoff, prompt stop; add/update/delete/synced
 *              callbacks and a local cache keyed "namespace/name".
 *   Discovery  kube_discover_group_version(), kube_discover_resource().
 *   Decoding   kube_object_meta_decode(), kube_status_decode(); other types decode with
 *              base/jsonfield.h (field tables, hd_json_get_*() with dotted paths).
 *
 * JSON ownership: ret_* json values are new references the caller json_decref()s; json_t
 * arguments are borrowed. Informer callbacks get borrowed read-only objects; kube_informer_get()
 * and _list() return deep copies. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jsonfield.h"

struct hd_error;

/* ---- configuration ------------------------------------------------------------------------ */

struct kube_config {
        char *server;  /* "https://host:port", no trailing '/' */
        char *ca_file; /* PEM file, or NULL */
        char *ca_data; /* PEM bytes (decoded certificate-authority-data), or NULL */
        size_t ca_data_len;
        bool insecure_skip_tls_verify; /* only ever true when the kubeconfig says so */
        char *token;                   /* static bearer token, or NULL */
        char *token_file;              /* bearer token re-read when it changes, or NULL */
        char *client_cert_file, *client_cert_data;
        size_t client_cert_data_len;
        char *client_key_file, *client_key_data;
        size_t client_key_data_len;
        char *namespace;       /* context namespace / in-cluster namespace, or NULL */
        char *kubeconfig_path; /* file this came from (re-read on 401), NULL in-cluster */
};

/* Parse kubeconfig PATH using CONTEXT (NULL = current-context). Relative file paths resolve
 * against the kubeconfig's directory. Missing pieces fail with -EINVAL and a message naming the
 * field ("kubeconfig '/x': context \"a\": cluster \"b\" not found"). *ret_config is owned by the
 * caller (kube_config_free). */
int kube_config_load_kubeconfig(const char *path, const char *context,
                                struct kube_config **ret_config, struct hd_error *reterr);

/* In-cluster config: server from KUBERNETES_SERVICE_HOST/PORT, token file and ca.crt (and
 * namespace, optional) from SA_DIR; SA_DIR NULL means $HOSTDEV_SERVICEACCOUNT_DIR, else
 * /var/run/secrets/kubernetes.io/serviceaccount. -ENOENT when not running in a cluster. */
int kube_config_load_incluster(const char *sa_dir, struct kube_config **ret_config,
                               struct hd_error *reterr);

/* KUBECONFIG non-NULL and non-empty → kube_config_load_kubeconfig(KUBECONFIG, NULL), else
 * in-cluster. */
int kube_config_load(const char *kubeconfig, struct kube_config **ret_config,
                     struct hd_error *reterr);

/* Free a config. Takes NULL; returns NULL. */
struct kube_config *kube_config_free(struct kube_config *c);

/* Whether C may be used: an https:// or http:// server, and credentials (token, token file,
 * client certificate) over plain HTTP only to a loopback address — anything else is -EINVAL
 * naming the server. The loaders and kube_client_new() run it. */
int kube_config_check(const struct kube_config *c, struct hd_error *reterr);

/* What a program should log as a warning at every start with C (insecure-skip-tls-verify, plain
 * HTTP): a NULL-terminated strv the caller frees with hd_strv_free(), or NULL when there is
 * nothing to say. The library itself never logs them. */
char **kube_config_warnings(const struct kube_config *c);

/* ---- client ------------------------------------------------------------------------------- */

struct kube_client;

struct kube_client_options {
        const char *user_agent; /* e.g. "hostdev-kubelet-plugin/0.1.0"; NULL = "hostdev/<ver>" */
        double qps;             /* sustained requests per second; 0 = 20; < 0 = unlimited */
        int burst;              /* bucket size; 0 = 2 * qps */
        int timeout_ms;         /* per request (not watches); 0 = 30000 */
        int connect_timeout_ms; /* 0 = 10000 */
        int max_retries;        /* retries after the first attempt; 0 = 5; < 0 = none */
        int backoff_base_ms;    /* first retry delay before jitter; 0 = 200 */
        int backoff_max_ms;     /* cap of one delay (and of Retry-After); 0 = 10000 */
        size_t max_body_bytes;  /* response cap; 0 = 64 MiB */
};

/* Create a client for CFG (copied; the caller keeps CFG). OPTS may be NULL for defaults. The
 * client is safe to use from several threads at once. */
int kube_client_new(const struct kube_config *cfg, const struct kube_client_options *opts,
                    struct kube_client **ret_client, struct hd_error *reterr);

/* Free the client; no request or informer may still use it. Takes NULL; returns NULL. */
struct kube_client *kube_client_free(struct kube_client *c);

/* The namespace of the config's context (in-cluster: the pod's), or NULL. Borrowed. */
const char *kube_client_namespace(const struct kube_client *c);

/* A resource type: group "" is the core group (/api/v1). Plural resource name. */
struct kube_resource {
        const char *group;
        const char *version;
        const char *resource;
};

/* *RET_PATH = "/apis/<group>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]]"
 * (core group: "/api/<version>/..."), a string the caller frees. NS/NAME/SUBRESOURCE may be NULL
 * (absent). NS must be a DNS label; NAME a path segment the API server accepts (not empty, "."
 * or "..", no '/', '%' or control characters, at most 253 bytes; other bytes are
 * percent-escaped); SUBRESOURCE lowercase letters and only with a NAME. Anything else → -EINVAL
 * naming the segment, so no caller can address another object than the one it names. */
int kube_path(const struct kube_resource *r, const char *ns, const char *name,
              const char *subresource, char **ret_path, struct hd_error *reterr);

/* Append "?k=v" or "&k=v" (value percent-escaped) to the malloc'ed *PATH; VALUE NULL = no-op. */
void kube_path_add_query(char **path, const char *key, const char *value);

enum kube_patch_type {
        KUBE_PATCH_MERGE,     /* application/merge-patch+json */
        KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
        KUBE_PATCH_JSON,      /* application/json-patch+json */
        KUBE_PATCH_APPLY,     /* application/apply-patch+yaml (JSON is valid YAML) */
};

/* One request: METHOD ("GET", ...) on PATH (may hold a query) with optional BODY (borrowed,
 * serialised compactly; CONTENT_TYPE NULL = application/json). On 2xx returns the HTTP status
 * and, if RET_BODY is non-NULL, the decoded response (json null for an empty body). Retries per
 * the client options. */
int kube_request(struct kube_client *c, const char *method, const char *path,
                 const char *content_type, json_t *body, json_t **ret_body,
                 struct hd_error *reterr);

/* GET PATH into *RET_OBJ (new reference). */
int kube_get(struct kube_client *c, const char *path, json_t **ret_obj, struct hd_error *reterr);
/* POST OBJ to the collection PATH; *RET_OBJ (may be NULL) gets the created object. */
int kube_create(struct kube_client *c, const char *path, json_t *obj, json_t **ret_obj,
                struct hd_error *reterr);
/* PUT OBJ to PATH (keep metadata.resourceVersion for optimistic concurrency). */
int kube_update(struct kube_client *c, const char *path, json_t *obj, json_t **ret_obj,
                struct hd_error *reterr);
/* PATCH PATH with PATCH of TYPE. For KUBE_PATCH_APPLY add "?fieldManager=..." to PATH. */
int kube_patch(struct kube_client *c, const char *path, enum kube_patch_type type, json_t *patch,
               json_t **ret_obj, struct hd_error *reterr);
/* DELETE PATH with optional DeleteOptions OPTIONS; *RET_OBJ gets the object or Status. */
int kube_delete(struct kube_client *c, const char *path, json_t *options, json_t **ret_obj,
                struct hd_error *reterr);

/* true when ERR came from the API server with Status reason REASON (e.g. "AlreadyExists" vs
 * "Conflict", both -ESTALE), also after hd_error_wrap(). */
bool kube_error_has_reason(const struct hd_error *err, const char *reason);

/* ---- cancellation ------------------------------------------------------------------------- */

/* A cancel token for long calls (watches, lists, retry sleeps): kube_cancel_fire() from any
 * thread makes calls using it return -ECANCELED promptly. One token serves one call at a time. */
struct kube_cancel;
struct kube_cancel *kube_cancel_new(void);
/* Fire (idempotent, thread-safe, async-signal-unsafe). */
void kube_cancel_fire(struct kube_cancel *k);
/* true once fired. */
bool kube_cancel_fired(const struct kube_cancel *k);
/* Free a token no call uses any more. Takes NULL; returns NULL. */
struct kube_cancel *kube_cancel_free(struct kube_cancel *k);

/* ---- list and watch ----------------------------------------------------------------------- */

struct kube_list_options {
        const char *label_selector;   /* NULL = none */
        const char *field_selector;   /* NULL = none */
        unsigned limit;               /* page size; 0 = one unpaged request */
        const char *resource_version; /* list: NULL = most recent; watch: where to start */
        int timeout_seconds;          /* watch: server-side timeoutSeconds; 0 = 300 */
        bool allow_bookmarks;         /* watch: allowWatchBookmarks=true */
};

/* List R in NS (NULL = all namespaces), merging limit/continue pages (a continue token that
 * expires mid-way restarts the list once, unpaged). Items get the kind/apiVersion the server
 * leaves out of list items. *RET_ITEMS: new json array of the objects;
 * *RET_RESOURCE_VERSION (may be NULL): the list's resourceVersion (caller frees). CANCEL may be
 * NULL. */
int kube_list(struct kube_client *c, const struct kube_resource *r, const char *ns,
              const struct kube_list_options *opts, struct kube_cancel *cancel, json_t **ret_items,
              char **ret_resource_version, struct hd_error *reterr);

enum kube_event_type {
        KUBE_EVENT_ADDED,
        KUBE_EVENT_MODIFIED,
        KUBE_EVENT_DELETED,
        KUBE_EVENT_BOOKMARK,
        KUBE_EVENT_ERROR, /* OBJECT is a Status */
};

/* Name of an event type ("ADDED", ...). */
const char *kube_event_type_to_string(enum kube_event_type t);

/* Called once per watch event with a borrowed OBJECT. A negative return ends the watch and is
 * returned by kube_watch(). */
typedef int (*kube_watch_event_cb)(enum kube_event_type type, json_t *object, void *userdata);

/* Watch R in NS from OPTS->resource_version, calling EVENT_CB per event, until the server ends
 * the stream (returns 0), CANCEL fires (-ECANCELED), the callback fails, or an error occurs. An
 * ERROR event is passed to the callback; if the callback returns >= 0 for it, kube_watch()
 * returns the Status as an error (410 Expired → -EIDRM). Not retried. */
int kube_watch(struct kube_client *c, const struct kube_resource *r, const char *ns,
               const struct kube_list_options *opts, struct kube_cancel *cancel,
               kube_watch_event_cb event_cb, void *userdata, struct hd_error *reterr);

/* ---- informer ----------------------------------------------------------------------------- */

struct kube_informer;

/* Callbacks run on the informer thread, without the informer lock held (they may call
 * kube_informer_get()/_list(), not kube_informer_stop()/_free()). Objects are borrowed and
 * read-only; to keep one beyond the callback or hand it to another thread take a
 * json_deep_copy() (jansson refcounts are not a safe way to share across threads). Any callback
 * may be NULL. */
struct kube_informer_callbacks {
        void (*add_cb)(json_t *obj, void *userdata);
        void (*update_cb)(json_t *old_obj, json_t *obj, void *userdata);
        void (*delete_cb)(json_t *obj, void *userdata);
        /* after every (re)list has been applied to the cache */
        void (*synced_cb)(void *userdata);
        /* a list/watch failure about to be retried; the caller decides whether to log it */
        void (*error_cb)(const struct hd_error *err, void *userdata);
};

struct kube_informer_options {
        struct kube_resource resource; /* strings copied */
        const char *ns;                /* NULL = all namespaces */
        const char *label_selector;
        const char *field_selector;
        unsigned page_size;        /* 0 = 500 */
        int watch_timeout_seconds; /* 0 = 300 (each stream; resumed afterwards) */
        int backoff_base_ms;       /* 0 = 500 */
        int backoff_max_ms;        /* 0 = 30000 */
        /* Cache only each object's key and resourceVersion (for owners that keep their own
         * compact model of many objects): add/update callbacks still get the full object, but
         * update_cb's OLD_OBJ, delete_cb after a relist and kube_informer_get()/_list() see a
         * stub {"metadata": {name, namespace, resourceVersion}}. */
        bool metadata_only;
};

/* Create an informer on C (which must outlive it). Does not start it. */
int kube_informer_new(struct kube_client *c, const struct kube_informer_options *opts,
                      const struct kube_informer_callbacks *cbs, void *userdata,
                      struct kube_informer **ret_informer, struct hd_error *reterr);

/* Start the informer thread (once). */
int kube_informer_start(struct kube_informer *inf, struct hd_error *reterr);

/* Stop and join the thread; interrupts an open watch, list or backoff at once. Idempotent. Must
 * not be called from a callback. */
void kube_informer_stop(struct kube_informer *inf);

/* Stop and free. Takes NULL; returns NULL. */
struct kube_informer *kube_informer_free(struct kube_informer *inf);

/* true once the first list has been applied to the cache. */
bool kube_informer_has_synced(struct kube_informer *inf);

/* Wait up to TIMEOUT_MS (< 0 = forever) for the first sync. 0, -ETIMEDOUT, or -ECANCELED once
 * stopped. */
int kube_informer_wait_synced(struct kube_informer *inf, int timeout_ms);

/* Read-your-writes: wait up to TIMEOUT_MS (< 0 = forever) until the informer has seen
 * resourceVersion RV (e.g. from the object a create/update returned), so its cache reflects that
 * write. Only events of watched objects and bookmarks advance the informer, so wait only for
 * writes to objects it watches. 0, -ETIMEDOUT, -ECANCELED once stopped, -EINVAL for an RV that
 * is not a number. */
int kube_informer_wait_resource_version(struct kube_informer *inf, const char *rv, int timeout_ms);

/* A deep copy of the cached object NS/NAME (NS NULL or "" for cluster-scoped), owned by the
 * caller, or NULL. */
json_t *kube_informer_get(struct kube_informer *inf, const char *ns, const char *name);

/* A new json array of deep copies of all cached objects, sorted by key; owned by the caller. */
json_t *kube_informer_list(struct kube_informer *inf);

/* The resourceVersion the informer would resume from (caller frees), or NULL before sync. */
char *kube_informer_resource_version(struct kube_informer *inf);

/* ---- discovery ---------------------------------------------------------------------------- */

/* GET /apis/<GROUP> and pick the first of PREFERRED (NULL-terminated) the server serves.
 * *RET_VERSION is owned by the caller. -ENOENT (message lists what is served) when none is. */
int kube_discover_group_version(struct kube_client *c, const char *group,
                                const char *const *preferred, char **ret_version,
                                struct hd_error *reterr);

/* Whether GROUP/VERSION serves RESOURCE (plural; "x/status" for a subresource): 1 yes, 0 no
 * (also when the version itself is not served), -errno on failure. */
int kube_discover_resource(struct kube_client *c, const char *group, const char *version,
                           const char *resource, struct hd_error *reterr);

/* ---- typed decoding ----------------------------------------------------------------------- */

struct kube_owner_reference {
        char *api_version, *kind, *name, *uid;
        bool controller, block_owner_deletion;
};

struct kube_object_meta {
        char *name, *namespace, *uid, *resource_version, *generate_name;
        char *creation_timestamp, *deletion_timestamp; /* NULL when absent */
        int64_t generation;                            /* 0 when absent */
        char **labels;                                 /* key, value, ..., NULL (or NULL) */
        char **annotations;                            /* same */
        char **finalizers;                             /* NULL-terminated (or NULL) */
        struct kube_owner_reference *owner_references;
        size_t n_owner_references;
};

/* Decode OBJ's "metadata" into RET (zeroed first). -EINVAL naming the field on type errors. */
int kube_object_meta_decode(json_t *obj, struct kube_object_meta *ret, struct hd_error *reterr);
/* Release an object meta (fields reset). Takes NULL. */
void kube_object_meta_done(struct kube_object_meta *m);
/* Value of label KEY, or NULL. Borrowed. Works for annotations too via kube_strmap_get(). */
const char *kube_object_meta_label(const struct kube_object_meta *m, const char *key);
/* Look KEY up in a key/value strv as produced by HD_JSON_STRMAP; borrowed or NULL. */
const char *kube_strmap_get(char *const *map, const char *key);

struct kube_status {
        int code;     /* HTTP code in the Status; 0 when absent */
        char *status; /* "Success" / "Failure" */
        char *reason; /* "NotFound", "AlreadyExists", "Conflict", "Expired", ... */
        char *message;
        int64_t retry_after_seconds; /* details.retryAfterSeconds, 0 when absent */
};

/* Decode a meta/v1 Status object. */
int kube_status_decode(json_t *obj, struct kube_status *ret, struct hd_error *reterr);
/* Release a Status. Takes NULL. */
void kube_status_done(struct kube_status *s);
