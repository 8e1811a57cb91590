"""deploy/ and crds/: the kustomize base renders with the real kubectl, carries what a node
daemon needs, its device config is the seed example, the HostDeviceConfig schema agrees with the
plugin's rules, and the ClusterRole allows every API call the real plugin makes (checked against
the simulated API server's request log while the plugin runs as its service account)."""
import os
import shutil
import subprocess

import jsonschema
import pytest
import yaml

from conftest import SOURCE_DIR, find_binary
from plugin_env import NODE, claim_spec, env, sim  # noqa: F401 (fixtures)

DEPLOY = os.path.join(SOURCE_DIR, "deploy")
# The one prerequisite scripts/install-deps.sh cannot install on Debian 12: Debian's
# kubernetes-client is kubectl 1.20, whose kustomize v2 rejects deploy/base ("labels").
KUBECTL_NEEDED = ("rendering deploy/ needs kubectl 1.27 or newer (built-in kustomize v5) on PATH; "
                  "see README, Set-up")


@pytest.fixture(scope="module")
def rendered():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.fail(KUBECTL_NEEDED + " (none on PATH)", pytrace=False)
    r = subprocess.run([kubectl, "kustomize", os.path.join(DEPLOY, "base")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, "%s: %s" % (KUBECTL_NEEDED, r.stderr)
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def test_base_renders_a_node_daemon(rendered):
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                            "ConfigMap", "ValidatingAdmissionPolicy",
                            "ValidatingAdmissionPolicyBinding", "DaemonSet", "DeviceClass"])
    ds = by_kind(rendered, "DaemonSet")[0]
    assert ds["metadata"]["namespace"] == "hostdev-system"
    pod = ds["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    assert ctr["securityContext"]["privileged"] is True
    assert pod["priorityClassName"] == "system-node-critical"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in ctr["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "POD_UID": "metadata.uid"}
    mounts = {m["mountPath"] for m in ctr["volumeMounts"]}
    assert {"/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/plugins", "/var/run/cdi",
            "/dev", "/etc/hostdev"} <= mounts
    hostpaths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert {"/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/plugins",
            "/var/run/cdi"} <= hostpaths
    # Pod-UID socket names make a surge rollout safe.
    assert ds["spec"]["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The flags exist in the binary.
    help_text = subprocess.run([find_binary("hostdev-kubelet-plugin"), "--help"],
                               capture_output=True, text=True).stdout
    for arg in ctr["args"]:
        assert arg.split("=")[0] in help_text
    # The ConfigMap the DaemonSet mounts is generated from the seed config.
    cm_name = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v][0]
    cm = [c for c in by_kind(rendered, "ConfigMap") if c["metadata"]["name"] == cm_name][0]
    with open(os.path.join(DEPLOY, "examples", "mock-gpus.yaml")) as f:
        assert cm["data"]["devices.yaml"] == f.read()


def test_device_config_in_base_validates():
    r = subprocess.run([find_binary("hostdevctl"), "validate", "--offline",
                        os.path.join(DEPLOY, "base", "devices.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_deviceclass_selects_our_driver(rendered):
    dc = by_kind(rendered, "DeviceClass")[0]
    expr = dc["spec"]["selectors"][0]["cel"]["expression"]
    assert 'device.driver == "hostdev.example.com"' in expr


def load_schema():
    with open(os.path.join(SOURCE_DIR, "crds", "hostdeviceconfig.schema.yaml")) as f:
        return yaml.safe_load(f)["schema"]


@pytest.mark.parametrize("params,ok", [
    ({"apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceConfig",
      "env": {"FOO": "bar", "_X1": ""}}, True),
    ({"apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceConfig"}, True),
    ({"apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceConfig",
      "mounts": [{"hostPath": "/etc"}]}, False),
    ({"apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceConfig",
      "env": {"1BAD": "x"}}, False),
    ({"apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceConfig",
      "env": {"A": 1}}, False),
    ({"apiVersion": "v1", "kind": "Pod"}, False),
])
def test_hostdeviceconfig_schema(params, ok):
    v = jsonschema.Draft7Validator(load_schema())
    assert (not list(v.iter_errors(params))) == ok


# --- RBAC covers every call the plugin makes ------------------------------------------------

def rbac_allows(rules, verb, group, resource):
    for r in rules:
        if (group in r["apiGroups"] or "*" in r["apiGroups"]) and \
                (resource in r["resources"] or "*" in r["resources"]) and \
                (verb in r["verbs"] or "*" in r["verbs"]):
            return True
    return False


def test_clusterrole_covers_every_plugin_call(rendered, env):
    rules = by_kind(rendered, "ClusterRole")[0]["rules"]
    # The plugin runs as the DaemonSet's service account.
    user = "system:serviceaccount:hostdev-system:hostdev-kubelet-plugin"
    token = "sa-" + os.urandom(8).hex()
    env.api.add_token(token, user, ("system:serviceaccounts",))
    kubeconfig = env.write_config(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n"
        "    server: %s\n    certificate-authority: %s\ncontexts:\n- name: sa\n"
        "  context: {cluster: sim, user: sa}\ncurrent-context: sa\nusers:\n"
        "- name: sa\n  user:\n    token: %s\n" % (env.api.url, env.api.ca_path, token),
        name="sa.kubeconfig")
    env.start_plugin(kubeconfig=kubeconfig)
    env.device_class()
    env.template("one", claim_spec(env.driver, count=1))
    env.pod("p", "ls /dev/mock", claims=[("g", {"resourceClaimTemplateName": "one"})])
    st = env.wait_pod("p", timeout=60)
    assert st["status"]["phase"] == "Succeeded", env.output("p")
    # Wipe the slices like a restarting kubelet: the plugin re-creates them.
    env.client.request("DELETE", "/apis/resource.k8s.io/v1/resourceslices",
                       params={"fieldSelector": "spec.nodeName=%s" % NODE})
    env.wait_slices(timeout=20)
    calls = [e for e in env.api.request_log() if e.get("user") == user]
    assert calls, "the plugin made no API calls as its service account"
    seen = set()
    for e in calls:
        assert e["code"] != 403, e
        if not e.get("resource"):
            continue  # discovery
        group = e.get("apiGroup") or ""
        res = e["resource"] + ("/" + e["subresource"] if e.get("subresource") else "")
        seen.add((e["verb"], res))
        assert rbac_allows(rules, e["verb"], group, res), \
            "ClusterRole does not allow %s %s/%s" % (e["verb"], group, res)
    # The calls we expect were really made (so the check above is not vacuous).
    assert ("get", "resourceclaims") in seen
    assert ("watch", "resourceslices") in seen or ("list", "resourceslices") in seen
    assert ("create", "resourceslices") in seen
