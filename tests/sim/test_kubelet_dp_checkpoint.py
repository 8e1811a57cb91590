"""The simulated kubelet's device-manager checkpoint (kubelet_internal_checkpoint): the real
format and checksum, written on every allocation, and kept for finished pods until the next
allocation as a real kubelet does."""

import base64
import json
import os
import secrets
import sys

import pytest

from cluster import SimCluster
from hdproto import protos
from kubelet_dp_checkpoint import checksum, read, spew
from kubelet_testutil import pod, remove_cdi_files, start_device_plugin, wait_for

NODE = "node-a"
HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "data", "reference", "kubelet-dp-checkpoint")


@pytest.mark.parametrize("name", ["ack-gpuops.json", "jetson-kind.json"])
def test_checksum_matches_files_written_by_real_kubelets(name):
    with open(os.path.join(REFERENCE, name)) as f:
        doc = json.load(f)
    assert checksum(doc["Data"]) == doc["Checksum"]
    # and is sensitive to what the kubelet hashes
    other = json.loads(json.dumps(doc["Data"]))
    other["RegisteredDevices"]["nvidia.com/gpu"].append("x")
    assert checksum(other) != doc["Checksum"]


def test_spew_text_shape():
    data = {"PodDeviceEntries": [{"PodUID": "u", "ContainerName": "c", "ResourceName": "r/x",
                                  "DeviceIDs": {"1": ["b"], "-1": ["a"]},
                                  "AllocResp": base64.b64encode(b"\x0a\x01").decode()}],
            "RegisteredDevices": {"r/y": None, "r/x": ["a", "b"]}}
    assert spew(data) == (
        "(checkpoint.checkpointData){PodDeviceEntries:([]checkpoint.PodDevicesEntry)"
        "[{PodUID:(string)u ContainerName:(string)c ResourceName:(string)r/x "
        "DeviceIDs:(checkpoint.DevicesPerNUMA)map[-1:[a] 1:[b]] AllocResp:([]uint8)[10 1]}] "
        "RegisteredDevices:(map[string][]string)map[r/x:[a b] r/y:<nil>]}")


@pytest.fixture
def env(short_workdir):
    c = SimCluster(short_workdir, nodes=(NODE,), device_plugins=True, prepare_retry=0.5).start()
    res = f"dp{secrets.token_hex(3)}.sim.example.com/nulls"
    p = start_device_plugin(c, NODE, res, [("a", "/dev/null"), ("b", "/dev/zero")])
    yield c, res
    p.stop()
    c.stop()
    remove_cdi_files(res.replace("/", "-"))
    c.dump_logs(sys.stdout)
    sys.stdout.write(f"===== device plugin =====\n{p.log()}\n")


def test_written_on_allocation_and_kept_until_the_next(env):
    c, res = env
    kubelet, dpdir = c.kubelets[NODE], c.dirs(NODE)["device_plugins"]
    def registered():
        try:
            return read(dpdir)["Data"]["RegisteredDevices"].get(res) == ["a", "b"]
        except FileNotFoundError:
            return False
    wait_for(registered, what="registered devices in the checkpoint")
    c.client.create("/api/v1/namespaces/default/pods", pod("one", "true", limits={res: "1"}))
    done = kubelet.wait_pod_phase("default", "one", timeout=30)
    assert done["status"]["phase"] == "Succeeded"
    doc = read(dpdir)
    assert doc["Checksum"] == checksum(doc["Data"])
    [e] = doc["Data"]["PodDeviceEntries"]
    assert e["PodUID"] == done["metadata"]["uid"] and e["ContainerName"] == "ctr"
    assert e["ResourceName"] == res
    [(numa, ids)] = e["DeviceIDs"].items()
    assert numa == "-1" and len(ids) == 1 and ids[0] in ("a", "b")
    resp = protos().deviceplugin_v1beta1_pb2.ContainerAllocateResponse.FromString(
        base64.b64decode(e["AllocResp"]))
    assert [d.name for d in resp.cdi_devices], resp
    # the pod is gone; its entry stays until the kubelet allocates again
    c.client.delete("/api/v1/namespaces/default/pods/one")
    wait_for(lambda: not any(p["metadata"]["name"] == "one" for p in
                             c.client.list("/api/v1/namespaces/default/pods")["items"]),
             what="pod one deleted")
    assert [x["PodUID"] for x in read(dpdir)["Data"]["PodDeviceEntries"]] == [e["PodUID"]]
    c.client.create("/api/v1/namespaces/default/pods", pod("two", "true", limits={res: "2"}))
    two = kubelet.wait_pod_phase("default", "two", timeout=30)
    doc = read(dpdir)
    assert doc["Checksum"] == checksum(doc["Data"])
    [e2] = doc["Data"]["PodDeviceEntries"]
    assert e2["PodUID"] == two["metadata"]["uid"]
    assert sorted(e2["DeviceIDs"]["-1"]) == ["a", "b"]
