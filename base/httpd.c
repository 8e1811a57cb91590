/* SPDX-License-Identifier: Apache-2.0 */
#include "base/httpd.h"

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

#define HD_HTTPD_CONNECTIONS_MAX 64

struct hd_httpd {
        struct MHD_Daemon *daemon;
        hd_httpd_handler_cb handler;
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
        struct hd_httpd *h = cls;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return respond(conn, 405, "text/plain", hd_strdup("method not allowed\n"));
        unsigned status = 200;
        const char *type = "text/plain";
        char *body = h->handler(url, &status, &type, h->userdata);
        if (!body)
                return respond(conn, 404, "text/plain", hd_strdup("not found\n"));
        return respond(conn, status, type, body);
}

/* ADDR → an IPv4 socket address. */
static int parse_addr(const char *addr, const char *flag, struct sockaddr_in *sa,
                      struct hd_error *reterr)
{
        const char *colon = strrchr(addr, ':');
        if (!colon)
                return hd_error_setf(reterr, EINVAL, "%s '%s': expected host:port", flag, addr);
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (!*(colon + 1) || *end || port < 0 || port > 65535)
                return hd_error_setf(reterr, EINVAL, "%s '%s': bad port", flag, addr);
        _cleanup_free_ char *host = hd_strndup(addr, (size_t)(colon - addr));
        *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (!*host || strcmp(host, "0.0.0.0") == 0)
                sa->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "localhost") == 0)
                sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
                return hd_error_setf(reterr, EINVAL, "%s '%s': '%s' is not an IPv4 address", flag,
                                     addr, host);
        return 0;
}

int hd_httpd_start(const char *addr, const char *flag, hd_httpd_handler_cb handler, void *userdata,
                   struct hd_httpd **ret, unsigned *ret_port, struct hd_error *reterr)
{
        struct sockaddr_in sa;
        int r = parse_addr(addr, flag, &sa, reterr);
        if (r < 0)
                return r;
        struct hd_httpd *h = hd_malloc0(sizeof(*h));
        h->handler = handler;
        h->userdata = userdata;
        h->daemon =
                MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HD_HTTPD_CONNECTIONS_MAX,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
        if (!h->daemon) {
                free(h);
                return hd_error_setf(reterr, EADDRINUSE, "cannot serve on %s '%s'", flag, addr);
        }
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (ret_port)
                *ret_port = info ? info->port : ntohs(sa.sin_port);
        *ret = h;
        return 0;
}

struct hd_httpd *hd_httpd_stop(struct hd_httpd *h)
{
        if (!h)
                return NULL;
        MHD_stop_daemon(h->daemon);
        free(h);
        return NULL;
}
