"""hostdev-controller against the simulated API server: allocations recorded and removed, shared
and multi-driver claims, admin access, forced conflicts and missing devices (Events and the
condition once), ledgers garbage-collected with their node, optimistic concurrency, and no lost
update through 410 relists, dropped watches and 5xx/429 storms (the ledgers equal a recount)."""
import time

import pytest

from controller_env import Controller, World, start_apiserver, wait_for


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    srv, kube = start_apiserver(str(tmp_path_factory.mktemp("apiserver")))
    yield srv, kube
    srv.stop()


@pytest.fixture
def env(api, tmp_path):
    srv, kube = api
    srv.clear_faults()
    world = World(kube)
    ctls = []

    def start(extra=(), wait_ready=True):
        c = Controller(srv, world.driver, str(tmp_path), extra)
        ctls.append(c)
        return c.start(wait_ready)
    yield srv, kube, world, start
    srv.clear_faults()
    for c in ctls:
        c.stop()


def status(ledger):
    return (ledger or {}).get("status") or {}


def device(ledger, name):
    return next((d for d in status(ledger).get("devices") or [] if d["name"] == name), {})


def condition(ledger, type_):
    return next(c for c in status(ledger)["conditions"] if c["type"] == type_)


def test_allocations_recorded_and_removed(env):
    srv, kube, w, start = env
    node = w.add_node()
    for i in range(7):
        w.claim(f"c{i}", [(0, f"dev-{i}")], pods=[f"p{i}"])
    ctl = start()
    led = w.wait_totals((8, 7, 1))
    assert led["metadata"]["ownerReferences"] == [{
        "apiVersion": "v1", "kind": "Node", "name": w.node_name(), "uid": node["metadata"]["uid"],
        "blockOwnerDeletion": False}]
    assert led["spec"] == {"nodeName": w.node_name(), "driver": w.driver}
    d = device(led, "dev-3")
    assert d["state"] == "Allocated" and d["group"] == "gpu"
    claim = kube.get(w.claims_path("c3"))
    assert d["holders"] == [{"namespace": w.ns, "name": "c3", "uid": claim["metadata"]["uid"],
                             "request": "r", "adminAccess": False, "pods": ["p3"]}]
    assert device(led, "dev-7") == {"name": "dev-7", "group": "gpu", "state": "Free",
                                    "holders": []}
    assert led["status"]["groups"] == [{"name": "gpu", "total": 8, "allocated": 7, "free": 1,
                                        "unhealthy": 0}]
    assert condition(led, "Synced")["status"] == "True"
    assert condition(led, "Conflict")["status"] == "False"
    # Deallocated, then deleted: the claims leave the ledger.
    w.allocate("c0", [])
    w.wait_totals((8, 6, 2))
    for i in range(1, 7):
        kube.delete(w.claims_path(f"c{i}"))
    w.wait_totals((8, 0, 8))
    assert ctl.metric("hostdev_controller_claims_tracked") == 0
    assert ctl.metric("hostdev_controller_claim_events_total") >= 14
    assert ctl.metric("hostdev_controller_ready") == 1


def test_unchanged_content_is_not_rewritten(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    ctl = start()
    led = w.wait_totals((8, 1, 7))
    writes = ctl.metric("hostdev_controller_ledger_writes_total")
    # Changes that do not touch the ledger's content: a label on the claim, an attribute the
    # ledger does not record.
    unchanged = ctl.metric("hostdev_controller_ledger_unchanged_total")
    kube.patch(w.claims_path("a"), {"metadata": {"labels": {"x": "y"}}})
    wait_for(lambda: ctl.metric("hostdev_controller_ledger_unchanged_total") > unchanged, 10,
             "a render without a write")
    unchanged = ctl.metric("hostdev_controller_ledger_unchanged_total")
    w.put_slice(0, model="m2")
    wait_for(lambda: ctl.metric("hostdev_controller_ledger_unchanged_total") > unchanged, 10,
             "a render without a write")
    assert ctl.metric("hostdev_controller_ledger_writes_total") == writes
    assert w.ledger()["metadata"]["resourceVersion"] == led["metadata"]["resourceVersion"]


def test_shared_claim_is_one_holder(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("shared", [(0, "dev-0")], pods=["p1", "p2"])
    start()
    led = w.wait_totals((8, 1, 7))
    d = device(led, "dev-0")
    assert d["state"] == "Allocated"
    assert [(h["name"], h["pods"]) for h in d["holders"]] == [("shared", ["p1", "p2"])]


def test_multi_driver_claim_records_only_ours(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("multi", [(0, "dev-5", False, "gpu.other.example.com"), (0, "dev-1"),
                      ("elsewhere", "x", False, "gpu.other.example.com")])
    start()
    led = w.wait_totals((8, 1, 7))
    assert device(led, "dev-1")["state"] == "Allocated"
    assert device(led, "dev-5")["state"] == "Free"
    assert not kube.exists(f"/apis/hostdev.example.com/v1alpha1/hostdeviceledgers/elsewhere")


def test_admin_access_is_not_a_conflict(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("user", [(0, "dev-0")])
    w.claim("admin", [(0, "dev-0", True)])
    start()
    led = wait_for(lambda: (l := w.ledger()) and device(l, "dev-0").get("state") == "Shared" and l,
                   10, "a shared device")
    assert led["status"]["conflicts"] == 0
    assert condition(led, "Conflict")["status"] == "False"
    assert sorted((h["name"], h["adminAccess"]) for h in device(led, "dev-0")["holders"]) == [
        ("admin", True), ("user", False)]
    time.sleep(0.5)
    assert w.events("DeviceConflict") == []


def test_forced_conflict_gives_events_and_condition_once(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    w.claim("b", [(0, "dev-1")])
    ctl = start()
    w.wait_totals((8, 2, 6))
    w.allocate("b", [(0, "dev-0")])  # a manual status edit: both hold dev-0
    led = wait_for(lambda: (l := w.ledger()) and status(l).get("conflicts") == 1 and l, 10,
                   "the conflict recorded")
    cond = condition(led, "Conflict")
    assert cond["status"] == "True" and cond["reason"] == "DeviceConflict"
    assert f"{w.ns}/a" in cond["message"] and f"{w.ns}/b" in cond["message"]
    assert device(led, "dev-0")["conflict"] is True
    evs = wait_for(lambda: len(w.events("DeviceConflict")) == 2 and w.events("DeviceConflict"),
                   10, "one DeviceConflict Event per claim")
    assert sorted(e["regarding"]["name"] for e in evs) == ["a", "b"]
    assert all(e["type"] == "Warning" for e in evs)
    assert all(e["reportingController"] == f"{w.driver}/controller" for e in evs)
    # More churn on the same node does not repeat the Events.
    w.claim("c", [(0, "dev-2")])
    w.wait_totals((8, 2, 6))
    time.sleep(0.5)
    assert len(w.events("DeviceConflict")) == 2
    assert ctl.metric("hostdev_controller_device_conflicts") == 1
    # Resolved: the condition goes back to False.
    w.allocate("b", [(0, "dev-1")])
    led = wait_for(lambda: (l := w.ledger()) and status(l).get("conflicts") == 0 and l, 10,
                   "the conflict resolved")
    assert condition(led, "Conflict")["status"] == "False"


def test_missing_device(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("m", [(0, "dev-99")])
    start()
    led = wait_for(lambda: (l := w.ledger()) and status(l).get("missing") == 1 and l, 10,
                   "a missing device")
    assert device(led, "dev-99")["state"] == "Missing"
    assert led["status"]["total"] == 8 and led["status"]["allocated"] == 0
    evs = wait_for(lambda: w.events("DeviceMissing"), 10, "a DeviceMissing Event")
    assert [e["regarding"]["name"] for e in evs] == ["m"] and evs[0]["type"] == "Warning"
    # The slice shrinks under a held device: it becomes Missing too.
    w.claim("n", [(0, "dev-7")])
    w.put_slice(0, n_devices=4, generation=2)
    led = wait_for(lambda: (l := w.ledger()) and status(l).get("missing") == 2 and l, 10,
                   "two missing devices")
    assert led["status"]["total"] == 4 and device(led, "dev-7")["state"] == "Missing"


def test_unhealthy_devices(env):
    srv, kube, w, start = env
    w.add_node(taint=(2, 3))
    w.claim("a", [(0, "dev-3")])
    start()
    led = w.wait_totals((8, 1, 6))
    assert led["status"]["unhealthy"] == 2
    assert device(led, "dev-2")["state"] == "Unhealthy"
    assert device(led, "dev-3")["state"] == "Unhealthy"


def test_node_deleted_ledger_gone(env):
    srv, kube, w, start = env
    w.add_node(0)
    w.add_node(1)
    w.claim("a", [(1, "dev-0")])
    start()
    w.wait_totals((8, 0, 8), 0)
    w.wait_totals((8, 1, 7), 1)
    kube.delete(f"/api/v1/nodes/{w.node_name(1)}")
    wait_for(lambda: w.ledger(1) is None, 10, "the ledger collected with its node")
    # Churn for the gone node must not bring its ledger back without an owner.
    w.allocate("a", [(1, "dev-1")])
    time.sleep(1.0)
    assert w.ledger(1) is None
    assert w.totals(0) == (8, 0, 8)


def test_stale_write_rereads_and_retries(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    ctl = start()
    led = w.wait_totals((8, 1, 7))
    # Someone else writes the status: the controller's resourceVersion is stale now.
    led["status"]["total"] = 99
    kube.update(f"/apis/hostdev.example.com/v1alpha1/hostdeviceledgers/{w.node_name()}/status",
                led)
    w.claim("b", [(0, "dev-1")])
    w.wait_totals((8, 2, 6))
    assert ctl.metric("hostdev_controller_ledger_write_conflicts_total") >= 1


def test_fault_storm_loses_nothing(env):
    srv, kube, w, start = env
    for i in range(3):
        w.add_node(i)
    ctl = start()
    n = 0
    for round_ in range(6):
        # Faults on the watches and on the controller's own requests.
        if round_ % 3 == 0:
            srv.force_410_next_watch(2)
            srv.close_watches()
        elif round_ % 3 == 1:
            srv.close_watches(reset=True)
            srv.compact()
        else:
            srv.fail_next(6, code=503, match="hostdeviceledgers", method="PUT")
            srv.fail_next(4, code=429, retry_after=1, match=r"^/apis/resource.k8s.io/v1/resourceclaims$")
        for _ in range(5):
            w.claim(f"s{n}", [(n % 3, f"dev-{n % 8}")])
            n += 1
        w.allocate(f"s{n - 5}", [])
        kube.delete(w.claims_path(f"s{n - 4}"))
        time.sleep(0.2)
    srv.clear_faults()
    want = w.recount()
    wait_for(lambda: w.recorded() == want, 30, "ledgers equal to a from-scratch recount")
    assert ctl.metric("hostdev_controller_watch_restarts_total") >= 1


def test_write_storm_503_and_429(env):
    srv, kube, w, start = env
    w.add_node()
    ctl = start()
    w.wait_totals((8, 0, 8))
    srv.fail_next(20, code=503, match="hostdeviceledgers", method="PUT")
    for i in range(4):
        w.claim(f"x{i}", [(0, f"dev-{i}")])
    w.wait_totals((8, 4, 4), timeout=30)
    srv.fail_next(10, code=429, retry_after=1, match="hostdeviceledgers", method="PUT")
    w.allocate("x0", [])
    w.wait_totals((8, 3, 5), timeout=30)
    assert ctl.metric("hostdev_controller_ledger_write_failures_total") >= 1


def test_readyz_waits_for_sync_and_metrics(env):
    srv, kube, w, start = env
    w.add_node()
    srv.fail_next(3, code=500, match=r"^/apis/resource.k8s.io/v1/resourceclaims$")
    ctl = start(wait_ready=False)
    assert ctl.http("/healthz")[0] == 200
    wait_for(lambda: ctl.http("/readyz")[0] == 200, 20, "ready after the first sync")
    text = ctl.http("/metrics")[1]
    for name in ("claims_tracked", "claim_events_total", "ledger_writes_total",
                 "device_conflicts", "leader", "watch_restarts_total"):
        assert f"hostdev_controller_{name}{{driver=\"{w.driver}\"}}" in text


def test_two_controllers_one_leader_and_failover(env):
    srv, kube, w, start = env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    lease = ["--leader-elect=true", "--namespace", w.ns, "--leader-elect-lease-duration-ms",
             "3000", "--leader-elect-renew-deadline-ms", "2000",
             "--leader-elect-retry-period-ms", "500"]
    one, two = start(lease), start(lease)
    w.wait_totals((8, 1, 7))
    leaders = wait_for(lambda: (ls := [c for c in (one, two)
                                      if c.metric("hostdev_controller_leader") == 1])
                       and len(ls) == 1 and ls, 10, "exactly one leader")
    leader = leaders[0]
    standby = two if leader is one else one
    assert standby.metric("hostdev_controller_ledger_writes_total") == 0
    leader.proc.kill()
    leader.proc.wait()
    t0 = time.monotonic()
    w.claim("b", [(0, "dev-1")])
    w.wait_totals((8, 2, 6), timeout=15)
    assert time.monotonic() - t0 < 15
    assert standby.metric("hostdev_controller_leader") == 1
    leader.proc = None
