"""API server simulator: /openapi/v2 and /openapi/v3 are enough for the real kubectl to apply
manifests with validation on (no --validate=false): every built-in kind the project applies,
the repository's deploy/ kustomization, a CRD and its custom resources."""

import os
import shutil
import subprocess
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]

import pytest  # noqa: E402
import yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "sim")
REPO = os.path.dirname(os.path.dirname(HERE))
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
FIXTURE_KINDS = {"Namespace", "ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding",
                 "Role", "RoleBinding", "Deployment", "DaemonSet", "Pod", "DeviceClass",
                 "ResourceClaimTemplate", "ResourceClaim", "ValidatingAdmissionPolicy",
                 "ValidatingAdmissionPolicyBinding", "Service", "Secret", "PodDisruptionBudget",
                 "PriorityClass"}


def kubectl(apiserver, *args, check=True):
    k = shutil.which("kubectl")
    if not k:
        pytest.fail("kubectl (1.27 or newer) must be on PATH for this test", pytrace=False)
    r = subprocess.run([k, "--kubeconfig", apiserver.kubeconfig_path] + list(args),
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def ledger_crd():
    with open(os.path.join(DATA, "ledger-crd.yaml")) as f:
        return yaml.safe_load(f)


def patch_ops(doc):
    for path, item in doc["paths"].items():
        if "patch" in item:
            yield path, item["patch"]


# -- the documents --------------------------------------------------------------------------------

def test_v3_index_and_group_version_documents(kube):
    index = kube.get("/openapi/v3")["paths"]
    for key in ("api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1",
                "apis/resource.k8s.io/v1", "apis/coordination.k8s.io/v1",
                "apis/events.k8s.io/v1", "apis/apiextensions.k8s.io/v1",
                "apis/admissionregistration.k8s.io/v1"):
        assert index[key]["serverRelativeURL"].startswith(f"/openapi/v3/{key}?hash=")
    assert not any(k.startswith("apis/hostdev.example.com") for k in index)
    doc = kube.get(index["apis/apps/v1"]["serverRelativeURL"])
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "Kubernetes"
    kinds = set()
    for path, op in patch_ops(doc):
        gvk = op["x-kubernetes-group-version-kind"]
        assert gvk["group"] == "apps" and gvk["version"] == "v1"
        kinds.add(gvk["kind"])
        names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= names, path
        assert "application/apply-patch+yaml" in op["requestBody"]["content"]
    assert kinds == {"Deployment", "DaemonSet"}
    schemas = doc["components"]["schemas"]
    assert schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert kube.request("GET", "/openapi/v3/apis/nope.example.com/v1")[0] == 404


def test_v3_follows_crds(kube):
    before = kube.get("/openapi/v3")["paths"]
    kube.create(CRDS, ledger_crd())
    index = kube.get("/openapi/v3")["paths"]
    url = index["apis/hostdev.example.com/v1alpha1"]["serverRelativeURL"]
    doc = kube.get(url)
    sch = doc["components"]["schemas"]["com.example.hostdev.v1alpha1.HostDeviceLedger"]
    assert sch["x-kubernetes-group-version-kind"] == [
        {"group": "hostdev.example.com", "version": "v1alpha1", "kind": "HostDeviceLedger"}]
    assert sch["properties"]["spec"] == ledger_crd()["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"]["properties"]["spec"]
    ops = dict(patch_ops(doc))
    assert set(ops) == {"/apis/hostdev.example.com/v1alpha1/hostdeviceledgers/{name}",
                        "/apis/hostdev.example.com/v1alpha1/hostdeviceledgers/{name}/status"}
    for op in ops.values():
        assert "application/strategic-merge-patch+json" not in op["requestBody"]["content"]
        assert "application/merge-patch+json" in op["requestBody"]["content"]
    # built-in documents are unchanged, a changed schema gives a new hash
    assert index["api/v1"] == before["api/v1"]
    crd = kube.get(CRDS + "/hostdeviceledgers.hostdev.example.com")
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["extra"] = {"type": "string"}
    kube.update(CRDS + "/hostdeviceledgers.hostdev.example.com", crd)
    assert kube.get("/openapi/v3")["paths"]["apis/hostdev.example.com/v1alpha1"][
        "serverRelativeURL"] != url
    kube.delete(CRDS + "/hostdeviceledgers.hostdev.example.com")
    assert "apis/hostdev.example.com/v1alpha1" not in kube.get("/openapi/v3")["paths"]


def test_v2_json_and_no_protobuf(kube):
    doc = kube.get("/openapi/v2")
    assert doc["swagger"] == "2.0"
    assert doc["definitions"]["io.k8s.api.coordination.v1.Lease"][
        "x-kubernetes-group-version-kind"] == [
        {"group": "coordination.k8s.io", "version": "v1", "kind": "Lease"}]
    op = doc["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"][
        "patch"]
    assert "fieldValidation" in {p["name"] for p in op["parameters"]}
    assert "application/merge-patch+json" in op["consumes"]
    status, err = kube.request("GET", "/openapi/v2", headers={
        "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert status == 406 and err["reason"] == "NotAcceptable"


def test_openapi_needs_authentication(apiserver):
    from kclient import KubeClient
    anon = KubeClient(apiserver.url, ca_path=apiserver.ca_path)
    assert anon.request("GET", "/openapi/v3")[0] == 403


# -- kubectl apply with validation --------------------------------------------------------------

def test_kubectl_apply_every_kind_with_validation(apiserver, kube):
    fixture = os.path.join(DATA, "apply")
    rendered = [d for d in yaml.safe_load_all(kubectl(apiserver, "kustomize", fixture).stdout)
                if d]
    assert {d["kind"] for d in rendered} == FIXTURE_KINDS
    r = kubectl(apiserver, "apply", "-k", fixture)
    assert "failed to download openapi" not in r.stderr and r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == len(rendered) and all(ln.endswith(" created") for ln in lines)
    dep = kube.get("/apis/apps/v1/namespaces/simcrd-apply/deployments/web")
    assert dep["metadata"]["labels"]["app.kubernetes.io/name"] == "sim-apply-fixture"
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]
    assert dep["metadata"]["generation"] == 1
    # kubectl sent fieldValidation=Strict on every write: the server validates, not kubectl
    writes = [e for e in apiserver.request_log() if e["method"] in ("POST", "PATCH")]
    assert writes and all("fieldValidation=Strict" in e["query"] for e in writes)
    # the second apply changes nothing; a changed manifest is patched. kubectl 1.32 does not
    # know resource.k8s.io/v1, so its JSON merge patch re-sends the (atomic) request lists the
    # server defaulted, and a PodDisruptionBudget's selector has patch strategy "replace", so
    # kubectl re-sends it: "configured", but the stored objects stay the same.
    resent = {"/apis/resource.k8s.io/v1/namespaces/simcrd-apply/resourceclaims/one",
              "/apis/resource.k8s.io/v1/namespaces/simcrd-apply/resourceclaimtemplates/one",
              "/apis/policy/v1/namespaces/simcrd-apply/poddisruptionbudgets/web"}
    rvs = {p: kube.get(p)["metadata"]["resourceVersion"] for p in resent}
    r = kubectl(apiserver, "apply", "-k", fixture)
    for ln in r.stdout.splitlines():
        assert ln.endswith(" unchanged") or ln.startswith(
            ("resourceclaim", "poddisruptionbudget")), r.stdout
    assert {p: kube.get(p)["metadata"]["resourceVersion"] for p in resent} == rvs
    kube.patch("/apis/apps/v1/namespaces/simcrd-apply/deployments/web", {"spec": {"replicas": 3}})
    r = kubectl(apiserver, "apply", "-k", fixture)
    assert "deployment.apps/web configured" in r.stdout.splitlines()
    dep = kube.get("/apis/apps/v1/namespaces/simcrd-apply/deployments/web")
    assert dep["spec"]["replicas"] == 2


def test_kubectl_apply_crd_and_custom_resources(apiserver, kube, tmp_path):
    r = kubectl(apiserver, "apply", "-f", os.path.join(DATA, "ledger-crd.yaml"))
    assert r.stdout.strip() == ("customresourcedefinition.apiextensions.k8s.io/"
                                "hostdeviceledgers.hostdev.example.com created")
    cr = tmp_path / "cr.yaml"
    cr.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: HostDeviceLedger\n"
                  "metadata:\n  name: node-a\nspec:\n  nodeName: node-a\n")
    assert kubectl(apiserver, "apply", "-f", str(cr)).stdout.strip() == \
        "hostdeviceledger.hostdev.example.com/node-a created"
    cr.write_text(cr.read_text() + "  mode: Audit\n")
    assert kubectl(apiserver, "apply", "-f", str(cr)).stdout.strip() == \
        "hostdeviceledger.hostdev.example.com/node-a configured"
    got = kube.get("/apis/hostdev.example.com/v1alpha1/hostdeviceledgers/node-a")
    assert got["spec"] == {"nodeName": "node-a", "mode": "Audit"}
    assert got["metadata"]["generation"] == 2
    # validation on: an unknown field is refused by the server (Strict), not dropped
    cr.write_text(cr.read_text() + "  colour: red\n")
    r = kubectl(apiserver, "apply", "-f", str(cr), check=False)
    assert r.returncode != 0
    assert 'strict decoding error: unknown field "spec.colour"' in r.stderr
    # and a schema violation is a 422 kubectl prints
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: HostDeviceLedger\n"
                   "metadata:\n  name: node-b\nspec:\n  mode: Sometimes\n")
    r = kubectl(apiserver, "apply", "-f", str(bad), check=False)
    assert r.returncode != 0 and r.stderr.startswith('The HostDeviceLedger "node-b" is invalid')
    assert "* spec.nodeName: Required value" in r.stderr


def test_kubectl_apply_k_of_the_repository_deploy_tree(apiserver, kube):
    """deploy/ as it is in this tree (kustomization directories under deploy/)."""
    roots = sorted(os.path.dirname(os.path.join(d, f)) for d, _, fs in
                   os.walk(os.path.join(REPO, "deploy")) for f in fs
                   if f == "kustomization.yaml")
    assert roots, "no kustomization under deploy/"
    crd_dir = os.path.join(REPO, "crds")
    for f in sorted(os.listdir(crd_dir)) if os.path.isdir(crd_dir) else ():
        path = os.path.join(crd_dir, f)
        with open(path) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        if docs and all(d.get("kind") == "CustomResourceDefinition" for d in docs):
            kubectl(apiserver, "apply", "-f", path)
    for root in roots:
        with open(os.path.join(root, "kustomization.yaml")) as fh:
            if yaml.safe_load(fh).get("kind") == "Component":
                continue  # applied only as part of an overlay
        r = kubectl(apiserver, "apply", "-k", root)
        assert r.stderr == "", r.stderr
        assert all(ln.endswith((" created", " unchanged", " configured"))
                   for ln in r.stdout.splitlines())
