"""API server simulator: CustomResourceDefinitions and their custom resources (serving,
discovery, metadata semantics, schema pruning/defaulting/validation, fieldValidation, status
subresource, watch, selectors, printer-column Tables, kubectl get), Leases and Events as the
controller uses them."""

import os
import shutil
import subprocess
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]

import pytest  # noqa: E402
import yaml  # noqa: E402

from kclient import ApiError  # noqa: E402
from sim_capture import Capture  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "data", "sim", "ledger-crd.yaml")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GV = "/apis/hostdev.example.com/v1alpha1"
LEDGERS = GV + "/hostdeviceledgers"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def ledger_crd():
    with open(FIXTURE) as f:
        return yaml.safe_load(f)


def ledger(name, node=None, **extra):
    body = {"apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceLedger",
            "metadata": {"name": name}, "spec": {"nodeName": node or name}}
    body.update(extra)
    return body


@pytest.fixture
def crd(kube):
    return kube.create(CRDS, ledger_crd())


def kubectl_bin():
    k = shutil.which("kubectl")
    if not k:
        pytest.fail("kubectl (1.27 or newer) must be on PATH for this test", pytrace=False)
    return k


def kubectl(apiserver, *args, check=True):
    r = subprocess.run([kubectl_bin(), "--kubeconfig", apiserver.kubeconfig_path] + list(args),
                       capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


# -- the CRD itself and discovery -------------------------------------------------------------

def test_crd_is_established_and_discoverable(kube, crd):
    assert crd["metadata"]["generation"] == 1 and crd["metadata"]["uid"]
    got = kube.get(CRDS + "/hostdeviceledgers.hostdev.example.com")
    conds = {c["type"]: (c["status"], c["reason"]) for c in got["status"]["conditions"]}
    assert conds == {"NamesAccepted": ("True", "NoConflicts"),
                     "Established": ("True", "InitialNamesAccepted")}
    assert got["status"]["acceptedNames"]["shortNames"] == ["hdl"]
    assert got["status"]["storedVersions"] == ["v1alpha1"]
    groups = kube.get("/apis")["groups"]
    g = [x for x in groups if x["name"] == "hostdev.example.com"]
    assert g and g[0]["preferredVersion"]["version"] == "v1alpha1"
    assert kube.get("/apis/hostdev.example.com")["versions"] == [
        {"groupVersion": "hostdev.example.com/v1alpha1", "version": "v1alpha1"}]
    res = {r["name"]: r for r in kube.get(GV)["resources"]}
    assert set(res) == {"hostdeviceledgers", "hostdeviceledgers/status"}
    assert res["hostdeviceledgers"]["namespaced"] is False
    assert res["hostdeviceledgers"]["shortNames"] == ["hdl"]
    assert res["hostdeviceledgers/status"]["verbs"] == ["get", "patch", "update"]
    status, agg = kube.request("GET", "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    assert status == 200
    item = [i for i in agg["items"] if i["metadata"].get("name") == "hostdev.example.com"][0]
    r = item["versions"][0]["resources"][0]
    assert (r["resource"], r["scope"], r["subresources"][0]["subresource"]) == (
        "hostdeviceledgers", "Cluster", "status")


def test_crd_without_schema_is_rejected_like_a_real_server(kube):
    body = ledger_crd()
    del body["spec"]["versions"][0]["schema"]
    status, obj = kube.request("POST", CRDS, body)
    assert status == 422 and obj["reason"] == "Invalid"
    assert obj["details"]["causes"] == [{
        "reason": "FieldValueRequired", "message": "Required value: schemas are required",
        "field": "spec.versions[0].schema.openAPIV3Schema"}]


def test_deleting_the_crd_removes_its_objects_and_api(kube, crd):
    kube.create(LEDGERS, ledger("n1"))
    kube.delete(CRDS + "/hostdeviceledgers.hostdev.example.com")
    assert kube.request("GET", LEDGERS)[0] == 404
    assert not any(g["name"] == "hostdev.example.com" for g in kube.get("/apis")["groups"])
    kube.create(CRDS, ledger_crd())
    assert kube.list(LEDGERS)["items"] == []


# -- custom resources: metadata semantics ------------------------------------------------------

def test_custom_resource_metadata_semantics(kube, crd):
    obj = kube.create(LEDGERS, ledger("n1", status={"total": 8}))
    md = obj["metadata"]
    assert obj["kind"] == "HostDeviceLedger" and obj["apiVersion"] == \
        "hostdev.example.com/v1alpha1"
    assert md["generation"] == 1 and md["uid"] and md["creationTimestamp"].endswith("Z")
    assert "status" not in obj                       # status subresource: ignored on create
    assert obj["spec"] == {"nodeName": "n1", "mode": "Record"}   # schema default applied
    assert kube.request("POST", LEDGERS, ledger("n1"))[1]["reason"] == "AlreadyExists"
    # status writes change only status and never the generation
    st = kube.patch(LEDGERS + "/n1/status", {"spec": {"nodeName": "x"},
                                            "status": {"total": 8, "free": 8}})
    assert st["status"] == {"total": 8, "free": 8} and st["spec"]["nodeName"] == "n1"
    assert st["metadata"]["generation"] == 1
    assert int(st["metadata"]["resourceVersion"]) > int(md["resourceVersion"])
    put = dict(st, status={"total": 1})
    put = kube.update(LEDGERS + "/n1/status", put)
    assert put["status"] == {"total": 1} and put["metadata"]["generation"] == 1
    # main-resource writes ignore status and bump the generation on spec changes only
    main = kube.patch(LEDGERS + "/n1", {"spec": {"mode": "Audit"}, "status": {"total": 99}})
    assert main["status"] == {"total": 1} and main["metadata"]["generation"] == 2
    lab = kube.patch(LEDGERS + "/n1", {"metadata": {"labels": {"a": "b"}}})
    assert lab["metadata"]["generation"] == 2
    same = kube.patch(LEDGERS + "/n1", {"spec": {"mode": "Audit"}})
    assert same["metadata"]["resourceVersion"] == lab["metadata"]["resourceVersion"]
    # optimistic concurrency on both endpoints
    stale = dict(main)
    status, err = kube.request("PUT", LEDGERS + "/n1", stale)
    assert status == 409 and err["reason"] == "Conflict"
    assert err["message"] == ('Operation cannot be fulfilled on hostdeviceledgers.'
                              'hostdev.example.com "n1": the object has been modified; please '
                              'apply your changes to the latest version and try again')
    assert kube.request("PUT", LEDGERS + "/n1/status", stale)[0] == 409
    status, err = kube.request("GET", LEDGERS + "/nope")
    assert status == 404 and err["message"] == \
        'hostdeviceledgers.hostdev.example.com "nope" not found'
    assert kube.request("GET", GV + "/namespaces/default/hostdeviceledgers/n1")[0] == 404
    # strategic merge patch is not supported for custom resources (415, like a real server)
    assert kube.request("PATCH", LEDGERS + "/n1", {"spec": {}},
                        content_type="application/strategic-merge-patch+json")[0] == 415
    json_patch = kube.patch(LEDGERS + "/n1/status",
                            [{"op": "replace", "path": "/status/total", "value": 2}], "json")
    assert json_patch["status"]["total"] == 2


def test_namespaced_custom_resources(kube):
    body = ledger_crd()
    body["metadata"]["name"] = "notes.hostdev.example.com"
    body["spec"]["scope"] = "Namespaced"
    body["spec"]["names"] = {"plural": "notes", "singular": "note", "kind": "Note"}
    kube.create(CRDS, body)
    base = GV + "/namespaces/default/notes"
    obj = kube.create(base, {"kind": "Note", "apiVersion": "hostdev.example.com/v1alpha1",
                             "metadata": {"name": "a"}, "spec": {"nodeName": "x"}})
    assert obj["metadata"]["namespace"] == "default"
    kube.create(GV + "/namespaces/kube-system/notes", {"metadata": {"name": "b"},
                                                      "spec": {"nodeName": "y"}})
    assert [i["metadata"]["name"] for i in kube.list(GV + "/notes")["items"]] == ["a", "b"]
    assert kube.list(GV + "/notes")["kind"] == "NoteList"
    assert kube.request("POST", GV + "/namespaces/nope/notes",
                        {"metadata": {"name": "c"}, "spec": {"nodeName": "z"}})[0] == 404


# -- schema: pruning, defaults, validation, fieldValidation ----------------------------------------

def test_schema_violations_are_422_with_causes(kube, crd):
    status, obj = kube.request("POST", LEDGERS, {
        "apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceLedger",
        "metadata": {"name": "bad"}, "spec": {"mode": "Sometimes"}})
    assert status == 422 and obj["reason"] == "Invalid"
    assert obj["details"]["kind"] == "HostDeviceLedger"
    assert obj["details"]["group"] == "hostdev.example.com"
    causes = sorted((c["reason"], c["field"]) for c in obj["details"]["causes"])
    assert causes == [("FieldValueNotSupported", "spec.mode"),
                      ("FieldValueRequired", "spec.nodeName")]
    assert obj["message"].startswith('HostDeviceLedger.hostdev.example.com "bad" is invalid: [')
    assert 'spec.mode: Unsupported value: "Sometimes": supported values: "Record", "Audit"' \
        in obj["message"]
    kube.create(LEDGERS, ledger("n1"))
    status, obj = kube.request("PATCH", LEDGERS + "/n1/status", {"status": {
        "total": "eight", "free": -1, "devices": [{"name": "d0", "state": "Lost"}]}},
        content_type="application/merge-patch+json")
    assert status == 422
    got = {c["field"]: (c["reason"], c["message"]) for c in obj["details"]["causes"]}
    assert got["status.total"] == ("FieldValueTypeInvalid", 'Invalid value: "string": '
                                   'status.total in body must be of type integer: "string"')
    assert got["status.free"] == ("FieldValueInvalid", "Invalid value: -1: status.free in body "
                                  "should be greater than or equal to 0")
    assert got["status.devices[0].state"][0] == "FieldValueNotSupported"
    # the rejected write changed nothing
    assert "status" not in kube.get(LEDGERS + "/n1")


def test_unknown_fields_are_pruned_warned_or_rejected(kube, crd):
    body = ledger("n1", extra={"x": 1})
    body["spec"]["colour"] = "red"
    status, hdrs, raw = kube.request_raw("POST", LEDGERS, body)
    assert status == 201
    assert hdrs.get("warning", "").startswith('299 - "unknown field \\"')
    obj = kube.get(LEDGERS + "/n1")
    assert "extra" not in obj and "colour" not in obj["spec"]
    body = ledger("n2")
    body["spec"]["colour"] = "red"
    status, err = kube.request("POST", LEDGERS, body, params={"fieldValidation": "Strict"})
    assert status == 400 and err["reason"] == "BadRequest"
    assert err["message"] == ('HostDeviceLedger in version "v1alpha1" cannot be handled as a '
                              'HostDeviceLedger: strict decoding error: unknown field '
                              '"spec.colour"')
    status, hdrs, _ = kube.request_raw("POST", LEDGERS, body,
                                       params={"fieldValidation": "Ignore"})
    assert status == 201 and "warning" not in hdrs
    # x-kubernetes-preserve-unknown-fields keeps what it covers, nothing else
    status, err = kube.request("PATCH", LEDGERS + "/n1/status", {"status": {"devices": [
        {"name": "d0", "state": "Allocated", "bogus": 1}]}},
        content_type="application/merge-patch+json", params={"fieldValidation": "Strict"})
    assert status == 400 and err["message"] == \
        'strict decoding error: unknown field "status.devices[0].bogus"'

    st = kube.patch(LEDGERS + "/n1/status", {"status": {"devices": [
        {"name": "d0", "state": "Allocated",
         "holders": [{"namespace": "ns", "name": "c", "anything": {"goes": True}}]}]}},
        params={"fieldValidation": "Strict"})
    assert st["status"]["devices"][0]["holders"][0]["anything"] == {"goes": True}


# -- watch and selectors -----------------------------------------------------------------------

def test_watch_bookmarks_and_selectors(kube, crd):
    kube.create(LEDGERS, ledger("n1", metadata={"name": "n1", "labels": {"zone": "a"}}))
    kube.create(LEDGERS, ledger("n2", metadata={"name": "n2", "labels": {"zone": "b"}}))
    names = [i["metadata"]["name"] for i in
             kube.list(LEDGERS, {"fieldSelector": "metadata.name=n2"})["items"]]
    assert names == ["n2"]
    names = [i["metadata"]["name"] for i in
             kube.list(LEDGERS, {"labelSelector": "zone in (a)"})["items"]]
    assert names == ["n1"]
    status, err = kube.request("GET", LEDGERS, params={"fieldSelector": "spec.nodeName=n1"})
    assert status == 400 and err["message"] == \
        '"spec.nodeName" is not a known field selector: only "metadata.name"'
    evs = list(kube.watch(LEDGERS, {"resourceVersion": "0", "allowWatchBookmarks": "true",
                                    "timeoutSeconds": "0.5"}))
    assert [e["type"] for e in evs] == ["ADDED", "ADDED", "BOOKMARK"]
    bm = evs[-1]["object"]
    assert bm["kind"] == "HostDeviceLedger" and \
        bm["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    lst = kube.list(LEDGERS, {"limit": 1})
    assert len(lst["items"]) == 1 and lst["metadata"]["continue"]
    rv = lst["metadata"]["resourceVersion"]
    kube.patch(LEDGERS + "/n1/status", {"status": {"total": 3}})
    kube.delete(LEDGERS + "/n2")
    evs = list(kube.watch(LEDGERS, {"resourceVersion": rv, "timeoutSeconds": "0.5",
                                    "fieldSelector": "metadata.name=n1"}))
    assert [(e["type"], e["object"]["status"]["total"]) for e in evs] == [("MODIFIED", 3)]


# -- Table and kubectl get -----------------------------------------------------------------------

def test_printer_columns_table(kube, crd):
    kube.create(LEDGERS, ledger("n1"))
    kube.patch(LEDGERS + "/n1/status", {"status": {"total": 8, "allocated": 7, "free": 1,
                                                   "unhealthy": 0, "conflicts": 0}})
    kube.create(LEDGERS, ledger("n2"))
    status, tbl = kube.request("GET", LEDGERS, headers={"Accept": TABLE})
    assert status == 200 and tbl["kind"] == "Table" and tbl["apiVersion"] == "meta.k8s.io/v1"
    cols = [(c["name"], c["type"], c["format"]) for c in tbl["columnDefinitions"]]
    assert cols == [("Name", "string", "name"), ("Node", "string", ""),
                    ("Total", "integer", ""), ("Allocated", "integer", ""),
                    ("Free", "integer", ""), ("Unhealthy", "integer", ""),
                    ("Conflicts", "integer", ""), ("Age", "date", "")]
    # the Name column is described like the real server's (see the captured slice Table)
    real = Capture("05-list-slices-as-table.http").response["columnDefinitions"][0]
    assert tbl["columnDefinitions"][0] == real
    assert tbl["columnDefinitions"][2]["description"] == \
        "Custom resource definition column (in JSONPath format): .status.total"
    rows = [r["cells"] for r in tbl["rows"]]
    assert rows[0][:7] == ["n1", "n1", 8, 7, 1, 0, 0]
    assert rows[1][:7] == ["n2", "n2", None, None, None, None, None]
    assert rows[0][7].endswith("s")                    # date -> age, rendered by the server
    assert tbl["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    status, one = kube.request("GET", LEDGERS + "/n1", headers={"Accept": TABLE})
    assert status == 200 and [r["cells"][0] for r in one["rows"]] == ["n1"]


def test_crd_without_printer_columns_gets_age(kube):
    body = ledger_crd()
    del body["spec"]["versions"][0]["additionalPrinterColumns"]
    kube.create(CRDS, body)
    kube.create(LEDGERS, ledger("n1"))
    status, tbl = kube.request("GET", LEDGERS, headers={"Accept": TABLE})
    assert [c["name"] for c in tbl["columnDefinitions"]] == ["Name", "Age"]


def test_kubectl_get_prints_the_columns(apiserver, kube, crd):
    kube.create(LEDGERS, ledger("node-a"))
    kube.patch(LEDGERS + "/node-a/status", {"status": {"total": 8, "allocated": 7, "free": 1,
                                                       "unhealthy": 0, "conflicts": 0}})
    out = kubectl(apiserver, "get", "hostdeviceledgers").stdout.splitlines()
    assert out[0].split() == ["NAME", "NODE", "TOTAL", "ALLOCATED", "FREE", "UNHEALTHY",
                              "CONFLICTS", "AGE"]
    cells = out[1].split()
    assert cells[:7] == ["node-a", "node-a", "8", "7", "1", "0", "0"]
    out = kubectl(apiserver, "get", "hdl", "node-a", "-o", "jsonpath={.status.free}").stdout
    assert out == "1"


# -- Leases and Events as the controller uses them ----------------------------------------------

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


def test_lease_leader_election_round(kube):
    with pytest.raises(ApiError) as ei:
        kube.get(LEASES + "/hostdev-controller")
    assert ei.value.status == 404
    t0 = "2026-12-08T00:00:00.000000Z"
    lease = kube.create(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                 "metadata": {"name": "hostdev-controller"},
                                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                                          "acquireTime": t0, "renewTime": t0,
                                          "leaseTransitions": 0}})
    assert lease["spec"]["renewTime"] == t0 and "generation" not in lease["metadata"]
    renewed = dict(lease, spec=dict(lease["spec"], renewTime="2026-12-08T00:00:02.123456Z"))
    renewed = kube.update(LEASES + "/hostdev-controller", renewed)
    assert renewed["spec"]["renewTime"] == "2026-12-08T00:00:02.123456Z"
    takeover = dict(lease, spec=dict(lease["spec"], holderIdentity="b", leaseTransitions=1))
    status, err = kube.request("PUT", LEASES + "/hostdev-controller", takeover)
    assert status == 409 and err["reason"] == "Conflict"
    bad = dict(renewed, spec=dict(renewed["spec"], renewTime="2026-12-08T00:00:03Z"))
    status, err = kube.request("PUT", LEASES + "/hostdev-controller", bad)
    assert status == 400 and "MicroTime" not in err["message"] and \
        'as ".000000"' in err["message"]


def test_events_created_and_deduplicated_by_patch(kube):
    evs = "/apis/events.k8s.io/v1/namespaces/default/events"
    body = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "claim-a.conflict"},
            "eventTime": "2026-12-08T00:00:00.000000Z", "type": "Warning",
            "reason": "DeviceConflict", "action": "Recording", "note": "gpu-0 held twice",
            "reportingController": "hostdev.example.com/controller",
            "reportingInstance": "hostdev-controller-0",
            "regarding": {"kind": "ResourceClaim", "namespace": "default", "name": "claim-a",
                          "apiVersion": "resource.k8s.io/v1", "uid": "u-1"}}
    ev = kube.create(evs, body)
    assert ev["reason"] == "DeviceConflict" and ev["regarding"]["name"] == "claim-a"
    ev = kube.patch(evs + "/claim-a.conflict", {"series": {
        "count": 2, "lastObservedTime": "2026-12-08T00:00:05.000000Z"}})
    assert ev["series"]["count"] == 2
    core = kube.get("/api/v1/namespaces/default/events/claim-a.conflict")
    assert core["involvedObject"]["name"] == "claim-a" and core["series"]["count"] == 2
    assert core["message"] == "gpu-0 held twice"
    # a core/v1 writer deduplicates with count; events.k8s.io shows it as deprecatedCount
    core = kube.patch("/api/v1/namespaces/default/events/claim-a.conflict", {"count": 3},
                      "strategic")
    assert core["count"] == 3
    assert kube.get(evs + "/claim-a.conflict")["deprecatedCount"] == 3
    lst = kube.list(evs, {"fieldSelector": "regarding.name=claim-a,reason=DeviceConflict"})
    assert [e["metadata"]["name"] for e in lst["items"]] == ["claim-a.conflict"]
