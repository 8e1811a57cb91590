"""Device-plugin manager of the kubelet simulator with the tiny Python device plugin."""

import os
import secrets
import signal
import sys

import pytest

from cluster import SimCluster
from kubelet_testutil import pod, remove_cdi_files, start_device_plugin, wait_for

NODE = "node-a"


@pytest.fixture
def env(short_workdir):
    wd = short_workdir
    c = SimCluster(wd, nodes=(NODE,), device_plugins=True,
                   prepare_retry=0.5).start()
    plugins, domains = [], []

    class Env:
        cluster = c
        client = c.client
        kubelet = c.kubelets[NODE]

        def plugin(self, resource, devices, extra=()):
            domains.append(resource.replace("/", "-"))
            p = start_device_plugin(c, NODE, resource, devices, extra=extra)
            plugins.append(p)
            return p

        def allocatable(self, res):
            st = self.client.get(f"/api/v1/nodes/{NODE}").get("status") or {}
            return (st.get("capacity") or {}).get(res), (st.get("allocatable") or {}).get(res)
    yield Env()
    for p in plugins:
        p.stop()
    c.stop()
    for d in domains:
        remove_cdi_files(d)
    c.dump_logs(sys.stdout)
    for p in plugins:
        sys.stdout.write(f"===== device plugin =====\n{p.log()}\n")


def run_pod(env, name, res, n, cmd):
    env.client.create("/api/v1/namespaces/default/pods", pod(name, cmd, limits={res: str(n)}))
    done = env.kubelet.wait_pod_phase("default", name, timeout=30)
    return done, env.kubelet.container_output("default", name, "ctr")


def test_cdi_flow_preferred_allocation_and_kubelet_restart(env):
    res = f"dp{secrets.token_hex(3)}.sim.example.com/nulls"
    p = env.plugin(res, [("a", "/dev/null"), ("b", "/dev/zero")], extra=["--preferred"])
    wait_for(lambda: env.allocatable(res) == ("2", "2"), what="node capacity")
    done, out = run_pod(env, "dp1", res, 1, "ls -l /dev/ | grep hostdev; env | grep HOSTDEV_DP")
    assert done["status"]["phase"] == "Succeeded", out
    # GetPreferredAllocation of the plugin prefers the highest ID: b = /dev/zero (1,5)
    assert "hostdev-b" in out["stdout"] and "1,   5" in out["stdout"], out
    assert "HOSTDEV_DP_B=1" in out["stdout"]
    assert p.calls("GetPreferredAllocation")[0]["requests"] == [[["a", "b"], 1]]
    assert p.calls("Allocate")[0]["requests"] == [["b"]]
    # unhealthy device -> allocatable drops
    p.send_signal(signal.SIGUSR1)
    wait_for(lambda: env.allocatable(res) == ("2", "1"), what="allocatable 1")
    p.send_signal(signal.SIGUSR1)
    wait_for(lambda: env.allocatable(res) == ("2", "2"), what="allocatable 2")
    # kubelet restart: every socket in the dir is removed; the plugin re-registers
    dpdir = env.cluster.dirs(NODE)["device_plugins"]
    env.kubelet.restart()
    wait_for(lambda: len(p.calls("Register")) >= 2, what="re-registration", timeout=10)
    assert os.path.exists(os.path.join(dpdir, "kubelet.sock"))
    wait_for(lambda: env.allocatable(res) == ("2", "2"), what="capacity after restart")
    done, out = run_pod(env, "dp2", res, 2, "ls /dev/ | grep hostdev | sort")
    assert done["status"]["phase"] == "Succeeded", out
    assert out["stdout"].split() == ["hostdev-a", "hostdev-b"]


def test_legacy_device_specs_and_insufficient(env):
    res = f"dp{secrets.token_hex(3)}.sim.example.com/legacy"
    env.plugin(res, [("x", "/dev/null")], extra=["--mode", "legacy"])
    wait_for(lambda: env.allocatable(res) == ("1", "1"), what="node capacity")
    env.client.create("/api/v1/namespaces/default/pods",
                      pod("hold", "echo $HOSTDEV_IDS; test -c /dev/hostdev-x && echo dev-ok; sleep 3600",
                          limits={res: "1"}))
    env.kubelet.wait_pod_phase("default", "hold", phases=("Running",), timeout=30)
    out = wait_for(lambda: (env.kubelet.container_output("default", "hold", "ctr") or {}).get("stdout"),
                   what="output")
    assert "x" in out and "dev-ok" in out
    # the only device is taken: the scheduler keeps the next pod pending
    env.client.create("/api/v1/namespaces/default/pods", pod("wait", "true", limits={res: "1"}))

    def cond():
        p = env.client.get("/api/v1/namespaces/default/pods/wait")
        return [c for c in (p.get("status") or {}).get("conditions") or []
                if c["type"] == "PodScheduled" and c["status"] == "False"]
    c = wait_for(cond, what="unschedulable condition")[0]
    assert "Insufficient " + res in c["message"]
    env.client.delete("/api/v1/namespaces/default/pods/hold")
    assert env.kubelet.wait_pod_phase("default", "wait", timeout=30)["status"]["phase"] == "Succeeded"
