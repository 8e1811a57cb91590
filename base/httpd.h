/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny GET-only HTTP endpoint on libmicrohttpd for the daemons' /metrics and probes. It owns
 * address parsing, the daemon and the response plumbing; what each path answers is the
 * caller's handler. A separate library (hostdev_httpd) so base/ users do not link it. */
#pragma once

struct hd_error;
struct hd_httpd;

/* Answer GET/HEAD of URL: return the body (malloc'ed, taken) and set *RET_STATUS and
 * *RET_CONTENT_TYPE (a static string); NULL answers 404. Runs on the server's thread. */
typedef char *(*hd_httpd_handler_cb)(const char *url, unsigned *ret_status,
                                     const char **ret_content_type, void *userdata);

/* Serve on ADDR ("host:port", ":port", IPv4 or "localhost"; port 0 picks a free one). FLAG
 * names the option in messages ("--metrics-addr"). *RET_PORT (may be NULL) gets the port. */
int hd_httpd_start(const char *addr, const char *flag, hd_httpd_handler_cb handler, void *userdata,
                   struct hd_httpd **ret, unsigned *ret_port, struct hd_error *reterr);
/* Stop serving and free. Takes NULL; returns NULL. */
struct hd_httpd *hd_httpd_stop(struct hd_httpd *h);
