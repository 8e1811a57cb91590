/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the watch-stream path: bytes from the API server split into chunks at arbitrary points,
 * the incremental NDJSON parser, and the event decoder on every line it yields. */
#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "kube/kube-internal.h"

static int on_line(json_t *value, void *userdata)
{
        enum kube_event_type type;
        json_t *obj = NULL;
        struct hd_error e = HD_ERROR_INIT;
        kube_watch_event_decode(value, &type, &obj, &e);
        hd_error_done(&e);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kube_ndjson p;
        struct hd_error e = HD_ERROR_INIT;
        kube_ndjson_init(&p, 4096);
        /* The first byte picks the chunk size, the rest is the stream. */
        size_t chunk = size ? (size_t)data[0] % 17 + 1 : 1;
        const char *s = size ? (const char *)data + 1 : "";
        size_t left = size ? size - 1 : 0;
        int r = 0;
        while (left > 0 && r >= 0) {
                size_t n = left < chunk ? left : chunk;
                r = kube_ndjson_feed(&p, s, n, on_line, NULL, &e);
                s += n;
                left -= n;
        }
        if (r >= 0)
                kube_ndjson_finish(&p, on_line, NULL, &e);
        hd_error_done(&e);
        kube_ndjson_done(&p);
        return 0;
}
