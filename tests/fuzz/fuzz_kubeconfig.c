/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the kubeconfig reader (YAML from the node or a mounted secret). The loader takes a
 * path, so each input goes through a private temp file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#include "base/error.h"
#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char path[] = "/tmp/hdfuzz-kubeconfig-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
                return 0;
        size_t off = 0;
        while (off < size) {
                ssize_t w = write(fd, data + off, size - off);
                if (w <= 0)
                        break;
                off += (size_t)w;
        }
        close(fd);
        struct kube_config *cfg = NULL;
        struct hd_error e = HD_ERROR_INIT;
        if (kube_config_load_kubeconfig(path, NULL, &cfg, &e) == 0)
                kube_config_free(cfg);
        hd_error_done(&e);
        unlink(path);
        return 0;
}
