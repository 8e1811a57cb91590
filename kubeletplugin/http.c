/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/http.h"

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/httpd.h"
#include "base/strutil.h"
#include "kubeletplugin/metrics.h"

struct kp_http {
        struct hd_httpd *server;
        struct kp_metrics *metrics;
        kp_http_healthz_cb healthz;
        void *userdata;
};

static char *handle(const char *url, unsigned *ret_status, const char **ret_type, void *userdata)
{
        struct kp_http *h = userdata;
        if (strcmp(url, "/metrics") == 0) {
                *ret_type = "text/plain; version=0.0.4";
                return kp_metrics_render(h->metrics);
        }
        if (strcmp(url, "/healthz") != 0)
                return NULL;
        struct hd_error e = HD_ERROR_INIT;
        int r = h->healthz ? h->healthz(h->userdata, &e) : 0;
        /* The mode line tells an operator which API this node's devices go through. */
        const char *mode = kp_metrics_mode(h->metrics);
        _cleanup_free_ char *mode_line = mode ? hd_asprintf("mode: %s\n", mode) : hd_strdup("");
        char *body = r < 0 ? hd_asprintf("unhealthy: %s\n%s", hd_error_message(&e), mode_line)
                           : hd_asprintf("ok\n%s", mode_line);
        hd_error_done(&e);
        *ret_status = r < 0 ? 503 : 200;
        return body;
}

int kp_http_start(const char *addr, struct kp_metrics *m, kp_http_healthz_cb healthz,
                  void *userdata, struct kp_http **ret, unsigned *ret_port, struct hd_error *reterr)
{
        struct kp_http *h = hd_malloc0(sizeof(*h));
        h->metrics = m;
        h->healthz = healthz;
        h->userdata = userdata;
        int r = hd_httpd_start(addr, "--metrics-addr", handle, h, &h->server, ret_port, reterr);
        if (r < 0) {
                free(h);
                return r;
        }
        *ret = h;
        return 0;
}

struct kp_http *kp_http_stop(struct kp_http *h)
{
        if (!h)
                return NULL;
        hd_httpd_stop(h->server);
        free(h);
        return NULL;
}
