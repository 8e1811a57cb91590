# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin --mode device-plugin end to end: the simulated kubelet's device-plugin
manager registers the plugin, mirrors ListAndWatch into the Node's capacity, calls
GetPreferredAllocation and Allocate for pods with resources.limits, and podman runs the
containers with the CDI IDs (or legacy devices/mounts/envs) of the answer."""
import json
import os
import queue
import re
import stat
import subprocess
import time

import grpc
import pytest

from dp_env import NODE, SLOW, dpenv, dpsim, wait_for  # noqa: F401
from plugin_env import CDI_DIR, Plugin, mknod, mock_config
from test_cdi_schema import independent_min_version, load_validator

# What a container prints (as in test_plugin_dra): its device nodes, the non-empty .so files
# bind-mounted into it and whether list_device.sh is there.
LS = ("ls /dev/mock; echo --; for f in /mock/so/*; do test -s $f && cat $f; done; echo --; "
      "test -x /usr/local/bin/list_device.sh && echo list-ok")


def parse_ls(out):
    devs, sos, tail = out.split("--\n")
    return (sorted(devs.split()), sorted(int(x.split()[1]) for x in sos.splitlines() if x.strip()),
            "list-ok" in tail)


def test_pods_get_distinct_devices_through_allocate(dpenv):
    """8 mock GPUs advertised as <driver>/gpu: 8; pods asking for 4 and 3 run with distinct
    devices, their .so files and list_device.sh; 1 stays allocatable."""
    e = dpenv
    p = e.start_dp()
    e.wait_node_resource(("8", "8"))
    ep = e.kubelet.dp.endpoints[e.resource]
    assert ep.endpoint == f"{e.driver}-gpu.sock"
    assert ep.options.get_preferred_allocation_available and not ep.options.pre_start_required
    e.dp_pod("a", LS + "; sleep 30", 4)
    e.dp_pod("b", LS + "; sleep 30", 3)
    for n in "ab":
        e.wait_pod(n, phases=("Running",))
    wait_for(lambda: all("list-ok" in (e.output(n) or "") for n in "ab"),
             timeout=10 * SLOW, what="complete container output")
    out = {n: parse_ls(e.output(n)) for n in "ab"}
    for n, k in (("a", 4), ("b", 3)):
        devs, sos, listed = out[n]
        assert len(devs) == k and listed, out
        assert sos == sorted(int(d.split("_")[1]) for d in devs)
    assert not set(out["a"][0]) & set(out["b"][0])
    allocs = {key[1]: v for key, v in e.kubelet.dp.allocations.items()}
    assert sum(len(v[e.resource]) for v in e.kubelet.dp.allocations.values()) == 7, allocs
    assert p.metric("hostdev_dp_allocate_total", result="success") == 2
    assert p.metric("hostdev_dp_registrations_total", result="success") >= 1
    assert re.search(r'"plugin started".*mode="device-plugin"', p.log())


def test_reregisters_within_a_second_after_three_kubelet_restarts(dpenv):
    """A restarting kubelet deletes every socket in the device-plugins dir and creates
    kubelet.sock anew: the plugin serves again and re-registers, each time within 1 s."""
    e = dpenv
    e.start_dp()
    e.wait_node_resource(("8", "8"))
    dp = e.kubelet.dp
    took = []
    for _ in range(3):
        n_before = len(dp.register_log)
        e.kubelet.restart()
        started = dp.started_at

        def registered():
            new = [r for r in dp.register_log[n_before:] if r[1] == e.resource and r[2]]
            return new[0] if new else None
        reg = wait_for(registered, timeout=10 * SLOW, what="re-registration")
        took.append(reg[0] - started)
        e.wait_node_resource(("8", "8"))
    print("re-registration after kubelet restart (s):", ["%.3f" % t for t in took])
    assert all(t <= 1.0 * SLOW for t in took), took
    assert os.path.exists(e.socket())
    assert stat.S_IMODE(os.stat(e.socket()).st_mode) == 0o600
    # Still serving: a pod gets its device through the new registration.
    e.dp_pod("after", "ls /dev/mock", 1)
    done = e.wait_pod("after")
    assert done["status"]["phase"] == "Succeeded", e.output("after")


def wait_update(q, pred, t0, what, timeout=5.0):
    """The first ListAndWatch message on Q matching PRED; returns (seconds after T0, devices)."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        try:
            t, devs = q.get(timeout=0.1)
        except queue.Empty:
            continue
        if pred(devs):
            return t - t0, devs
    raise AssertionError(f"no ListAndWatch update: {what}")


# The goal is 100 ms (bench/bench_dp.py measures it: ~12 ms median on an idle machine). The
# suite runs beside other work on two cores, so the test allows 3x; the periodic rescan is set
# to 5 s, so only the inotify path can pass.
LAW_LIMIT = 0.3


def test_list_and_watch_follows_health_and_hotplug(dpenv):
    """A device node that vanishes turns Unhealthy, comes back Healthy, and a new node appears
    as a new ID, each within LAW_LIMIT on the plugin's own stream (printed); the kubelet's
    allocatable follows."""
    e = dpenv
    e.start_dp(extra=["--health-interval-ms", "5000"])
    e.wait_node_resource(("8", "8"))
    _, q = e.watch()
    _, first = wait_update(q, lambda d: len(d) == 8, time.monotonic(), "initial list")
    assert all(h == "Healthy" for h, _ in first.values())
    node3 = os.path.join(e.root, "dev/mock/device_3")
    lat = {}

    t0 = time.monotonic()
    os.unlink(node3)
    lat["unhealthy"], devs = wait_update(
        q, lambda d: d.get("mock-device-3", ("",))[0] == "Unhealthy", t0, "device_3 Unhealthy")
    assert sum(h == "Healthy" for h, _ in devs.values()) == 7
    e.wait_node_resource(("8", "7"))

    t0 = time.monotonic()
    mknod(node3)
    lat["healthy"], _ = wait_update(
        q, lambda d: d.get("mock-device-3", ("",))[0] == "Healthy", t0, "device_3 Healthy")

    t0 = time.monotonic()
    e.add_device(8)
    lat["hotplug"], devs = wait_update(q, lambda d: "mock-device-8" in d, t0, "device_8 added")
    assert devs["mock-device-8"][0] == "Healthy" and len(devs) == 9
    e.wait_node_resource(("9", "9"))
    print("ListAndWatch latency (ms):", {k: round(v * 1000, 1) for k, v in lat.items()})
    assert all(v <= LAW_LIMIT * SLOW for v in lat.values()), lat
    # The static spec already holds the hot-plugged device when it is advertised.
    with open(os.path.join(CDI_DIR, f"k8s.{e.driver}-gpu.json")) as f:
        spec = json.load(f)
    assert "mock-device-8" in [d["name"] for d in spec["devices"]]


def test_allocate_refuses_unknown_unhealthy_and_vanished_ids(dpenv):
    """Allocate never answers success for a device the container would not get."""
    e = dpenv
    p = e.start_dp()
    ok = e.allocate(["mock-device-0", "mock-device-1"])
    assert [c.name for c in ok.container_responses[0].cdi_devices] == [
        f"k8s.{e.driver}/gpu=mock-device-0", f"k8s.{e.driver}/gpu=mock-device-1"]

    with pytest.raises(grpc.RpcError) as ei:
        e.allocate(["mock-device-0", "no-such-gpu"])
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'no-such-gpu' is not a device of " + e.resource in ei.value.details()

    os.unlink(os.path.join(e.root, "dev/mock/device_5"))
    # Right after the node vanished, before or after the monitor noticed: refused either way.
    with pytest.raises(grpc.RpcError) as ei:
        e.allocate(["mock-device-5"])
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "mock-device-5" in ei.value.details()
    wait_for(lambda: e.kubelet.dp.endpoints[e.resource].devices.get("mock-device-5") ==
             "Unhealthy", timeout=5 * SLOW, what="device 5 Unhealthy")
    with pytest.raises(grpc.RpcError) as ei:
        e.allocate(["mock-device-4", "mock-device-5"])
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "device 'mock-device-5' of %s is unhealthy: missing" % e.resource in \
        ei.value.details()
    assert p.metric("hostdev_dp_allocate_total", result="error") == 3
    assert p.metric("hostdev_dp_allocate_total", result="success") == 1
    assert "Allocate refused" in p.log()


def numa_config(root):
    """Group `acc`: 8 nodes with their own numbers 511:0..7 (mknod needs no driver behind
    them), NUMA node 0 for 0-3, 1 for 4-6 and none (-1) for 7 in a fake sysfs tree."""
    for i in range(8):
        path = os.path.join(root, f"dev/acc/acc{i}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(511, i))
        d = os.path.join(root, f"sys/dev/char/511:{i}/device")
        os.makedirs(d)
        with open(os.path.join(d, "numa_node"), "w") as f:
            f.write("%d\n" % (0 if i < 4 else 1 if i < 7 else -1))
    return f"""apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: acc
    resourceName: accel.example.com/acc
    match: {{globs: ["{root}/dev/acc/acc*"]}}
    deviceName: "acc-acc{{1}}"
"""


def test_preferred_allocation_honours_must_include_and_numa(dpenv):
    e = dpenv
    cfg = e.write_config(numa_config(e.root), "numa.yaml")
    e.start_dp(extra=["--sysfs-root", os.path.join(e.root, "sys")], config=cfg,
               wait=False)
    e.wait_registered_dp(None, resource="accel.example.com/acc")
    ids = [f"acc-acc{i}" for i in range(8)]
    ep = e.kubelet.dp.endpoints["accel.example.com/acc"]
    assert ep.endpoint == f"{e.driver}-acc.sock"
    # topology as the kubelet saw it: the NUMA node, none for the unknown one
    assert ep.topology == {i: ([0] if n < 4 else [1] if n < 7 else []) for n, i in
                           enumerate(ids)}
    # device order on one node
    assert e.preferred(ids, 2, group="acc") == ids[0:2]
    # 3 fit on node 1 alone once node 0 has only 2 left
    assert e.preferred([ids[0], ids[1], ids[4], ids[5], ids[6]], 3, group="acc") == ids[4:7]
    # a must-include device pins its node
    assert e.preferred(ids, 3, must=[ids[5]], group="acc") == [ids[5], ids[4], ids[6]]
    # never an ID outside the available ones, even when must-include names one
    got = e.preferred(ids[2:4], 2, must=[ids[0]], group="acc")
    assert got == ids[2:4]
    assert set(e.preferred(ids[6:8], 5, group="acc")) <= set(ids[6:8])
    # the simulated kubelet asks too, and its pod gets a NUMA-compact pair
    e.dp_pod("numa", "ls /dev/acc", 4, res="accel.example.com/acc")
    wait_for(lambda: e.kubelet.dp.allocations, timeout=20 * SLOW, what="allocation")
    (got4,) = [v["accel.example.com/acc"] for v in e.kubelet.dp.allocations.values()]
    assert got4 == ids[0:4]


def test_legacy_edits_reach_the_container_without_cdi(dpenv):
    """--device-plugin-edits legacy: Allocate answers devices/mounts/envs, no CDI spec is
    written, and the container still sees its devices, .so files and list_device.sh."""
    e = dpenv
    cfg = e.write_config(mock_config(e.root).replace(
        "    commonEdits:\n", "    commonEdits:\n      env: [HOSTDEV_LEGACY=yes]\n"), "legacy.yaml")
    e.start_dp(extra=["--device-plugin-edits", "legacy"], config=cfg)
    resp = e.allocate(["mock-device-2"])
    c = resp.container_responses[0]
    assert not c.cdi_devices
    assert [(d.container_path, d.host_path, d.permissions) for d in c.devices] == [
        ("/dev/mock/device_2", os.path.join(e.root, "dev/mock/device_2"), "rwm")]
    assert {(m.container_path, m.read_only) for m in c.mounts} == {
        ("/mock/so/device_2.so", True), ("/usr/local/bin/list_device.sh", True)}
    assert dict(c.envs) == {"HOSTDEV_LEGACY": "yes"}
    assert not os.path.exists(os.path.join(CDI_DIR, f"k8s.{e.driver}-gpu.json"))
    e.dp_pod("leg", LS + "; env | grep HOSTDEV_LEGACY", 2)
    done = e.wait_pod("leg")
    out = e.output("leg")
    assert done["status"]["phase"] == "Succeeded", out
    devs, sos, listed = parse_ls(out.rsplit("HOSTDEV_LEGACY", 1)[0])
    assert len(devs) == 2 and listed and sos == sorted(int(d.split("_")[1]) for d in devs)
    assert "HOSTDEV_LEGACY=yes" in out


def test_legacy_mode_refuses_a_group_with_hooks(dpenv):
    e = dpenv
    cfg = e.write_config(mock_config(e.root).replace(
        "    commonEdits:\n",
        "    commonEdits:\n      hooks: [{hookName: createContainer, path: /bin/true}]\n"),
        "hooks.yaml")
    argv = Plugin(e, cfg, e.driver).argv() + ["--mode", "device-plugin", "--device-plugins-dir",
                                              e.dp_dir, "--device-plugin-edits", "legacy"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode != 0
    assert "group 'gpu' has hooks in commonEdits" in r.stderr + r.stdout
    assert "--device-plugin-edits legacy" in r.stderr + r.stdout
    assert not os.path.exists(e.socket())


def test_static_spec_is_valid_by_the_cdi_schema(dpenv):
    """k8s.<driver>-gpu.json: kind k8s.<driver>/gpu, one device per ID with its own node and
    .so mount, list_device.sh at spec level; valid by the official schema at the minimum
    cdiVersion its fields need."""
    e = dpenv
    cfg = e.write_config(mock_config(e.root).replace("    containerPath:",
                                                     "    count: 2\n    containerPath:"),
                         "count.yaml")
    e.start_dp(config=cfg)
    e.wait_node_resource(("16", "16"))
    with open(os.path.join(CDI_DIR, f"k8s.{e.driver}-gpu.json")) as f:
        spec = json.load(f)
    errors = list(load_validator().iter_errors(spec))
    assert not errors, [er.message for er in errors]
    assert spec["cdiVersion"] == independent_min_version(spec)
    assert spec["kind"] == f"k8s.{e.driver}/gpu"
    names = [d["name"] for d in spec["devices"]]
    assert sorted(names) == [f"mock-device-{i}-{k}" for i in range(8) for k in range(2)]
    d3 = spec["devices"][names.index("mock-device-3-0")]["containerEdits"]
    assert d3["deviceNodes"][0]["path"] == "/dev/mock/device_3"
    assert d3["mounts"][0]["containerPath"] == "/mock/so/device_3.so"
    assert spec["containerEdits"]["mounts"][0]["containerPath"] == "/usr/local/bin/list_device.sh"
    assert stat.S_IMODE(os.stat(os.path.join(CDI_DIR, f"k8s.{e.driver}-gpu.json")).st_mode) & 0o022 == 0


def test_refused_registration_is_logged_and_retried(dpenv):
    """The kubelet refuses twice: the plugin logs the kubelet's message and tries again with
    backoff until it is taken."""
    e = dpenv
    dp = e.kubelet.dp
    dp.refuse = 2
    p = e.start_dp(wait=False)
    e.wait_registered_dp(p)
    log = [r for r in dp.register_log if r[1] == e.resource]
    assert [r[2] for r in log[-3:]] == [False, False, True], log
    gaps = [b[0] - a[0] for a, b in zip(log[-3:], log[-2:])]
    assert gaps[1] > gaps[0], gaps  # backoff grows
    text = p.log(since_start=True)
    assert "the kubelet did not take the registration; retrying" in text
    assert f"registration of {e.resource} refused by the test" in text
    assert text.count("refused by the test") == 1  # the same message is logged once
    assert p.metric("hostdev_dp_registrations_total", result="error") == 2
