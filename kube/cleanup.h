/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound cleanups for kube/'s own types and for libcurl handles, kept out of base/cleanup.h
 * so that base/ users do not pull in libcurl. Same rules as there: initialise where declared,
 * hand ownership on with TAKE_PTR(). */
#pragma once

#include <curl/curl.h>

#include "base/cleanup.h"
#include "kube/kube.h"

HD_DEFINE_PTR_CLEANUP(kube_config_free, struct kube_config, kube_config_free)
HD_DEFINE_PTR_CLEANUP(kube_client_free, struct kube_client, kube_client_free)
HD_DEFINE_PTR_CLEANUP(kube_informer_free, struct kube_informer, kube_informer_free)
HD_DEFINE_PTR_CLEANUP(kube_cancel_free, struct kube_cancel, kube_cancel_free)
HD_DEFINE_PTR_CLEANUP(kube_curl_easy_cleanup, CURL, curl_easy_cleanup)
HD_DEFINE_PTR_CLEANUP(kube_curl_slist_free_all, struct curl_slist, curl_slist_free_all)

#define _cleanup_kube_config_ _cleanup_(kube_config_freep)
#define _cleanup_kube_client_ _cleanup_(kube_client_freep)
#define _cleanup_kube_informer_ _cleanup_(kube_informer_freep)
#define _cleanup_kube_cancel_ _cleanup_(kube_cancel_freep)
#define _cleanup_curl_ _cleanup_(kube_curl_easy_cleanupp)
#define _cleanup_curl_slist_ _cleanup_(kube_curl_slist_free_allp)
