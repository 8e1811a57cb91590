/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the cdi/ sources; not part of the interface. */
#pragma once

#include "base/error.h"

/* Prepend context to RETERR and evaluate to R. Unlike returning hd_error_wrap() directly this
 * keeps the failure's own code when RETERR is NULL (hd_error_wrap() then has no code to return
 * and answers -EIO). */
#define cdi_error_wrap(r, reterr, ...)                \
        ({                                            \
                int _r = (r);                         \
                hd_error_wrap((reterr), __VA_ARGS__); \
                _r;                                   \
        })
