/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound cleanup (GCC/Clang cleanup attribute). Every cleanup variable is initialised where
 * it is declared; ownership leaves the scope only through TAKE_PTR()/TAKE_FD(). Never put a
 * cleanup on a borrowed pointer. Cleanups for library types live beside their headers:
 * base/cleanup-json.h (jansson), base/cleanup-yaml.h (libyaml). */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Define static inline NAME##p(TYPE **p) calling FUNC(*p) when *p is not NULL. */
#define HD_DEFINE_PTR_CLEANUP(name, type, func) \
        static inline void name##p(type **p)    \
        {                                       \
                if (*p)                         \
                        func(*p);               \
        }

static inline void hd_freep(void *p)
{
        free(*(void **)p);
}

static inline void hd_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

HD_DEFINE_PTR_CLEANUP(hd_fclose, FILE, fclose)

static inline void hd_strv_freep(char ***p)
{
        if (*p) {
                for (char **s = *p; *s; s++)
                        free(*s);
                free(*p);
        }
}

#define _cleanup_free_ _cleanup_(hd_freep)
#define _cleanup_close_ _cleanup_(hd_closep)
#define _cleanup_fclose_ _cleanup_(hd_fclosep)
#define _cleanup_strv_ _cleanup_(hd_strv_freep)

#define TAKE_PTR(p)                      \
        ({                               \
                __typeof__(p) _tp = (p); \
                (p) = NULL;              \
                _tp;                     \
        })

#define TAKE_FD(fd)             \
        ({                      \
                int _tf = (fd); \
                (fd) = -1;      \
                _tf;            \
        })

#define HD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
