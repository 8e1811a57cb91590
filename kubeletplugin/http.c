/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "kubeletplugin/metrics.h"

struct kp_http {
        struct MHD_Daemon *daemon;
        struct kp_metrics *metrics;
        kp_http_healthz_cb healthz;
        void *userdata;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               char *body /* taken */)
{
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type", type);
        enum MHD_Result r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
        struct kp_http *h = cls;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return respond(conn, 405, "text/plain", hd_strdup("method not allowed\n"));
        if (strcmp(url, "/metrics") == 0)
                return respond(conn, 200, "text/plain; version=0.0.4",
                               kp_metrics_render(h->metrics));
        if (strcmp(url, "/healthz") == 0) {
                struct hd_error e = HD_ERROR_INIT;
                int r = h->healthz ? h->healthz(h->userdata, &e) : 0;
                /* The mode line tells an operator which API this node's devices go through. */
                const char *mode = kp_metrics_mode(h->metrics);
                _cleanup_free_ char *mode_line =
                        mode ? hd_asprintf("mode: %s\n", mode) : hd_strdup("");
                char *body =
                        r < 0 ? hd_asprintf("unhealthy: %s\n%s", hd_error_message(&e), mode_line)
                              : hd_asprintf("ok\n%s", mode_line);
                hd_error_done(&e);
                return respond(conn, r < 0 ? 503 : 200, "text/plain", body);
        }
        return respond(conn, 404, "text/plain", hd_strdup("not found\n"));
}

int kp_http_start(const char *addr, struct kp_metrics *m, kp_http_healthz_cb healthz,
                  void *userdata, struct kp_http **ret, unsigned *ret_port, struct hd_error *reterr)
{
        const char *colon = strrchr(addr, ':');
        if (!colon)
                return hd_error_setf(reterr, EINVAL, "--metrics-addr '%s': expected host:port",
                                     addr);
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (!*(colon + 1) || *end || port < 0 || port > 65535)
                return hd_error_setf(reterr, EINVAL, "--metrics-addr '%s': bad port", addr);
        _cleanup_free_ char *host = hd_strndup(addr, (size_t)(colon - addr));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (!*host || strcmp(host, "0.0.0.0") == 0)
                sa.sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "localhost") == 0)
                sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return hd_error_setf(reterr, EINVAL,
                                     "--metrics-addr '%s': '%s' is not an IPv4 "
                                     "address",
                                     addr, host);

        struct kp_http *h = hd_malloc0(sizeof(*h));
        h->metrics = m;
        h->healthz = healthz;
        h->userdata = userdata;
        h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                     NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
        if (!h->daemon) {
                free(h);
                return hd_error_setf(reterr, EADDRINUSE, "cannot serve metrics on '%s'", addr);
        }
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (ret_port)
                *ret_port = info ? info->port : (unsigned)port;
        *ret = h;
        return 0;
}

struct kp_http *kp_http_stop(struct kp_http *h)
{
        if (!h)
                return NULL;
        MHD_stop_daemon(h->daemon);
        free(h);
        return NULL;
}
