"""The whole simulated cluster: process mode (what the demo and e2e tests use) and a 1.32-style
cluster serving only resource.k8s.io/v1beta1."""

import json
import os
import signal
import subprocess
import sys

import pytest

from cluster import SimCluster
from kclient import KubeClient
from kubelet_testutil import (PY, cdi_files, pod, remove_cdi_files, start_dra_plugin,
                              unique_driver, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def workdir(short_workdir):
    return short_workdir


def test_process_mode_ready_and_sigterm(workdir):
    proc = subprocess.Popen([PY, os.path.join(HERE, "cluster.py"), "--workdir", workdir,
                             "--node", "n1", "--node", "n2", "--wipe-delay", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "READY", proc.stderr.read()
        url, kubeconfig = line[1], line[2]
        desc = json.load(open(os.path.join(workdir, "cluster.json")))
        assert desc["url"] == url and set(desc["nodes"]) == {"n1", "n2"}
        assert os.path.isdir(desc["nodes"]["n1"]["registry"])
        assert os.path.exists(os.path.join(desc["nodes"]["n2"]["device_plugins"], "kubelet.sock"))
        c = KubeClient.from_kubeconfig(kubeconfig)
        nodes = wait_for(lambda: sorted(n["metadata"]["name"] for n in
                                        c.list("/api/v1/nodes")["items"]) == ["n1", "n2"],
                         what="nodes registered")
        assert nodes
        # node kubeconfig authenticates as the node
        nc = KubeClient.from_kubeconfig(desc["nodes"]["n1"]["kubeconfig"])
        assert nc.get("/api/v1/nodes/n1")["metadata"]["name"] == "n1"
        # a plain pod runs end to end
        c.create("/api/v1/namespaces/default/pods", pod("hello", "echo hello from $(hostname)"))
        p = wait_for(lambda: (c.get("/api/v1/namespaces/default/pods/hello").get("status") or {})
                     .get("phase") in ("Succeeded", "Failed") and
                     c.get("/api/v1/namespaces/default/pods/hello"), timeout=30, what="pod done")
        assert p["status"]["phase"] == "Succeeded"
        node = p["spec"]["nodeName"]
        outs = [os.path.join(workdir, "pods", d, "ctr.stdout")
                for d in os.listdir(os.path.join(workdir, "pods")) if d.startswith("default_hello_")]
        assert "hello from" in open(outs[0]).read()
        assert os.path.exists(desc["logs"][f"kubelet-{node}"])
        # kubelet restart through the control dir: node slices are wiped at its start
        c.create("/apis/resource.k8s.io/v1/resourceslices", {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": "n1-slice"},
            "spec": {"driver": "x.sim.example.com", "nodeName": "n1", "devices": [],
                     "pool": {"name": "n1", "generation": 1, "resourceSliceCount": 1}}})
        open(os.path.join(workdir, "control", "restart-kubelet-n1"), "w").close()
        assert proc.stdout.readline().split() == ["RESTARTED", "kubelet", "n1"]
        assert c.request("GET", "/apis/resource.k8s.io/v1/resourceslices/n1-slice")[0] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        sys.stdout.write(proc.stderr.read())
    assert rc == 0


def test_v1beta1_only_cluster_end_to_end(workdir):
    c = SimCluster(workdir, nodes=("node-a",), resource_versions=("v1beta1",),
                   kubelet_version="1.32", device_plugins=False).start()
    driver = unique_driver()
    plugin = None
    try:
        plugin = start_dra_plugin(c, "node-a", driver, extra=["--resource-version", "v1beta1",
                                                              "--versions", "v1beta1.DRAPlugin"])
        assert c.kubelets["node-a"].wait_registered(driver, 5).version == "v1beta1"
        R = "/apis/resource.k8s.io/v1beta1"
        wait_for(lambda: [s for s in c.client.list(f"{R}/resourceslices")["items"]
                          if s["spec"]["driver"] == driver], what="slice")
        c.client.create(f"{R}/deviceclasses", {
            "apiVersion": "resource.k8s.io/v1beta1", "kind": "DeviceClass",
            "metadata": {"name": "b1"},
            "spec": {"selectors": [{"cel": {"expression":
                                            f'device.driver == "{driver}" && '
                                            f'device.attributes["{driver}"].index == 0'}}]}})
        c.client.create(f"{R}/namespaces/default/resourceclaims", {
            "apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim",
            "metadata": {"name": "b1"},
            "spec": {"devices": {"requests": [{"name": "gpu", "deviceClassName": "b1"}]}}})
        c.client.create("/api/v1/namespaces/default/pods", pod(
            "b1", "test -c /dev/hostdev/d0 && echo seen", claims=[("gpu", {"resourceClaimName": "b1"})]))
        done = c.kubelets["node-a"].wait_pod_phase("default", "b1", timeout=30)
        out = c.kubelets["node-a"].container_output("default", "b1", "ctr")
        assert done["status"]["phase"] == "Succeeded", out
        assert "seen" in out["stdout"]
        w = c.kubelets["node-a"].worker("default", "b1")
        assert w.cdi_ids["ctr"] == [f"k8s.{driver}/claim={w.claim_uids['gpu']}-d0"]
        assert plugin.calls("NodePrepareResources")[0]["version"] == "v1beta1"
        wait_for(lambda: not cdi_files(driver), what="CDI spec removed")
    finally:
        if plugin:
            plugin.stop()
        c.stop()
        remove_cdi_files(driver)
        c.dump_logs(sys.stdout)
