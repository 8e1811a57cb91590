"""API server simulator: background garbage collection by ownerReferences (the ledger goes with
its Node; cascades; several owners; orphaning; dangling owners; finalizers; watch events)."""

import os
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]

import yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
LEDGERS = "/apis/hostdev.example.com/v1alpha1/hostdeviceledgers"
NODES = "/api/v1/nodes"
CMS = "/api/v1/namespaces/default/configmaps"


def ledger_crd():
    with open(os.path.join(HERE, "..", "data", "sim", "ledger-crd.yaml")) as f:
        return yaml.safe_load(f)


def node(kube, name):
    n = kube.create(NODES, {"metadata": {"name": name}})
    return {"apiVersion": "v1", "kind": "Node", "name": name, "uid": n["metadata"]["uid"]}


def owned_ledger(kube, name, *owners):
    return kube.create(LEDGERS, {"apiVersion": "hostdev.example.com/v1alpha1",
                                 "kind": "HostDeviceLedger",
                                 "metadata": {"name": name, "ownerReferences": list(owners)},
                                 "spec": {"nodeName": name}})


def gone_within(kube, path, seconds=2.0):
    """Seconds until GET path is 404 (None when it is still there after `seconds`)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if kube.request("GET", path)[0] == 404:
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def test_ledger_goes_with_its_node_in_the_background(apiserver, kube):
    kube.create(CRDS, ledger_crd())
    owner = dict(node(kube, "node-a"), controller=True, blockOwnerDeletion=True)
    owned_ledger(kube, "node-a", owner)
    owned_ledger(kube, "node-b", dict(node(kube, "node-b"), controller=True))
    rv = kube.list(LEDGERS)["metadata"]["resourceVersion"]
    obj = kube.delete(NODES + "/node-a")
    assert obj["status"] == "Success"
    took = gone_within(kube, LEDGERS + "/node-a")
    assert took is not None and took < 1.0
    assert [i["metadata"]["name"] for i in kube.list(LEDGERS)["items"]] == ["node-b"]
    # a watcher sees the collector's deletion like any other
    evs = list(kube.watch(LEDGERS, {"resourceVersion": rv, "timeoutSeconds": "0.3"}))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("DELETED", "node-a")]
    log = open(apiserver.log_path).read()
    assert "gc: hostdev.example.com/hostdeviceledgers /node-a: deleted (owners gone)" in log


def test_ledger_written_after_its_node_is_gone_is_collected(apiserver, kube):
    """The controller may write a ledger for a Node deleted a moment earlier."""
    kube.create(CRDS, ledger_crd())
    owner = node(kube, "node-a")
    kube.delete(NODES + "/node-a")
    kube.create(NODES, {"metadata": {"name": "node-a"}})     # same name, new uid
    owned_ledger(kube, "node-a", owner)
    assert gone_within(kube, LEDGERS + "/node-a") is not None


def test_owner_of_an_unserved_kind_is_not_presumed_gone(apiserver, kube):
    kube.create(CMS, {"metadata": {"name": "c", "ownerReferences": [
        {"apiVersion": "example.com/v1", "kind": "Unknown", "name": "x",
         "uid": "00000000-0000-0000-0000-000000000001"}]}})
    assert apiserver.wait_gc_idle()
    assert kube.exists(CMS + "/c")


def test_cascade_several_owners_and_orphan(apiserver, kube):
    a, b = node(kube, "a"), node(kube, "b")
    kube.create(CMS, {"metadata": {"name": "two-owners", "ownerReferences": [a, b]}})
    parent = kube.create(CMS, {"metadata": {"name": "parent", "ownerReferences": [a]}})
    child = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent",
             "uid": parent["metadata"]["uid"]}
    kube.create(CMS, {"metadata": {"name": "child", "ownerReferences": [child]}})
    kube.delete(NODES + "/a")
    assert gone_within(kube, CMS + "/child") is not None        # parent, then its child
    assert not kube.exists(CMS + "/parent")
    left = kube.get(CMS + "/two-owners")
    assert [r["name"] for r in left["metadata"]["ownerReferences"]] == ["b"]
    assert any(m["manager"] == "kube-controller-manager"
               for m in left["metadata"]["managedFields"])
    kube.delete(NODES + "/b", params={"propagationPolicy": "Orphan"})
    assert apiserver.wait_gc_idle()
    kept = kube.get(CMS + "/two-owners")
    assert "ownerReferences" not in kept["metadata"]


def test_dependent_with_finalizer_waits_for_it(apiserver, kube):
    a = node(kube, "a")
    kube.create(CMS, {"metadata": {"name": "held", "ownerReferences": [a],
                                   "finalizers": ["example.com/hold"]}})
    kube.delete(NODES + "/a")
    assert apiserver.wait_gc_idle()
    held = kube.get(CMS + "/held")
    assert held["metadata"]["deletionTimestamp"]
    kube.patch(CMS + "/held", {"metadata": {"finalizers": None}})
    assert not kube.exists(CMS + "/held")
