"""The simulated kubelet and scheduler each write only the pod conditions they own, so neither
drops the other's when it writes from an old copy of the pod (the race that made a running pod
in sim.test_kubelet_dra lack PodScheduled). Deterministic: the interleavings are forced."""

import logging
import types

import pytest

from kclient import KubeClient
from kubelet import PodWorker
from kubelet_testutil import pod
from scheduler import Scheduler

PODS = "/api/v1/namespaces/default/pods"
KUBELET_OWNED = {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"}


@pytest.fixture
def client(apiserver):
    c = KubeClient(apiserver.url, token=apiserver.token, ca_path=apiserver.ca_path)
    c.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": "node-a"}})
    return c


def worker(client, tmp_path, stale_pod):
    """A kubelet pod worker (not started) whose copy of the pod is STALE_POD."""
    k = types.SimpleNamespace(client=client, workdir=str(tmp_path),
                              log=logging.getLogger("test-kubelet"))
    return PodWorker(k, stale_pod)


def conditions(client, name):
    return {c["type"]: c for c in client.get(f"{PODS}/{name}")["status"].get("conditions") or []}


def test_kubelet_status_from_an_old_copy_keeps_pod_scheduled(client, tmp_path):
    stale = client.create(PODS, pod("p", "true"))   # the kubelet's copy: no conditions yet
    Scheduler(client)._bind(stale, "node-a")
    assert conditions(client, "p")["PodScheduled"]["status"] == "True"
    worker(client, tmp_path, stale)._push_status()
    conds = conditions(client, "p")
    assert set(conds) == KUBELET_OWNED | {"PodScheduled"}
    assert conds["PodScheduled"]["status"] == "True"
    assert all("lastProbeTime" in c and "lastTransitionTime" in c for c in conds.values())


def test_scheduler_condition_after_kubelet_status_keeps_kubelet_conditions(client, tmp_path):
    stale = client.create(PODS, pod("q", "true"))   # the scheduler's copy, before the binding
    sched = Scheduler(client)
    real_request = client.request

    def request(method, path, *args, **kw):
        # the kubelet sees the binding and writes its status before the scheduler's own
        # PodScheduled write arrives
        res = real_request(method, path, *args, **kw)
        if method == "POST" and path.endswith("/binding"):
            worker(client, tmp_path, client.get(f"{PODS}/q"))._push_status()
        return res
    client.request = request
    sched._bind(stale, "node-a")
    client.request = real_request
    conds = conditions(client, "q")
    assert set(conds) == KUBELET_OWNED | {"PodScheduled"}
    assert conds["PodScheduled"]["status"] == "True"


def test_scheduled_after_unschedulable_drops_reason_and_message(client, tmp_path):
    p = client.create(PODS, pod("r", "true"))
    sched = Scheduler(client)
    sched._unschedulable(p, "0/1 nodes are available")
    c = conditions(client, "r")["PodScheduled"]
    assert (c["status"], c["reason"]) == ("False", "Unschedulable")
    sched._bind(client.get(f"{PODS}/r"), "node-a")
    c = conditions(client, "r")["PodScheduled"]
    assert c["status"] == "True" and "reason" not in c and "message" not in c
