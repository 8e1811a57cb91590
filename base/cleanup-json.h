/* SPDX-License-Identifier: Apache-2.0 */
/* Cleanup for jansson values, kept out of base/cleanup.h so that only the users of JSON see
 * <jansson.h>. */
#pragma once

#include <jansson.h>

#include "base/cleanup.h"

HD_DEFINE_PTR_CLEANUP(hd_json_decref, json_t, json_decref)

/* json_t *v _cleanup_json_ = json_object(); -- never on a borrowed json_object_get() result. */
#define _cleanup_json_ _cleanup_(hd_json_decrefp)
