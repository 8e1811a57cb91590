/* SPDX-License-Identifier: Apache-2.0 */
/* Client configuration: kubeconfig files (libyaml document API) and in-cluster service accounts. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "base/cleanup-yaml.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "kube/cleanup.h"
#include "kube/kube-internal.h"
#include "kube/kube.h"

#define KUBECONFIG_MAX_BYTES (4u << 20)
#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config *kube_config_free(struct kube_config *c)
{
        if (!c)
                return NULL;
        free(c->server);
        free(c->ca_file);
        free(c->ca_data);
        if (c->token)
                explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        free(c->token_file);
        free(c->client_cert_file);
        free(c->client_cert_data);
        free(c->client_key_file);
        if (c->client_key_data)
                explicit_bzero(c->client_key_data, c->client_key_data_len);
        free(c->client_key_data);
        free(c->namespace);
        free(c->kubeconfig_path);
        free(c);
        return NULL;
}

/* ---- base64 -------------------------------------------------------------------------------- */

static int b64_value(unsigned char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+' || ch == '-')
                return 62;
        if (ch == '/' || ch == '_')
                return 63;
        return -1;
}

int kube_base64_decode(const char *in, char **ret, size_t *ret_len)
{
        size_t n = strlen(in);
        _cleanup_free_ char *out = hd_malloc0(n / 4 * 3 + 4);
        size_t len = 0;
        uint32_t acc = 0;
        int bits = 0;
        bool padding = false;

        for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
                if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
                        continue;
                if (*s == '=') {
                        padding = true;
                        continue;
                }
                int v = b64_value(*s);
                if (v < 0 || padding)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[len++] = (char)((acc >> bits) & 0xff);
                }
        }
        if (bits >= 6) /* a single dangling sextet cannot encode a byte */
                return -EINVAL;
        out[len] = '\0';
        *ret = TAKE_PTR(out);
        *ret_len = len;
        return 0;
}

/* ---- YAML document walking ----------------------------------------------------------------- */

static const char *yscalar(yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
        if (!map || map->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                const char *k = yscalar(yaml_document_get_node(d, p->key));
                if (hd_streq(k, key))
                        return yaml_document_get_node(d, p->value);
        }
        return NULL;
}

/* A non-empty scalar string under KEY, or NULL (also for "~"/"null"). */
static const char *ymap_str(yaml_document_t *d, yaml_node_t *map, const char *key)
{
        yaml_node_t *n = ymap_get(d, map, key);
        const char *s = yscalar(n);
        if (!s || !*s)
                return NULL;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
                return NULL;
        return s;
}

/* Find the entry named NAME in the list under LIST_KEY ("clusters": [{name, cluster}]) and
 * return its ITEM_KEY mapping. Returns 0 and *ret (NULL when not found), or -EINVAL. */
static int ynamed(yaml_document_t *d, yaml_node_t *root, const char *list_key, const char *item_key,
                  const char *name, yaml_node_t **ret, struct hd_error *reterr)
{
        *ret = NULL;
        yaml_node_t *list = ymap_get(d, root, list_key);
        if (!list)
                return 0;
        if (list->type != YAML_SEQUENCE_NODE)
                return hd_error_setf(reterr, EINVAL, "%s: expected a list", list_key);
        size_t i = 0;
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++, i++) {
                yaml_node_t *e = yaml_document_get_node(d, *it);
                if (!hd_streq(ymap_str(d, e, "name"), name))
                        continue;
                yaml_node_t *body = ymap_get(d, e, item_key);
                if (!body || body->type != YAML_MAPPING_NODE)
                        return hd_error_setf(reterr, EINVAL,
                                             "%s[%zu] (\"%s\"): %s: expected a mapping", list_key,
                                             i, name, item_key);
                *ret = body;
                return 0;
        }
        return 0;
}

/* PATH as given when absolute, else relative to the kubeconfig's directory. */
static char *resolve_path(const char *kubeconfig, const char *path)
{
        if (path[0] == '/')
                return hd_strdup(path);
        _cleanup_free_ char *copy = hd_strdup(kubeconfig);
        return hd_asprintf("%s/%s", dirname(copy), path);
}

static int decode_data(const char *field, const char *b64, char **ret, size_t *ret_len,
                       struct hd_error *reterr)
{
        if (kube_base64_decode(b64, ret, ret_len) < 0)
                return hd_error_setf(reterr, EINVAL, "%s: invalid base64", field);
        return 0;
}

static int parse_cluster(const char *path, yaml_document_t *d, yaml_node_t *cl,
                         struct kube_config *c, struct hd_error *reterr)
{
        const char *server = ymap_str(d, cl, "server");
        if (!server)
                return hd_error_setf(reterr, EINVAL, "server is missing");
        if (!hd_startswith(server, "https://") && !hd_startswith(server, "http://"))
                return hd_error_setf(reterr, EINVAL,
                                     "server \"%s\": must start with https:// or http://", server);
        c->server = hd_strdup(server);
        size_t n = strlen(c->server);
        while (n > 0 && c->server[n - 1] == '/')
                c->server[--n] = '\0';

        const char *ca = ymap_str(d, cl, "certificate-authority");
        const char *ca_data = ymap_str(d, cl, "certificate-authority-data");
        if (ca_data) {
                int r = decode_data("certificate-authority-data", ca_data, &c->ca_data,
                                    &c->ca_data_len, reterr);
                if (r < 0)
                        return r;
        } else if (ca) {
                c->ca_file = resolve_path(path, ca);
        }
        const char *insecure = ymap_str(d, cl, "insecure-skip-tls-verify");
        if (insecure && (strcmp(insecure, "true") == 0 || strcmp(insecure, "True") == 0)) {
                if (ca || ca_data)
                        return hd_error_setf(reterr, EINVAL,
                                             "insecure-skip-tls-verify: not allowed together with "
                                             "a certificate authority");
                c->insecure_skip_tls_verify = true;
        }
        return 0;
}

static int parse_user(const char *path, yaml_document_t *d, yaml_node_t *u, struct kube_config *c,
                      struct hd_error *reterr)
{
        int r;

        if (ymap_get(d, u, "exec"))
                return hd_error_setf(reterr, EOPNOTSUPP,
                                     "exec: credential plugins are not supported");
        if (ymap_get(d, u, "auth-provider"))
                return hd_error_setf(reterr, EOPNOTSUPP, "auth-provider: not supported");
        if (ymap_str(d, u, "username") || ymap_str(d, u, "password"))
                return hd_error_setf(reterr, EOPNOTSUPP,
                                     "username/password: basic auth is not supported");

        c->token = hd_strdup(ymap_str(d, u, "token"));
        const char *tf = ymap_str(d, u, "tokenFile");
        if (tf)
                c->token_file = resolve_path(path, tf);

        const char *cert = ymap_str(d, u, "client-certificate");
        const char *cert_data = ymap_str(d, u, "client-certificate-data");
        const char *key = ymap_str(d, u, "client-key");
        const char *key_data = ymap_str(d, u, "client-key-data");
        if (cert_data) {
                r = decode_data("client-certificate-data", cert_data, &c->client_cert_data,
                                &c->client_cert_data_len, reterr);
                if (r < 0)
                        return r;
        } else if (cert) {
                c->client_cert_file = resolve_path(path, cert);
        }
        if (key_data) {
                r = decode_data("client-key-data", key_data, &c->client_key_data,
                                &c->client_key_data_len, reterr);
                if (r < 0)
                        return r;
        } else if (key) {
                c->client_key_file = resolve_path(path, key);
        }
        bool has_cert = cert || cert_data, has_key = key || key_data;
        if (has_cert && !has_key)
                return hd_error_setf(reterr, EINVAL,
                                     "client-key is missing (client-certificate is set)");
        if (has_key && !has_cert)
                return hd_error_setf(reterr, EINVAL,
                                     "client-certificate is missing (client-key is set)");
        return 0;
}

/* The host of URL "scheme://host[:port][/...]" ("[v6]" without brackets); caller frees. */
static char *url_host(const char *url)
{
        const char *h = strstr(url, "://");
        h = h ? h + 3 : url;
        const char *at = strpbrk(h, "@/");
        if (at && *at == '@')
                h = at + 1;
        if (*h == '[') {
                const char *close = strchr(h, ']');
                return close ? hd_strndup(h + 1, (size_t)(close - h - 1)) : hd_strdup(h + 1);
        }
        return hd_strndup(h, strcspn(h, ":/?#"));
}

bool kube_url_is_loopback(const char *url)
{
        _cleanup_free_ char *host = url_host(url);
        struct in_addr a4;
        struct in6_addr a6;
        if (strcasecmp(host, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, host, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        return false;
}

static bool has_credentials(const struct kube_config *c)
{
        return c->token || c->token_file || c->client_cert_file || c->client_cert_data ||
               c->client_key_file || c->client_key_data;
}

int kube_config_check(const struct kube_config *c, struct hd_error *reterr)
{
        if (!c->server)
                return hd_error_setf(reterr, EINVAL, "no server configured");
        if (hd_startswith(c->server, "https://"))
                return 0;
        if (!hd_startswith(c->server, "http://"))
                return hd_error_setf(reterr, EINVAL,
                                     "server \"%s\": must start with https:// or http://",
                                     c->server);
        /* Plain HTTP: anyone on the path reads a bearer token, and a client certificate would
         * not even be used. Only a loopback address (kubectl proxy, a test server) may carry
         * credentials without TLS. */
        if (has_credentials(c) && !kube_url_is_loopback(c->server))
                return hd_error_setf(reterr, EINVAL,
                                     "server \"%s\": refusing to send credentials over plain "
                                     "HTTP to a non-loopback address; use https://",
                                     c->server);
        return 0;
}

char **kube_config_warnings(const struct kube_config *c)
{
        char **w = NULL;
        if (c->insecure_skip_tls_verify)
                hd_strv_consume(&w, hd_asprintf("server \"%s\": insecure-skip-tls-verify is set: "
                                                "the API server's certificate is not verified and "
                                                "anyone on the path can read the credentials",
                                                c->server));
        if (c->server && hd_startswith(c->server, "http://"))
                hd_strv_consume(&w,
                                hd_asprintf("server \"%s\": plain HTTP without TLS", c->server));
        return w;
}

static int load_document(const char *path, const char *text, size_t len, const char *want_context,
                         struct kube_config *c, struct hd_error *reterr)
{
        yaml_parser_t parser;
        yaml_document_t doc;
        yaml_parser_t *pp _cleanup_yaml_parser_ = NULL;
        yaml_document_t *dp _cleanup_yaml_document_ = NULL;
        int r;

        if (!yaml_parser_initialize(&parser))
                return hd_error_setf(reterr, ENOMEM, "yaml parser");
        pp = &parser;
        yaml_parser_set_input_string(pp, (const unsigned char *)text, len);
        if (!yaml_parser_load(pp, &doc))
                return hd_error_setf(reterr, EINVAL, "line %zu: %s", parser.problem_mark.line + 1,
                                     parser.problem ? parser.problem : "invalid YAML");
        dp = &doc;
        yaml_node_t *root = yaml_document_get_root_node(dp);
        if (!root || root->type != YAML_MAPPING_NODE)
                return hd_error_setf(reterr, EINVAL, "not a kubeconfig (expected a mapping)");

        const char *ctx_name = want_context ? want_context : ymap_str(dp, root, "current-context");
        if (!ctx_name)
                return hd_error_setf(reterr, EINVAL, "current-context is not set");
        yaml_node_t *ctx = NULL;
        r = ynamed(dp, root, "contexts", "context", ctx_name, &ctx, reterr);
        if (r < 0)
                return r;
        if (!ctx)
                return hd_error_setf(reterr, EINVAL, "context \"%s\" not found", ctx_name);

        const char *cluster_name = ymap_str(dp, ctx, "cluster");
        if (!cluster_name)
                return hd_error_setf(reterr, EINVAL, "context \"%s\": cluster is missing",
                                     ctx_name);
        yaml_node_t *cl = NULL;
        r = ynamed(dp, root, "clusters", "cluster", cluster_name, &cl, reterr);
        if (r < 0)
                return r;
        if (!cl)
                return hd_error_setf(reterr, EINVAL, "context \"%s\": cluster \"%s\" not found",
                                     ctx_name, cluster_name);
        r = parse_cluster(path, dp, cl, c, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "cluster \"%s\"", cluster_name);

        const char *user_name = ymap_str(dp, ctx, "user");
        if (user_name) {
                yaml_node_t *u = NULL;
                r = ynamed(dp, root, "users", "user", user_name, &u, reterr);
                if (r < 0)
                        return r;
                if (!u)
                        return hd_error_setf(reterr, EINVAL,
                                             "context \"%s\": user \"%s\" not found", ctx_name,
                                             user_name);
                r = parse_user(path, dp, u, c, reterr);
                if (r < 0)
                        return hd_error_wrap(reterr, "user \"%s\"", user_name);
        }
        c->namespace = hd_strdup(ymap_str(dp, ctx, "namespace"));
        r = kube_config_check(c, reterr);
        if (r < 0)
                return hd_error_wrap(reterr, "cluster \"%s\"", cluster_name);
        return 0;
}

struct kubeconfig_load {
        const char *context;
        struct kube_config *config;
};

static int kubeconfig_parse_cb(const char *path, const char *data, size_t len, void *userdata,
                               struct hd_error *reterr)
{
        struct kubeconfig_load *l = userdata;
        int r = load_document(path, data, len, l->context, l->config, reterr);
        return r < 0 ? hd_error_wrap_r(reterr, r, "kubeconfig '%s'", path) : 0;
}

int kube_config_load_kubeconfig(const char *path, const char *context,
                                struct kube_config **ret_config, struct hd_error *reterr)
{
        _cleanup_kube_config_ struct kube_config *c = hd_new0(struct kube_config, 1);
        struct kubeconfig_load l = {context, c};
        int r;

        r = hd_read_file_parse(path, KUBECONFIG_MAX_BYTES, false, "kubeconfig", kubeconfig_parse_cb,
                               &l, reterr);
        if (r < 0)
                return r;
        c->kubeconfig_path = hd_strdup(path);
        *ret_config = TAKE_PTR(c);
        return 0;
}

int kube_config_load_incluster(const char *sa_dir, struct kube_config **ret_config,
                               struct hd_error *reterr)
{
        _cleanup_kube_config_ struct kube_config *c = hd_new0(struct kube_config, 1);
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        struct stat st;

        if (!sa_dir || !*sa_dir)
                sa_dir = getenv("HOSTDEV_SERVICEACCOUNT_DIR");
        if (!sa_dir || !*sa_dir)
                sa_dir = SA_DIR_DEFAULT;
        if (!host || !*host || !port || !*port)
                return hd_error_setf(reterr, ENOENT,
                                     "in-cluster config: KUBERNETES_SERVICE_HOST and "
                                     "KUBERNETES_SERVICE_PORT must be set (or pass --kubeconfig)");
        if (strchr(host, ':'))
                c->server = hd_asprintf("https://[%s]:%s", host, port);
        else
                c->server = hd_asprintf("https://%s:%s", host, port);

        c->token_file = hd_asprintf("%s/token", sa_dir);
        if (stat(c->token_file, &st) < 0)
                return hd_error_set(reterr, errno, "in-cluster config: token '%s'", c->token_file);
        c->ca_file = hd_asprintf("%s/ca.crt", sa_dir);
        if (stat(c->ca_file, &st) < 0)
                return hd_error_set(reterr, errno, "in-cluster config: CA '%s'", c->ca_file);

        _cleanup_free_ char *ns_path = hd_asprintf("%s/namespace", sa_dir);
        _cleanup_free_ char *ns = NULL;
        size_t ns_len = 0;
        if (hd_read_file(ns_path, 4096, false, &ns, &ns_len, NULL) >= 0) {
                while (ns_len > 0 && (ns[ns_len - 1] == '\n' || ns[ns_len - 1] == ' '))
                        ns[--ns_len] = '\0';
                if (ns_len > 0)
                        c->namespace = TAKE_PTR(ns);
        }
        *ret_config = TAKE_PTR(c);
        return 0;
}

int kube_config_load(const char *kubeconfig, struct kube_config **ret_config,
                     struct hd_error *reterr)
{
        if (kubeconfig && *kubeconfig)
                return kube_config_load_kubeconfig(kubeconfig, NULL, ret_config, reterr);
        return kube_config_load_incluster(NULL, ret_config, reterr);
}
