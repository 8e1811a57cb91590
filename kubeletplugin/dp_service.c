/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/dp_service.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "cdi/cdi.h"
#include "devmodel/cdi_specs.h"
#include "devmodel/config.h"
#include "devmodel/discovery.h"
#include "devmodel/dp_specs.h"
#include "devmodel/names.h"
#include "devmodel/numa.h"
#include "kubeletplugin/dp_register.h"
#include "kubeletplugin/driver.h"
#include "kubeletplugin/health.h"
#include "kubeletplugin/metrics.h"
#include "rpc/server.h"
#include "rpc/socket.h"

#include "deviceplugin_v1beta1.pb-c.h"

#define HEALTHY "Healthy"
#define UNHEALTHY "Unhealthy"

/* One device ID as served. */
struct dp_device {
        char *id;
        bool healthy;
        char *reason; /* why unhealthy */
        int numa;     /* -1 = unknown */
};

struct dp_resource {
        struct kp_dp *dp;
        const struct dm_group *group;
        char *name;                /* extended resource name */
        char *endpoint;            /* "<driver>-<group>.sock" */
        char *socket;              /* <dir>/<endpoint> */
        char *kind;                /* "k8s.<driver>/<group>" */
        char *spec_file;           /* "k8s.<driver>-<group>.json" */
        struct rpc_server *server; /* only the registration thread and free touch it */

        /* under dp->lock */
        struct dp_device *devices;
        size_t n_devices;
        struct rpc_call *streams[KP_DP_MAX_STREAMS];
        size_t n_streams;

        /* under dp->refresh_lock */
        bool spec_known;            /* the file is as last_spec says (written or removed) */
        struct cdi_spec *last_spec; /* as last written; NULL = none */
        char *last_text;
        char **skipped;   /* devices left out of the spec, as "device 'x': why" */
        char *spec_error; /* the spec could not be written: every device is unhealthy */
};

struct kp_dp {
        struct kp_dp_options o;
        char *driver, *dir, *cdi_root, *sysfs_root;
        struct kp_health *health;
        struct dp_resource *res;
        size_t n_res;
        struct kp_dp_reg_entry *entries;
        struct kp_dp_reg *reg;
        pthread_mutex_t refresh_lock; /* one refresh at a time; guards held */
        char **held;
        pthread_mutex_t lock; /* guards the device lists and streams */
};

static void devices_free(struct dp_device *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].id);
                free(v[i].reason);
        }
        free(v);
}

static const struct dp_device *device_find(const struct dp_device *v, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (hd_streq(v[i].id, id))
                        return &v[i];
        return NULL;
}

static bool same_devices(const struct dp_device *a, size_t na, const struct dp_device *b, size_t nb)
{
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!hd_streq(a[i].id, b[i].id) || a[i].healthy != b[i].healthy ||
                    a[i].numa != b[i].numa)
                        return false;
        return true;
}

/* --- ListAndWatch ----------------------------------------------------------------------------- */

/* Send R's device list to CALL. Call with dp->lock held. */
static void send_list_locked(struct dp_resource *r, struct rpc_call *call)
{
        size_t n = r->n_devices;
        V1beta1__Device *devs = hd_new0(V1beta1__Device, n + 1);
        V1beta1__Device **ptrs = hd_new0(V1beta1__Device *, n + 1);
        V1beta1__TopologyInfo *topo = hd_new0(V1beta1__TopologyInfo, n + 1);
        V1beta1__NUMANode *nodes = hd_new0(V1beta1__NUMANode, n + 1);
        V1beta1__NUMANode **node_ptrs = hd_new0(V1beta1__NUMANode *, n + 1);
        for (size_t i = 0; i < n; i++) {
                const struct dp_device *d = &r->devices[i];
                v1beta1__device__init(&devs[i]);
                devs[i].id = d->id;
                devs[i].health = (char *)(d->healthy ? HEALTHY : UNHEALTHY);
                if (d->numa >= 0) {
                        v1beta1__numanode__init(&nodes[i]);
                        nodes[i].id = d->numa;
                        node_ptrs[i] = &nodes[i];
                        v1beta1__topology_info__init(&topo[i]);
                        topo[i].n_nodes = 1;
                        topo[i].nodes = &node_ptrs[i];
                        devs[i].topology = &topo[i];
                }
                ptrs[i] = &devs[i];
        }
        V1beta1__ListAndWatchResponse resp = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
        resp.n_devices = n;
        resp.devices = ptrs;
        rpc_stream_send(call, &resp.base);
        free(node_ptrs);
        free(nodes);
        free(topo);
        free(ptrs);
        free(devs);
}

static void list_and_watch_open(struct rpc_call *call, const ProtobufCMessage *req, void *ud)
{
        (void)req;
        struct dp_resource *r = ud;
        pthread_mutex_lock(&r->dp->lock);
        if (r->n_streams >= KP_DP_MAX_STREAMS) {
                pthread_mutex_unlock(&r->dp->lock);
                rpc_stream_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                  "too many ListAndWatch streams");
                return;
        }
        r->streams[r->n_streams++] = rpc_call_ref(call);
        send_list_locked(r, call);
        pthread_mutex_unlock(&r->dp->lock);
        hd_log_v(1, "kubelet opened ListAndWatch", "resource", r->name);
}

static void list_and_watch_closed(struct rpc_call *call, void *ud)
{
        struct dp_resource *r = ud;
        pthread_mutex_lock(&r->dp->lock);
        for (size_t i = 0; i < r->n_streams; i++)
                if (r->streams[i] == call) {
                        r->streams[i] = r->streams[--r->n_streams];
                        rpc_call_unref(call);
                        break;
                }
        pthread_mutex_unlock(&r->dp->lock);
        hd_log_v(1, "ListAndWatch closed", "resource", r->name);
}

/* --- refresh: inventory + health + held → device lists, specs ------------------------------- */

struct refresh {
        struct kp_dp *dp;
        struct kp_health_device *snap;
        size_t n_snap;
        bool write_specs;
};

static int cmp_cdi_device(const void *a, const void *b)
{
        return strcmp((*(struct cdi_device *const *)a)->name,
                      (*(struct cdi_device *const *)b)->name);
}

/* Keep in SPEC the entries of LAST for devices R still lists that vanished from the inventory
 * (they are Unhealthy, so nobody gets them): when such a node comes back unchanged the spec is
 * the same and needs no write before the kubelet hears of it. Devices are sorted by name so
 * equal specs serialize equally. */
static void carry_vanished(struct dp_resource *r, struct cdi_spec *spec,
                           const struct cdi_spec *last)
{
        pthread_mutex_lock(&r->dp->lock);
        for (size_t i = 0; last && i < r->n_devices; i++) {
                const char *id = r->devices[i].id;
                const struct cdi_device *old = cdi_spec_find_device(last, id);
                if (old && !cdi_spec_find_device(spec, id))
                        cdi_edits_copy(&cdi_spec_add_device(spec, id)->edits, &old->edits);
        }
        pthread_mutex_unlock(&r->dp->lock);
        qsort(spec->devices, spec->n_devices, sizeof(*spec->devices), cmp_cdi_device);
}

/* Write SPEC (taken; NULL = remove the file) unless it is what was written last. */
static int put_spec(struct dp_resource *r, struct cdi_spec *spec, struct hd_error *reterr)
{
        struct kp_dp *dp = r->dp;
        _cleanup_free_ char *text = spec ? cdi_spec_to_json(spec) : NULL;
        if (r->spec_known && hd_streq(text, r->last_text)) {
                cdi_spec_free(spec);
                return 0;
        }
        int rc = spec ? cdi_spec_write(dp->cdi_root, r->spec_file, spec, reterr)
                      : cdi_spec_remove(dp->cdi_root, r->spec_file, reterr);
        if (rc < 0) {
                cdi_spec_free(spec);
                return rc;
        }
        hd_log_v(2, "static CDI spec written", "resource", r->name, "file", r->spec_file, "devices",
                 HD_INT(spec ? spec->n_devices : 0));
        cdi_spec_free(r->last_spec);
        free(r->last_text);
        r->last_spec = spec;
        r->last_text = TAKE_PTR(text);
        r->spec_known = true;
        return 0;
}

/* Write R's static spec from INV (CDI mode only); remember what was left out. */
static void write_spec(struct dp_resource *r, const struct dm_inventory *inv)
{
        struct kp_dp *dp = r->dp;
        r->skipped = hd_strv_free(r->skipped);
        free(r->spec_error);
        r->spec_error = NULL;
        if (dp->o.legacy)
                return;
        struct cdi_spec *spec = NULL;
        struct hd_error e = HD_ERROR_INIT;
        int rc = dm_dp_spec_build(inv, r->group, dp->driver, &spec, &r->skipped, &e);
        if (rc >= 0)
                carry_vanished(r, spec, r->last_spec);
        if (rc >= 0 || rc == -ENODEV) {
                hd_error_done(&e);
                rc = put_spec(r, spec, &e);
        }
        if (rc < 0) {
                r->spec_error = hd_asprintf("CDI spec '%s/%s': %s", dp->cdi_root, r->spec_file,
                                            hd_error_message(&e));
                hd_log_error("cannot write the static CDI spec; the group's devices are "
                             "unhealthy until it can",
                             "resource", r->name, "err", r->spec_error);
        }
        for (char **s = r->skipped; s && *s; s++)
                hd_log_warn("device left out of the static CDI spec", "resource", r->name,
                            "problem", *s);
        hd_error_done(&e);
}

/* Why device ID of R cannot be handed out, or NULL. Call with refresh_lock held. */
static const char *unusable_reason(struct dp_resource *r, const char *id)
{
        if (r->spec_error)
                return r->spec_error;
        if (hd_strv_contains(r->dp->held, id))
                return "held by a DRA claim prepared before the switch to device-plugin mode";
        _cleanup_free_ char *prefix = hd_asprintf("device '%s'", id);
        for (char **s = r->skipped; s && *s; s++)
                if (hd_startswith(*s, prefix))
                        return *s;
        return NULL;
}

/* R's device list: the monitor's devices of R's group in order, with health and NUMA. */
static struct dp_device *build_list(struct dp_resource *r, const struct refresh *f,
                                    const struct dm_inventory *inv, size_t *ret_n)
{
        struct dp_device *v = hd_new0(struct dp_device, f->n_snap + 1);
        size_t n = 0;
        for (size_t i = 0; i < f->n_snap; i++) {
                const struct kp_health_device *s = &f->snap[i];
                const struct dm_device *dev = dm_inventory_find(inv, s->name);
                pthread_mutex_lock(&r->dp->lock);
                const struct dp_device *old = device_find(r->devices, r->n_devices, s->name);
                int old_numa = old ? old->numa : -1;
                pthread_mutex_unlock(&r->dp->lock);
                if (dev ? dev->group != r->group : !old)
                        continue;
                const char *why = s->healthy ? unusable_reason(r, s->name) : s->reason;
                v[n++] = (struct dp_device){
                        .id = hd_strdup(s->name),
                        .healthy = s->healthy && !why,
                        .reason = hd_strdup(why ? why : (s->healthy ? NULL : "unhealthy")),
                        .numa = dev ? dm_numa_node(r->dp->sysfs_root, dev->type, dev->major,
                                                   dev->minor)
                                    : old_numa,
                };
        }
        *ret_n = n;
        return v;
}

/* Make LIST (taken) R's device list and tell every stream if it differs. Call with dp->lock
 * held. Returns true when it changed. */
static bool publish_locked(struct dp_resource *r, struct dp_device *list, size_t n)
{
        if (same_devices(r->devices, r->n_devices, list, n)) {
                devices_free(list, n);
                return false;
        }
        devices_free(r->devices, r->n_devices);
        r->devices = list;
        r->n_devices = n;
        for (size_t s = 0; s < r->n_streams; s++)
                send_list_locked(r, r->streams[s]);
        return true;
}

/* FRESH without what needs the new spec first: a new device is left out and a device that
 * turned healthy stays unhealthy. Call with dp->lock held. */
static struct dp_device *safe_list_locked(struct dp_resource *r, const struct dp_device *fresh,
                                          size_t n, size_t *ret_n)
{
        struct dp_device *v = hd_new0(struct dp_device, n + 1);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                const struct dp_device *old = device_find(r->devices, r->n_devices, fresh[i].id);
                if (!old)
                        continue;
                bool healthy = fresh[i].healthy && old->healthy;
                v[k++] = (struct dp_device){
                        hd_strdup(fresh[i].id), healthy,
                        hd_strdup(fresh[i].healthy ? old->reason : fresh[i].reason), fresh[i].numa};
        }
        *ret_n = k;
        return v;
}

static void refresh_with_inventory(const struct dm_inventory *inv, void *userdata)
{
        struct refresh *f = userdata;
        struct kp_dp *dp = f->dp;
        for (size_t i = 0; i < dp->n_res; i++) {
                struct dp_resource *r = &dp->res[i];
                size_t n = 0;
                struct dp_device *fresh = NULL;
                if (f->write_specs) {
                        /* Bad news first: writing the spec (fsync) must not delay it. */
                        fresh = build_list(r, f, inv, &n);
                        pthread_mutex_lock(&dp->lock);
                        size_t ns = 0;
                        struct dp_device *safe = safe_list_locked(r, fresh, n, &ns);
                        publish_locked(r, safe, ns);
                        pthread_mutex_unlock(&dp->lock);
                        devices_free(fresh, n);
                        write_spec(r, inv);
                }
                fresh = build_list(r, f, inv, &n);
                pthread_mutex_lock(&dp->lock);
                bool changed = publish_locked(r, fresh, n);
                pthread_mutex_unlock(&dp->lock);
                if (changed)
                        hd_log_v(1, "device list changed", "resource", r->name, "devices",
                                 HD_INT(n));
        }
}

static void refresh(struct kp_dp *dp, bool write_specs)
{
        struct refresh f = {.dp = dp, .write_specs = write_specs};
        pthread_mutex_lock(&dp->refresh_lock);
        kp_health_snapshot(dp->health, &f.snap, &f.n_snap);
        kp_driver_with_inventory(dp->o.kdriver, refresh_with_inventory, &f);
        pthread_mutex_unlock(&dp->refresh_lock);
        kp_health_devices_free(f.snap, f.n_snap);
}

void kp_dp_changed_cb(void *userdata)
{
        refresh(userdata, true);
}

void kp_dp_set_held(struct kp_dp *dp, char **held)
{
        pthread_mutex_lock(&dp->refresh_lock);
        hd_strv_free(dp->held);
        dp->held = held;
        pthread_mutex_unlock(&dp->refresh_lock);
        refresh(dp, false);
}

/* --- unary methods ---------------------------------------------------------------------------- */

static void get_options(struct rpc_call *call, const ProtobufCMessage *req, void *ud)
{
        (void)req;
        (void)ud;
        V1beta1__DevicePluginOptions o = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
        o.pre_start_required = false;
        o.get_preferred_allocation_available = true;
        rpc_call_reply(call, &o.base);
}

static void pre_start(struct rpc_call *call, const ProtobufCMessage *req, void *ud)
{
        (void)req;
        (void)ud;
        V1beta1__PreStartContainerResponse resp = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
        rpc_call_reply(call, &resp.base);
}

/* R's devices in order with their NUMA nodes (IDs borrowed: call with dp->lock held). */
static struct dm_numa_device *numa_order_locked(struct dp_resource *r)
{
        struct dm_numa_device *o = hd_new0(struct dm_numa_device, r->n_devices + 1);
        for (size_t i = 0; i < r->n_devices; i++)
                o[i] = (struct dm_numa_device){r->devices[i].id, r->devices[i].numa};
        return o;
}

static void get_preferred(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct dp_resource *r = ud;
        const V1beta1__PreferredAllocationRequest *req =
                (const V1beta1__PreferredAllocationRequest *)msg;
        size_t n = req->n_container_requests;
        for (size_t i = 0; i < n; i++) {
                const V1beta1__ContainerPreferredAllocationRequest *c = req->container_requests[i];
                if (c->n_available_deviceids > KP_DP_MAX_IDS ||
                    c->n_must_include_deviceids > KP_DP_MAX_IDS || c->allocation_size < 0 ||
                    c->allocation_size > KP_DP_MAX_IDS) {
                        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                                      "GetPreferredAllocation %s: container request %zu asks "
                                      "for %d of %zu devices; at most %d are allowed",
                                      r->name, i, c->allocation_size, c->n_available_deviceids,
                                      KP_DP_MAX_IDS);
                        return;
                }
        }
        V1beta1__ContainerPreferredAllocationResponse *outs =
                hd_new0(V1beta1__ContainerPreferredAllocationResponse, n + 1);
        V1beta1__ContainerPreferredAllocationResponse **ptrs =
                hd_new0(V1beta1__ContainerPreferredAllocationResponse *, n + 1);
        pthread_mutex_lock(&r->dp->lock);
        _cleanup_free_ struct dm_numa_device *order = numa_order_locked(r);
        for (size_t i = 0; i < n; i++) {
                const V1beta1__ContainerPreferredAllocationRequest *c = req->container_requests[i];
                v1beta1__container_preferred_allocation_response__init(&outs[i]);
                const char **ids = hd_new0(const char *, (size_t)c->allocation_size + 1);
                outs[i].n_deviceids = dm_numa_prefer(
                        order, r->n_devices, c->available_deviceids, c->n_available_deviceids,
                        c->must_include_deviceids, c->n_must_include_deviceids,
                        (size_t)c->allocation_size, ids);
                outs[i].deviceids = (char **)ids;
                ptrs[i] = &outs[i];
        }
        pthread_mutex_unlock(&r->dp->lock);
        V1beta1__PreferredAllocationResponse resp = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        resp.n_container_responses = n;
        resp.container_responses = ptrs;
        rpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                free(outs[i].deviceids);
        free(ptrs);
        free(outs);
}

/* Is every ID of C one of R's healthy devices? Returns 0 or -errno naming the ID. */
static int check_ids(struct dp_resource *r, const V1beta1__ContainerAllocateRequest *c,
                     struct hd_error *reterr)
{
        int rc = 0;
        pthread_mutex_lock(&r->dp->lock);
        for (size_t i = 0; i < c->n_devices_ids && rc >= 0; i++) {
                const char *id = c->devices_ids[i];
                const struct dp_device *d = device_find(r->devices, r->n_devices, id);
                if (!d)
                        rc = hd_error_setf(reterr, EINVAL,
                                           "device '%s' is not a device of %s on this node", id,
                                           r->name);
                else if (!d->healthy)
                        rc = hd_error_setf(reterr, EBUSY, "device '%s' of %s is unhealthy: %s", id,
                                           r->name, d->reason ? d->reason : "unhealthy");
        }
        pthread_mutex_unlock(&r->dp->lock);
        return rc;
}

static V1beta1__DeviceSpec *pb_device_spec(const struct dm_node *n)
{
        V1beta1__DeviceSpec *d = hd_malloc0(sizeof(*d));
        v1beta1__device_spec__init(d);
        d->container_path = hd_strdup(n->path);
        d->host_path = hd_strdup(n->host_path ? n->host_path : n->path);
        d->permissions = hd_strdup(n->permissions ? n->permissions : "rwm");
        return d;
}

static V1beta1__Mount *pb_mount(const struct dm_mount *m)
{
        V1beta1__Mount *pm = hd_malloc0(sizeof(*pm));
        v1beta1__mount__init(pm);
        pm->host_path = hd_strdup(m->host_path);
        pm->container_path = hd_strdup(m->container_path ? m->container_path : m->host_path);
        pm->read_only = hd_strv_contains(m->options, "ro");
        return pm;
}

/* Fill OUT (heap-owned fields) with E as devices/mounts/envs. */
static void legacy_response(const struct dm_edits *e, V1beta1__ContainerAllocateResponse *out)
{
        out->devices = hd_new0(V1beta1__DeviceSpec *, e->n_nodes + 1);
        for (size_t i = 0; i < e->n_nodes; i++)
                out->devices[out->n_devices++] = pb_device_spec(&e->nodes[i]);
        out->mounts = hd_new0(V1beta1__Mount *, e->n_mounts + 1);
        for (size_t i = 0; i < e->n_mounts; i++)
                out->mounts[out->n_mounts++] = pb_mount(&e->mounts[i]);
        size_t n_env = hd_strv_len(e->env);
        out->envs = hd_new0(V1beta1__ContainerAllocateResponse__EnvsEntry *, n_env + 1);
        for (size_t i = 0; i < n_env; i++) {
                const char *kv = e->env[i], *eq = strchr(kv, '=');
                V1beta1__ContainerAllocateResponse__EnvsEntry *en = hd_malloc0(sizeof(*en));
                v1beta1__container_allocate_response__envs_entry__init(en);
                en->key = eq ? hd_strndup(kv, (size_t)(eq - kv)) : hd_strdup(kv);
                en->value = hd_strdup(eq ? eq + 1 : "");
                out->envs[out->n_envs++] = en;
        }
}

struct alloc_ctx {
        struct dp_resource *r;
        const V1beta1__ContainerAllocateRequest *c;
        V1beta1__ContainerAllocateResponse *out;
        struct hd_error *err;
        int rc;
};

/* The device nodes of C are there now; then the answer for C. Runs with the inventory held. */
static void allocate_with_inventory(const struct dm_inventory *inv, void *userdata)
{
        struct alloc_ctx *a = userdata;
        struct dp_resource *r = a->r;
        struct dm_edits edits = {0};
        for (size_t i = 0; i < a->c->n_devices_ids && a->rc >= 0; i++) {
                const char *id = a->c->devices_ids[i];
                const struct dm_device *dev = dm_inventory_find(inv, id);
                if (!dev || dev->group != r->group)
                        a->rc = hd_error_setf(a->err, ENODEV,
                                              "device '%s' of %s is gone from this node", id,
                                              r->name);
                else if ((a->rc = dm_device_check(dev, dm_inventory_host_root(inv), a->err)) < 0)
                        hd_error_wrap(a->err, "device '%s' of %s", id, r->name);
                else if (r->dp->o.legacy)
                        a->rc = dm_dp_device_edits(dev, dm_inventory_host_root(inv), &edits,
                                                   a->err);
        }
        if (a->rc >= 0 && r->dp->o.legacy) {
                struct dm_edits common = {0};
                a->rc = dm_group_common_edits(r->group, dm_inventory_host_root(inv), &common,
                                              a->err);
                dm_edits_merge(&edits, &common);
                dm_edits_done(&common);
                if (a->rc >= 0)
                        legacy_response(&edits, a->out);
        }
        dm_edits_done(&edits);
        if (a->rc < 0 || r->dp->o.legacy)
                return;
        a->out->cdi_devices = hd_new0(V1beta1__CDIDevice *, a->c->n_devices_ids + 1);
        for (size_t i = 0; i < a->c->n_devices_ids; i++) {
                V1beta1__CDIDevice *d = hd_malloc0(sizeof(*d));
                v1beta1__cdidevice__init(d);
                d->name = cdi_qualified_id(r->kind, a->c->devices_ids[i]);
                a->out->cdi_devices[a->out->n_cdi_devices++] = d;
        }
}

/* Answer one container request into OUT. Returns 0 or -errno with RETERR naming the ID. */
static int allocate_container(struct dp_resource *r, const V1beta1__ContainerAllocateRequest *c,
                              V1beta1__ContainerAllocateResponse *out, struct hd_error *reterr)
{
        if (c->n_devices_ids > KP_DP_MAX_IDS)
                return hd_error_setf(reterr, EINVAL, "%zu device IDs; at most %d are allowed",
                                     c->n_devices_ids, KP_DP_MAX_IDS);
        int rc = check_ids(r, c, reterr);
        if (rc < 0)
                return rc;
        struct alloc_ctx a = {r, c, out, reterr, 0};
        kp_driver_with_inventory(r->dp->o.kdriver, allocate_with_inventory, &a);
        return a.rc;
}

static double seconds_since(const struct timespec *t0)
{
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void allocate(struct rpc_call *call, const ProtobufCMessage *msg, void *ud)
{
        struct dp_resource *r = ud;
        const V1beta1__AllocateRequest *req = (const V1beta1__AllocateRequest *)msg;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        V1beta1__AllocateResponse *resp = hd_malloc0(sizeof(*resp));
        v1beta1__allocate_response__init(resp);
        resp->container_responses =
                hd_new0(V1beta1__ContainerAllocateResponse *, req->n_container_requests + 1);
        struct hd_error e = HD_ERROR_INIT;
        int rc = 0;
        for (size_t i = 0; i < req->n_container_requests && rc >= 0; i++) {
                V1beta1__ContainerAllocateResponse *out = hd_malloc0(sizeof(*out));
                v1beta1__container_allocate_response__init(out);
                resp->container_responses[resp->n_container_responses++] = out;
                rc = allocate_container(r, req->container_requests[i], out, &e);
        }
        /* Counted before the answer goes out: whoever got it sees it in /metrics. */
        kp_metrics_dp_allocate(r->dp->o.metrics, rc >= 0, seconds_since(&t0));
        if (rc >= 0) {
                rpc_call_reply(call, &resp->base);
        } else {
                hd_log_warn("Allocate refused", "resource", r->name, "err", hd_error_message(&e));
                rpc_call_fail(call,
                              rc == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT
                                            : GRPC_STATUS_FAILED_PRECONDITION,
                              "Allocate %s: %s", r->name, hd_error_message(&e));
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        hd_error_done(&e);
}

/* --- serving ---------------------------------------------------------------------------------- */

static size_t methods_of(struct dp_resource *r, struct rpc_method *m)
{
        m[0] = (struct rpc_method){"/v1beta1.DevicePlugin/GetDevicePluginOptions",
                                   RPC_UNARY,
                                   &v1beta1__empty__descriptor,
                                   get_options,
                                   NULL,
                                   r};
        m[1] = (struct rpc_method){"/v1beta1.DevicePlugin/ListAndWatch",
                                   RPC_SERVER_STREAMING,
                                   &v1beta1__empty__descriptor,
                                   list_and_watch_open,
                                   list_and_watch_closed,
                                   r};
        m[2] = (struct rpc_method){"/v1beta1.DevicePlugin/GetPreferredAllocation",
                                   RPC_UNARY,
                                   &v1beta1__preferred_allocation_request__descriptor,
                                   get_preferred,
                                   NULL,
                                   r};
        m[3] = (struct rpc_method){"/v1beta1.DevicePlugin/Allocate",
                                   RPC_UNARY,
                                   &v1beta1__allocate_request__descriptor,
                                   allocate,
                                   NULL,
                                   r};
        m[4] = (struct rpc_method){"/v1beta1.DevicePlugin/PreStartContainer",
                                   RPC_UNARY,
                                   &v1beta1__pre_start_container_request__descriptor,
                                   pre_start,
                                   NULL,
                                   r};
        return 5;
}

/* Registration thread's serve callback: (re)start resource I's server. */
static int serve_cb(void *userdata, size_t i, struct hd_error *reterr)
{
        struct kp_dp *dp = userdata;
        struct dp_resource *r = &dp->res[i];
        r->server = rpc_server_free(r->server);
        struct rpc_method m[5];
        size_t n = methods_of(r, m);
        /* Stopping must not keep a restarted kubelet waiting for its plugin. */
        struct rpc_server_options so = {.stop_timeout_ms = 1000};
        int rc = rpc_server_new(r->socket, m, n, &so, &r->server, reterr);
        if (rc >= 0)
                rc = rpc_server_start(r->server, reterr);
        if (rc < 0) {
                r->server = rpc_server_free(r->server);
                return hd_error_wrap_r(reterr, rc, "serve %s on '%s'", r->name, r->socket);
        }
        hd_log_info("serving device-plugin socket", "resource", r->name, "socket", r->socket);
        return 0;
}

static int resource_init(struct kp_dp *dp, struct dp_resource *r, const struct dm_group *g,
                         struct hd_error *reterr)
{
        r->dp = dp;
        r->group = g;
        r->name = dm_dp_resource_name(g, dp->driver);
        r->endpoint = hd_asprintf("%s-%s.sock", dp->driver, g->name);
        r->socket = hd_asprintf("%s/%s", dp->dir, r->endpoint);
        r->kind = cdi_group_spec_kind(dp->driver, g->name);
        int rc = cdi_group_spec_file_name(dp->driver, g->name, &r->spec_file, reterr);
        if (rc < 0)
                return rc;
        if (!g->resource_name && dm_resource_name_check(r->name, reterr) < 0)
                return hd_error_wrap(reterr,
                                     "group '%s': the default resource name; set "
                                     "resourceName",
                                     g->name);
        if (dp->o.legacy)
                return dm_dp_legacy_check(g, reterr);
        return 0;
}

int kp_dp_new(const struct kp_dp_options *o, struct kp_dp **ret, struct hd_error *reterr)
{
        struct kp_dp *dp = hd_malloc0(sizeof(*dp));
        *ret = dp;
        dp->o = *o;
        dp->driver = hd_strdup(o->driver);
        dp->dir = hd_strdup(o->dir);
        dp->cdi_root = hd_strdup(o->cdi_root);
        dp->sysfs_root = hd_strdup(o->sysfs_root ? o->sysfs_root : DM_SYSFS_ROOT);
        dp->o.driver = dp->o.dir = dp->o.cdi_root = dp->o.sysfs_root = NULL;
        pthread_mutex_init(&dp->lock, NULL);
        pthread_mutex_init(&dp->refresh_lock, NULL);
        const struct dm_config *c = o->config;
        dp->res = hd_new0(struct dp_resource, c->n_groups + 1);
        dp->entries = hd_new0(struct kp_dp_reg_entry, c->n_groups + 1);
        for (size_t i = 0; i < c->n_groups; i++) {
                struct dp_resource *r = &dp->res[dp->n_res++];
                int rc = resource_init(dp, r, &c->groups[i], reterr);
                if (rc < 0)
                        return rc;
                dp->entries[i] = (struct kp_dp_reg_entry){r->name, r->endpoint};
        }
        return 0;
}

void kp_dp_set_health(struct kp_dp *dp, struct kp_health *h)
{
        dp->health = h;
}

int kp_dp_start(struct kp_dp *dp, struct hd_error *reterr)
{
        refresh(dp, true);
        /* Serve before anything registers (the kubelet connects back at once); the watcher
         * takes over from here and serves again whatever the kubelet deletes. */
        for (size_t i = 0; i < dp->n_res; i++) {
                int rc = serve_cb(dp, i, reterr);
                if (rc < 0)
                        return rc;
        }
        struct kp_dp_reg_options ro = {.dir = dp->dir,
                                       .entries = dp->entries,
                                       .n_entries = dp->n_res,
                                       .serve = serve_cb,
                                       .userdata = dp,
                                       .metrics = dp->o.metrics};
        return kp_dp_reg_start(&ro, &dp->reg, reterr);
}

int kp_dp_check_live(struct kp_dp *dp, struct hd_error *reterr)
{
        for (size_t i = 0; i < dp->n_res; i++)
                if (!rpc_socket_is_live(dp->res[i].socket))
                        return hd_error_setf(reterr, ECONNREFUSED,
                                             "device-plugin socket '%s' does not answer",
                                             dp->res[i].socket);
        if (!kp_dp_reg_all_registered(dp->reg))
                return hd_error_setf(reterr, EAGAIN, "not registered with the kubelet yet");
        return 0;
}

size_t kp_dp_resources(struct kp_dp *dp)
{
        return dp->n_res;
}

struct kp_dp *kp_dp_free(struct kp_dp *dp)
{
        if (!dp)
                return NULL;
        /* The watcher first: it must not serve again what we stop now. */
        dp->reg = kp_dp_reg_free(dp->reg);
        for (size_t i = 0; i < dp->n_res; i++)
                dp->res[i].server = rpc_server_free(dp->res[i].server);
        for (size_t i = 0; i < dp->n_res; i++) {
                struct dp_resource *r = &dp->res[i];
                for (size_t s = 0; s < r->n_streams; s++)
                        rpc_call_unref(r->streams[s]);
                devices_free(r->devices, r->n_devices);
                free(r->name);
                free(r->endpoint);
                free(r->socket);
                free(r->kind);
                free(r->spec_file);
                hd_strv_free(r->skipped);
                free(r->spec_error);
                cdi_spec_free(r->last_spec);
                free(r->last_text);
        }
        free(dp->res);
        free(dp->entries);
        hd_strv_free(dp->held);
        pthread_mutex_destroy(&dp->lock);
        pthread_mutex_destroy(&dp->refresh_lock);
        free(dp->driver);
        free(dp->dir);
        free(dp->cdi_root);
        free(dp->sysfs_root);
        free(dp);
        return NULL;
}
