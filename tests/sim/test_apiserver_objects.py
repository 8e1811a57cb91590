"""API server simulator: object semantics (CRUD, lists, selectors, patches, status, deletion,
GC, leases, pods, events, CRDs, v1beta1 conversion)."""

import copy
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from kclient import ApiError, KubeClient  # noqa: E402
from sim_capture import Capture, strip_volatile  # noqa: E402

RES = "/apis/resource.k8s.io/v1"
SLICES = RES + "/resourceslices"
CLAIMS = RES + "/namespaces/default/resourceclaims"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
PODS = "/api/v1/namespaces/default/pods"


def slice_body(name, node="127.0.0.1", driver="test.example.com", labels=None, devices=1,
               owner=None):
    md = {"name": name, "labels": labels or {}}
    if owner:
        md["ownerReferences"] = [owner]
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": md,
            "spec": {"driver": driver, "nodeName": node,
                     "pool": {"name": "pool-" + name, "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": f"d{i}", "attributes": {"model": {"string": "T1"}}}
                                 for i in range(devices)]}}


def four_slices(kube):
    kube.create(SLICES, slice_body("127.0.0.1-test.example.com-64wqx",
                                   labels={"ref-capture": "yes", "slice-set": "a"}))
    kube.create(SLICES, slice_body("ref-slice-b", labels={"ref-capture": "yes", "slice-set": "b"}))
    c = slice_body("ref-slice-c", driver="other.example.com",
                   labels={"ref-capture": "yes", "slice-set": "b"})
    del c["spec"]["nodeName"]
    c["spec"]["allNodes"] = True
    kube.create(SLICES, c)
    kube.create(SLICES, slice_body("ref-slice-d", node="other-node",
                                   labels={"ref-capture": "yes", "slice-set": "c"}))


def names(lst):
    return [i["metadata"]["name"] for i in lst["items"]]


# -- lists, paging, selectors --------------------------------------------------------------

def test_list_paging_like_capture(kube):
    four_slices(kube)
    rv = kube.list(SLICES)["metadata"]["resourceVersion"]
    p1 = kube.list(SLICES, {"limit": 1})
    cap1 = Capture("05-list-slices-limit1-page1.http").response
    assert names(p1) == names(cap1)
    assert p1["metadata"]["remainingItemCount"] == 3
    import base64
    import json
    tok = json.loads(base64.urlsafe_b64decode(p1["metadata"]["continue"] + "=="))
    assert tok == {"v": "meta.k8s.io/v1", "rv": int(rv),
                   "start": "/127.0.0.1-test.example.com-64wqx\u0000"}
    seen = names(p1)
    cont = p1["metadata"]["continue"]
    remaining = [2, 1]
    while cont:
        page = kube.list(SLICES, {"limit": 1, "continue": cont})
        assert page["metadata"]["resourceVersion"] == rv
        seen += names(page)
        cont = page["metadata"].get("continue")
        if cont:
            assert page["metadata"]["remainingItemCount"] == remaining.pop(0)
        else:
            assert "remainingItemCount" not in page["metadata"]
    assert seen == ["127.0.0.1-test.example.com-64wqx", "ref-slice-b", "ref-slice-c",
                    "ref-slice-d"]
    p = kube.list(SLICES, {"limit": 2})
    assert names(p) == names(Capture("05-list-slices-limit2-page1.http").response)
    # Different selector on continue is accepted.
    c2 = kube.list(SLICES, {"limit": 2, "continue": p["metadata"]["continue"],
                            "labelSelector": "slice-set=b"})
    assert names(c2) == ["ref-slice-c"]
    all0 = kube.list(SLICES, {"limit": 1, "resourceVersion": "0"})
    assert len(all0["items"]) == 4 and "continue" not in all0["metadata"]


def test_continue_sees_snapshot_not_later_writes(kube):
    four_slices(kube)
    p1 = kube.list(SLICES, {"limit": 2})
    kube.create(SLICES, slice_body("ref-slice-e"))
    kube.delete(SLICES + "/ref-slice-d")
    p2 = kube.list(SLICES, {"limit": 10, "continue": p1["metadata"]["continue"]})
    assert names(p2) == ["ref-slice-c", "ref-slice-d"]
    assert names(kube.list(SLICES))[-1] == "ref-slice-e"


@pytest.mark.parametrize("name", [
    "05-list-slices-fieldselector-driver-and-node.http", "05-list-slices-fieldselector-driver.http",
    "05-list-slices-fieldselector-metadata-name.http",
    "05-list-slices-fieldselector-nodename-notequal.http",
    "05-list-slices-fieldselector-nodename.http", "05-list-slices-labelselector-eq.http",
    "05-list-slices-labelselector-in.http", "05-list-slices-labelselector-notexists.http"])
def test_selectors_like_capture(kube, name):
    four_slices(kube)
    cap = Capture(name)
    status, obj = kube.request(cap.method, cap.target)
    assert status == 200
    expect = [n for n in names(cap.response)]
    assert names(obj) == expect
    assert obj["kind"] == "ResourceSliceList" and obj["apiVersion"] == "resource.k8s.io/v1"
    assert all("kind" not in i for i in obj["items"])


def test_label_selector_forms(kube):
    four_slices(kube)
    q = lambda s: names(kube.list(SLICES, {"labelSelector": s}))  # noqa: E731
    assert q("slice-set==a") == ["127.0.0.1-test.example.com-64wqx"]
    assert q("slice-set!=b") == ["127.0.0.1-test.example.com-64wqx", "ref-slice-d"]
    assert q("slice-set notin (a,b)") == ["ref-slice-d"]
    assert q("slice-set,ref-capture=yes") == q("ref-capture")
    assert q("missing") == [] and len(q("!missing")) == 4


def test_list_as_partial_object_metadata(kube):
    four_slices(kube)
    cap = Capture("05-list-slices-as-partialobjectmetadata.http")
    status, hdrs, raw = kube.request_raw("GET", cap.target,
                                         headers={"Accept": cap.req_headers["Accept"]})
    import json
    obj = json.loads(raw)
    assert obj["kind"] == "PartialObjectMetadataList"
    assert obj["items"][0]["kind"] == "PartialObjectMetadata"
    assert "spec" not in obj["items"][0]


def test_list_resourceversion_errors(kube):
    four_slices(kube)
    kube.create(SLICES, slice_body("x"))
    kube.delete(SLICES + "/x")
    cap = Capture("06-error-list-exact-rv1-too-old.http")
    status, obj = kube.request(cap.method, cap.target)
    assert (status, obj) == (410, cap.response)
    cap = Capture("06-error-list-rv-in-future.http")
    status, hdrs, raw = kube.request_raw(cap.method, cap.target)
    import json
    obj = json.loads(raw)
    assert status == 504 and hdrs["retry-after"] == "1"
    exp = copy.deepcopy(cap.response)
    cur = kube.list(SLICES)["metadata"]["resourceVersion"]
    exp["message"] = f"Timeout: Too large resource version: 102580, current: {cur}"
    assert obj == exp


def test_exact_list_at_older_version_is_a_snapshot(kube):
    kube.create(SLICES, slice_body("a"))
    rv = kube.list(SLICES)["metadata"]["resourceVersion"]
    kube.create(SLICES, slice_body("b"))
    kube.delete(SLICES + "/a")
    old = kube.list(SLICES, {"resourceVersion": rv, "resourceVersionMatch": "Exact"})
    assert names(old) == ["a"] and old["metadata"]["resourceVersion"] == rv
    assert names(kube.list(SLICES)) == ["b"]


# -- writes -------------------------------------------------------------------------------

def test_conflicts_and_already_exists(kube):
    kube.request("POST", CLAIMS, Capture("02-create-resourceclaim.http").body)
    cap = Capture("04-error-409-post-already-exists.http")
    status, obj = kube.request(cap.method, cap.target, cap.body)
    assert (status, obj) == (409, cap.response)
    cur = kube.get(CLAIMS + "/ref-claim")
    ok = Capture("04-put-claim-ok-200.http").request_json
    ok["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    got = kube.update(CLAIMS + "/ref-claim", ok)
    assert got["metadata"]["labels"] == {"step": "one"}
    assert int(got["metadata"]["resourceVersion"]) > int(cur["metadata"]["resourceVersion"])
    cap = Capture("04-error-409-put-stale-resourceversion.http")
    stale = cap.request_json
    stale["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    status, obj = kube.request("PUT", cap.target, stale)
    assert (status, obj) == (409, cap.response)


def test_patch_flavours_like_captures(kube):
    kube.request("POST", CLAIMS, Capture("02-create-resourceclaim.http").body)
    kube.patch(CLAIMS + "/ref-claim", {"metadata": {"labels": {"step": "one"}}})
    for name, label in (("04-patch-jsonpatch-labels.http", "jp"),
                        ("04-patch-strategic-merge-labels.http", "smp"),
                        ("04-patch-server-side-apply-labels.http", "ssa")):
        cap = Capture(name)
        status, obj = kube.request(cap.method, cap.target, cap.body, content_type=cap.content_type)
        assert status == 200, (name, obj)
        assert label in obj["metadata"]["labels"]
    assert kube.get(CLAIMS + "/ref-claim")["metadata"]["labels"] == {
        "jp": "yes", "smp": "yes", "ssa": "yes", "step": "one"}
    mf = kube.get(CLAIMS + "/ref-claim")["metadata"]["managedFields"]
    assert any(m["manager"] == "ref-ssa" and m["operation"] == "Apply" for m in mf)


def test_main_resource_ignores_status_without_rv_bump(kube):
    kube.request("POST", CLAIMS, Capture("02-create-resourceclaim-minimal-defaults.http").body)
    before = kube.get(CLAIMS + "/ref-claim-minimal")
    cap = Capture("04-patch-main-resource-with-status-ignored.http")
    status, obj = kube.request(cap.method, cap.target, cap.body, content_type=cap.content_type)
    assert status == 200
    assert obj["status"] == {}
    assert obj["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert strip_volatile(obj) == strip_volatile(cap.response)


def test_status_subresource_ignores_spec_and_labels(kube):
    kube.create(CLAIMS, {"metadata": {"name": "c1"}, "spec": {"devices": {"requests": [
        {"name": "r", "exactly": {"deviceClassName": "x"}}]}}})
    obj = kube.patch(CLAIMS + "/c1/status", {"metadata": {"labels": {"a": "b"}},
                                             "spec": {"devices": {}},
                                             "status": {"allocation": {"devices": {"results": [
                                                 {"request": "r", "driver": "d", "pool": "p",
                                                  "device": "x0"}]}}}})
    assert "labels" not in obj["metadata"]
    assert obj["spec"]["devices"]["requests"][0]["name"] == "r"
    assert obj["status"]["allocation"]["devices"]["results"][0]["device"] == "x0"
    # PUT on /status with a stale resourceVersion is a conflict too.
    stale = copy.deepcopy(obj)
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ApiError) as ei:
        kube.update(CLAIMS + "/c1/status", stale)
    assert ei.value.status == 409
    # Clearing the allocation together with reservedFor is allowed (deallocation).
    obj = kube.patch(CLAIMS + "/c1/status", {"status": {"allocation": None}})
    assert "allocation" not in obj["status"]


def test_generation_bumps_on_spec_change_only(kube):
    s = kube.create(SLICES, slice_body("g"))
    assert s["metadata"]["generation"] == 1
    s = kube.patch(SLICES + "/g", {"metadata": {"labels": {"x": "y"}}})
    assert s["metadata"]["generation"] == 1
    s["spec"]["pool"]["generation"] = 2
    s = kube.update(SLICES + "/g", s)
    assert s["metadata"]["generation"] == 2
    rv = s["metadata"]["resourceVersion"]
    s2 = kube.update(SLICES + "/g", s)
    assert s2["metadata"]["resourceVersion"] == rv       # no-op write


def test_json_patch_ops_and_strategic_lists(kube):
    kube.create(PODS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}})
    p = kube.patch(PODS + "/p", [{"op": "add", "path": "/metadata/labels", "value": {"k": "v"}},
                                 {"op": "replace", "path": "/metadata/labels/k", "value": "w"},
                                 {"op": "add", "path": "/metadata/finalizers", "value": ["f/1"]},
                                 {"op": "add", "path": "/metadata/finalizers/-", "value": "f/2"},
                                 {"op": "remove", "path": "/metadata/finalizers/0"}],
                   patch_type="json")
    assert p["metadata"]["labels"] == {"k": "w"} and p["metadata"]["finalizers"] == ["f/2"]
    st = kube.patch(PODS + "/p/status", {"status": {"conditions": [
        {"type": "Ready", "status": "False"}]}}, patch_type="strategic")
    st = kube.patch(PODS + "/p/status", {"status": {"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]}},
        patch_type="strategic")
    assert st["status"]["phase"] == "Running"
    assert {c["type"]: c["status"] for c in st["status"]["conditions"]} == {
        "Ready": "True", "PodScheduled": "True"}
    with pytest.raises(ApiError) as ei:
        kube.patch(PODS + "/p", [{"op": "remove", "path": "/metadata/nope"}], patch_type="json")
    assert ei.value.status == 422
    status, obj = kube.request("PATCH", PODS + "/p", {"a": 1}, content_type="text/plain")
    assert status == 415


# -- deletion, finalizers, GC ---------------------------------------------------------------

def test_delete_returns_object_or_status(kube):
    kube.create(SLICES, slice_body("d"))
    obj = kube.delete(SLICES + "/d")
    assert obj["kind"] == "ResourceSlice"
    cap = Capture("08-lease-create.http")
    kube.request(cap.method, cap.target, cap.body)
    obj = kube.delete(LEASES + "/ref-capture-leader")
    exp = Capture("08-lease-delete.http").response
    assert strip_volatile(obj) == strip_volatile(exp)
    assert obj["details"]["uid"]


def test_finalizer_keeps_object_until_removed(kube):
    kube.request("POST", CLAIMS, Capture("02-create-resourceclaim-minimal-defaults.http").body)
    kube.patch(CLAIMS + "/ref-claim-minimal", {"metadata": {"finalizers": ["example.com/hold"]}})
    obj = kube.delete(CLAIMS + "/ref-claim-minimal")
    exp = Capture("09-delete-claim-with-finalizer-200-deletiontimestamp.http").response
    assert obj["metadata"]["deletionTimestamp"]
    assert strip_volatile(obj) == strip_volatile(exp)
    assert kube.get(CLAIMS + "/ref-claim-minimal")["metadata"]["deletionGracePeriodSeconds"] == 0
    before = kube.get(CLAIMS + "/ref-claim-minimal")["metadata"]["resourceVersion"]
    cap = Capture("09-remove-last-finalizer-deletes-object.http")
    status, obj = kube.request(cap.method, cap.target, cap.body, content_type=cap.content_type)
    assert status == 200 and "finalizers" not in obj["metadata"]
    assert obj["metadata"]["resourceVersion"] == before
    assert strip_volatile(obj) == strip_volatile(cap.response)
    assert kube.request("GET", CLAIMS + "/ref-claim-minimal")[0] == 404


def test_delete_collection_by_field_selector(kube):
    four_slices(kube)
    cap = Capture("09-deletecollection-slices-by-driver.http")
    status, obj = kube.request(cap.method, cap.target)
    assert status == 200 and obj["kind"] == "ResourceSliceList"
    assert names(obj) == ["127.0.0.1-test.example.com-64wqx", "ref-slice-b", "ref-slice-d"]
    assert names(kube.list(SLICES)) == ["ref-slice-c"]
    kube.create(SLICES, slice_body("l1", labels={"x": "1"}))
    obj = kube.request("DELETE", SLICES + "?labelSelector=x%3D1")[1]
    assert names(obj) == ["l1"]


def test_node_delete_garbage_collects_owned_slices(apiserver, kube):
    node = kube.create("/api/v1/nodes", {"metadata": {"name": "n1"}})
    owner = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": node["metadata"]["uid"],
             "controller": True}
    kube.create(SLICES, slice_body("owned-1", node="n1", owner=owner))
    kube.create(SLICES, slice_body("owned-2", node="n1", owner=owner))
    kube.create(SLICES, slice_body("free", node="n1"))
    n2 = kube.create("/api/v1/nodes", {"metadata": {"name": "n2"}})
    other = dict(owner, name="n2", uid=n2["metadata"]["uid"])
    kube.create(SLICES, slice_body("other-owner", node="n1", owner=other))
    obj = kube.delete("/api/v1/nodes/n1")
    assert obj["kind"] == "Status" and obj["status"] == "Success"
    assert apiserver.wait_gc_idle()
    assert names(kube.list(SLICES)) == ["free", "other-owner"]


def test_pod_graceful_delete_and_claim_gc(apiserver, kube):
    pod = kube.create(PODS, {"metadata": {"name": "p1"}, "spec": {
        "containers": [{"name": "c", "image": "busybox:1"}],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "t"}]}})
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert pod["metadata"]["generation"] == 1
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "p1", "uid": pod["metadata"]["uid"],
             "controller": True}
    kube.create(CLAIMS, {"metadata": {"generateName": "p1-gpu-", "ownerReferences": [owner]},
                         "spec": {"devices": {"requests": [
                             {"name": "r", "exactly": {"deviceClassName": "x"}}]}}})
    # Binding subresource sets the node.
    status, obj = kube.request("POST", PODS + "/p1/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}})
    assert status == 201 and obj["status"] == "Success"
    assert names(kube.list(PODS, {"fieldSelector": "spec.nodeName=n1"})) == ["p1"]
    assert names(kube.list(PODS, {"fieldSelector": "spec.nodeName="})) == []
    assert kube.request("POST", PODS + "/p1/binding", {"target": {"name": "n2"}})[0] == 409
    kube.patch(PODS + "/p1/status", {"status": {"phase": "Running"}})
    assert names(kube.list(PODS, {"fieldSelector": "status.phase=Running"})) == ["p1"]
    # Bound pod: DELETE sets deletionTimestamp; the kubelet's grace-0 delete removes it.
    obj = kube.delete(PODS + "/p1")
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 30
    assert kube.get(PODS + "/p1")["metadata"]["deletionTimestamp"]
    kube.delete(PODS + "/p1", params={"gracePeriodSeconds": 0})
    assert kube.request("GET", PODS + "/p1")[0] == 404
    assert apiserver.wait_gc_idle()
    assert kube.list(CLAIMS)["items"] == []


def test_namespaces_must_exist(kube):
    status, obj = kube.request("POST", "/api/v1/namespaces/nope/pods", {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert status == 404 and obj["message"] == 'namespaces "nope" not found'
    kube.create("/api/v1/namespaces", {"metadata": {"name": "nope"}})
    kube.create("/api/v1/namespaces/nope/pods", {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    kube.delete("/api/v1/namespaces/nope")
    assert kube.request("GET", "/api/v1/namespaces/nope/pods/p")[0] == 404


# -- leases ---------------------------------------------------------------------------------

def test_lease_flow_like_captures(kube):
    cap = Capture("08-lease-create.http")
    status, obj = kube.request(cap.method, cap.target, cap.body)
    assert status == 201 and strip_volatile(obj) == strip_volatile(cap.response)
    assert "generation" not in obj["metadata"]
    cap = Capture("08-lease-create-again-409-alreadyexists.http")
    assert kube.request(cap.method, cap.target, cap.body) == (409, cap.response)
    renew = Capture("08-lease-renew-put.http").request_json
    renew["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
    renewed = kube.update(LEASES + "/ref-capture-leader", renew)
    assert renewed["spec"]["renewTime"] == renew["spec"]["renewTime"]
    cap = Capture("08-lease-conflicting-update-409.http")
    stale = cap.request_json
    stale["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
    assert kube.request("PUT", cap.target, stale) == (409, cap.response)


# -- events -----------------------------------------------------------------------------------

def test_events_core_and_events_v1_share_storage(kube):
    ev = kube.create("/api/v1/namespaces/default/events", {
        "metadata": {"name": "p1.1"}, "involvedObject": {"kind": "Pod", "namespace": "default",
                                                         "name": "p1", "uid": "u1"},
        "reason": "FailedPrepareDynamicResources", "message": "boom", "type": "Warning",
        "count": 1, "source": {"component": "kubelet", "host": "n1"}})
    assert ev["kind"] == "Event" and ev["apiVersion"] == "v1"
    v1 = kube.get("/apis/events.k8s.io/v1/namespaces/default/events/p1.1")
    assert v1["apiVersion"] == "events.k8s.io/v1"
    assert v1["regarding"]["name"] == "p1" and v1["note"] == "boom"
    assert v1["deprecatedCount"] == 1
    kube.create("/apis/events.k8s.io/v1/namespaces/default/events", {
        "metadata": {"name": "p1.2"}, "eventTime": "2026-11-22T12:44:53.916581Z",
        "reportingController": "default-scheduler", "reportingInstance": "s", "action": "Binding",
        "reason": "Scheduled", "regarding": {"kind": "Pod", "name": "p1"}, "note": "ok",
        "type": "Normal"})
    core = kube.list("/api/v1/namespaces/default/events",
                     {"fieldSelector": "involvedObject.name=p1,reason=Scheduled"})
    assert names(core) == ["p1.2"] and core["items"][0]["message"] == "ok"
    kube.patch("/api/v1/namespaces/default/events/p1.1", {"count": 2})
    assert kube.get("/apis/events.k8s.io/v1/namespaces/default/events/p1.1")[
        "deprecatedCount"] == 2


# -- CRDs -------------------------------------------------------------------------------------

def _crd(scope="Namespaced"):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "ledgers.hostdev.example.com"},
            "spec": {"group": "hostdev.example.com", "scope": scope,
                     "names": {"plural": "ledgers", "singular": "ledger", "kind": "Ledger",
                               "listKind": "LedgerList"},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}},
                                   "subresources": {"status": {}}}]}}


def test_crd_instances(kube):
    crd = kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd())
    assert crd["metadata"]["generation"] == 1
    got = kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                   "ledgers.hostdev.example.com")
    assert {c["type"]: c["status"] for c in got["status"]["conditions"]}["Established"] == "True"
    base = "/apis/hostdev.example.com/v1alpha1/namespaces/kube-system/ledgers"
    obj = kube.create(base, {"apiVersion": "hostdev.example.com/v1alpha1", "kind": "Ledger",
                             "metadata": {"name": "node-a"}, "spec": {"node": "a"},
                             "status": {"ignored": True}})
    assert obj["kind"] == "Ledger" and "status" not in obj and obj["metadata"]["generation"] == 1
    obj = kube.patch(base + "/node-a/status", {"status": {"allocated": ["x"]}})
    assert obj["status"] == {"allocated": ["x"]} and obj["metadata"]["generation"] == 1
    obj = kube.patch(base + "/node-a", {"spec": {"node": "b"}})
    assert obj["metadata"]["generation"] == 2
    lst = kube.list(base)
    assert lst["kind"] == "LedgerList" and names(lst) == ["node-a"]
    kube.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                "ledgers.hostdev.example.com")
    assert kube.request("GET", base)[0] == 404


# -- v1beta1 -----------------------------------------------------------------------------------

@pytest.fixture
def beta(tmp_path):
    srv = ApiServer(str(tmp_path / "api"), resource_versions=("v1beta1", "v1beta2"))
    srv.start()
    yield srv, KubeClient(srv.url, token=srv.token, ca_path=srv.ca_path)
    srv.stop()


def test_v1beta1_basic_nesting_round_trip(beta):
    srv, kube = beta
    b1 = "/apis/resource.k8s.io/v1beta1"
    b2 = "/apis/resource.k8s.io/v1beta2"
    body = {"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceSlice",
            "metadata": {"name": "s"},
            "spec": {"driver": "d.example.com", "nodeName": "n",
                     "pool": {"name": "n", "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": "d0", "basic": {
                         "attributes": {"model": {"string": "T1"}, "bad-name": {"int": 1}}}}]}}
    status, obj = kube.request("POST", b1 + "/resourceslices", body)
    assert status == 422
    assert obj["details"]["causes"][0]["field"] == "spec.devices[0].attributes"
    del body["spec"]["devices"][0]["basic"]["attributes"]["bad-name"]
    obj = kube.create(b1 + "/resourceslices", body)
    assert obj["apiVersion"] == "resource.k8s.io/v1beta1"
    assert obj["spec"]["devices"] == [{"name": "d0", "basic": {
        "attributes": {"model": {"string": "T1"}}}}]
    flat = kube.get(b2 + "/resourceslices/s")
    assert flat["apiVersion"] == "resource.k8s.io/v1beta2"
    assert flat["spec"]["devices"] == [{"name": "d0", "attributes": {"model": {"string": "T1"}}}]
    assert srv.get_object("resourceslices", "s")["spec"]["devices"][0]["attributes"]
    # Claims: v1beta1 requests are flat, v1beta2 use `exactly`.
    claim = kube.create(b1 + "/namespaces/default/resourceclaims", {
        "metadata": {"name": "c"}, "spec": {"devices": {"requests": [
            {"name": "r", "deviceClassName": "cls", "count": 2}]}}})
    assert claim["spec"]["devices"]["requests"] == [
        {"name": "r", "deviceClassName": "cls", "allocationMode": "ExactCount", "count": 2}]
    c2 = kube.get(b2 + "/namespaces/default/resourceclaims/c")
    assert c2["spec"]["devices"]["requests"] == [
        {"name": "r", "exactly": {"deviceClassName": "cls", "allocationMode": "ExactCount",
                                  "count": 2}}]
    # A strategic/merge patch through v1beta1 sees and edits the v1beta1 shape.
    p = kube.patch(b1 + "/resourceslices/s", {"metadata": {"labels": {"a": "b"}}})
    assert p["spec"]["devices"][0]["basic"]["attributes"]["model"] == {"string": "T1"}
    events = list(kube.watch(b1 + "/resourceslices", {"timeoutSeconds": 1}))
    assert events[0]["object"]["spec"]["devices"][0]["basic"]
    assert events[0]["object"]["apiVersion"] == "resource.k8s.io/v1beta1"
    status, obj = kube.request("POST", b2 + "/resourceslices", dict(body, apiVersion=
                                                                     "resource.k8s.io/v1beta1"))
    assert status == 400


@pytest.mark.parametrize("name", ["07-create-pod1.http", "07-create-resourceclaimtemplate.http",
                                  "07-create-resourceclaimtemplate-with-config.http",
                                  "07-create-deviceclass-gpu.http",
                                  "07-create-deviceclass-gpu-with-config.http"])
def test_create_defaults_like_capture(kube, name):
    cap = Capture(name)
    status, obj = kube.request(cap.method, cap.target, cap.body)
    assert status == cap.status == 201
    assert strip_volatile(obj) == strip_volatile(cap.response)


def test_core_events_read_back_as_events_v1_like_capture(kube):
    core = Capture("07-events-pod1-corev1.http").response["items"]
    v1 = {i["metadata"]["name"]: i
          for i in Capture("07-events-pod1-eventsv1.http").response["items"]}
    for item in core:
        body = dict(item, metadata={"name": item["metadata"]["name"]})
        obj = kube.create("/api/v1/namespaces/default/events", body)
        assert strip_volatile(obj) == strip_volatile(dict(item, kind="Event", apiVersion="v1"))
        got = kube.get("/apis/events.k8s.io/v1/namespaces/default/events/" +
                       item["metadata"]["name"])
        exp = dict(v1[item["metadata"]["name"]], kind="Event", apiVersion="events.k8s.io/v1")
        assert strip_volatile(got) == strip_volatile(exp)


def test_cluster_wide_create_of_namespaced_kind_not_allowed(kube):
    status, obj = kube.request("POST", "/apis/resource.k8s.io/v1/resourceclaims", {
        "metadata": {"name": "x"}, "spec": {"devices": {}}})
    assert status == 405 and obj["reason"] == "MethodNotAllowed"
    assert kube.request("GET", "/apis/resource.k8s.io/v1/namespaces/default/resourceslices")[0] \
        == 404


def test_concurrent_writers_and_watchers(kube, apiserver):
    import threading
    start = kube.list(SLICES)["metadata"]["resourceVersion"]
    results = [[] for _ in range(3)]

    def watcher(i):
        for ev in kube.watch(SLICES, {"resourceVersion": start, "timeoutSeconds": 3}):
            results[i].append(ev)

    def writer(w):
        c = KubeClient(apiserver.url, token=apiserver.token, ca_path=apiserver.ca_path)
        for j in range(15):
            c.create(SLICES, slice_body(f"w{w}-{j}"))
            c.patch(SLICES + f"/w{w}-{j}", {"metadata": {"labels": {"n": str(j)}}})

    ws = [threading.Thread(target=watcher, args=(i,)) for i in range(3)]
    for t in ws:
        t.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    for t in ws:
        t.join()
    for evs in results:
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        assert len(evs) == 4 * 15 * 2
        assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    assert len(kube.list(SLICES)["items"]) == 60


def test_watch_path_prefix_and_incluster_env(kube, apiserver):
    kube.create(SLICES, slice_body("a"))
    status, _, raw = kube.request_raw(
        "GET", "/apis/resource.k8s.io/v1/watch/resourceslices?timeoutSeconds=0.2")
    assert status == 200 and b'"ADDED"' in raw
    env = apiserver.incluster_env()
    assert env["KUBERNETES_SERVICE_PORT"] == str(apiserver.port)


def test_pod_log_subresource(kube, apiserver):
    kube.create(PODS, {"metadata": {"name": "lp"}, "spec": {"containers": [
        {"name": "ctr", "image": "busybox:1"}]}})
    status, obj = kube.request("GET", PODS + "/lp/log")
    assert status == 400 and "waiting to start" in obj["message"]
    apiserver.pod_log_provider = lambda ns, pod, ctr: f"hello from {ns}/{pod}/{ctr}\n"
    status, hdrs, raw = kube.request_raw("GET", PODS + "/lp/log?container=ctr")
    assert status == 200 and hdrs["content-type"] == "text/plain"
    assert raw == b"hello from default/lp/ctr\n"
    assert apiserver.request_log()[-1]["subresource"] == "log"


def test_list_as_table(kube):
    four_slices(kube)
    cap = Capture("05-list-slices-as-table.http")
    status, hdrs, raw = kube.request_raw("GET", cap.target,
                                         headers={"Accept": cap.req_headers["Accept"]})
    import json
    obj = json.loads(raw)
    assert status == 200 and obj["kind"] == "Table" and obj["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in obj["columnDefinitions"]] == \
        [c["name"] for c in cap.response["columnDefinitions"]]
    assert [r["cells"][:3] for r in obj["rows"]] == [r["cells"][:3] for r in cap.response["rows"]]
    assert obj["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_immutable_slice_and_template_fields(kube):
    s = kube.create(SLICES, slice_body("im"))
    s["spec"]["nodeName"] = "elsewhere"
    status, obj = kube.request("PUT", SLICES + "/im", s)
    assert status == 422
    assert obj["details"]["causes"] == [{"reason": "FieldValueInvalid",
                                         "message": 'Invalid value: "elsewhere": field is '
                                                    'immutable', "field": "spec.nodeName"}]
    tpl = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates"
    kube.create(tpl, {"metadata": {"name": "t"}, "spec": {"spec": {"devices": {"requests": [
        {"name": "r", "exactly": {"deviceClassName": "x"}}]}}}})
    assert kube.patch(tpl + "/t", {"metadata": {"labels": {"a": "b"}}})["metadata"]["labels"]
    status, obj = kube.request("PATCH", tpl + "/t", {"spec": {"spec": {"devices": {
        "requests": [{"name": "r", "exactly": {"deviceClassName": "y"}}]}}}},
        content_type="application/merge-patch+json")
    assert status == 422 and obj["details"]["causes"][0]["field"] == "spec"


def test_dry_run_validates_without_storing(kube):
    obj = kube.create(SLICES, slice_body("dry"), params={"dryRun": "All"})
    assert obj["metadata"]["uid"] and obj["metadata"]["generation"] == 1
    assert kube.request("GET", SLICES + "/dry")[0] == 404
    bad = slice_body("dry")
    bad["spec"]["driver"] = "Bad_Driver"
    status, err = kube.request("POST", SLICES, bad, params={"dryRun": "All"})
    assert status == 422 and err["details"]["causes"][0]["field"] == "spec.driver"
    real = kube.create(SLICES, slice_body("real"))
    p = kube.patch(SLICES + "/real", {"metadata": {"labels": {"a": "b"}}},
                   params={"dryRun": "All"})
    assert p["metadata"]["labels"] == {"a": "b"}
    assert kube.get(SLICES + "/real")["metadata"]["resourceVersion"] == \
        real["metadata"]["resourceVersion"]
    assert "labels" not in kube.get(SLICES + "/real")["metadata"] or \
        kube.get(SLICES + "/real")["metadata"]["labels"] == {}
    kube.delete(SLICES + "/real", params={"dryRun": "All"})
    assert kube.get(SLICES + "/real")
    assert kube.request("GET", SLICES, params={"dryRun": "x"})[0] == 200
    assert len(kube.request("DELETE", SLICES, params={"dryRun": "All"})[1]["items"]) == 1
    assert len(kube.list(SLICES)["items"]) == 1
    assert kube.request("DELETE", SLICES + "/real", params={"dryRun": "x"})[0] == 400


def test_list_options_validation(kube):
    def err(params):
        status, obj = kube.request("GET", SLICES, params=params)
        assert status == 422 and obj["details"]["kind"] == "ListOptions", obj
        return obj["message"]
    assert err({"resourceVersionMatch": "Exact"}) == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        'resourceVersionMatch is forbidden unless resourceVersion is provided')
    assert "forbidden for resourceVersion" in err({"resourceVersion": "0",
                                                   "resourceVersionMatch": "Exact"})
    assert "Unsupported value" in err({"resourceVersion": "1", "resourceVersionMatch": "x"})
    assert kube.request("GET", SLICES, params={"resourceVersion": "0",
                                               "resourceVersionMatch": "NotOlderThan"})[0] == 200


def test_server_side_apply_creates_and_requires_field_manager(kube):
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "ssa", "namespace": "kube-system"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
    status, obj = kube.request("PATCH", LEASES + "/ssa", body,
                               content_type="application/apply-patch+yaml")
    assert status == 422 and obj["details"]["causes"][0]["field"] == "fieldManager"
    status, obj = kube.request("PATCH", LEASES + "/ssa", body,
                               content_type="application/apply-patch+yaml",
                               params={"fieldManager": "t"})
    assert status == 201 and obj["spec"]["holderIdentity"] == "me"
    body["spec"]["holderIdentity"] = "you"
    status, obj = kube.request("PATCH", LEASES + "/ssa",
                               "apiVersion: coordination.k8s.io/v1\nkind: Lease\n"
                               "metadata:\n  name: ssa\nspec:\n  holderIdentity: you\n",
                               content_type="application/apply-patch+yaml",
                               params={"fieldManager": "t"})
    assert status == 200 and obj["spec"] == {"holderIdentity": "you",
                                             "leaseDurationSeconds": 15}


def test_cluster_scoped_crd_instances_and_watch(kube):
    crd = _crd(scope="Cluster")
    crd["spec"]["versions"][0].pop("subresources")
    kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    base = "/apis/hostdev.example.com/v1alpha1/ledgers"
    assert kube.request("GET", "/apis/hostdev.example.com/v1alpha1/namespaces/x/ledgers")[0] \
        == 404
    obj = kube.create(base, {"metadata": {"name": "l"}, "spec": {"a": 1}, "status": {"s": 1}})
    assert obj["status"] == {"s": 1}                 # no status subresource: stored as sent
    evs = list(kube.watch(base, {"timeoutSeconds": 0.2}))
    assert [(e["type"], e["object"]["kind"]) for e in evs] == [("ADDED", "Ledger")]
    status, _ = kube.request("PATCH", base + "/l", {"spec": {"a": 2}},
                             content_type="application/strategic-merge-patch+json")
    assert status == 415


def test_body_media_types(kube):
    status, obj = kube.request("POST", SLICES, "{}", content_type="text/plain")
    assert status == 415 and obj["reason"] == "UnsupportedMediaType"
    yaml_body = ("apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata:\n  name: y\n"
                 "spec:\n  selectors:\n  - cel:\n      expression: device.driver == 'x'\n")
    status, obj = kube.request("POST", RES + "/deviceclasses", yaml_body,
                               content_type="application/yaml")
    assert status == 201 and obj["spec"]["selectors"][0]["cel"]["expression"] == \
        "device.driver == 'x'"


def test_large_bodies_are_chunked_small_ones_have_length(kube):
    kube.create(SLICES, slice_body("big", devices=40))
    status, hdrs, raw = kube.request_raw("GET", SLICES + "/big")
    assert status == 200 and hdrs.get("transfer-encoding") == "chunked"
    assert "content-length" not in hdrs
    import json
    assert len(json.loads(raw)["spec"]["devices"]) == 40
    status, hdrs, raw = kube.request_raw("GET", "/version")
    assert int(hdrs["content-length"]) == len(raw)
