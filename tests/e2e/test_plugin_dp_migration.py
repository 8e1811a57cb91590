# SPDX-License-Identifier: Apache-2.0
"""Switching a node from DRA mode to device-plugin mode never offers a device in both worlds:
devices that DRA claims still hold are Unhealthy to the kubelet's device-plugin manager until
the claims are unprepared (through the DRA socket the plugin keeps serving for that only), and
the node's ResourceSlices are deleted before any device is advertised. Checked at every step."""
import json
import os

import grpc
import pytest

from dp_env import NODE, SLOW, dpenv, dpsim, wait_for  # noqa: F401
from plugin_env import claim_spec


def dra_held(e):
    """Devices held by DRA claims prepared on the node (our checkpoint)."""
    path = os.path.join(e.cluster.dirs(NODE)["plugins"], e.driver, "checkpoint.json")
    try:
        with open(path) as f:
            ck = json.load(f)
    except FileNotFoundError:
        return set()
    return {d["device"] for c in ck["data"]["claims"] for d in c.get("devices") or []}


def dp_healthy(e):
    ep = e.kubelet.dp.endpoints.get(e.resource)
    if ep is None or not ep.alive:
        return set()
    return {i for i, h in ep.devices.items() if h == "Healthy"}


def assert_one_world(e, step):
    """No device both allocatable through the device-plugin API and held or offered by DRA."""
    held, healthy = dra_held(e), dp_healthy(e)
    offered = set(e.slice_devices()) if healthy else set()
    assert not held & healthy, f"{step}: DRA-held devices allocatable as device plugin: " \
                               f"{sorted(held & healthy)}"
    assert not offered & healthy, f"{step}: devices in ResourceSlices and device plugin: " \
                                  f"{sorted(offered & healthy)}"


def test_switch_from_dra_keeps_claimed_devices_until_released(dpenv):
    e = dpenv
    p = e.start_plugin()  # --mode auto: DRA on this 1.34 simulator
    e.wait_slices(8)
    e.device_class()
    e.template("two", claim_spec(e.driver, count=2))
    e.pod("holder", "sleep 600", claims=[("g", {"resourceClaimTemplateName": "two"})])
    e.wait_pod("holder", phases=("Running",))
    held = dra_held(e)
    assert len(held) == 2
    assert_one_world(e, "DRA mode")
    rc, _ = p.stop()
    assert rc == 0
    assert e.slice_devices(), "slices stay when the DRA plugin stops"

    dp = e.start_dp()
    assert_one_world(e, "device-plugin mode started")
    e.wait_node_resource(("8", "6"))
    assert_one_world(e, "device-plugin registered")
    ep = e.kubelet.dp.endpoints[e.resource]
    assert {i for i, h in ep.devices.items() if h == "Unhealthy"} == held
    assert not e.slices(), "the node's ResourceSlices are deleted"
    # The held devices are refused; the others are allocatable.
    with pytest.raises(grpc.RpcError) as ei:
        e.allocate(sorted(held)[:1])
    assert "held by a DRA claim prepared before the switch" in ei.value.details()
    free = sorted(set(ep.devices) - held)
    assert len(e.allocate(free[:2]).container_responses[0].cdi_devices) == 2
    # The DRA socket answers unprepare only.
    assert os.path.exists(dp.dra_sock)
    ans = dp.prepare([(e.ns, "nope", "00000000-0000-4000-8000-000000000001")])
    assert "device-plugin API" in ans["00000000-0000-4000-8000-000000000001"].error
    assert_one_world(e, "while draining")
    # A device-plugin pod gets only free devices meanwhile.
    e.dp_pod("dp-pod", "ls /dev/mock", 6)
    done = e.wait_pod("dp-pod")
    assert done["status"]["phase"] == "Succeeded", e.output("dp-pod")
    assert not set(d.replace("device_", "mock-device-") for d in e.output("dp-pod").split()) \
        & held
    assert_one_world(e, "device-plugin pod ran")

    # The DRA pod goes: the kubelet unprepares through our DRA socket, the devices come back.
    e.delete_pod("holder")
    e.wait_node_resource(("8", "8"), timeout=30)
    assert_one_world(e, "claims released")
    wait_for(lambda: not os.path.exists(dp.dra_sock), timeout=5 * SLOW, what="DRA socket gone")
    assert not os.path.exists(dp.reg_sock)
    assert "every DRA claim from before the switch is released" in dp.log(since_start=True)
    assert not dp.read_checkpoint()["data"]["claims"]
    assert not e.slices()


def test_device_plugin_mode_without_old_claims_serves_no_dra_socket(dpenv):
    e = dpenv
    p = e.start_plugin()
    e.wait_slices(8)
    p.stop()
    dp = e.start_dp()
    e.wait_node_resource(("8", "8"))
    assert not os.path.exists(dp.dra_sock) and not os.path.exists(dp.reg_sock)
    wait_for(lambda: not e.slices(), timeout=5 * SLOW, what="slices deleted")
    assert_one_world(e, "device-plugin mode")
