/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for base/: errors, strings, logging, safe file I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/failpoint.h"
#include "base/fileio.h"
#include "base/jsonfield.h"
#include "base/log.h"
#include "base/strutil.h"

static void test_error_chain(void **state)
{
        struct hd_error e = HD_ERROR_INIT;
        assert_string_equal(hd_error_message(&e), "");
        assert_int_equal(hd_error_set(&e, ENOENT, "open '%s'", "/dev/mock/device_3"), -ENOENT);
        assert_string_equal(e.message, "open '/dev/mock/device_3': No such file or directory");
        assert_int_equal(hd_error_wrap(&e, "prepare claim %s", "6f00"), -ENOENT);
        assert_string_equal(
                e.message,
                "prepare claim 6f00: open '/dev/mock/device_3': No such file or directory");
        assert_int_equal(e.code, ENOENT);
        hd_error_done(&e);
        assert_null(e.message);
        assert_int_equal(e.code, 0);
}

static void test_error_setf_and_move(void **state)
{
        struct hd_error a = HD_ERROR_INIT, b = HD_ERROR_INIT;
        assert_int_equal(hd_error_setf(&a, EINVAL, "config.yaml:3:5: unknown key '%s'", "foo"),
                         -EINVAL);
        assert_string_equal(a.message, "config.yaml:3:5: unknown key 'foo'");
        /* Negative codes are normalised, zero becomes EIO. */
        assert_int_equal(hd_error_setf(&b, -EACCES, "x"), -EACCES);
        assert_int_equal(b.code, EACCES);
        assert_int_equal(hd_error_move(&b, &a), -EINVAL);
        assert_null(a.message);
        assert_string_equal(b.message, "config.yaml:3:5: unknown key 'foo'");
        hd_error_done(&b);
        /* NULL error pointers are allowed: the code still comes back. */
        assert_int_equal(hd_error_set(NULL, EPERM, "ignored"), -EPERM);
        /* hd_error_wrap_r keeps the callee's code, with or without an error object. */
        assert_int_equal(hd_error_wrap_r(NULL, -ENOENT, "ctx"), -ENOENT);
        struct hd_error w = HD_ERROR_INIT;
        hd_error_set(&w, ENOENT, "open 'x'");
        assert_int_equal(hd_error_wrap_r(&w, -ENOENT, "load %s", "cfg"), -ENOENT);
        assert_string_equal(w.message, "load cfg: open 'x': No such file or directory");
        hd_error_done(&w);
        assert_int_equal(hd_error_wrap_r(&w, -EPERM, "bare"), -EPERM);
        assert_string_equal(w.message, "bare");
        hd_error_done(&w);
        /* Wrapping an empty error gives EIO and just the context. */
        struct hd_error c = HD_ERROR_INIT;
        assert_int_equal(hd_error_wrap(&c, "ctx"), -EIO);
        assert_string_equal(c.message, "ctx");
        hd_error_done(&c);
        /* A positioned error reads "file:line:column: message", without strerror(). */
        assert_int_equal(hd_error_setf_at(&c, EINVAL, "cfg.yaml", 3, 7, "bad '%s'", "x"), -EINVAL);
        assert_string_equal(c.message, "cfg.yaml:3:7: bad 'x'");
        assert_int_equal(c.code, EINVAL);
        hd_error_done(&c);
        assert_int_equal(hd_error_setf_at(NULL, ERANGE, "f", 1, 1, "no object"), -ERANGE);
}

static void test_strbuf_and_strv(void **state)
{
        struct hd_strbuf b = HD_STRBUF_INIT;
        hd_strbuf_puts(&b, "a");
        hd_strbuf_printf(&b, "-%d-", 42);
        for (int i = 0; i < 1000; i++)
                hd_strbuf_puts(&b, "x");
        assert_int_equal(b.len, 1005);
        assert_memory_equal(b.buf, "a-42-x", 6);
        hd_strbuf_done(&b);

        hd_strbuf_escape(&b, "q\"b\\n\n\x01");
        _cleanup_free_ char *esc = hd_strbuf_take(&b);
        assert_string_equal(esc, "q\\\"b\\\\n\\n\\u0001");
        _cleanup_free_ char *empty = hd_strbuf_take(&b);
        assert_string_equal(empty, "");

        _cleanup_strv_ char **v = NULL;
        hd_strv_push(&v, "one");
        hd_strv_consume(&v, hd_asprintf("t%s", "wo"));
        assert_int_equal(hd_strv_len(v), 2);
        assert_true(hd_strv_contains(v, "two"));
        assert_false(hd_strv_contains(v, "three"));
        assert_true(hd_endswith("file.json", ".json"));
        assert_false(hd_endswith("json", ".json"));
        assert_true(hd_startswith("k8s.x-claim_1", "k8s.x-"));
        _cleanup_strv_ char **copy = hd_strv_copy(v);
        assert_int_equal(hd_strv_len(copy), 2);
        assert_true(copy[0] != v[0]);
        assert_string_equal(copy[1], "two");
        assert_null(hd_strv_copy(NULL));
        struct hd_strbuf t = HD_STRBUF_INIT;
        hd_strbuf_puts(&t, "hello world");
        hd_strbuf_truncate(&t, 5);
        hd_strbuf_truncate(&t, 50);
        assert_int_equal(t.len, 5);
        assert_string_equal(t.buf, "hello");
        hd_strbuf_done(&t);
}

/* Run FN with stderr redirected into a temp file and return what it printed. */
static char *capture_stderr(void (*fn)(void))
{
        char path[] = "/tmp/hdlogXXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        int saved = dup(2);
        dup2(fd, 2);
        fn();
        dup2(saved, 2);
        close(saved);
        lseek(fd, 0, SEEK_SET);
        char *buf = hd_malloc0(4096);
        ssize_t n = read(fd, buf, 4095);
        assert_true(n > 0);
        close(fd);
        return buf;
}

static void log_text(void)
{
        hd_log_setup(0, HD_LOG_TEXT);
        hd_log_info("Prepared claim", "claim", "ns/a \"b\"", "devices", HD_INT(4));
        hd_log_v(2, "hidden at -v0");
}

static void log_json(void)
{
        hd_log_setup(2, HD_LOG_JSON);
        hd_log_v(2, "shown at -v2", "k", "v");
        hd_log_setup(0, HD_LOG_TEXT);
}

static void test_log_formats(void **state)
{
        _cleanup_free_ char *text = capture_stderr(log_text);
        assert_int_equal(text[0], 'I');
        assert_non_null(strstr(text, "test_base.c:"));
        assert_non_null(
                strstr(text, "] \"Prepared claim\" claim=\"ns/a \\\"b\\\"\" devices=\"4\"\n"));
        assert_null(strstr(text, "hidden"));
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *js = capture_stderr(log_json);
        j = json_loads(js, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "msg")), "shown at -v2");
        assert_string_equal(json_string_value(json_object_get(j, "k")), "v");
        assert_int_equal(json_integer_value(json_object_get(j, "v")), 2);
        enum hd_log_format f;
        assert_int_equal(hd_log_parse_format("json", &f), 0);
        assert_int_equal(f, HD_LOG_JSON);
        assert_int_equal(hd_log_parse_format("yaml", &f), -EINVAL);
}

static char *make_tmpdir(void)
{
        char tmpl[] = "/tmp/hdbaseXXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return hd_strdup(tmpl);
}

static int count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_atomic_write(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/spec.json", dir);
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(hd_atomic_write(path, "{\"a\":1}", 7, 0644, &e), 0);
        assert_int_equal(hd_atomic_write(path, "{\"b\":2}", 7, 0644, &e), 0);
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(hd_read_file(path, 1024, true, &data, &len, &e), 0);
        assert_int_equal(len, 7);
        assert_string_equal(data, "{\"b\":2}");
        free(data);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        /* No temporary file is left beside the target. */
        assert_int_equal(count_entries(dir), 1);
        /* Too big for the cap. */
        assert_int_equal(hd_read_file(path, 3, true, &data, &len, &e), -EFBIG);
        hd_error_done(&e);
        unlink(path);
        rmdir(dir);
}

static void test_atomic_write_refuses_symlink(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *victim = hd_asprintf("%s/victim", dir);
        _cleanup_free_ char *link = hd_asprintf("%s/spec.json", dir);
        assert_int_equal(hd_atomic_write(victim, "keep", 4, 0600, NULL), 0);
        assert_int_equal(symlink(victim, link), 0);
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(hd_atomic_write(link, "evil", 4, 0644, &e), -ELOOP);
        /* The message names the caller's path, once. */
        _cleanup_free_ char *want = hd_asprintf("refusing to replace symlink '%s'", link);
        assert_string_equal(e.message, want);
        hd_error_done(&e);
        /* The link and its target are untouched, and no temp file is left. */
        struct stat st;
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        char *data = NULL;
        assert_int_equal(hd_read_file(victim, 64, true, &data, NULL, NULL), 0);
        assert_string_equal(data, "keep");
        free(data);
        assert_int_equal(count_entries(dir), 2);
        /* Reading through a symlink with nofollow is refused too. */
        assert_int_equal(hd_read_file(link, 64, true, &data, NULL, NULL), -ELOOP);
        /* A symlinked directory is not opened with hd_dir_open. */
        _cleanup_free_ char *dirlink = hd_asprintf("%s/dirlink", dir);
        assert_int_equal(symlink(dir, dirlink), 0);
        assert_int_equal(hd_dir_open(dirlink, NULL), -ELOOP);
        unlink(dirlink);
        unlink(link);
        unlink(victim);
        rmdir(dir);
}

static void test_names_and_unlink(void **state)
{
        assert_true(hd_filename_is_safe("k8s.hostdev.example.com-claim_x.json"));
        assert_false(hd_filename_is_safe(""));
        assert_false(hd_filename_is_safe("."));
        assert_false(hd_filename_is_safe(".."));
        assert_false(hd_filename_is_safe("a/b"));
        assert_false(hd_filename_is_safe(NULL));
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_close_ int dfd = hd_dir_open(dir, NULL);
        assert_true(dfd >= 0);
        assert_int_equal(hd_atomic_write_at(dfd, "../escape", "x", 1, 0644, NULL), -EINVAL);
        assert_int_equal(hd_atomic_write_at(dfd, "f", "x", 1, 0644, NULL), 0);
        assert_int_equal(hd_unlink_at(dfd, "f", NULL), 0);
        assert_int_equal(hd_unlink_at(dfd, "f", NULL), 0); /* idempotent */
        assert_int_equal(hd_unlink_at(dfd, "..", NULL), -EINVAL);
        rmdir(dir);
}

static void test_mkdir_p(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *deep = hd_asprintf("%s/a/b/c/", dir);
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(hd_mkdir_p(deep, 0700, &e), 0);
        assert_int_equal(hd_mkdir_p(deep, 0700, &e), 0);
        struct stat st;
        assert_int_equal(stat(deep, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        _cleanup_free_ char *file = hd_asprintf("%s/a/file", dir);
        assert_int_equal(hd_atomic_write(file, "", 0, 0600, NULL), 0);
        _cleanup_free_ char *under = hd_asprintf("%s/sub", file);
        assert_true(hd_mkdir_p(under, 0700, &e) < 0);
        assert_non_null(strstr(e.message, "create directory"));
        hd_error_done(&e);
        unlink(file);
        _cleanup_free_ char *c = hd_asprintf("%s/a/b/c", dir);
        _cleanup_free_ char *b = hd_asprintf("%s/a/b", dir);
        _cleanup_free_ char *a = hd_asprintf("%s/a", dir);
        rmdir(c);
        rmdir(b);
        rmdir(a);
        rmdir(dir);
}

static void test_take_ptr(void **state)
{
        _cleanup_free_ char *p = hd_strdup("x");
        char *q = TAKE_PTR(p);
        assert_null(p);
        free(q);
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int fd2 = TAKE_FD(fd);
        assert_int_equal(fd, -1);
        close(fd2);
}

static void test_failpoint_spec_errors(void **state)
{
        (void)state;
        static const char *bad[] = {"x",           "=kill",        "p=",          "p=boom",
                                    "p=kill@0",    "p=kill@x",     "p=kill%0",    "p=kill%101",
                                    "p:=kill",     "p=sleep()",    "p=sleep(-1)", "p=kill@-1",
                                    "p=sleep(1x)", "a=kill,b=nope"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                struct hd_error e = HD_ERROR_INIT;
                assert_int_equal(hd_failpoints_setup(bad[i], &e), -EINVAL);
                assert_non_null(strstr(hd_error_message(&e), "HOSTDEV_FAILPOINTS"));
                hd_error_done(&e);
        }
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(hd_failpoints_setup("a=kill@3%50,b:*.json=sleep(5),c=kill", &e), 0);
        assert_int_equal(hd_failpoints_setup(NULL, &e), 0);
        hd_failpoint("c"); /* the table is empty again: no kill */
        hd_error_done(&e);
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_failpoint_sleep_matches_point_and_file(void **state)
{
        (void)state;
        assert_int_equal(hd_failpoints_setup("p:*.json=sleep(60)", NULL), 0);
        double t0 = now_ms();
        hd_failpoint("p");                /* no file: the glob does not match */
        hd_failpoint_file("p", "a.yaml"); /* wrong file */
        hd_failpoint_file("q", "a.json"); /* wrong point */
        assert_true(now_ms() - t0 < 50);
        t0 = now_ms();
        hd_failpoint_file("p", "a.json");
        assert_true(now_ms() - t0 >= 60);
        hd_failpoints_setup(NULL, NULL);
}

static int count_temps(const char *dir, const char *prefix)
{
        int n = 0;
        DIR *d = opendir(dir);
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] == '.' && strncmp(de->d_name + 1, prefix, strlen(prefix)) == 0 &&
                     hd_endswith(de->d_name, ".tmp");
        closedir(d);
        return n;
}

/* kill@2 at "before rename": the child dies by SIGKILL in its second write, leaving the first
 * write's content in place and its temp file behind, which hd_atomic_sweep() removes. */
static void test_failpoint_kill_on_nth_hit_and_sweep(void **state)
{
        (void)state;
        _cleanup_free_ char *dir = make_tmpdir();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                hd_failpoints_setup("fileio-before-rename:t.json=kill@2", NULL);
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                hd_atomic_write_at(dfd, "other.json", "x", 1, 0600, NULL);
                hd_atomic_write_at(dfd, "t.json", "one", 3, 0600, NULL);
                hd_atomic_write_at(dfd, "t.json", "two", 3, 0600, NULL);
                _exit(0);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);

        _cleanup_free_ char *path = hd_asprintf("%s/t.json", dir);
        char *data = NULL;
        assert_int_equal(hd_read_file(path, 100, true, &data, NULL, NULL), 0);
        assert_string_equal(data, "one");
        free(data);
        assert_int_equal(count_temps(dir, "t.json."), 1);

        /* look-alikes stay: another name, no 8-hex suffix, not hidden */
        const char *keep[] = {".t.jsonx.0123abcd.tmp", ".t.json.0123abcg.tmp",
                              "t.json.0123abcd.tmp", ".t.json.tmp"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
                _cleanup_free_ char *k = hd_asprintf("%s/%s", dir, keep[i]);
                assert_int_equal(hd_atomic_write(k, "k", 1, 0600, NULL), 0);
        }
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(hd_atomic_sweep(path, &e), 1);
        assert_int_equal(hd_atomic_sweep(path, &e), 0);
        _cleanup_close_ int dfd = hd_dir_open(dir, &e);
        assert_int_equal(hd_atomic_sweep_at(dfd, "t.json", &e), 1); /* a prefix: t.jsonx too */
        keep[0] = NULL;
        assert_int_equal(count_temps(dir, "t.json."), 2); /* only the two look-alikes */
        assert_int_equal(hd_read_file(path, 100, true, &data, NULL, NULL), 0);
        assert_string_equal(data, "one");
        free(data);
        for (size_t i = 1; i < sizeof(keep) / sizeof(*keep); i++) {
                _cleanup_free_ char *k = hd_asprintf("%s/%s", dir, keep[i]);
                assert_int_equal(unlink(k), 0);
        }
        _cleanup_free_ char *missing = hd_asprintf("%s/nodir/t.json", dir);
        assert_int_equal(hd_atomic_sweep(missing, &e), 0);
        hd_error_done(&e);
        _cleanup_free_ char *other = hd_asprintf("%s/other.json", dir);
        assert_int_equal(unlink(other), 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* ---- JSON field tables (moved from test_kube with the decoder) ---- */

struct thing {
        char *name;
        int64_t count;
        bool ready;
        json_t *spec;
        json_t *items;
        char **labels;
        char **finalizers;
};

#define F(jtype, member, path, ...) HD_JSON_FIELD(jtype, struct thing, member, path, __VA_ARGS__)
static const struct hd_json_field thing_fields[] = {
        F(HD_JSON_STRING, name, "metadata.name", .required = true),
        F(HD_JSON_INT, count, "spec.count"),
        F(HD_JSON_BOOL, ready, "status.ready"),
        F(HD_JSON_OBJECT, spec, "spec", .required = true),
        F(HD_JSON_ARRAY, items, "spec.items"),
        F(HD_JSON_STRMAP, labels, "metadata.labels"),
        F(HD_JSON_STRV, finalizers, "metadata.finalizers"),
};
#undef F
static const struct hd_json_table thing_table = HD_JSON_TABLE(struct thing, thing_fields);

static int decode_text(const char *text, const struct hd_json_table *t, void *out,
                       struct hd_error *e)
{
        _cleanup_json_ json_t *j = NULL;
        assert_int_equal(hd_json_parse(text, strlen(text), 0, "test", &j, NULL), 0);
        return hd_json_decode(j, t, out, NULL, e);
}

static void test_json_field_table(void **state)
{
        struct thing t = {0};
        struct hd_error e = HD_ERROR_INIT;

        assert_int_equal(decode_text("{\"metadata\":{\"name\":\"a\",\"labels\":{\"k\":\"v\",\"x\":"
                                     "\"y\"},\"finalizers\":[\"f1\"]},\"spec\":{\"count\":4,"
                                     "\"items\":[1]},\"status\":{\"ready\":true}}",
                                     &thing_table, &t, &e),
                         0);
        assert_string_equal(t.name, "a");
        assert_int_equal(t.count, 4);
        assert_true(t.ready);
        assert_int_equal(json_array_size(t.items), 1);
        assert_string_equal(t.labels[2], "x");
        assert_string_equal(t.labels[3], "y");
        assert_string_equal(t.finalizers[0], "f1");
        hd_json_decode_done(&thing_table, &t);
        assert_null(t.name);
        assert_null(t.spec);

        /* optional fields absent or null */
        assert_int_equal(decode_text("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"count\":null}}",
                                     &thing_table, &t, &e),
                         0);
        assert_int_equal(t.count, 0);
        assert_null(t.labels);
        hd_json_decode_done(&thing_table, &t);

        /* errors name the field */
        struct {
                const char *text, *msg;
        } bad[] = {
                {"{\"spec\":{}}", "metadata.name: required field missing"},
                {"{\"metadata\":{\"name\":1},\"spec\":{}}",
                 "metadata.name: expected a string, got a number"},
                {"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"count\":\"4\"}}",
                 "spec.count: expected an integer, got a string"},
                {"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"count\":1.5}}",
                 "spec.count: expected an integer, got a number"},
                /* spec.count is looked up first and names the parent that is not an object */
                {"{\"metadata\":{\"name\":\"a\"},\"spec\":[]}",
                 "spec: expected an object, got an array"},
                {"{\"metadata\":{\"name\":\"a\"},\"spec\":{},\"status\":{\"ready\":\"yes\"}}",
                 "status.ready: expected a boolean, got a string"},
                {"{\"metadata\":{\"name\":\"a\",\"labels\":{\"k\":1}},\"spec\":{}}",
                 "metadata.labels.k: expected a string, got a number"},
                {"{\"metadata\":{\"name\":\"a\",\"finalizers\":[\"x\",false]},\"spec\":{}}",
                 "metadata.finalizers[1]: expected a string, got a boolean"},
                {"{\"metadata\":\"a\"}", "metadata: expected an object, got a string"},
                {"[]", "(root): expected an object, got an array"},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                assert_int_equal(decode_text(bad[i].text, &thing_table, &t, &e), -EINVAL);
                assert_string_equal(e.message, bad[i].msg);
                hd_json_decode_done(&thing_table, &t);
                assert_null(t.name);
                assert_null(t.labels);
        }
        hd_error_done(&e);
}

static void test_json_getters(void **state)
{
        _cleanup_json_ json_t *j = json_loads("{\"a\":{\"b\":{\"c\":\"x\",\"n\":3,\"t\":false,"
                                              "\"o\":{},\"l\":[]}}}",
                                              0, NULL);
        struct hd_error e = HD_ERROR_INIT;
        const char *s = NULL;
        int64_t n = 0;
        bool b = true;
        json_t *o = NULL;

        assert_int_equal(hd_json_get_string(j, "a.b.c", true, &s, &e), 0);
        assert_string_equal(s, "x");
        assert_int_equal(hd_json_get_int(j, "a.b.n", true, &n, &e), 0);
        assert_int_equal(n, 3);
        assert_int_equal(hd_json_get_bool(j, "a.b.t", true, &b, &e), 0);
        assert_false(b);
        assert_int_equal(hd_json_get_object(j, "a.b.o", true, &o, &e), 0);
        assert_true(json_is_object(o));
        assert_int_equal(hd_json_get_array(j, "a.b.l", true, &o, &e), 0);
        assert_true(json_is_array(o));
        /* an absent optional value is success and leaves the preset default */
        s = "default";
        assert_int_equal(hd_json_get_string(j, "a.b.missing", false, &s, &e), 0);
        assert_string_equal(s, "default");
        assert_int_equal(hd_json_get_string(j, "a.b.missing", true, &s, &e), -EINVAL);
        assert_string_equal(e.message, "a.b.missing: required field missing");
        assert_int_equal(hd_json_get_string(j, "a.b.c.d", false, &s, &e), -EINVAL);
        assert_string_equal(e.message, "a.b.c: expected an object, got a string");
        assert_int_equal(hd_json_get_array(j, "a.b.o", true, &o, &e), -EINVAL);
        assert_string_equal(e.message, "a.b.o: expected an array, got an object");
        assert_int_equal(hd_json_get_bool(j, "a.b.n", true, &b, &e), -EINVAL);
        assert_string_equal(e.message, "a.b.n: expected a boolean, got a number");
        assert_int_equal(hd_json_get_string(NULL, "a", false, &s, &e), -EINVAL);
        assert_string_equal(e.message, "(root): expected an object, got nothing");
        hd_error_done(&e);
}

/* Nested tables: lists of structs and of pointers, an optional sub-struct, caps, strictness. */
struct leaf {
        char *id;
        uint32_t port;
        bool has_port;
};

struct tree {
        char *name;
        struct leaf *leaves;
        size_t n_leaves;
        struct leaf **refs;
        size_t n_refs;
        struct leaf *main;
        json_t *raw;
        int answer;
};

static const struct hd_json_field leaf_fields[] = {
        HD_JSON_FIELD(HD_JSON_STRING, struct leaf, id, "id", .required = true),
        HD_JSON_FIELD(HD_JSON_UINT32, struct leaf, port, "port",
                      HD_JSON_PRESENT(struct leaf, has_port)),
};
static const struct hd_json_table leaf_table =
        HD_JSON_TABLE(struct leaf, leaf_fields, .name = "leaf", .strict = true, .max_string = 4);

static int answer_cb(json_t *value, void *slot, const char *path, struct hd_error *reterr)
{
        if (!json_is_integer(value) || json_integer_value(value) != 42)
                return hd_error_setf(reterr, EINVAL, "%s: not the answer", path);
        *(int *)slot = 42;
        return 0;
}

#define T(jtype, member, path, ...) HD_JSON_FIELD(jtype, struct tree, member, path, __VA_ARGS__)
static const struct hd_json_field tree_fields[] = {
        T(HD_JSON_STRING, name, "name"),
        T(HD_JSON_LIST, leaves, "leaves", .sub = &leaf_table, .max = 2,
          HD_JSON_COUNT(struct tree, n_leaves)),
        T(HD_JSON_PTR_LIST, refs, "refs", .sub = &leaf_table, HD_JSON_COUNT(struct tree, n_refs)),
        T(HD_JSON_STRUCT_PTR, main, "main", .sub = &leaf_table),
        T(HD_JSON_ANY, raw, "raw", .max = 8),
        T(HD_JSON_CUSTOM, answer, "answer", .decode_cb = answer_cb),
};
#undef T
static const struct hd_json_table tree_table = HD_JSON_TABLE(struct tree, tree_fields);

static void test_json_nested_tables(void **state)
{
        struct tree t = {0};
        struct hd_error e = HD_ERROR_INIT;

        assert_int_equal(decode_text("{\"name\":\"t\",\"leaves\":[{\"id\":\"a\",\"port\":80},"
                                     "{\"id\":\"b\"}],\"refs\":[{\"id\":\"c\"}],\"main\":{\"id\":"
                                     "\"m\",\"port\":4294967295},\"raw\":[1,2],\"answer\":42,"
                                     "\"ignored\":true}",
                                     &tree_table, &t, &e),
                         0);
        assert_int_equal(t.n_leaves, 2);
        assert_string_equal(t.leaves[1].id, "b");
        assert_true(t.leaves[0].has_port);
        assert_int_equal(t.leaves[0].port, 80);
        assert_false(t.leaves[1].has_port);
        assert_int_equal(t.n_refs, 1);
        assert_string_equal(t.refs[0]->id, "c");
        assert_int_equal(t.main->port, UINT32_MAX);
        assert_int_equal(json_array_size(t.raw), 2);
        assert_int_equal(t.answer, 42);
        hd_json_decode_done(&tree_table, &t);
        assert_null(t.leaves);
        assert_int_equal(t.n_refs, 0);
        assert_null(t.main);

        struct {
                const char *text, *msg;
        } bad[] = {
                {"{\"leaves\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]}",
                 "leaves: 3 entries; at most 2 are accepted"},
                {"{\"refs\":[{\"id\":\"a\"},{\"id\":\"b\",\"extra\":1}]}",
                 "refs[1]: unknown field \"extra\" in leaf"},
                {"{\"refs\":[{\"id\":\"a\"},7]}", "refs[1]: expected a leaf object, got a number"},
                {"{\"main\":{\"id\":\"toolong\"}}", "main.id: string longer than 4 bytes"},
                {"{\"main\":{\"id\":\"a\",\"port\":-1}}",
                 "main.port: -1 out of range 0..4294967295"},
                {"{\"leaves\":[{\"port\":1}]}", "leaves[0].id: required field missing"},
                {"{\"raw\":\"0123456789\"}", "raw: larger than 8 bytes"},
                {"{\"answer\":41}", "answer: not the answer"},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
                assert_int_equal(decode_text(bad[i].text, &tree_table, &t, &e), -EINVAL);
                assert_string_equal(e.message, bad[i].msg);
                /* what was decoded before the failure is consistent and freed here */
                hd_json_decode_done(&tree_table, &t);
                assert_null(t.refs);
        }
        hd_error_done(&e);
}

static void test_json_parse(void **state)
{
        _cleanup_json_ json_t *j = NULL;
        struct hd_error e = HD_ERROR_INIT;

        assert_int_equal(
                hd_json_parse("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, "doc", &j, &e),
                -EINVAL);
        assert_true(hd_startswith(e.message, "doc: line 1 column"));
        assert_int_equal(hd_json_parse("{}\0{}", 5, 0, "doc", &j, &e), -EINVAL);
        assert_string_equal(e.message, "doc: contains a NUL byte");
        assert_int_equal(hd_json_parse("{\"a\":1}", 7, 0, "doc", &j, &e), 0);
        assert_true(json_is_object(j));
        hd_error_done(&e);
}

static int count_parse_cb(const char *path, const char *data, size_t len, void *userdata,
                          struct hd_error *reterr)
{
        if (len == 0)
                return hd_error_setf(reterr, EINVAL, "%s: empty", path);
        *(size_t *)userdata = len;
        return 0;
}

static void test_read_file_parse(void **state)
{
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *path = hd_asprintf("%s/f", dir);
        struct hd_error e = HD_ERROR_INIT;
        size_t len = 0;

        assert_int_equal(hd_read_file_parse(path, 8, true, "probe", count_parse_cb, &len, &e),
                         -ENOENT);
        assert_true(hd_startswith(e.message, "probe: open '"));
        assert_int_equal(hd_atomic_write(path, "", 0, 0600, NULL), 0);
        assert_int_equal(hd_read_file_parse(path, 8, true, "probe", count_parse_cb, &len, &e),
                         -EINVAL);
        assert_non_null(strstr(e.message, "/f: empty"));
        assert_int_equal(hd_atomic_write(path, "123456789", 9, 0600, NULL), 0);
        assert_int_equal(hd_read_file_parse(path, 8, true, "probe", count_parse_cb, &len, &e),
                         -EFBIG);
        assert_int_equal(hd_read_file_parse(path, 9, true, NULL, count_parse_cb, &len, &e), 0);
        assert_int_equal(len, 9);
        unlink(path);
        rmdir(dir);
        hd_error_done(&e);
}

static void test_deadline_after_ms(void **state)
{
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        struct timespec d = hd_deadline_after_ms(CLOCK_MONOTONIC, 1999);
        clock_gettime(CLOCK_MONOTONIC, &after);
        long long ns = d.tv_sec * 1000000000LL + d.tv_nsec;
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        assert_true(ns >= before.tv_sec * 1000000000LL + before.tv_nsec + 1999000000LL);
        assert_true(ns <= after.tv_sec * 1000000000LL + after.tv_nsec + 1999000000LL);
        /* zero and negative waits are "now" */
        d = hd_deadline_after_ms(CLOCK_MONOTONIC, -5);
        clock_gettime(CLOCK_MONOTONIC, &after);
        assert_true(d.tv_sec * 1000000000LL + d.tv_nsec <=
                    after.tv_sec * 1000000000LL + after.tv_nsec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_chain),
                cmocka_unit_test(test_error_setf_and_move),
                cmocka_unit_test(test_strbuf_and_strv),
                cmocka_unit_test(test_log_formats),
                cmocka_unit_test(test_atomic_write),
                cmocka_unit_test(test_atomic_write_refuses_symlink),
                cmocka_unit_test(test_names_and_unlink),
                cmocka_unit_test(test_mkdir_p),
                cmocka_unit_test(test_take_ptr),
                cmocka_unit_test(test_failpoint_spec_errors),
                cmocka_unit_test(test_failpoint_sleep_matches_point_and_file),
                cmocka_unit_test(test_failpoint_kill_on_nth_hit_and_sweep),
                cmocka_unit_test(test_json_field_table),
                cmocka_unit_test(test_json_getters),
                cmocka_unit_test(test_json_nested_tables),
                cmocka_unit_test(test_json_parse),
                cmocka_unit_test(test_read_file_parse),
                cmocka_unit_test(test_deadline_after_ms),
        };
        return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
