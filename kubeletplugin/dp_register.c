/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/dp_register.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strutil.h"
#include "kubeletplugin/metrics.h"
#include "rpc/cleanup.h"
#include "rpc/client.h"

#include "deviceplugin_v1beta1.pb-c.h"

#define KUBELET_SOCKET "kubelet.sock"
/* How often sockets are checked when no event comes (a missed inotify event costs this). */
#define RECHECK_MS 1000

/* Which kubelet.sock: a new kubelet makes a new file. */
struct kubelet_id {
        dev_t dev;
        ino_t ino;
        struct timespec ctime; /* inode numbers are reused; with the change time they are not */
};

struct entry_state {
        char *path;  /* <dir>/<endpoint> */
        bool served; /* our socket was there at the last check */
        bool need_register;
        int64_t next_try; /* monotonic ms */
        int backoff_ms;
        struct kubelet_id registered_with; /* kubelet.sock at the last accepted Register */
        char *last_error;                  /* last Register failure logged, to log changes only */
};

struct kp_dp_reg {
        struct kp_dp_reg_options o;
        char *dir, *kubelet_sock, *kubelet_target;
        struct entry_state *st;
        int inotify_fd, wake_fd[2];
        pthread_t thread;
        bool started;
        atomic_bool all_registered;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_socket(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Ask the kubelet to take entry I. Returns 0 or -errno with RETERR holding its message. */
static int do_register(struct kp_dp_reg *r, size_t i, struct hd_error *reterr)
{
        V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
        opts.pre_start_required = false;
        opts.get_preferred_allocation_available = true;
        V1beta1__RegisterRequest req = V1BETA1__REGISTER_REQUEST__INIT;
        req.version = (char *)"v1beta1";
        req.endpoint = (char *)r->o.entries[i].endpoint;
        req.resource_name = (char *)r->o.entries[i].resource;
        req.options = &opts;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        return rpc_client_unary(r->kubelet_target, "/v1beta1.Registration/Register", &req.base,
                                &v1beta1__empty__descriptor, KP_DP_REGISTER_TIMEOUT_MS, &reply,
                                reterr);
}

static struct kubelet_id kubelet_id_of(const char *path)
{
        struct stat st;
        if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
                return (struct kubelet_id){0};
        return (struct kubelet_id){st.st_dev, st.st_ino, st.st_ctim};
}

static bool kubelet_id_equal(const struct kubelet_id *a, const struct kubelet_id *b)
{
        return a->ino && a->dev == b->dev && a->ino == b->ino &&
               a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* A kubelet.sock was created: register every entry not yet registered with that one (the
 * event may come after a registration its deletion already caused). */
static void register_all_soon(struct kp_dp_reg *r)
{
        struct kubelet_id now = kubelet_id_of(r->kubelet_sock);
        for (size_t i = 0; i < r->o.n_entries; i++) {
                if (kubelet_id_equal(&now, &r->st[i].registered_with) && !r->st[i].need_register)
                        continue;
                r->st[i].need_register = true;
                r->st[i].next_try = 0;
                r->st[i].backoff_ms = KP_DP_REGISTER_BACKOFF_MIN_MS;
        }
}

/* Serve entry I again if its socket is gone. */
static void check_served(struct kp_dp_reg *r, size_t i, int64_t now)
{
        struct entry_state *s = &r->st[i];
        if (is_socket(s->path)) {
                s->served = true;
                return;
        }
        if (s->served)
                hd_log_info("device-plugin socket is gone (kubelet restart?); serving it again",
                            "resource", r->o.entries[i].resource, "socket", s->path);
        struct hd_error e = HD_ERROR_INIT;
        if (r->o.serve(r->o.userdata, i, &e) < 0) {
                hd_log_error("cannot serve the device-plugin socket", "resource",
                             r->o.entries[i].resource, "err", hd_error_message(&e));
                hd_error_done(&e);
                s->served = false;
                return;
        }
        s->served = true;
        /* A new socket is a new endpoint: the kubelet must hear of it. */
        s->need_register = true;
        s->next_try = now;
        s->backoff_ms = KP_DP_REGISTER_BACKOFF_MIN_MS;
}

static void try_register(struct kp_dp_reg *r, size_t i, int64_t now)
{
        struct entry_state *s = &r->st[i];
        if (!s->served || !s->need_register || now < s->next_try)
                return;
        struct hd_error e = HD_ERROR_INIT;
        int64_t t0 = now_ms();
        struct kubelet_id kid = kubelet_id_of(r->kubelet_sock);
        int rc = do_register(r, i, &e);
        kp_metrics_dp_register(r->o.metrics, rc >= 0);
        if (rc >= 0) {
                s->need_register = false;
                s->registered_with = kid;
                free(s->last_error);
                s->last_error = NULL;
                hd_log_info("registered with the kubelet", "resource", r->o.entries[i].resource,
                            "endpoint", r->o.entries[i].endpoint, "ms", HD_INT(now_ms() - t0));
                return;
        }
        const char *msg = hd_error_message(&e);
        if (!hd_streq(msg, s->last_error))
                hd_log_warn("the kubelet did not take the registration; retrying", "resource",
                            r->o.entries[i].resource, "err", msg, "retry_ms",
                            HD_INT(s->backoff_ms));
        free(s->last_error);
        s->last_error = hd_strdup(msg);
        hd_error_done(&e);
        s->next_try = now_ms() + s->backoff_ms;
        s->backoff_ms = s->backoff_ms * 2 > KP_DP_REGISTER_BACKOFF_MAX_MS
                                ? KP_DP_REGISTER_BACKOFF_MAX_MS
                                : s->backoff_ms * 2;
}

/* Read the pending inotify events; a created kubelet.sock asks for new registrations. */
static void drain_events(struct kp_dp_reg *r)
{
        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
                __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n;
        while ((n = read(r->inotify_fd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;
                        if (ev->len && hd_streq(ev->name, KUBELET_SOCKET) &&
                            (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
                                hd_log_info("kubelet.sock created: registering again");
                                register_all_soon(r);
                        }
                        p += sizeof(*ev) + ev->len;
                }
}

/* Milliseconds until the next thing to do (at most RECHECK_MS). */
static int next_timeout(struct kp_dp_reg *r, bool kubelet_there)
{
        int64_t now = now_ms(), wait = RECHECK_MS;
        bool all = true;
        for (size_t i = 0; i < r->o.n_entries; i++) {
                const struct entry_state *s = &r->st[i];
                all = all && !s->need_register;
                if (s->need_register && s->served && kubelet_there && s->next_try - now < wait)
                        wait = s->next_try - now;
        }
        atomic_store(&r->all_registered, all);
        return wait < 0 ? 0 : (int)wait;
}

static void *reg_main(void *arg)
{
        struct kp_dp_reg *r = arg;
        bool waiting_logged = false;
        for (;;) {
                int64_t now = now_ms();
                for (size_t i = 0; i < r->o.n_entries; i++)
                        check_served(r, i, now);
                bool kubelet_there = is_socket(r->kubelet_sock);
                if (!kubelet_there && !waiting_logged)
                        hd_log_info("waiting for the kubelet's device-plugin socket", "socket",
                                    r->kubelet_sock);
                waiting_logged = !kubelet_there;
                for (size_t i = 0; kubelet_there && i < r->o.n_entries; i++)
                        try_register(r, i, now_ms());
                struct pollfd fds[2] = {{r->inotify_fd, POLLIN, 0}, {r->wake_fd[0], POLLIN, 0}};
                int n = poll(fds, 2, next_timeout(r, kubelet_there));
                if (n < 0 && errno != EINTR)
                        break;
                if (fds[1].revents)
                        break;
                if (n > 0 && fds[0].revents)
                        drain_events(r);
        }
        return NULL;
}

int kp_dp_reg_start(const struct kp_dp_reg_options *o, struct kp_dp_reg **ret,
                    struct hd_error *reterr)
{
        struct kp_dp_reg *r = hd_malloc0(sizeof(*r));
        r->o = *o;
        r->dir = hd_strdup(o->dir);
        r->kubelet_sock = hd_asprintf("%s/%s", o->dir, KUBELET_SOCKET);
        r->kubelet_target = hd_asprintf("unix:%s", r->kubelet_sock);
        r->wake_fd[0] = r->wake_fd[1] = -1;
        r->st = hd_new0(struct entry_state, o->n_entries ? o->n_entries : 1);
        for (size_t i = 0; i < o->n_entries; i++)
                r->st[i].path = hd_asprintf("%s/%s", o->dir, o->entries[i].endpoint);
        register_all_soon(r);
        *ret = r;
        r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r->inotify_fd < 0)
                return hd_error_set(reterr, errno, "inotify_init1");
        if (inotify_add_watch(r->inotify_fd, o->dir,
                              IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) < 0)
                return hd_error_set(reterr, errno, "watch '%s'", o->dir);
        if (pipe2(r->wake_fd, O_CLOEXEC | O_NONBLOCK) < 0)
                return hd_error_set(reterr, errno, "pipe2");
        if (pthread_create(&r->thread, NULL, reg_main, r) != 0)
                return hd_error_setf(reterr, EAGAIN, "cannot start the registration thread");
        r->started = true;
        return 0;
}

struct kp_dp_reg *kp_dp_reg_free(struct kp_dp_reg *r)
{
        if (!r)
                return NULL;
        if (r->started) {
                ssize_t w = write(r->wake_fd[1], "x", 1);
                (void)w;
                pthread_join(r->thread, NULL);
        }
        if (r->inotify_fd >= 0)
                close(r->inotify_fd);
        for (int i = 0; i < 2; i++)
                if (r->wake_fd[i] >= 0)
                        close(r->wake_fd[i]);
        for (size_t i = 0; i < r->o.n_entries; i++) {
                free(r->st[i].path);
                free(r->st[i].last_error);
        }
        free(r->st);
        free(r->dir);
        free(r->kubelet_sock);
        free(r->kubelet_target);
        free(r);
        return NULL;
}

bool kp_dp_reg_all_registered(struct kp_dp_reg *r)
{
        return r && atomic_load(&r->all_registered);
}
