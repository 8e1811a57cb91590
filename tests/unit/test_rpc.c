/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for rpc/: worker pool, socket hygiene, and an in-process server answering the
 * unary client (status codes, deadlines, unknown methods). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "rpc/socket.h"
#include "rpc/workqueue.h"

#include "pluginregistration.pb-c.h"

static char *make_tmpdir(void)
{
        char tmpl[] = "/tmp/hdrpcXXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return hd_strdup(tmpl);
}

static void rm_rf(const char *dir)
{
        _cleanup_free_ char *cmd = hd_asprintf("rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* --- workqueue ---------------------------------------------------------------------------- */

static atomic_int job_count;

static void count_job(void *arg)
{
        (void)arg;
        atomic_fetch_add(&job_count, 1);
}

static void test_workqueue_runs_everything(void **state)
{
        atomic_store(&job_count, 0);
        struct rpc_workqueue *wq = NULL;
        assert_int_equal(rpc_workqueue_new(3, &wq, NULL), 0);
        assert_non_null(wq);
        for (int i = 0; i < 500; i++)
                assert_int_equal(rpc_workqueue_push(wq, count_job, NULL), 0);
        /* Free drains what is queued before joining. */
        wq = rpc_workqueue_free(wq);
        assert_null(wq);
        assert_int_equal(atomic_load(&job_count), 500);
        assert_null(rpc_workqueue_free(NULL));
}

/* --- sockets ------------------------------------------------------------------------------ */

/* Bind a unix socket at PATH; with LISTEN keep it accepting, else close it (a crash leftover). */
static int bind_socket(const char *path, bool listening)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        if (listening) {
                assert_int_equal(listen(fd, 4), 0);
                return fd;
        }
        close(fd);
        return -1;
}

static void test_socket_prepare(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/sub/plugin.sock", dir);
        struct hd_error e = HD_ERROR_INIT;

        /* Missing parent is created 0700. */
        assert_int_equal(rpc_socket_prepare(path, &e), 0);
        _cleanup_free_ char *sub = hd_asprintf("%s/sub", dir);
        struct stat st;
        assert_int_equal(stat(sub, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);

        /* A stale socket nobody serves is removed. */
        bind_socket(path, false);
        assert_false(rpc_socket_is_live(path));
        assert_int_equal(rpc_socket_prepare(path, &e), 0);
        assert_int_equal(access(path, F_OK), -1);

        /* A live one is refused and left alone. */
        int live = bind_socket(path, true);
        assert_true(rpc_socket_is_live(path));
        assert_int_equal(rpc_socket_prepare(path, &e), -EADDRINUSE);
        assert_non_null(strstr(e.message, "another process is already serving"));
        assert_int_equal(access(path, F_OK), 0);
        close(live);
        unlink(path);

        /* Not a socket: refused. */
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(rpc_socket_prepare(path, &e), -EEXIST);
        assert_non_null(strstr(e.message, "is not a socket"));
        unlink(path);

        /* Bad paths. */
        assert_int_equal(rpc_socket_prepare("relative.sock", &e), -EINVAL);
        char longp[200];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        longp[sizeof(longp) - 1] = '\0';
        assert_int_equal(rpc_socket_prepare(longp, &e), -ENAMETOOLONG);
        hd_error_done(&e);

        /* rpc_socket_remove only removes the socket with the recorded inode. */
        bind_socket(path, false);
        ino_t ino;
        assert_int_equal(rpc_socket_secure(path, &ino, NULL), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        rpc_socket_remove(path, ino + 1);
        assert_int_equal(access(path, F_OK), 0);
        rpc_socket_remove(path, ino);
        assert_int_equal(access(path, F_OK), -1);
        rm_rf(dir);
}

/* --- server + client ---------------------------------------------------------------------- */

static void h_get_info(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        Pluginregistration__PluginInfo info = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
        info.type = "DRAPlugin";
        info.name = userdata;
        info.endpoint = (char *)rpc_call_method(call);
        rpc_call_reply(call, &info.base);
        /* A second answer is refused. */
        assert_int_equal(rpc_call_reply(call, &info.base), -EALREADY);
}

static void h_notify(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        const Pluginregistration__RegistrationStatus *st = (const void *)req;
        if (!st->plugin_registered) {
                rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "refused: %s", st->error);
                return;
        }
        if (hd_startswith(st->error, "sleep")) {
                /* No cmocka asserts here: this runs on a worker thread. */
                while (!rpc_call_is_done(call))
                        usleep(10000);
                return; /* gave up on an expired call: the layer answers for it */
        }
        Pluginregistration__RegistrationStatusResponse r =
                PLUGINREGISTRATION__REGISTRATION_STATUS_RESPONSE__INIT;
        rpc_call_reply(call, &r.base);
}

static const struct rpc_method test_methods[] = {
        { "/pluginregistration.Registration/GetInfo", RPC_UNARY,
          &pluginregistration__info_request__descriptor, h_get_info, NULL, "unit.example.com" },
        { "/pluginregistration.Registration/NotifyRegistrationStatus", RPC_UNARY,
          &pluginregistration__registration_status__descriptor, h_notify, NULL, NULL },
};

static int notify(const char *target, bool registered, const char *error, int timeout_ms,
                  struct hd_error *e)
{
        Pluginregistration__RegistrationStatus st = PLUGINREGISTRATION__REGISTRATION_STATUS__INIT;
        st.plugin_registered = registered;
        st.error = (char *)error;
        ProtobufCMessage *reply = NULL;
        int r = rpc_client_unary(target, "/pluginregistration.Registration/NotifyRegistrationStatus",
                                 &st.base, &pluginregistration__registration_status_response__descriptor,
                                 timeout_ms, &reply, e);
        if (reply)
                protobuf_c_message_free_unpacked(reply, NULL);
        return r;
}

static void test_server_and_client(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/reg.sock", dir);
        _cleanup_free_ char *target = hd_asprintf("unix:%s", path);
        struct hd_error e = HD_ERROR_INIT;

        struct rpc_server *srv = NULL;
        assert_int_equal(rpc_server_new(path, test_methods, HD_ARRAY_SIZE(test_methods), NULL,
                                        &srv, &e),
                         0);
        assert_non_null(srv);
        assert_int_equal(rpc_server_start(srv, &e), 0);
        assert_string_equal(rpc_server_path(srv), path);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);

        /* A second server on the same path refuses to start while the first lives. */
        struct rpc_server *dup = NULL;
        assert_int_equal(rpc_server_new(path, test_methods, 1, NULL, &dup, &e), 0);
        assert_int_equal(rpc_server_start(dup, &e), -EADDRINUSE);
        rpc_server_free(dup);

        /* OK reply. */
        Pluginregistration__InfoRequest in = PLUGINREGISTRATION__INFO_REQUEST__INIT;
        Pluginregistration__PluginInfo *info = NULL;
        assert_int_equal(rpc_client_unary(target, "/pluginregistration.Registration/GetInfo",
                                          &in.base, &pluginregistration__plugin_info__descriptor,
                                          2000, (ProtobufCMessage **)&info, &e),
                         0);
        assert_string_equal(info->name, "unit.example.com");
        assert_string_equal(info->endpoint, "/pluginregistration.Registration/GetInfo");
        protobuf_c_message_free_unpacked(&info->base, NULL);

        /* Handler error → status code and message. */
        assert_int_equal(notify(target, false, "bad driver", 2000, &e), -EPROTO);
        assert_string_equal(e.message, "/pluginregistration.Registration/NotifyRegistrationStatus: "
                                       "FAILED_PRECONDITION: refused: bad driver");
        assert_int_equal(e.http_status, RPC_STATUS_BASE + GRPC_STATUS_FAILED_PRECONDITION);
        assert_int_equal(notify(target, true, "", 2000, &e), 0);

        /* Deadline honoured: the handler sees the call end, the client gets DEADLINE_EXCEEDED. */
        assert_int_equal(notify(target, true, "sleep", 200, &e), -ETIMEDOUT);
        assert_non_null(strstr(e.message, "DEADLINE_EXCEEDED"));

        /* Unknown path. */
        assert_int_equal(rpc_client_unary(target, "/pluginregistration.Registration/Nope",
                                          &in.base, &pluginregistration__plugin_info__descriptor,
                                          2000, (ProtobufCMessage **)&info, &e),
                         -EOPNOTSUPP);
        assert_non_null(strstr(e.message, "UNIMPLEMENTED"));

        rpc_server_stop(srv);
        assert_int_equal(rpc_server_live_calls(srv), 0);
        /* Socket removed on stop. */
        assert_int_equal(access(path, F_OK), -1);
        srv = rpc_server_free(srv);

        /* Nobody serving → UNAVAILABLE. */
        assert_int_equal(notify(target, true, "", 500, &e), -ECONNREFUSED);
        assert_non_null(strstr(e.message, "UNAVAILABLE"));
        hd_error_done(&e);
        rm_rf(dir);
}

static void test_server_new_rejects_bad_tables(void **state)
{
        struct hd_error e = HD_ERROR_INIT;
        const struct rpc_method twice[] = { test_methods[0], test_methods[0] };
        struct rpc_server *srv = NULL;
        assert_int_equal(rpc_server_new("/tmp/x.sock", twice, 2, NULL, &srv, &e), -EINVAL);
        assert_null(srv);
        assert_non_null(strstr(e.message, "listed twice"));
        const struct rpc_method incomplete[] = { { "/a.B/C", RPC_UNARY, NULL, h_get_info, NULL, NULL } };
        assert_int_equal(rpc_server_new("/tmp/x.sock", incomplete, 1, NULL, &srv, &e), -EINVAL);
        assert_non_null(strstr(e.message, "incomplete"));
        assert_int_equal(rpc_server_new("x.sock", test_methods, 1, NULL, &srv, &e), -EINVAL);
        assert_null(srv);
        assert_non_null(strstr(e.message, "not absolute"));
        hd_error_done(&e);
        assert_string_equal(rpc_status_name(GRPC_STATUS_UNIMPLEMENTED), "UNIMPLEMENTED");
        assert_string_equal(rpc_status_name((grpc_status_code)99), "UNKNOWN_STATUS");
}

/* --- socket permissions and symlinks (issue 9, defect 9) ----------------------------------- */

static const struct rpc_method info_only[] = {
        { "/pluginregistration.Registration/GetInfo", RPC_UNARY,
          &pluginregistration__info_request__descriptor, h_get_info, NULL, "unit.example.com" },
};

/* The socket used to be bound with the process umask and chmod'ed to 0600 only afterwards, so
 * for a moment anyone could connect. Now it appears under its public name already 0600: no
 * attribute change is ever seen on that name, even with umask 0. */
static void test_socket_born_private(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/dra.sock", dir);
        struct hd_error e = HD_ERROR_INIT;
        _cleanup_close_ int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(ino >= 0);
        assert_true(inotify_add_watch(ino, dir, IN_CREATE | IN_ATTRIB | IN_MOVED_TO) >= 0);

        mode_t old_umask = umask(0);
        struct rpc_server *srv = NULL;
        assert_int_equal(rpc_server_new(path, info_only, 1, NULL, &srv, &e), 0);
        int r = rpc_server_start(srv, &e);
        umask(old_umask);
        assert_int_equal(r, 0);

        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(ino, buf, sizeof(buf));
        assert_true(n > 0);
        bool appeared = false;
        for (char *p = buf; p < buf + n;) {
                struct inotify_event *ev = (struct inotify_event *)p;
                if (ev->len && strcmp(ev->name, "dra.sock") == 0) {
                        if (ev->mask & (IN_CREATE | IN_MOVED_TO))
                                appeared = true;
                        if (ev->mask & IN_ATTRIB)
                                fail_msg("the socket's mode changed after it appeared");
                }
                p += sizeof(*ev) + ev->len;
        }
        assert_true(appeared);
        /* Nothing of the private bind directory is left behind. */
        _cleanup_free_ char *cmd = hd_asprintf("test -z \"$(ls -A '%s' | grep -v '^dra.sock$')\"",
                                               dir);
        assert_int_equal(system(cmd), 0);

        /* It serves, and is gone after stop. */
        _cleanup_free_ char *target = hd_asprintf("unix:%s", path);
        Pluginregistration__InfoRequest in = PLUGINREGISTRATION__INFO_REQUEST__INIT;
        ProtobufCMessage *info = NULL;
        assert_int_equal(rpc_client_unary(target, "/pluginregistration.Registration/GetInfo",
                                          &in.base, &pluginregistration__plugin_info__descriptor,
                                          2000, &info, &e),
                         0);
        protobuf_c_message_free_unpacked(info, NULL);
        rpc_server_free(srv);
        assert_int_equal(lstat(path, &st), -1);
        hd_error_done(&e);
        rm_rf(dir);
}

/* socket.c chmod()ed whatever the path named, following symlinks, and bound in a symlinked
 * directory. Neither the socket path nor its directory may be a symlink now. */
static void test_socket_refuses_symlinks(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *real = hd_asprintf("%s/real", dir);
        _cleanup_free_ char *link_dir = hd_asprintf("%s/linked", dir);
        _cleanup_free_ char *via_link = hd_asprintf("%s/linked/dra.sock", dir);
        _cleanup_free_ char *victim = hd_asprintf("%s/victim", dir);
        _cleanup_free_ char *sock_link = hd_asprintf("%s/real/dra.sock", dir);
        struct hd_error e = HD_ERROR_INIT;
        struct stat st;

        assert_int_equal(mkdir(real, 0700), 0);
        assert_int_equal(symlink(real, link_dir), 0);
        struct rpc_server *srv = NULL;
        assert_int_equal(rpc_server_new(via_link, info_only, 1, NULL, &srv, &e), 0);
        assert_int_equal(rpc_server_start(srv, &e), -ELOOP);
        _cleanup_free_ char *want = hd_asprintf(
                "socket directory '%s' is a symbolic link; refusing to follow it", link_dir);
        assert_string_equal(e.message, want);
        assert_int_equal(lstat(sock_link, &st), -1); /* nothing bound through the link */
        srv = rpc_server_free(srv);

        /* A symlink at the socket path is neither followed nor replaced. */
        FILE *f = fopen(victim, "we");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(chmod(victim, 0644), 0);
        assert_int_equal(symlink(victim, sock_link), 0);
        assert_int_equal(rpc_server_new(sock_link, info_only, 1, NULL, &srv, &e), 0);
        assert_int_equal(rpc_server_start(srv, &e), -EEXIST);
        srv = rpc_server_free(srv);
        assert_int_equal(stat(victim, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        assert_int_equal(lstat(sock_link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));

        /* rpc_socket_secure() refuses a symlink instead of chmod'ing its target. */
        assert_int_equal(rpc_socket_secure(sock_link, NULL, &e), -EEXIST);
        assert_int_equal(stat(victim, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        hd_error_done(&e);
        rm_rf(dir);
}

/* --- a call outliving stop (issue 9, defect 11) ------------------------------------------- */

struct late {
        struct rpc_call *call;
        pthread_t thread;
        int reply_result;
        bool done_seen;
};
static struct late late;

static void *late_main(void *arg)
{
        struct timespec ts = { 0, 400 * 1000000L };
        nanosleep(&ts, NULL);
        late.reply_result = rpc_call_reply(late.call, arg);
        late.done_seen = rpc_call_is_done(late.call);
        rpc_call_unref(late.call);
        return NULL;
}

/* Hands the call to a thread that answers long after the server's stop timeout. */
static void h_hand_off(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
        static Pluginregistration__PluginInfo info = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
        late.call = rpc_call_ref(call);
        pthread_create(&late.thread, NULL, late_main, &info);
}

static const struct rpc_method hand_off_methods[] = {
        { "/pluginregistration.Registration/GetInfo", RPC_UNARY,
          &pluginregistration__info_request__descriptor, h_hand_off, NULL, NULL },
};

/* A call still referenced when the stop timeout ran out used to touch the freed server when it
 * finally let go (a heap-use-after-free under ASan). Stop now ends on time and the late call
 * finds the server state alive: its reply is refused and its last unref cleans up. */
static void test_call_outlives_stop(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/late.sock", dir);
        _cleanup_free_ char *target = hd_asprintf("unix:%s", path);
        struct hd_error e = HD_ERROR_INIT;
        struct rpc_server_options opts = { .stop_timeout_ms = 100 };
        struct rpc_server *srv = NULL;
        assert_int_equal(rpc_server_new(path, hand_off_methods, 1, &opts, &srv, &e), 0);
        assert_int_equal(rpc_server_start(srv, &e), 0);

        Pluginregistration__InfoRequest in = PLUGINREGISTRATION__INFO_REQUEST__INIT;
        ProtobufCMessage *info = NULL;
        /* The handler returned without answering: the layer says INTERNAL at once. */
        assert_int_equal(rpc_client_unary(target, "/pluginregistration.Registration/GetInfo",
                                          &in.base, &pluginregistration__plugin_info__descriptor,
                                          2000, &info, &e),
                         -EPROTO);
        assert_non_null(strstr(e.message, "INTERNAL"));
        assert_int_equal(rpc_server_live_calls(srv), 1);

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rpc_server_free(srv); /* the late call still holds a reference */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(took < 0.35); /* the stop timeout, not the late thread, bounds the stop */

        assert_int_equal(pthread_join(late.thread, NULL), 0);
        assert_int_equal(late.reply_result, -EALREADY);
        assert_true(late.done_seen);
        hd_error_done(&e);
        rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_workqueue_runs_everything),
                cmocka_unit_test(test_socket_prepare),
                cmocka_unit_test(test_server_and_client),
                cmocka_unit_test(test_server_new_rejects_bad_tables),
                cmocka_unit_test(test_socket_born_private),
                cmocka_unit_test(test_socket_refuses_symlinks),
                cmocka_unit_test(test_call_outlives_stop),
        };
        return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
