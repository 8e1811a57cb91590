/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeletplugin/mode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "base/log.h"
#include "kube/cleanup.h"
#include "kube/kube.h"
#include "kubeletplugin/plugin.h"

static const char *const mode_names[] = {
        [KP_MODE_AUTO] = "auto",
        [KP_MODE_DRA] = "dra",
        [KP_MODE_DEVICE_PLUGIN] = "device-plugin",
};

const char *kp_mode_name(enum kp_mode m)
{
        return (size_t)m < HD_ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

int kp_mode_parse(const char *s, enum kp_mode *ret)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(mode_names); i++)
                if (hd_streq(s, mode_names[i])) {
                        *ret = (enum kp_mode)i;
                        return 0;
                }
        return -EINVAL;
}

/* Digits at *P (at most 4: no Kubernetes version component is longer) into *RET. */
static bool take_number(const char **p, unsigned *ret)
{
        const char *s = *p;
        unsigned v = 0;
        size_t n = 0;
        while (s[n] >= '0' && s[n] <= '9') {
                if (++n > 4)
                        return false;
                v = v * 10 + (unsigned)(s[n - 1] - '0');
        }
        if (n == 0)
                return false;
        *p = s + n;
        *ret = v;
        return true;
}

int kp_kubelet_version_parse(const char *s, unsigned *ret_major, unsigned *ret_minor,
                             struct hd_error *reterr)
{
        const char *p = s ? s : "";
        unsigned major = 0, minor = 0, patch = 0;
        if (*p == 'v' || *p == 'V')
                p++;
        bool ok = take_number(&p, &major) && *p++ == '.' && take_number(&p, &minor);
        if (ok && *p == '.') {
                p++;
                ok = take_number(&p, &patch);
        }
        if (!ok || (*p && *p != '-' && *p != '+'))
                return hd_error_setf(reterr, EINVAL,
                                     "kubelet version '%s' is not of the form v<major>.<minor>[."
                                     "<patch>][-+suffix]",
                                     s ? s : "");
        *ret_major = major;
        *ret_minor = minor;
        return 0;
}

/* Auto mode: one reason per fact, and whether that fact allows DRA. */
static bool kubelet_allows_dra(const struct kp_mode_facts *f, char ***reasons)
{
        if (!f->kubelet_version) {
                hd_strv_consume(reasons, hd_asprintf("kubelet version unknown (%s)",
                                                     f->kubelet_problem ? f->kubelet_problem
                                                                        : "not reported"));
                return false;
        }
        struct hd_error e = HD_ERROR_INIT;
        unsigned major = 0, minor = 0;
        if (kp_kubelet_version_parse(f->kubelet_version, &major, &minor, &e) < 0) {
                hd_strv_consume(reasons, hd_asprintf("%s", hd_error_message(&e)));
                hd_error_done(&e);
                return false;
        }
        bool ok = major > KP_MODE_DRA_MIN_MAJOR ||
                  (major == KP_MODE_DRA_MIN_MAJOR && minor >= KP_MODE_DRA_MIN_MINOR);
        hd_strv_consume(reasons,
                        hd_asprintf("kubelet %s %s %d.%d", f->kubelet_version, ok ? ">=" : "<",
                                    KP_MODE_DRA_MIN_MAJOR, KP_MODE_DRA_MIN_MINOR));
        return ok;
}

enum kp_mode kp_mode_choose(enum kp_mode requested, const struct kp_mode_facts *f,
                            char ***ret_reasons)
{
        char **reasons = NULL;
        if (requested != KP_MODE_AUTO) {
                hd_strv_consume(&reasons, hd_asprintf("--mode %s", kp_mode_name(requested)));
                *ret_reasons = reasons;
                return requested;
        }
        bool api = f->resource_version != NULL;
        hd_strv_consume(&reasons, api ? hd_asprintf("API server serves resource.k8s.io/%s",
                                                    f->resource_version)
                                      : hd_strdup("API server does not serve resource.k8s.io "
                                                  "(v1, v1beta2 or v1beta1)"));
        bool kubelet = kubelet_allows_dra(f, &reasons);
        hd_strv_consume(&reasons, hd_asprintf("plugin registry dir '%s' %s",
                                              f->registry_dir ? f->registry_dir : "",
                                              f->registry_dir_exists ? "exists" : "is missing"));
        *ret_reasons = reasons;
        return api && kubelet && f->registry_dir_exists ? KP_MODE_DRA : KP_MODE_DEVICE_PLUGIN;
}

/* Failures that say nothing about the node, only that the API server could not be asked. */
static bool is_transient(int r)
{
        return r == -EAGAIN || r == -ECONNREFUSED || r == -ECONNRESET || r == -ETIMEDOUT ||
               r == -EPROTO || r == -EIO;
}

/* The resource.k8s.io version served (*RET, NULL = none) and the kubelet version of NODE
 * (*RET_KUBELET, or NULL with *RET_PROBLEM saying why). */
static int ask_api_server(const struct kp_plugin_options *o, char **ret_version, char **ret_kubelet,
                          char **ret_problem, struct hd_error *reterr)
{
        _cleanup_kube_config_ struct kube_config *cfg = NULL;
        _cleanup_kube_client_ struct kube_client *c = NULL;
        _cleanup_free_ char *ua = hd_asprintf("hostdev-kubelet-plugin/%s", HOSTDEV_VERSION);
        struct kube_client_options copts = {.user_agent = ua};
        int r = kube_config_load(o->kubeconfig, &cfg, reterr);
        if (r >= 0)
                r = kube_client_new(cfg, &copts, &c, reterr);
        if (r < 0)
                return r;
        static const char *const preferred[] = {"v1", "v1beta2", "v1beta1", NULL};
        struct hd_error e = HD_ERROR_INIT;
        r = kube_discover_group_version(c, "resource.k8s.io", preferred, ret_version, &e);
        if (r < 0 && r != -ENOENT) {
                hd_error_move(reterr, &e);
                return hd_error_wrap_r(reterr, r, "API discovery");
        }
        hd_error_done(&e);

        struct kube_resource nodes = {"", "v1", "nodes"};
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *obj = NULL;
        const char *version = NULL;
        r = kube_path(&nodes, NULL, o->node, NULL, &path, &e);
        if (r >= 0)
                r = kube_get(c, path, &obj, &e);
        if (r >= 0)
                r = hd_json_get_string(obj, "status.nodeInfo.kubeletVersion", false, &version, &e);
        if (r < 0 && is_transient(r)) {
                hd_error_move(reterr, &e);
                return hd_error_wrap_r(reterr, r, "read Node '%s'", o->node);
        }
        if (r < 0)
                *ret_problem = hd_strdup(hd_error_message(&e));
        hd_error_done(&e);
        *ret_kubelet = hd_strdup(version);
        return 0;
}

int kp_mode_decide(const struct kp_plugin_options *o, enum kp_mode *ret, struct hd_error *reterr)
{
        enum kp_mode requested = KP_MODE_AUTO;
        if (kp_mode_parse(o->mode, &requested) < 0)
                return hd_error_setf(reterr, EINVAL,
                                     "--mode '%s': expected auto, dra or "
                                     "device-plugin",
                                     o->mode ? o->mode : "");
        _cleanup_free_ char *rv = NULL, *kubelet = NULL, *problem = NULL;
        struct stat st;
        struct kp_mode_facts f = {.registry_dir = o->registry_dir};
        f.registry_dir_exists =
                o->registry_dir && stat(o->registry_dir, &st) == 0 && S_ISDIR(st.st_mode);
        if (requested == KP_MODE_AUTO) {
                int r = ask_api_server(o, &rv, &kubelet, &problem, reterr);
                if (r < 0)
                        return hd_error_wrap_r(reterr, r, "choose the plugin mode");
                f.resource_version = rv;
                f.kubelet_version = kubelet;
                f.kubelet_problem = problem;
        }
        _cleanup_strv_ char **reasons = NULL;
        *ret = kp_mode_choose(requested, &f, &reasons);
        struct hd_strbuf why = HD_STRBUF_INIT;
        for (char **w = reasons; w && *w; w++)
                hd_strbuf_printf(&why, "%s%s", w == reasons ? "" : "; ", *w);
        _cleanup_free_ char *text = hd_strbuf_take(&why);
        hd_log_info("plugin mode chosen", "mode", kp_mode_name(*ret), "requested",
                    kp_mode_name(requested), "node", o->node, "reasons", text);
        return 0;
}
