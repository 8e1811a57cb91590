"""deploy/ and crds/: every kustomize overlay renders with the real kubectl and carries what it
promises (the driver alone in the base, the seed scenario, device-plugin mode, extended
resources, MicroK8s and Talos paths, the local image), `kubectl apply --validate=strict` to the
simulated API server takes every object, the HostDeviceConfig schema agrees with the
plugin's rules, and each ClusterRole allows every API call its component makes (checked against
the simulated API server's request log while the component runs as its service account)."""
import functools
import os
import re
import shutil
import subprocess
import tempfile

import jsonschema
import pytest
import yaml

from conftest import SOURCE_DIR, find_binary
from plugin_env import NODE, SIM_DIR, claim_spec, env, sim  # noqa: F401 (fixtures)

DEPLOY = os.path.join(SOURCE_DIR, "deploy")
# The one prerequisite scripts/install-deps.sh cannot install on Debian 12: Debian's
# kubernetes-client is kubectl 1.20, whose kustomize v2 rejects deploy/base ("labels").
KUBECTL_NEEDED = ("rendering deploy/ needs kubectl 1.27 or newer (built-in kustomize v5) on PATH; "
                  "see README, Set-up")
NS = "hostdev-system"
DRIVER = "hostdev.example.com"
OVERLAYS = ["base", "overlays/examples/mock-gpus", "overlays/device-plugin",
            "overlays/extended-resource", "overlays/microk8s", "overlays/talos",
            "overlays/local-image"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                  "ValidatingAdmissionPolicyBinding", "CustomResourceDefinition", "DeviceClass"}
KUBELET_DIRS = {"plugins-registry": "plugins_registry", "plugins": "plugins",
                "device-plugins": "device-plugins"}
KUBELET_FLAGS = {"plugins-registry": "--kubelet-registry-dir", "plugins": "--kubelet-plugins-dir",
                 "device-plugins": "--device-plugins-dir"}
MICROK8S_KUBELET = "/var/snap/microk8s/common/var/lib/kubelet"


def kubectl():
    path = shutil.which("kubectl")
    if not path:
        pytest.fail(KUBECTL_NEEDED + " (none on PATH)", pytrace=False)
    return path


@functools.lru_cache(maxsize=None)
def _render(overlay):
    r = subprocess.run([kubectl(), "kustomize", os.path.join(DEPLOY, overlay)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "%s: %s" % (KUBECTL_NEEDED, r.stderr)
    return r.stdout


def render(overlay):
    return [d for d in yaml.safe_load_all(_render(overlay)) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name=None):
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, "%d %s %s" % (len(found), kind, name or "")
    return found[0]


def plugin_pod(docs):
    return one(docs, "DaemonSet", "hostdev-kubelet-plugin")["spec"]["template"]["spec"]


def controller_pod(docs):
    return one(docs, "Deployment", "hostdev-controller")["spec"]["template"]["spec"]


def args_of(pod):
    return dict(a.split("=", 1) if "=" in a else (a, "") for a in pod["containers"][0]["args"])


def mounts_of(pod):
    return {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}


def volumes_of(pod):
    return {v["name"]: v for v in pod["volumes"]}


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"^project\(dra-driver-hostdev VERSION ([0-9.]+)", f.read(), re.M).group(1)


def help_text(program):
    r = subprocess.run([find_binary(program), "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def seed_config():
    with open(os.path.join(DEPLOY, "examples", "mock-gpus.yaml")) as f:
        return f.read()


# --- every overlay ---------------------------------------------------------------------------

def test_every_overlay_is_tested():
    found = []
    for root, _dirs, files in os.walk(os.path.join(DEPLOY, "overlays")):
        if "kustomization.yaml" in files:
            found.append(os.path.relpath(root, DEPLOY))
    assert sorted(found) == sorted(o for o in OVERLAYS if o != "base")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_driver(overlay):
    docs = render(overlay)
    for d in docs:
        md = d["metadata"]
        if d["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in md, "%s %s is cluster-scoped" % (d["kind"], md["name"])
        elif md.get("namespace") != NS:
            # Only the example workloads live elsewhere.
            assert d["kind"] in ("Pod", "ResourceClaimTemplate"), (d["kind"], md)
            assert md.get("namespace") == "default"
    for kind, name in (("DaemonSet", "hostdev-kubelet-plugin"),
                       ("Deployment", "hostdev-controller"),
                       ("ClusterRole", "hostdev-kubelet-plugin"),
                       ("ClusterRole", "hostdev-controller"),
                       ("ValidatingAdmissionPolicy", "hostdev-resourceslices-own-node")):
        d = one(docs, kind, name)
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "dra-driver-hostdev"
    # The config the DaemonSet mounts is in the overlay, except in the driver-only ones.
    cm = volumes_of(plugin_pod(docs))["devices-config"]["configMap"]["name"]
    cms = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == cm]
    if overlay in ("base", "overlays/local-image"):
        assert cm == "hostdev-devices" and not cms
    else:
        assert len(cms) == 1 and cms[0]["metadata"]["namespace"] == NS
        assert cms[0]["data"]["config.yaml"] == seed_config()
    # Every flag given to a program exists in it.
    plugin_help = help_text("hostdev-kubelet-plugin")
    for flag in args_of(plugin_pod(docs)):
        assert re.search(r"^\s+%s\b" % re.escape(flag), plugin_help, re.M), flag
    if os.path.exists(os.path.join(SOURCE_DIR, "cmd", "hostdev-controller.c")):
        controller_help = help_text("hostdev-controller")
        for flag in args_of(controller_pod(docs)):
            assert re.search(r"^\s+%s\b" % re.escape(flag), controller_help, re.M), flag


# --- base: the driver, no device config, no DeviceClass --------------------------------------

def test_base_is_the_driver_only():
    docs = render("base")
    kinds = sorted(d["kind"] for d in docs)
    want = ["Namespace", "ServiceAccount", "ServiceAccount", "ClusterRole", "ClusterRole",
            "ClusterRoleBinding", "ClusterRoleBinding", "Role", "RoleBinding",
            "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "DaemonSet",
            "Deployment"]
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert sorted(k for k in kinds if k != "CustomResourceDefinition") == sorted(want)
    with open(os.path.join(SOURCE_DIR, "crds", "kustomization.yaml")) as f:
        assert len(crds) == len(yaml.safe_load(f)["resources"])
    image = "registry.example.com/dra-driver-hostdev:" + project_version()
    assert plugin_pod(docs)["containers"][0]["image"] == image
    assert controller_pod(docs)["containers"][0]["image"] == image


def test_base_plugin_daemonset():
    docs = render("base")
    ds = one(docs, "DaemonSet", "hostdev-kubelet-plugin")
    pod = plugin_pod(docs)
    ctr = pod["containers"][0]
    assert pod["serviceAccountName"] == "hostdev-kubelet-plugin"
    assert ctr["securityContext"]["privileged"] is True
    assert ctr["securityContext"]["runAsUser"] == 0
    assert pod["priorityClassName"] == "system-node-critical"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in ctr["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "POD_UID": "metadata.uid"}
    # The kubelet's dirs are mounted where the kubelet has them: the plugin hands the kubelet
    # socket paths.
    mounts, vols = mounts_of(pod), volumes_of(pod)
    for name, sub in KUBELET_DIRS.items():
        assert vols[name]["hostPath"]["path"] == "/var/lib/kubelet/" + sub
        assert mounts[name]["mountPath"] == vols[name]["hostPath"]["path"]
    assert vols["cdi"]["hostPath"]["path"] == mounts["cdi"]["mountPath"] == "/var/run/cdi"
    # The host's / read-only at /host, new mounts propagated, and the plugin told so.
    assert vols["host-root"]["hostPath"]["path"] == "/"
    assert mounts["host-root"] == {"name": "host-root", "mountPath": "/host", "readOnly": True,
                                   "mountPropagation": "HostToContainer"}
    args = args_of(pod)
    assert args["--host-root"] == "/host"
    # The config (ConfigMap key config.yaml) is where the plugin looks by default.
    assert "--config" not in args
    default = re.search(r"--config FILE .*default (/\S+)\)", help_text("hostdev-kubelet-plugin"))[1]
    assert mounts["devices-config"]["mountPath"] + "/config.yaml" == default
    # Pod-UID socket names make a surge rollout safe.
    assert ds["spec"]["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
    port = ctr["livenessProbe"]["httpGet"]["port"]
    (p,) = [p for p in ctr["ports"] if p["name"] == port]
    assert args["--metrics-addr"] == ":%d" % p["containerPort"]
    # Sized from the measured RSS (~44 MB with 1,000 devices, ~240 MB with 10,000).
    res = ctr["resources"]
    assert mebibytes(res["requests"]["memory"]) >= 64
    assert mebibytes(res["limits"]["memory"]) >= 256


def mebibytes(q):
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    assert m, q
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


def test_base_controller_deployment():
    docs = render("base")
    dep = one(docs, "Deployment", "hostdev-controller")
    assert dep["spec"]["replicas"] == 2
    pod = controller_pod(docs)
    assert pod["serviceAccountName"] == "hostdev-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    ctr = pod["containers"][0]
    assert ctr["command"] == ["/usr/bin/hostdev-controller"]
    sc = ctr["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "privileged" not in sc and not pod.get("volumes")
    args = args_of(pod)
    assert "--leader-elect" in args
    assert args["--namespace"] == "$(POD_NAMESPACE)"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in ctr["env"]}
    assert env["POD_NAMESPACE"] == "metadata.namespace"
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_policy_pins_slice_writes_to_the_plugins_node():
    docs = render("base")
    vap = one(docs, "ValidatingAdmissionPolicy")
    binding = one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    cond = vap["spec"]["matchConditions"][0]["expression"]
    assert "system:serviceaccount:%s:hostdev-kubelet-plugin" % NS in cond
    sa = one(docs, "ServiceAccount", "hostdev-kubelet-plugin")
    assert sa["metadata"]["namespace"] == NS
    assert "authentication.kubernetes.io/node-name" in yaml.safe_dump(vap["spec"]["variables"])


# --- the overlays ----------------------------------------------------------------------------

def test_local_image_overlay():
    image = "localhost/dra-driver-hostdev:" + project_version()
    for overlay in OVERLAYS[1:]:
        docs = render(overlay)
        for pod in (plugin_pod(docs), controller_pod(docs)):
            ctr = pod["containers"][0]
            assert ctr["image"] == image, overlay
            assert ctr["imagePullPolicy"] == "Never", overlay


def test_mock_gpus_overlay_is_the_seed_scenario():
    docs = render("overlays/examples/mock-gpus")
    dc = one(docs, "DeviceClass", "mock-gpu")
    expr = dc["spec"]["selectors"][0]["cel"]["expression"]
    assert 'device.driver == "%s"' % DRIVER in expr
    assert 'device.attributes["%s"].group == "gpu"' % DRIVER in expr
    counts = {}
    for t in by_kind(docs, "ResourceClaimTemplate"):
        (req,) = t["spec"]["spec"]["devices"]["requests"]
        assert req["exactly"]["deviceClassName"] == "mock-gpu"
        counts[t["metadata"]["name"]] = req["exactly"]["count"]
    assert counts == {"four-gpus": 4, "three-gpus": 3}
    pods = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "Pod")}
    assert {n: s["resourceClaims"][0]["resourceClaimTemplateName"] for n, s in pods.items()} == \
        {"pod-a": "four-gpus", "pod-b": "three-gpus"}
    for s in pods.values():
        assert s["containers"][0]["resources"]["claims"] == [{"name": "gpus"}]
    assert "--mode" not in args_of(plugin_pod(docs))


def seed_group_resource():
    """The device-plugin resource of the seed config's one group: <driver>/<group>."""
    (group,) = yaml.safe_load(seed_config())["groups"]
    return "%s/%s" % (DRIVER, group["name"])


def limits_of(docs):
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["resources"]["limits"]
            for p in by_kind(docs, "Pod")}


def test_device_plugin_overlay():
    docs = render("overlays/device-plugin")
    assert args_of(plugin_pod(docs))["--mode"] == "device-plugin"
    assert "device-plugin" in re.search(r"--mode (\S+)", help_text("hostdev-kubelet-plugin"))[1]
    res = seed_group_resource()
    assert limits_of(docs) == {"pod-a": {res: 4}, "pod-b": {res: 3}}
    assert not by_kind(docs, "DeviceClass") and not by_kind(docs, "ResourceClaimTemplate")
    for p in by_kind(docs, "Pod"):
        assert "resourceClaims" not in p["spec"]


def test_extended_resource_overlay():
    docs = render("overlays/extended-resource")
    dc = one(docs, "DeviceClass", "mock-gpu")
    res = dc["spec"]["extendedResourceName"]
    assert res == seed_group_resource()
    assert limits_of(docs) == {"pod-a": {res: 4}, "pod-b": {res: 3}}
    assert "--mode" not in args_of(plugin_pod(docs))  # DRA serves them


def test_microk8s_overlay():
    docs = render("overlays/microk8s")
    pod = plugin_pod(docs)
    mounts, vols, args = mounts_of(pod), volumes_of(pod), args_of(pod)
    for name, sub in KUBELET_DIRS.items():
        path = "%s/%s" % (MICROK8S_KUBELET, sub)
        assert vols[name]["hostPath"]["path"] == path
        assert mounts[name]["mountPath"] == path
        assert args[KUBELET_FLAGS[name]] == path
    assert not re.search(r"[\s=]/var/lib/kubelet/", yaml.safe_dump(pod))
    # Otherwise the seed scenario.
    assert len(by_kind(docs, "Pod")) == 2 and one(docs, "DeviceClass", "mock-gpu")


def test_talos_overlay():
    docs = render("overlays/talos")
    pod = plugin_pod(docs)
    mounts, vols = mounts_of(pod), volumes_of(pod)
    # Talos' containerd reads CDI specs from /var/cdi/{static,dynamic}.
    assert vols["cdi"]["hostPath"]["path"] == "/var/cdi/dynamic"
    # The plugin writes to its default --cdi-root, where that dir is mounted.
    assert "--cdi-root" not in args_of(pod)
    default = re.search(r"--cdi-root DIR\s+default (\S+)", help_text("hostdev-kubelet-plugin"))[1]
    assert mounts["cdi"]["mountPath"] == default
    for name, sub in KUBELET_DIRS.items():
        assert vols[name]["hostPath"]["path"] == "/var/lib/kubelet/" + sub


@pytest.mark.parametrize("overlay,flags", [("overlays/examples/mock-gpus", []),
                                           ("overlays/extended-resource",
                                            ["--extended-resource"])])
def test_deviceclass_is_what_hostdevctl_generates(overlay, flags):
    r = subprocess.run([find_binary("hostdevctl"), "deviceclasses", *flags,
                        os.path.join(DEPLOY, "examples", "mock-gpus.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (generated,) = [d for d in yaml.safe_load_all(r.stdout) if d]
    # Same selection; the seed's class keeps its own name, mock-gpu.
    assert one(render(overlay), "DeviceClass", "mock-gpu")["spec"] == generated["spec"]


def test_seed_config_copy_is_the_example():
    # kustomize reads files only below a kustomization: the component holds a copy.
    with open(os.path.join(DEPLOY, "components", "mock-gpus-config", "config.yaml")) as f:
        assert f.read() == seed_config()


# --- the simulated API server accepts them ---------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_applies_to_the_simulated_api_server(overlay, tmp_path):
    import sys
    if SIM_DIR not in sys.path:
        sys.path.insert(0, SIM_DIR)
    from apiserver import ApiServer
    wd = tempfile.mkdtemp(prefix="hdd-", dir="/tmp")
    srv = ApiServer(wd)
    try:
        srv.start()
        r = subprocess.run([kubectl(), "--kubeconfig", srv.kubeconfig_path, "api-resources",
                            "--no-headers"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        served = {(line.split()[-3], line.split()[-1]) for line in r.stdout.splitlines()}
        docs = render(overlay)
        applied = [d for d in docs if (d["apiVersion"], d["kind"]) in served]
        unserved = sorted({d["kind"] for d in docs} - {d["kind"] for d in applied})
        assert not unserved, "kinds the simulator does not serve: %s" % unserved
        manifest = tmp_path / "applied.yaml"
        manifest.write_text(yaml.safe_dump_all(applied))
        # Strict: unknown fields fail where the simulator knows the schema (DRA kinds, Pods,
        # the CRDs); it stores the workload kinds without a schema for their specs, which the
        # tests above check field by field.
        r = subprocess.run([kubectl(), "--kubeconfig", srv.kubeconfig_path, "apply",
                            "--validate=strict", "-f", str(manifest)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        # Every object is there afterwards.
        r = subprocess.run([kubectl(), "--kubeconfig", srv.kubeconfig_path, "get", "-f",
                            str(manifest), "-o", "name"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.split()) == len(applied)
    finally:
        srv.stop()
        shutil.rmtree(wd, ignore_errors=True)


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


def test_clusterrole_covers_every_plugin_call(env):
    rules = one(render("base"), "ClusterRole", "hostdev-kubelet-plugin")["rules"]
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
