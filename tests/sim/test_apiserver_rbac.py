"""API server simulator: opt-in RBAC enforcement from stored Roles/ClusterRoles/bindings."""

import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from kclient import KubeClient  # noqa: E402

RBAC = "/apis/rbac.authorization.k8s.io/v1"
SLICES = "/apis/resource.k8s.io/v1/resourceslices"
CLAIMS = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"
SA = "system:serviceaccount:kube-system:hostdev"


@pytest.fixture
def rbac(tmp_path):
    srv = ApiServer(str(tmp_path / "api"), rbac=True)
    srv.start()
    srv.add_token("sa", SA, ["system:serviceaccounts", "system:serviceaccounts:kube-system"])
    srv.add_token("node", "system:node:n1", ["system:nodes"])
    admin = KubeClient(srv.url, token=srv.token, ca_path=srv.ca_path)
    sa = KubeClient(srv.url, token="sa", ca_path=srv.ca_path)
    yield srv, admin, sa
    srv.stop()


def _bind(admin, rules, namespace=None):
    sub = [{"kind": "ServiceAccount", "name": "hostdev", "namespace": "kube-system"}]
    if namespace:
        admin.create(f"{RBAC}/namespaces/{namespace}/roles",
                     {"metadata": {"name": "r"}, "rules": rules})
        admin.create(f"{RBAC}/namespaces/{namespace}/rolebindings", {
            "metadata": {"name": "rb"}, "subjects": sub,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}})
    else:
        admin.create(f"{RBAC}/clusterroles", {"metadata": {"name": "cr"}, "rules": rules})
        admin.create(f"{RBAC}/clusterrolebindings", {
            "metadata": {"name": "crb"}, "subjects": sub,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cr"}})


def test_denied_without_bindings_with_real_wording(rbac):
    srv, admin, sa = rbac
    assert sa.request("GET", "/apis/resource.k8s.io/v1")[0] == 200     # discovery is public
    status, obj = sa.request("GET", CLAIMS + "/x")
    assert status == 403
    assert obj["message"] == (f'resourceclaims.resource.k8s.io "x" is forbidden: User "{SA}" '
                              'cannot get resource "resourceclaims" in API group '
                              '"resource.k8s.io" in the namespace "default"')
    assert KubeClient(srv.url, token="node", ca_path=srv.ca_path).request("GET", SLICES)[0] \
        == 200


def test_cluster_role_binding(rbac):
    srv, admin, sa = rbac
    _bind(admin, [{"apiGroups": ["resource.k8s.io"], "resources": ["resourceslices"],
                   "verbs": ["get", "list", "watch", "create"]},
                  {"apiGroups": ["resource.k8s.io"], "resources": ["resourceclaims/status"],
                   "verbs": ["patch"]},
                  {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
    assert sa.request("GET", SLICES)[0] == 200
    assert list(sa.watch(SLICES, {"timeoutSeconds": 0.2})) == []
    body = {"metadata": {"name": "s"}, "spec": {"driver": "d.example.com", "nodeName": "n",
                                                "pool": {"name": "n", "resourceSliceCount": 1}}}
    assert sa.request("POST", SLICES, body)[0] == 201
    status, obj = sa.request("DELETE", SLICES + "/s")
    assert status == 403 and 'cannot delete resource "resourceslices"' in obj["message"]
    admin.create(CLAIMS, {"metadata": {"name": "c"}, "spec": {"devices": {}}})
    assert sa.request("PATCH", CLAIMS + "/c", {"metadata": {"labels": {"a": "b"}}},
                      content_type="application/merge-patch+json")[0] == 403
    assert sa.request("PATCH", CLAIMS + "/c/status", {"status": {}},
                      content_type="application/merge-patch+json")[0] == 200
    denied = [e for e in srv.request_log() if e["code"] == 403]
    assert [(e["verb"], e["resource"], e["subresource"]) for e in denied] == [
        ("delete", "resourceslices", None), ("patch", "resourceclaims", None)]


def test_role_binding_is_namespaced_and_resource_names(rbac):
    srv, admin, sa = rbac
    admin.create("/api/v1/namespaces", {"metadata": {"name": "other"}})
    _bind(admin, [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                   "verbs": ["get", "update"], "resourceNames": ["hostdev-controller"]},
                  {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                   "verbs": ["create"]}], namespace="kube-system")
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    lease = {"metadata": {"name": "hostdev-controller"},
             "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    assert sa.request("POST", leases, lease)[0] == 201
    assert sa.request("GET", leases + "/hostdev-controller")[0] == 200
    assert sa.request("GET", leases + "/other-lease")[0] == 403
    assert sa.request("GET", leases)[0] == 403                        # list not granted
    assert sa.request("POST", "/apis/coordination.k8s.io/v1/namespaces/other/leases",
                      lease)[0] == 403
