"""Leader election and Events of the controller against the simulated API server: one leader
among two, hand-over on a clean stop, take-over after kill -9, a leader that cannot renew stops
writing before its renew deadline, and deduplicated Events. The first half drives
controller/lease.c and controller/events.c through ctl-test-client (exact timings, fault
injection on one path); the second half runs hostdev-controller itself."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import SOURCE_DIR, find_binary
from controller_env import SLOW, Controller, World, start_apiserver
from controller_env import wait_for as env_wait_for

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "sim"))
from apiserver import ApiServer  # noqa: E402
from kclient import KubeClient  # noqa: E402

NS = "kube-system"


@pytest.fixture(scope="module")
def client_bin():
    return find_binary("ctl-test-client")


@pytest.fixture(scope="module")
def sim_module(tmp_path_factory):
    srv = ApiServer(str(tmp_path_factory.mktemp("apiserver")))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def sim(sim_module):
    sim_module.clear_faults()
    yield sim_module
    sim_module.clear_faults()


class Proc:
    """A ctl-test-client process whose stdout lines are collected by a thread."""

    def __init__(self, args):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.err = []
        self.te = threading.Thread(target=lambda: self.err.extend(self.p.stderr), daemon=True)
        self.te.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_line(self, prefix, timeout, start=0):
        """Index and text of the first line from START on that starts with PREFIX."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if self.lines[i].startswith(prefix):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self.cv.wait(left)

    def snapshot(self):
        with self.cv:
            return list(self.lines)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(timeout=5)
        self.te.join(timeout=5)


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        p.stop(signal.SIGKILL)
    reports = [line for p in started for line in p.err if "Sanitizer" in line]
    assert not reports, "".join(reports)


def elector(client_bin, sim, procs, name, *extra):
    p = Proc([client_bin, "--kubeconfig", sim.kubeconfig_path, "lease", NS, name, *extra])
    procs.append(p)
    return p


def lease(sim, name):
    return sim.get_object("leases", name, namespace=NS, group="coordination.k8s.io")


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def write_target(sim, name):
    """An object the electors' writers patch (a Lease of its own, not the election's)."""
    coll = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
    KubeClient.from_kubeconfig(sim.kubeconfig_path).create(
        coll, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "namespace": NS}, "spec": {}})
    return f"{coll}/{name}"


def leaders(ps):
    """Processes whose last LEADING/STOPPED line says LEADING."""
    out = []
    for p in ps:
        state = [line for line in p.snapshot() if line.split(" ")[0] in ("LEADING", "STOPPED")]
        if state and state[-1].startswith("LEADING"):
            out.append(p)
    return out


FAST = ("--duration-ms", "4000", "--deadline-ms", "3000", "--retry-ms", "500")


def test_one_leader_and_clean_handover(client_bin, sim, procs):
    a = elector(client_bin, sim, procs, "ha-handover", *FAST)
    b = elector(client_bin, sim, procs, "ha-handover", *FAST)
    assert wait_for(lambda: len(leaders([a, b])) == 1, 10), (a.snapshot(), b.snapshot())
    time.sleep(2)  # several renew rounds: still exactly one
    ls = leaders([a, b])
    assert len(ls) == 1
    leader, standby = ls[0], (b if ls[0] is a else a)
    ident = leader.snapshot()[0].split(" ", 1)[1]
    obj = lease(sim, "ha-handover")
    assert obj["spec"]["holderIdentity"] == ident
    assert obj["spec"]["leaseDurationSeconds"] == 4
    transitions = obj["spec"]["leaseTransitions"]

    leader.stop()  # stops leading, then releases the Lease
    assert leader.p.returncode == 0
    _, stopped = leader.wait_line("STOPPED", 5)
    _, led = standby.wait_line("LEADING", 5)
    assert stopped and led, (leader.snapshot(), standby.snapshot())
    took = (int(led.split()[1]) - int(stopped.split()[1])) / 1000.0
    print(f"clean hand-over took {took:.2f} s (retry period 0.5 s, lease 4 s)")
    assert 0 < took < 1.5  # within a retry period or so, not the 4 s lease duration
    obj = lease(sim, "ha-handover")
    assert obj["spec"]["holderIdentity"] != ident
    assert obj["spec"]["leaseTransitions"] == transitions + 1


def test_kill9_takeover_default_timings(client_bin, sim, procs):
    """Defaults (15 s / 10 s / 2 s): after kill -9 of the leader the standby leads and writes
    within the lease duration plus one retry period."""
    path = write_target(sim, "ha-kill9-writes")
    a = elector(client_bin, sim, procs, "ha-kill9", "--write-path", path)
    b = elector(client_bin, sim, procs, "ha-kill9", "--write-path", path)
    assert wait_for(lambda: len(leaders([a, b])) == 1, 10)
    leader = leaders([a, b])[0]
    standby = b if leader is a else a
    assert leader.wait_line("WRITE ", 5)[0] is not None
    time.sleep(3)
    assert standby.wait_line("WRITE ", 0)[0] is None  # the standby never wrote
    t_kill = time.monotonic()
    leader.p.send_signal(signal.SIGKILL)
    _, lead = standby.wait_line("LEADING", 25)
    _, write = standby.wait_line("WRITE ", 25)
    assert lead and write, standby.snapshot()
    t_lead = int(lead.split()[1]) / 1000.0 - t_kill
    t_write = int(write.split()[1]) / 1000.0 - t_kill
    print(f"kill -9 take-over: standby leading after {t_lead:.2f} s, first write after "
          f"{t_write:.2f} s (lease 15 s, retry 2 s)")
    # The standby waits 15 s from when it last saw the record change, and it looks every 2 s.
    assert 10.0 < t_lead < 17.5
    assert t_write < 17.5


def test_leader_that_cannot_renew_stops_writing_before_deadline(client_bin, sim, procs):
    path = write_target(sim, "ha-cut-writes")
    a = elector(client_bin, sim, procs, "ha-cut", "--write-path", path, *FAST)
    assert a.wait_line("LEADING", 10)[0] is not None
    assert a.wait_line("WRITE ", 5)[0] is not None
    # the election's Lease stops answering; everything else (the writes) still works
    t_cut = time.monotonic()
    sim.fail_next(100000, 503, match=r"/leases/ha-cut$")
    i, stopped = a.wait_line("STOPPED", 10)
    assert stopped, a.snapshot()
    t_stopped = int(stopped.split()[1]) / 1000.0
    writes = [int(line.split()[1]) / 1000.0 for line in a.snapshot() if line.startswith("WRITE ")]
    last_write = max(writes)
    print(f"renewals cut: stopped leading after {t_stopped - t_cut:.2f} s, last write "
          f"{last_write - t_cut:.2f} s after the cut (renew deadline 3 s)")
    # the last renewal started before the cut, so by cut + deadline the leader must be silent
    assert last_write < t_cut + 3.0
    assert t_stopped < t_cut + 3.0 + 0.5
    time.sleep(1.5)
    assert not [line for line in a.snapshot()[i:] if line.startswith("WRITE ")]
    sim.clear_faults()
    # the API is back: the Lease is still ours, so the elector leads again
    assert a.wait_line("LEADING", 10, start=i)[0] is not None
    a.stop()
    assert a.p.returncode == 0
    stats = json.loads(a.wait_line("STATS ", 5)[1][6:])
    assert stats["acquired"] == 2 and stats["lost"] == 2 and stats["renew_failures"] >= 1


def test_stopped_leading_on_time_while_a_request_hangs(client_bin, sim, procs):
    """The API answers only after 6 s: the elector thread is stuck in its GET, yet the leader
    is told to stop at its 3 s renew deadline, not when the request returns."""
    a = elector(client_bin, sim, procs, "ha-slow", *FAST)
    assert a.wait_line("LEADING", 10)[0] is not None
    time.sleep(0.6)  # at least one renewal on a healthy server
    t_slow = time.monotonic()
    sim.inject_latency(6)
    try:
        _, stopped = a.wait_line("STOPPED", 8)
    finally:
        sim.clear_faults()
    assert stopped, a.snapshot()
    took = int(stopped.split()[1]) / 1000.0 - t_slow
    print(f"API hanging: stopped leading {took:.2f} s after the slow-down (renew deadline 3 s)")
    assert took < 3.0 + 0.3


def events_for(sim, name):
    return [e for e in sim.list_objects("events", namespace="default", group="events.k8s.io")
            if e["regarding"]["name"] == name]


def record(client_bin, sim, *args):
    r = subprocess.run([client_bin, "--kubeconfig", sim.kubeconfig_path, "event", "default",
                        *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.split("STATS ", 1)[1])


UID = "6f1c0b6e-0000-4000-8000-00000000000a"


def test_event_deduplicated_into_series(client_bin, sim):
    st = record(client_bin, sim, "claim-dedup", UID, "DeviceConflict",
                "device gpu-0 held by default/claim-dedup and default/claim-b", "--times", "2",
                "--gap-ms", "300", "--warning")
    assert st["created"] == 1 and st["patched"] == 1 and st["dropped"] == 0
    evs = events_for(sim, "claim-dedup")
    assert len(evs) == 1
    e = evs[0]
    assert e["series"]["count"] == 2
    assert e["type"] == "Warning" and e["reason"] == "DeviceConflict"
    assert e["reportingController"] == "hostdev.example.com/controller"
    assert e["regarding"] == {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                              "namespace": "default", "name": "claim-dedup", "uid": UID}
    assert e["metadata"]["name"].startswith("claim-dedup.")
    assert e["series"]["lastObservedTime"] >= e["eventTime"]
    # another conflict (a different note) is another Event
    record(client_bin, sim, "claim-dedup", UID, "DeviceConflict",
           "device gpu-1 held by default/claim-dedup and default/claim-c", "--warning")
    assert len(events_for(sim, "claim-dedup")) == 2


def test_event_write_retried_then_dropped(client_bin, sim):
    # the client retries twice itself; three failures make one failed attempt, then success
    sim.fail_next(3, 500, match=r"/events$", method="POST")
    st = record(client_bin, sim, "claim-retry", UID, "DeviceMissing", "gone")
    assert st["failed"] == 1 and st["created"] == 1 and st["dropped"] == 0
    assert len(events_for(sim, "claim-retry")) == 1
    # past every attempt the occurrence is dropped (best-effort), the program goes on
    sim.fail_next(1000, 500, match=r"/events$", method="POST")
    st = record(client_bin, sim, "claim-drop", UID, "DeviceMissing", "gone")
    sim.clear_faults()
    assert st["created"] == 0 and st["dropped"] == 1 and st["failed"] == 3
    assert events_for(sim, "claim-drop") == []


def test_event_core_v1_when_events_group_not_served(client_bin, sim):
    # discovery of events.k8s.io/v1 answers 404, as on a server without the group
    sim.fail_next(1, 404, match=r"^/apis/events\.k8s\.io/v1$", method="GET")
    st = record(client_bin, sim, "claim-core", UID, "DeviceMissing", "device gpu-3 is gone",
                "--times", "2", "--gap-ms", "300", "--warning")
    assert st["created"] == 1 and st["patched"] == 1
    posts = [e for e in sim.request_log() if e["method"] == "POST" and "events" in e["path"]]
    assert posts and all(e["path"] == "/api/v1/namespaces/default/events" for e in posts[-1:])
    evs = [e for e in sim.list_objects("events", namespace="default", group="")
           if e["involvedObject"]["name"] == "claim-core"]
    assert len(evs) == 1
    e = evs[0]
    assert e["count"] == 2 and e["type"] == "Warning" and e["reason"] == "DeviceMissing"
    assert e["message"] == "device gpu-3 is gone"
    assert e["source"] == {"component": "hostdev.example.com/controller"}
    assert e["involvedObject"]["uid"] == UID and e["involvedObject"]["kind"] == "ResourceClaim"
    assert e["lastTimestamp"] >= e["firstTimestamp"]


# ---- the real binary ------------------------------------------------------------------------
# hostdev-controller with leader election, on the same simulated API server shape the
# controller's own tests use (tests/e2e/controller_env.py).



@pytest.fixture(scope="module")
def api(tmp_path_factory):
    srv, kube = start_apiserver(str(tmp_path_factory.mktemp("apiserver-ctl")))
    yield srv, kube
    srv.stop()


@pytest.fixture
def ctl_env(api, tmp_path):
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


def elect(w, *timings):
    return ["--leader-elect=true", "--namespace", w.ns, *timings]


def one_leader(ctls, timeout=10):
    def pick():
        ls = [c for c in ctls if c.metric("hostdev_controller_leader") == 1]
        return len(ls) == 1 and ls
    return env_wait_for(pick, timeout, "exactly one leader")[0]


def test_binary_kill9_takeover_default_timings(ctl_env):
    """Default 15 s / 10 s / 2 s: kill -9 the leading controller; the standby leads and records
    a change within the lease duration plus one retry period."""
    srv, kube, w, start = ctl_env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    one, two = start(elect(w)), start(elect(w))
    w.wait_totals((8, 1, 7))
    leader = one_leader([one, two])
    standby = two if leader is one else one
    assert standby.metric("hostdev_controller_ledger_writes_total") == 0
    time.sleep(2.5)  # a renewal or so after the first write
    leader.proc.kill()
    t_kill = time.monotonic()
    leader.proc.wait()
    leader.proc = None
    w.claim("b", [(0, "dev-1")])
    w.wait_totals((8, 2, 6), timeout=25)
    took = time.monotonic() - t_kill
    print(f"controller kill -9 take-over: change recorded {took:.2f} s after the kill "
          f"(lease 15 s, retry 2 s)")
    assert took < 17.5 + (SLOW - 1)
    assert standby.metric("hostdev_controller_leader") == 1
    assert standby.metric("hostdev_controller_leader_acquired_total") == 1


def ledger_writes_since(srv, t_wall):
    return [e for e in srv.request_log() if e["time"] >= t_wall and "hostdeviceledgers" in
            e["path"] and e["method"] in ("POST", "PUT", "PATCH", "DELETE")]


def test_binary_leader_that_cannot_renew_stops_writing(ctl_env):
    srv, kube, w, start = ctl_env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    ctl = start(elect(w, "--leader-elect-lease-duration-ms", "3000",
                      "--leader-elect-renew-deadline-ms", "2000",
                      "--leader-elect-retry-period-ms", "500"))
    one_leader([ctl])
    w.wait_totals((8, 1, 7))
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{w.ns}/leases/{w.driver}-controller"
    t_cut, t_cut_wall = time.monotonic(), time.time()
    srv.fail_next(100000, 503, match="^" + re.escape(lease) + "$")
    env_wait_for(lambda: ctl.metric("hostdev_controller_leader") == 0, 2.5,
                 "the leader to step down")
    stepped = time.monotonic() - t_cut
    print(f"controller lost its Lease API: stepped down {stepped:.2f} s after the cut "
          f"(renew deadline 2 s)")
    # the last successful renewal was before the cut: by cut + deadline no ledger is written
    w.claim("b", [(0, "dev-1")])
    time.sleep(1.5)
    assert w.totals() == (8, 1, 7)
    late = [e for e in ledger_writes_since(srv, t_cut_wall + 2.0)]
    assert late == [], late
    srv.clear_faults()
    w.wait_totals((8, 2, 6), timeout=10)  # leads again once the Lease answers
    assert ctl.metric("hostdev_controller_leader") == 1
    assert ctl.metric("hostdev_controller_leader_lost_total") >= 1


def test_binary_same_conflict_twice_is_one_event_series(ctl_env):
    srv, kube, w, start = ctl_env
    w.add_node()
    w.claim("a", [(0, "dev-0")])
    w.claim("b", [(0, "dev-1")])
    ctl = start()
    w.wait_totals((8, 2, 6))
    for round_ in (1, 2):
        w.allocate("b", [(0, "dev-0")])  # both hold dev-0
        env_wait_for(lambda: len(w.events("DeviceConflict")) == 2 and all(
            ((e.get("series") or {}).get("count") or 1) == round_
            for e in w.events("DeviceConflict")), 10, f"conflict round {round_}")
        w.allocate("b", [(0, "dev-1")])  # resolved
        w.wait_totals((8, 2, 6))
    evs = w.events("DeviceConflict")
    assert sorted(e["regarding"]["name"] for e in evs) == ["a", "b"]
    assert all(e["series"]["count"] == 2 for e in evs)
    assert ctl.metric("hostdev_controller_event_creates_total") == 2
    assert ctl.metric("hostdev_controller_event_series_updates_total") == 2
    assert ctl.metric("hostdev_controller_events_dropped_total") == 0
