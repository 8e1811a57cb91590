# SPDX-License-Identifier: Apache-2.0
"""Mode choice of hostdev-kubelet-plugin (--mode auto) and the one-device-one-world rule when a
node moves from the device-plugin API to DRA: the real binary against the simulated cluster,
pods in podman.

- auto mode picks DRA on a 1.34 kubelet with resource.k8s.io served, and the device-plugin mode
  when resource.k8s.io is not served or the kubelet is 1.31 (and then runs in it); the decision
  and its reasons are in the log, the metrics and /healthz.
- migration: pods that hold devices through device-plugin allocations (the simulated kubelet's
  kubelet_internal_checkpoint, real format) keep those devices out of the ResourceSlices when
  the plugin starts in DRA mode; as the pods go, the devices appear. At every step no device is
  allocatable in both worlds (the node's allocatable of the extended resource vs slice devices).
"""
import json
import os
import re
import sys
import urllib.error

import pytest

from plugin_env import SLOW, Plugin, env, sim  # noqa: F401
from kubelet_testutil import pod, start_device_plugin, wait_for

NODE = "node-a"


def decision(p):
    m = re.search(r'"plugin mode chosen" mode="([^"]+)" requested="([^"]+)" node="[^"]+" '
                  r'reasons="([^"]*)"', p.log(since_start=True))
    assert m, p.log()
    return m.group(1), m.group(3)


def start_device_plugin_mode(env, extra=()):
    """Start the plugin where auto mode must choose the device-plugin API: it runs in that mode
    (its own device-plugins dir, no kubelet there: registration is retried in the background),
    serves one socket per group and publishes no ResourceSlice."""
    dp_dir = os.path.join(env.root, "device-plugins")
    os.makedirs(dp_dir, exist_ok=True)
    p = Plugin(env, env.config, env.driver, extra=["--device-plugins-dir", dp_dir] + list(extra))
    env.plugins.append(p)
    p.start()
    try:  # 503 until a kubelet accepts the registration; the mode line is there either way
        status, body = p.http("/healthz")
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    assert "mode: device-plugin" in body, (status, body)
    assert p.metric("hostdev_plugin_mode", mode="device-plugin") == 1
    assert p.metric("hostdev_plugin_mode", mode="dra") == 0
    sock = os.path.join(dp_dir, f"{env.driver}-gpu.sock")
    wait_for(lambda: os.path.exists(sock), timeout=10 * SLOW, what="device-plugin socket")
    if env.cluster.resource_versions:  # without resource.k8s.io there is nothing to list
        assert env.slices() == []
    return p


def test_auto_picks_dra_on_a_134_kubelet(env):
    p = env.start_plugin()
    mode, reasons = decision(p)
    assert mode == "dra", reasons
    assert "resource.k8s.io/v1" in reasons and "kubelet v1.34.0-sim >= 1.32" in reasons
    assert f"'{p.registry_dir}' exists" in reasons
    assert p.metric("hostdev_plugin_mode", mode="dra") == 1
    assert p.metric("hostdev_plugin_mode", mode="device-plugin") == 0
    status, body = p.http("/healthz")
    assert status == 200 and "mode: dra" in body, body
    env.wait_slices(8)
    assert p.metric("hostdev_devices_withheld") == 0


@pytest.mark.parametrize("env", [{"resource_versions": ()}], indirect=True)
def test_auto_picks_device_plugin_without_resource_api(env):
    p = start_device_plugin_mode(env)
    mode, reasons = decision(p)
    assert mode == "device-plugin", reasons
    assert "does not serve resource.k8s.io" in reasons
    assert "kubelet v1.34.0-sim >= 1.32" in reasons


@pytest.mark.parametrize("env", [{"kubelet_version": "1.31"}], indirect=True)
def test_auto_picks_device_plugin_on_a_131_kubelet(env):
    p = start_device_plugin_mode(env)
    mode, reasons = decision(p)
    assert mode == "device-plugin", reasons
    assert "kubelet v1.31.0-sim < 1.32" in reasons and "resource.k8s.io/v1" in reasons
    assert env.slices() == []


def test_auto_picks_device_plugin_without_registry_dir(env):
    p = start_device_plugin_mode(env, extra=["--kubelet-registry-dir",
                                             os.path.join(env.root, "no-registry")])
    mode, reasons = decision(p)
    assert mode == "device-plugin" and "is missing" in reasons, reasons


def test_forced_dra_mode_is_logged(env):
    p = env.start_plugin(extra=["--mode", "dra"])
    assert decision(p) == ("dra", "--mode dra")


# -- migration: device plugin -> DRA ---------------------------------------------------------

def dp_state(env, res):
    """(allocatable of RES on the node, {device id: pod uid} the kubelet's checkpoint holds for
    pods still on the node)."""
    node = env.client.get(f"/api/v1/nodes/{NODE}")
    alloc = int(((node.get("status") or {}).get("allocatable") or {}).get(res, "0"))
    path = os.path.join(env.cluster.dirs(NODE)["device_plugins"], "kubelet_internal_checkpoint")
    with open(path) as f:
        entries = json.load(f)["Data"]["PodDeviceEntries"] or []
    live = {p["metadata"]["uid"] for p in
            env.client.list(f"/api/v1/namespaces/{env.ns}/pods")["items"]
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")}
    held = {i: e["PodUID"] for e in entries if e["ResourceName"] == res and e["PodUID"] in live
            for ids in e["DeviceIDs"].values() for i in ids}
    return alloc, held


def assert_one_world(env, res):
    """No device is allocatable in both worlds: a device in a slice is held by no device-plugin
    pod, and while slices offer devices the extended resource has nothing allocatable."""
    alloc, held = dp_state(env, res)
    published = set(env.slice_devices())
    assert not published & set(held), (published, held)
    assert not published or alloc == 0, (published, alloc)
    return published, held


@pytest.mark.parametrize("env", [{"device_plugins": True}], indirect=True)
def test_migration_from_device_plugin_withholds_until_pods_are_gone(env):
    res = f"{env.driver}/gpu"
    dp = start_device_plugin(env.cluster, NODE, res,
                             [(f"mock-device-{i}", os.path.join(env.root, f"dev/mock/device_{i}"))
                              for i in range(8)])
    env.py_plugins.append(dp)
    wait_for(lambda: dp_alloc(env, res) == 8, timeout=20 * SLOW, what="8 allocatable")
    for name, n in (("four", 4), ("three", 3)):
        env.client.create(f"/api/v1/namespaces/{env.ns}/pods",
                          pod(name, "ls /dev/mock; sleep 3600", limits={res: str(n)}, ns=env.ns))
    for name in ("four", "three"):
        env.wait_pod(name, phases=("Running",))
    alloc, held = dp_state(env, res)
    assert len(held) == 7 and alloc == 8 and env.slices() == []

    # switch worlds: the device plugin goes, its resource is no longer allocatable
    dp.stop()
    wait_for(lambda: dp_alloc(env, res) == 0, timeout=20 * SLOW, what="allocatable 0")
    assert_one_world(env, res)

    p = env.start_plugin(extra=["--device-plugins-dir", env.cluster.dirs(NODE)["device_plugins"]])
    assert decision(p)[0] == "dra"
    devs = env.wait_slices(1)
    published, held = assert_one_world(env, res)
    assert len(published) == 1 and len(held) == 7
    assert p.metric("hostdev_devices_withheld") == 7
    log = p.log(since_start=True)
    assert log.count('"devices withheld from the ResourceSlices') == 2, log

    env.delete_pod("four")
    # the kubelet keeps the finished pod's entry in its checkpoint; the plugin asks the pods
    wait_for(lambda: len(env.slice_devices()) == 5, timeout=20 * SLOW, what="5 devices")
    published, held = assert_one_world(env, res)
    assert len(held) == 3 and p.metric("hostdev_devices_withheld") == 3
    ckpt = os.path.join(env.cluster.dirs(NODE)["device_plugins"], "kubelet_internal_checkpoint")
    with open(ckpt) as f:
        assert len(json.load(f)["Data"]["PodDeviceEntries"]) == 2  # stale entry still there

    env.delete_pod("three")
    wait_for(lambda: len(env.slice_devices()) == 8, timeout=20 * SLOW, what="8 devices")
    assert_one_world(env, res)
    assert p.metric("hostdev_devices_withheld") == 0
    assert "every device-plugin allocation of ours is released" in p.log(since_start=True)
    assert devs  # the first wait returned the withheld-free slice


def dp_alloc(env, res):
    node = env.client.get(f"/api/v1/nodes/{NODE}")
    return int(((node.get("status") or {}).get("allocatable") or {}).get(res, "0"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
