/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for kube/ configuration: kubeconfig files and in-cluster service accounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kube/kube.h"

static char tmpdir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

static int setup(void **state)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/kube-cfg-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        return 0;
}

static int teardown(void **state)
{
        nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
        unsetenv("KUBERNETES_SERVICE_HOST");
        unsetenv("KUBERNETES_SERVICE_PORT");
        unsetenv("HOSTDEV_SERVICEACCOUNT_DIR");
        return 0;
}

static char *write_file(const char *name, const char *text)
{
        char *path = hd_asprintf("%s/%s", tmpdir, name);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return path;
}

/* Load TEXT as a kubeconfig; returns the r and fills *cfg / *e. */
static int load(const char *text, const char *context, struct kube_config **cfg, struct hd_error *e)
{
        _cleanup_free_ char *p = write_file("config", text);
        *cfg = NULL;
        return kube_config_load_kubeconfig(p, context, cfg, e);
}

static const char two_contexts[] =
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: prod\n"
        "  cluster:\n"
        "    server: https://10.0.0.1:6443/\n"
        "    certificate-authority: pki/ca.crt\n"
        "- name: sim\n"
        "  cluster:\n"
        "    server: https://127.0.0.1:1234\n"
        "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
        "contexts:\n"
        "- name: prod\n"
        "  context: {cluster: prod, user: robot, namespace: drivers}\n"
        "- name: sim\n"
        "  context:\n"
        "    cluster: sim\n"
        "    user: admin\n"
        "current-context: sim\n"
        "users:\n"
        "- name: admin\n"
        "  user:\n"
        "    token: abc123\n"
        "    client-certificate-data: Y2VydA==\n"
        "    client-key-data: a2V5\n"
        "- name: robot\n"
        "  user:\n"
        "    tokenFile: /var/run/token\n"
        "    client-certificate: certs/robot.crt\n"
        "    client-key: /abs/robot.key\n";

static void test_current_context_data_fields(void **state)
{
        struct kube_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(load(two_contexts, NULL, &c, &e), 0);
        assert_string_equal(c->server, "https://127.0.0.1:1234");
        assert_null(c->ca_file);
        assert_int_equal(c->ca_data_len, 28);
        assert_memory_equal(c->ca_data, "-----BEGIN CERTIFICATE-----\n", 28);
        assert_string_equal(c->token, "abc123");
        assert_null(c->token_file);
        assert_int_equal(c->client_cert_data_len, 4);
        assert_memory_equal(c->client_cert_data, "cert", 4);
        assert_memory_equal(c->client_key_data, "key", 3);
        assert_null(c->namespace);
        assert_false(c->insecure_skip_tls_verify);
        assert_non_null(strstr(c->kubeconfig_path, tmpdir));
        kube_config_free(c);
}

static void test_named_context_file_fields(void **state)
{
        struct kube_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(load(two_contexts, "prod", &c, &e), 0);
        assert_string_equal(c->server, "https://10.0.0.1:6443"); /* trailing '/' dropped */
        _cleanup_free_ char *ca = hd_asprintf("%s/pki/ca.crt", tmpdir);
        _cleanup_free_ char *crt = hd_asprintf("%s/certs/robot.crt", tmpdir);
        assert_string_equal(c->ca_file, ca); /* relative to the kubeconfig's directory */
        assert_null(c->ca_data);
        assert_null(c->token);
        assert_string_equal(c->token_file, "/var/run/token");
        assert_string_equal(c->client_cert_file, crt);
        assert_string_equal(c->client_key_file, "/abs/robot.key");
        assert_string_equal(c->namespace, "drivers");
        kube_config_free(c);
}

static void test_insecure(void **state)
{
        struct kube_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(load("clusters:\n- name: a\n  cluster:\n    server: https://h:1\n"
                              "    insecure-skip-tls-verify: true\n"
                              "contexts:\n- name: a\n  context: {cluster: a}\n"
                              "current-context: a\n",
                              NULL, &c, &e),
                         0);
        assert_true(c->insecure_skip_tls_verify);
        assert_null(c->token);
        /* the library hands the program a warning to log at every start */
        _cleanup_strv_ char **w = kube_config_warnings(c);
        assert_int_equal(hd_strv_len(w), 1);
        assert_string_equal(w[0], "server \"https://h:1\": insecure-skip-tls-verify is set: the "
                                  "API server's certificate is not verified and anyone on the "
                                  "path can read the credentials");
        kube_config_free(c);
}

/* A bearer token went out in clear text to an http:// server. Credentials travel over plain
 * HTTP only to a loopback address; anything else is a config error naming the server. */
static void test_plain_http_credentials(void **state)
{
        static const char tail[] = "contexts:\n- name: a\n  context: {cluster: a, user: u}\n"
                                   "current-context: a\n";
        static const struct {
                const char *server, *user;
                bool ok;
        } cases[] = {
                {"http://10.0.0.1:8080", "{token: secret}", false},
                {"http://api.example.com", "{tokenFile: /var/run/token}", false},
                {"http://127.0.0.1.example.com:80", "{token: secret}", false},
                {"http://[fd00::1]:8080", "{token: secret}", false},
                {"http://10.0.0.1:8080",
                 "{client-certificate-data: 'Y2VydA==', client-key-data: 'a2V5'}", false},
                {"http://127.0.0.1:8080", "{token: secret}", true},
                {"http://127.8.9.10:8080/", "{token: secret}", true},
                {"http://localhost:8001", "{tokenFile: /var/run/token}", true},
                {"http://[::1]:8080", "{token: secret}", true},
                {"http://10.0.0.1:8080", "{}", true}, /* nothing to leak */
                {"https://10.0.0.1:6443", "{token: secret}", true},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                struct kube_config *c = NULL;
                struct hd_error e = HD_ERROR_INIT;
                _cleanup_free_ char *text = hd_asprintf(
                        "clusters:\n- name: a\n  cluster: {server: '%s'}\n"
                        "users:\n- name: u\n  user: %s\n%s",
                        cases[i].server, cases[i].user, tail);
                int r = load(text, NULL, &c, &e);
                if (cases[i].ok) {
                        if (r != 0)
                                fail_msg("case %zu: %s", i, hd_error_message(&e));
                        kube_config_free(c);
                        continue;
                }
                if (r != -EINVAL)
                        fail_msg("case %zu: accepted %s", i, cases[i].server);
                assert_null(c);
                _cleanup_free_ char *want = hd_asprintf(
                        "kubeconfig '%s/config': cluster \"a\": server \"%s\": refusing to send "
                        "credentials over plain HTTP to a non-loopback address; use https://",
                        tmpdir, cases[i].server);
                assert_string_equal(e.message, want);
                hd_error_done(&e);
        }

        /* The client checks a hand-built config too. */
        struct kube_config cfg = {.server = "http://10.0.0.1:8080", .token = "secret"};
        struct kube_client *client = NULL;
        struct hd_error e = HD_ERROR_INIT;
        assert_int_equal(kube_client_new(&cfg, NULL, &client, &e), -EINVAL);
        assert_null(client);
        assert_string_equal(e.message, "kube client: server \"http://10.0.0.1:8080\": refusing "
                                       "to send credentials over plain HTTP to a non-loopback "
                                       "address; use https://");
        hd_error_done(&e);
        cfg.token = NULL;
        assert_int_equal(kube_client_new(&cfg, NULL, &client, &e), 0);
        kube_client_free(client);
        _cleanup_strv_ char **w = kube_config_warnings(&cfg);
        assert_int_equal(hd_strv_len(w), 1);
        assert_string_equal(w[0], "server \"http://10.0.0.1:8080\": plain HTTP without TLS");
}

static void test_errors_name_the_field(void **state)
{
        static const char ctx_a[] = "contexts:\n- name: a\n  context: {cluster: a, user: u}\n"
                                    "current-context: a\n";
        struct {
                const char *text;
                int code;
                const char *msg; /* after "kubeconfig '<path>': " */
        } cases[] = {
                {"clusters: []\n", EINVAL, "current-context is not set"},
                {"current-context: nope\ncontexts: []\n", EINVAL, "context \"nope\" not found"},
                {"current-context: a\ncontexts:\n- name: a\n  context: {user: u}\n", EINVAL,
                 "context \"a\": cluster is missing"},
                {"current-context: a\ncontexts:\n- name: a\n  context: 5\n", EINVAL,
                 "contexts[0] (\"a\"): context: expected a mapping"},
                {ctx_a, EINVAL, "context \"a\": cluster \"a\" not found"},
                {"clusters:\n- name: a\n  cluster: {certificate-authority: x}\n", EINVAL,
                 "cluster \"a\": server is missing"},
                {"clusters:\n- name: a\n  cluster: {server: ftp://x}\n", EINVAL,
                 "cluster \"a\": server \"ftp://x\": must start with https:// or http://"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x', "
                 "certificate-authority-data: '!!notbase64'}\n",
                 EINVAL, "cluster \"a\": certificate-authority-data: invalid base64"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x', "
                 "certificate-authority: ca.crt, insecure-skip-tls-verify: true}\n",
                 EINVAL,
                 "cluster \"a\": insecure-skip-tls-verify: not allowed together with a certificate "
                 "authority"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x'}\n", EINVAL,
                 "context \"a\": user \"u\" not found"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x'}\n"
                 "users:\n- name: u\n  user: {client-certificate: c.crt}\n",
                 EINVAL, "user \"u\": client-key is missing (client-certificate is set)"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x'}\n"
                 "users:\n- name: u\n  user: {client-key-data: 'a2V5'}\n",
                 EINVAL, "user \"u\": client-certificate is missing (client-key is set)"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x'}\n"
                 "users:\n- name: u\n  user:\n    exec: {command: aws}\n",
                 EOPNOTSUPP, "user \"u\": exec: credential plugins are not supported"},
                {"clusters:\n- name: a\n  cluster: {server: 'https://x'}\n"
                 "users:\n- name: u\n  user: {client-key-data: 'a$$'}\n",
                 EINVAL, "user \"u\": client-key-data: invalid base64"},
                {"clusters: [\n", EINVAL, NULL},
                {"- just\n- a list\n", EINVAL, "not a kubeconfig (expected a mapping)"},
        };
        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
                struct kube_config *c = NULL;
                struct hd_error e = HD_ERROR_INIT;
                _cleanup_free_ char *text = NULL;
                bool with_ctx = i >= 5 && i <= 13;
                text = hd_asprintf("%s%s", with_ctx ? ctx_a : "", cases[i].text);
                int r = load(text, NULL, &c, &e);
                if (r != -cases[i].code)
                        fail_msg("case %zu: r=%d message=%s", i, r, hd_error_message(&e));
                assert_null(c);
                _cleanup_free_ char *prefix = hd_asprintf("kubeconfig '%s/config': ", tmpdir);
                assert_true(hd_startswith(e.message, prefix));
                if (cases[i].msg && strcmp(e.message + strlen(prefix), cases[i].msg) != 0)
                        fail_msg("case %zu: got \"%s\"", i, e.message + strlen(prefix));
                hd_error_done(&e);
        }
}

static void test_missing_file(void **state)
{
        struct kube_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        _cleanup_free_ char *p = hd_asprintf("%s/none", tmpdir);
        assert_int_equal(kube_config_load(p, &c, &e), -ENOENT);
        assert_true(hd_startswith(e.message, "kubeconfig: "));
        assert_non_null(strstr(e.message, "No such file or directory"));
        hd_error_done(&e);
}

static void test_incluster(void **state)
{
        struct kube_config *c = NULL;
        struct hd_error e = HD_ERROR_INIT;
        free(write_file("token", "tok\n"));
        free(write_file("ca.crt", "PEM"));
        free(write_file("namespace", "kube-system\n"));

        /* not in a cluster */
        assert_int_equal(kube_config_load_incluster(tmpdir, &c, &e), -ENOENT);
        assert_non_null(strstr(e.message, "KUBERNETES_SERVICE_HOST"));

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        assert_int_equal(kube_config_load_incluster(tmpdir, &c, &e), 0);
        assert_string_equal(c->server, "https://10.96.0.1:443");
        _cleanup_free_ char *tok = hd_asprintf("%s/token", tmpdir);
        _cleanup_free_ char *ca = hd_asprintf("%s/ca.crt", tmpdir);
        assert_string_equal(c->token_file, tok);
        assert_null(c->token);
        assert_string_equal(c->ca_file, ca);
        assert_string_equal(c->namespace, "kube-system");
        assert_null(c->kubeconfig_path);
        c = kube_config_free(c);

        /* IPv6 host, dir from the environment through kube_config_load(NULL) */
        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        setenv("HOSTDEV_SERVICEACCOUNT_DIR", tmpdir, 1);
        assert_int_equal(kube_config_load(NULL, &c, &e), 0);
        assert_string_equal(c->server, "https://[fd00::1]:443");
        c = kube_config_free(c);

        /* missing token file names the path */
        unlink(tok);
        assert_int_equal(kube_config_load_incluster(NULL, &c, &e), -ENOENT);
        _cleanup_free_ char *want =
                hd_asprintf("in-cluster config: token '%s': No such file or directory", tok);
        assert_string_equal(e.message, want);
        hd_error_done(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_current_context_data_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_named_context_file_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insecure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_plain_http_credentials, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors_name_the_field, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_incluster, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
