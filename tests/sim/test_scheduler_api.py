"""Simulated scheduler + claim controller against the API server simulator (no kubelet)."""

import sys

import pytest

from kclient import KubeClient
from kubelet_testutil import claim, claim_spec, claim_template, device_class, pod, pod_events, wait_for
from scheduler import FINALIZER, POD_CLAIM_ANNOTATION, Scheduler

DRV = "sched.sim.example.com"
R = "/apis/resource.k8s.io/v1"


@pytest.fixture
def api(tmp_path):
    from apiserver import ApiServer
    s = ApiServer(str(tmp_path / "api"), log_path=str(tmp_path / "apiserver.log"))
    s.start()
    c = KubeClient(s.url, token=s.token, ca_path=s.ca_path)
    sched = Scheduler(c, interval=0.05, log_path=str(tmp_path / "scheduler.log")).start()
    for n in ("node-a", "node-b"):
        c.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": n, "labels": {"kubernetes.io/hostname": n}}})
    for n, devs in (("node-a", ["a0", "a1"]), ("node-b", ["b0"])):
        c.create(f"{R}/resourceslices", {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": f"{n}-slice"},
            "spec": {"driver": DRV, "nodeName": n,
                     "pool": {"name": n, "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": d, "attributes": {"index": {"int": i},
                                                            "model": {"string": "M" + d[0]}}}
                                 for i, d in enumerate(devs)]}})
    c.create(f"{R}/deviceclasses", device_class("sched", DRV, config=[
        {"opaque": {"driver": DRV, "parameters": {"from": "class"}}}]))
    yield c
    sched.stop()
    s.stop()
    for f in ("scheduler.log", "apiserver.log"):
        try:
            sys.stdout.write(f"===== {f} =====\n" + open(tmp_path / f).read()[-20000:] + "\n")
        except OSError:
            pass


def get_claim(c, name):
    return c.get(f"{R}/namespaces/default/resourceclaims/{name}")


def bound(c, name):
    return c.get(f"/api/v1/namespaces/default/pods/{name}")["spec"].get("nodeName")


def unschedulable(c, name):
    p = c.get(f"/api/v1/namespaces/default/pods/{name}")
    for cond in (p.get("status") or {}).get("conditions") or []:
        if cond["type"] == "PodScheduled" and cond["status"] == "False":
            return cond


def test_template_claim_allocated_reserved_bound(api):
    spec = claim_spec("sched")
    spec["devices"]["config"] = [{"requests": ["dev"], "opaque": {"driver": DRV,
                                                                   "parameters": {"from": "claim"}}}]
    api.create(f"{R}/namespaces/default/resourceclaimtemplates", claim_template("t", spec))
    p = api.create("/api/v1/namespaces/default/pods",
                   pod("p", "true", claims=[("dev", {"resourceClaimTemplateName": "t"})]))
    node = wait_for(lambda: bound(api, "p"), what="binding")
    pobj = api.get("/api/v1/namespaces/default/pods/p")
    cname = pobj["status"]["resourceClaimStatuses"][0]["resourceClaimName"]
    assert cname.startswith("p-dev-") and len(cname) == len("p-dev-") + 5
    c = get_claim(api, cname)
    assert c["metadata"]["annotations"][POD_CLAIM_ANNOTATION] == "dev"
    assert c["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": "p",
                                                 "uid": p["metadata"]["uid"], "controller": True}]
    assert FINALIZER in c["metadata"]["finalizers"]
    a = c["status"]["allocation"]
    assert a["devices"]["results"] == [{"request": "dev", "driver": DRV, "pool": node,
                                        "device": a["devices"]["results"][0]["device"]}]
    assert [x["source"] for x in a["devices"]["config"]] == ["FromClass", "FromClaim"]
    assert a["devices"]["config"][0]["requests"] == ["dev"]
    assert a["nodeSelector"]["nodeSelectorTerms"][0]["matchFields"][0]["values"] == [node]
    assert c["status"]["reservedFor"] == [{"resource": "pods", "name": "p",
                                           "uid": p["metadata"]["uid"]}]
    assert "Scheduled" in {e["reason"] for e in pod_events(api, "p")}
    # pod gone -> reservation dropped, claim deallocated and (generated) deleted
    api.delete("/api/v1/namespaces/default/pods/p", params={"gracePeriodSeconds": 0})
    wait_for(lambda: api.request("GET", f"{R}/namespaces/default/resourceclaims/{cname}")[0] == 404,
             what="generated claim deleted")


@pytest.mark.parametrize("selector,count,want_node,want_devices", [
    ('device.attributes["%s"].index == 1' % DRV, 1, "node-a", ["a1"]),
    ('device.attributes["%s"].model != "Ma"' % DRV, 1, "node-b", ["b0"]),
    ('device.attributes["%s"].index > 0 && device.attributes["%s"].model == "Ma"' % (DRV, DRV),
     1, "node-a", ["a1"]),
    ('device.attributes["%s"].index < 1 || device.attributes["%s"].model == "Mx"' % (DRV, DRV),
     1, "node-a", ["a0"]),
    (None, 2, "node-a", ["a0", "a1"]),
])
def test_selectors_and_count_pick_node(api, selector, count, want_node, want_devices):
    api.create(f"{R}/namespaces/default/resourceclaims",
               claim("c", claim_spec("sched", count=count, selectors=[selector] if selector else [])))
    api.create("/api/v1/namespaces/default/pods",
               pod("p", "true", claims=[("dev", {"resourceClaimName": "c"})]))
    assert wait_for(lambda: bound(api, "p"), what="binding") == want_node
    res = get_claim(api, "c")["status"]["allocation"]["devices"]["results"]
    assert [r["device"] for r in res] == want_devices


def test_unschedulable_reason_event_then_schedules(api):
    api.create(f"{R}/namespaces/default/resourceclaims", claim("big", claim_spec("sched", count=3)))
    api.create("/api/v1/namespaces/default/pods",
               pod("p", "true", claims=[("dev", {"resourceClaimName": "big"})]))
    cond = wait_for(lambda: unschedulable(api, "p"), what="PodScheduled=False")
    assert cond["reason"] == "Unschedulable"
    assert "cannot allocate 3" in cond["message"]
    ev = wait_for(lambda: [e for e in pod_events(api, "p") if e["reason"] == "FailedScheduling"],
                  what="event")[0]
    assert ev["type"] == "Warning" and "cannot allocate 3" in ev["message"]
    assert not get_claim(api, "big").get("status", {}).get("allocation")
    # unknown CEL -> clear reason
    api.create(f"{R}/namespaces/default/resourceclaims",
               claim("cel", claim_spec("sched", selectors=['device.attributes["x"].y.matches("z")'])))
    api.create("/api/v1/namespaces/default/pods",
               pod("q", "true", claims=[("dev", {"resourceClaimName": "cel"})]))
    cond = wait_for(lambda: unschedulable(api, "q"), what="PodScheduled=False")
    assert "unsupported CEL" in cond["message"]


def test_allocated_elsewhere_shared_claim_and_first_available(api):
    # a shared claim holding a0 for two pods counts once
    api.create(f"{R}/namespaces/default/resourceclaims", claim("shared", claim_spec(
        "sched", selectors=['device.attributes["%s"].index == 0 && device.attributes["%s"].model == "Ma"'
                            % (DRV, DRV)])))
    for n in ("s1", "s2"):
        api.create("/api/v1/namespaces/default/pods",
                   pod(n, "true", claims=[("dev", {"resourceClaimName": "shared"})]))
    wait_for(lambda: bound(api, "s1") and bound(api, "s2"), what="both bound")
    c = get_claim(api, "shared")
    assert sorted(r["name"] for r in c["status"]["reservedFor"]) == ["s1", "s2"]
    assert [r["device"] for r in c["status"]["allocation"]["devices"]["results"]] == ["a0"]
    # firstAvailable: "two on node-a" impossible now (a0 taken) -> falls back to "one"
    fa = {"devices": {"requests": [{"name": "main", "firstAvailable": [
        {"name": "two", "deviceClassName": "sched", "count": 2,
         "selectors": [{"cel": {"expression": 'device.attributes["%s"].model == "Ma"' % DRV}}]},
        {"name": "one", "deviceClassName": "sched"}]}]}}
    api.create(f"{R}/namespaces/default/resourceclaims", claim("fa", fa))
    api.create("/api/v1/namespaces/default/pods",
               pod("f", "true", claims=[("dev", {"resourceClaimName": "fa"})]))
    wait_for(lambda: bound(api, "f"), what="binding")
    res = get_claim(api, "fa")["status"]["allocation"]["devices"]["results"]
    assert res == [{"request": "main/one", "driver": DRV, "pool": "node-a", "device": "a1"}]
    # everything on node-a is in use: an "All" claim must go to node-b
    api.create(f"{R}/namespaces/default/resourceclaims", claim("all", claim_spec("sched", mode="All")))
    api.create("/api/v1/namespaces/default/pods",
               pod("g", "true", claims=[("dev", {"resourceClaimName": "all"})]))
    assert wait_for(lambda: bound(api, "g"), what="binding") == "node-b"
    assert [r["device"] for r in get_claim(api, "all")["status"]["allocation"]["devices"]["results"]] == ["b0"]
    # nothing left anywhere
    api.create(f"{R}/namespaces/default/resourceclaims", claim("none", claim_spec("sched")))
    api.create("/api/v1/namespaces/default/pods",
               pod("h", "true", claims=[("dev", {"resourceClaimName": "none"})]))
    cond = wait_for(lambda: unschedulable(api, "h"), what="PodScheduled=False")
    assert "0 free" in cond["message"]


def test_tainted_and_new_generation_and_incomplete_pool(api):
    api.create(f"{R}/resourceslices", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "t-1"},
        "spec": {"driver": "t." + DRV, "nodeName": "node-a",
                 "pool": {"name": "tp", "generation": 1, "resourceSliceCount": 1},
                 "devices": [{"name": "old"}]}})
    api.create(f"{R}/resourceslices", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "t-2"},
        "spec": {"driver": "t." + DRV, "nodeName": "node-a",
                 "pool": {"name": "tp", "generation": 2, "resourceSliceCount": 1},
                 "devices": [{"name": "bad", "taints": [{"key": "k", "effect": "NoSchedule"}]},
                             {"name": "good"}]}})
    api.create(f"{R}/resourceslices", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "t-3"},
        "spec": {"driver": "t." + DRV, "nodeName": "node-a",
                 "pool": {"name": "partial", "generation": 1, "resourceSliceCount": 2},
                 "devices": [{"name": "half"}]}})
    api.create(f"{R}/deviceclasses", device_class("tcls", "t." + DRV))
    api.create(f"{R}/namespaces/default/resourceclaims", claim("t", claim_spec("tcls", mode="All")))
    api.create("/api/v1/namespaces/default/pods",
               pod("p", "true", claims=[("dev", {"resourceClaimName": "t"})]))
    wait_for(lambda: bound(api, "p"), what="binding")
    res = get_claim(api, "t")["status"]["allocation"]["devices"]["results"]
    assert [(r["pool"], r["device"]) for r in res] == [("tp", "good")]


def _shape(o, drop=("managedFields", "uid", "resourceVersion", "creationTimestamp",
                    "allocationTimestamp", "name", "generateName", "device")):
    """Keys (recursively) and list lengths: what must match the real components."""
    if isinstance(o, dict):
        return {k: _shape(v) if k not in drop else "*" for k, v in sorted(o.items())
                if k not in ("managedFields",)}
    if isinstance(o, list):
        return [_shape(x) for x in o]
    return type(o).__name__


def test_generated_claim_matches_real_capture(tmp_path):
    """Replay the real 1.36 run (07b: class + template with config, pod) and compare the
    generated, allocated claim with the one real kube-controller-manager + scheduler wrote."""
    from apiserver import ApiServer
    from sim_capture import Capture
    s = ApiServer(str(tmp_path / "api"), log_path=str(tmp_path / "apiserver.log"))
    s.start()
    c = KubeClient(s.url, token=s.token, ca_path=s.ca_path)
    sched = Scheduler(c, interval=0.05, log_path=str(tmp_path / "scheduler.log")).start()
    try:
        c.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                   "metadata": {"name": "127.0.0.1"}})
        sl = Capture("07-driver-published-resourceslice.http").response
        sl["metadata"] = {"name": sl["metadata"]["name"]}
        c.create(f"{R}/resourceslices", sl)
        c.create(f"{R}/deviceclasses",
                 Capture("07-create-deviceclass-gpu-with-config.http").request_json)
        c.create(f"{R}/namespaces/default/resourceclaimtemplates",
                 Capture("07-create-resourceclaimtemplate-with-config.http").request_json)
        body = Capture("07-create-pod1.http").request_json
        tmpl = Capture("07-create-resourceclaimtemplate-with-config.http").request_json
        body["metadata"]["name"] = "ref-dra3"
        body["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] = tmpl["metadata"]["name"]
        p = c.create("/api/v1/namespaces/default/pods", body)
        wait_for(lambda: bound(c, "ref-dra3"), what="binding")
        cname = c.get("/api/v1/namespaces/default/pods/ref-dra3")["status"][
            "resourceClaimStatuses"][0]["resourceClaimName"]
        got = get_claim(c, cname)
        want = Capture("07-get-generated-claim-allocated-with-config.http").response
        assert _shape(got) == _shape(want)
        assert got["status"]["allocation"]["devices"]["config"] == \
            want["status"]["allocation"]["devices"]["config"]
        assert got["status"]["allocation"]["devices"]["results"] == \
            want["status"]["allocation"]["devices"]["results"]  # gpu-4: first with index >= 4
        assert got["status"]["allocation"]["nodeSelector"] == want["status"]["allocation"]["nodeSelector"]
        assert got["metadata"]["annotations"] == want["metadata"]["annotations"]
        assert got["metadata"]["finalizers"] == want["metadata"]["finalizers"]
        assert got["status"]["reservedFor"] == [{"resource": "pods", "name": "ref-dra3",
                                                 "uid": p["metadata"]["uid"]}]
    finally:
        sched.stop()
        s.stop()
