# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin end to end, registration and ResourceSlices: the DRA service version the
kubelet picks, the resource.k8s.io version the plugin discovers (and the slice shape it writes
there), slices equal to `hostdevctl discover`, chunking above 128 devices, one bad attribute
dropping one device, re-creation after the kubelet wipes the node's slices or someone deletes
them, and device health (a vanished node tainted, back untainted; hot-plug)."""
import json
import os
import stat
import subprocess
import time

import pytest

from conftest import find_binary
from plugin_env import NODE, SLOW, claim_spec, env, mknod, sim, wait_for  # noqa: F401

VERSIONS = [
    pytest.param({"kubelet_version": "1.34", "resource_versions": ("v1",)}, id="k134-v1"),
    pytest.param({"kubelet_version": "1.32", "resource_versions": ("v1beta1",)}, id="k132-v1beta1"),
    pytest.param({"kubelet_version": "1.34", "resource_versions": ("v1beta2",)}, id="k134-v1beta2"),
    pytest.param({"kubelet_version": "1.34", "resource_versions": ("v1beta1",)}, id="k134-v1beta1"),
]


def plugin_requests(env):
    return [e for e in env.api.request_log()
            if e.get("userAgent", "").startswith("hostdev-kubelet-plugin/")]


@pytest.mark.parametrize("env", VERSIONS, indirect=True)
def test_registration_version_and_slice_shape(env):
    """The kubelet picks v1.DRAPlugin (1.34) or v1beta1.DRAPlugin (1.32); the plugin discovers
    the served resource.k8s.io version, publishes slices in its shape, and a pod with a claim for
    two devices runs on it."""
    kv = env.kubelet.kubelet_version
    rv = env.cluster.resource_versions[0]
    p = env.start_plugin()
    reg = env.kubelet.wait_registered(env.driver, 15 * SLOW)
    assert reg.version == ("v1beta1" if kv == "1.32" else "v1")
    assert reg.supported == ["v1.DRAPlugin", "v1beta1.DRAPlugin", "v1alpha1.DRAResourceHealth"]
    assert reg.endpoint == p.dra_sock
    assert f'"using resource.k8s.io" version="{rv}"' in p.log()
    env.wait_slices(8)
    (s,) = env.slices()
    s = env.client.get(f"/apis/resource.k8s.io/{rv}/resourceslices/{s['metadata']['name']}")
    assert s["apiVersion"] == f"resource.k8s.io/{rv}"
    for d in s["spec"]["devices"]:
        attrs = d["basic"]["attributes"] if rv == "v1beta1" else d["attributes"]
        assert "basic" not in d or rv == "v1beta1"
        assert attrs["index"] == {"int": int(d["name"].rsplit("-", 1)[1])}
    # every resource.k8s.io request of the plugin used the discovered version
    paths = {e["path"] for e in plugin_requests(env) if e["path"].startswith("/apis/resource.k8s.io/")}
    assert paths and all(x.startswith(f"/apis/resource.k8s.io/{rv}/") for x in paths), paths
    env.device_class()
    env.template("two", claim_spec(env.driver, count=2))
    env.pod("p", "ls /dev/mock", claims=[("g", {"resourceClaimTemplateName": "two"})])
    st = env.wait_pod("p")
    assert st["status"]["phase"] == "Succeeded"
    assert len(env.output("p").split()) == 2
    env.delete_pod("p")
    wait_for(lambda: env.cdi_files() == [], timeout=10 * SLOW, what="spec removed")


def test_slices_match_hostdevctl_discover(env):
    p = env.start_plugin()
    env.wait_slices(8)
    out = subprocess.run([find_binary("hostdevctl"), "discover", env.config, "--node", NODE,
                          "--driver", env.driver, "--json"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    want = json.loads(out)
    (s,) = env.slices()
    assert len(want) == 1
    assert s["spec"]["pool"] == dict(want[0]["spec"]["pool"], generation=s["spec"]["pool"]["generation"])
    assert s["spec"]["nodeName"] == NODE and s["spec"]["driver"] == env.driver
    assert s["metadata"]["name"].startswith(f"{NODE}-{env.driver}-")
    node = env.client.get(f"/api/v1/nodes/{NODE}")
    owners = s["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [("Node", NODE, node["metadata"]["uid"])]
    got = {d["name"]: d.get("attributes") for d in s["spec"]["devices"]}
    exp = {d["name"]: d.get("attributes") for d in want[0]["spec"]["devices"]}
    assert got == exp
    assert len(got) == 8 and got["mock-device-5"]["path"] == {
        "string": os.path.join(env.root, "dev/mock/device_5")}
    # nothing changes: identical content is not rewritten by the periodic rescans
    rv = s["metadata"]["resourceVersion"]
    time.sleep(2.0)
    (s2,) = env.slices()
    assert s2["metadata"]["resourceVersion"] == rv
    assert p.metric("hostdev_slice_publish_total", result="error") == 0


@pytest.mark.parametrize("env", [{"ndev": 130}], indirect=True)
def test_more_than_128_devices_are_split_into_two_slices(env):
    env.start_plugin()
    devs = env.wait_slices(130)
    sl = env.slices()
    assert len(sl) == 2
    assert all(len(s["spec"]["devices"]) <= 128 for s in sl)
    pools = [s["spec"]["pool"] for s in sl]
    assert all(pl["resourceSliceCount"] == 2 and pl["name"] == NODE for pl in pools)
    assert len({pl["generation"] for pl in pools}) == 1
    assert sorted(devs) == sorted(f"mock-device-{i}" for i in range(130))


def test_one_bad_attribute_drops_one_device_not_the_slice(env):
    r = env.root
    for name in ("1.0.0", "2.0.0", "banana"):
        mknod(f"{r}/dev/v/dev_{name}")
    long = "l" * 70
    for name in ("short", long):
        mknod(f"{r}/dev/s/dev_{name}")
    cfg = env.write_config(f"""apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: ver
    match: {{globs: ["{r}/dev/v/dev_*"]}}
    deviceName: "v-{{index}}"
    attributes:
      fw: {{version: "{{1}}"}}
  - name: str
    match: {{globs: ["{r}/dev/s/dev_*"]}}
    deviceName: "s-{{index}}"
    attributes:
      label: {{string: "{{1}}"}}
""", "bad.yaml")
    p = env.start_plugin(config=cfg)
    devs = env.wait_slices()
    time.sleep(0.5)
    devs = env.slice_devices()
    # by host path: v-0 1.0.0, v-1 2.0.0, v-2 banana (bad); s-0 lll... (too long), s-1 short
    assert sorted(devs) == ["s-1", "v-0", "v-1"]
    assert devs["v-1"]["attributes"]["fw"] == {"version": "2.0.0"}
    assert devs["s-1"]["attributes"]["label"] == {"string": "short"}
    log = p.log()
    assert "v-2" in log and "s-0" in log, log


def test_slices_recreated_after_kubelet_restart_wipes_them(env):
    env.start_plugin()
    env.wait_slices(8)
    before = {s["metadata"]["uid"] for s in env.slices()}
    t0 = time.time()
    env.kubelet.restart()
    wiped = time.time()

    def fresh():
        sl = env.slices()
        return sl and not ({s["metadata"]["uid"] for s in sl} & before) and sl
    sl = wait_for(fresh, timeout=10 * SLOW, interval=0.05, what="slices re-created")
    took = time.time() - wiped
    assert sum(len(s["spec"]["devices"]) for s in sl) == 8
    assert took < 2.0 * SLOW, f"slices back {took:.2f}s after the wipe (restart took {wiped - t0:.2f}s)"
    env.kubelet.wait_registered(env.driver, 10 * SLOW)


def test_slices_recreated_after_manual_delete(env):
    env.start_plugin()
    env.wait_slices(8)
    time.sleep(0.5)  # see test_slice_deleted_right_after_creation_... for a delete right away
    (s,) = env.slices()
    env.client.delete(f"/apis/resource.k8s.io/{env.rv}/resourceslices/{s['metadata']['name']}")
    t0 = time.time()
    sl = wait_for(lambda: [x for x in env.slices() if x["metadata"]["uid"] != s["metadata"]["uid"]],
                  timeout=10 * SLOW, interval=0.02, what="slice re-created")
    assert time.time() - t0 < 1.0 * SLOW
    assert len(sl) == 1 and len(sl[0]["spec"]["devices"]) == 8


def _taints(dev):
    return [(t["key"], t["effect"]) for t in dev.get("taints") or []]


@pytest.mark.parametrize("env", [None, {"resource_versions": ("v1beta1",)}], indirect=True,
                         ids=["v1", "v1beta1"])
def test_vanished_device_is_tainted_and_untainted_when_back(env):
    p = env.start_plugin()
    env.wait_slices(8)
    node = os.path.join(env.root, "dev/mock/device_3")
    os.unlink(node)
    t0 = time.time()
    key = (f"{env.driver}/unhealthy", "NoSchedule")
    devs = wait_for(lambda: (lambda d: d if _taints(d.get("mock-device-3", {})) else None)(
        env.slice_devices()), timeout=10 * SLOW, interval=0.05, what="taint")
    assert time.time() - t0 < 2.0 * SLOW
    assert _taints(devs["mock-device-3"]) == [key]
    assert all(not _taints(d) for n, d in devs.items() if n != "mock-device-3")
    assert len(devs) == 8
    wait_for(lambda: p.metric("hostdev_devices", health="unhealthy") == 1, timeout=5 * SLOW,
             what="unhealthy metric")
    # the kubelet hears it on the health stream too
    wait_for(lambda: any(d["device"] == "mock-device-3" and d["health"] == "UNHEALTHY"
                         for d in env.kubelet.health.get(env.driver) or []),
             timeout=5 * SLOW, what="health stream reports UNHEALTHY")
    mknod(node)
    t0 = time.time()
    wait_for(lambda: not any(_taints(d) for d in env.slice_devices().values()),
             timeout=10 * SLOW, interval=0.05, what="taint removed")
    assert time.time() - t0 < 2.0 * SLOW
    assert p.metric("hostdev_devices", health="unhealthy") == 0


def test_hot_plugged_device_is_published(env):
    env.start_plugin()
    env.wait_slices(8)
    t0 = time.time()
    env.add_device(8)
    env.wait_slices(9, timeout=10)
    assert time.time() - t0 < 2.0 * SLOW


def test_hot_plugged_device_can_be_prepared_and_a_vanished_one_stays_held(env):
    """What the slice publishes can be prepared: the driver prepares from the inventory the
    health monitor rediscovered, not the one it started with. A device that vanishes while a
    claim holds it stays that claim's until the claim is unprepared."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.add_device(8)
    env.wait_slices(9, timeout=10 * SLOW)
    hot = env.allocated_claim("hot", ["mock-device-8"])
    uid = hot["metadata"]["uid"]
    ans = p.prepare([env.ref(hot)])[uid]
    assert ans.error == ""
    assert [d.device_name for d in ans.devices] == ["mock-device-8"]
    assert os.path.exists(env.spec_path(uid))

    node = os.path.join(env.root, "dev/mock/device_8")
    os.unlink(node)
    wait_for(lambda: _taints(env.slice_devices().get("mock-device-8", {})),
             timeout=10 * SLOW, interval=0.05, what="taint on the vanished device")
    other = env.allocated_claim("other", ["mock-device-8"])
    ouid = other["metadata"]["uid"]
    busy = p.prepare([env.ref(other)])[ouid]
    assert f"already in use by ResourceClaim {env.ns}/hot (uid {uid})" in busy.error
    # The holder still gets its recorded answer while the node is gone.
    again = p.prepare([env.ref(hot)])[uid]
    assert again.error == "" and [d.device_name for d in again.devices] == ["mock-device-8"]

    assert p.unprepare([env.ref(hot)])[uid].error == ""
    mknod(node)
    wait_for(lambda: (lambda d: "mock-device-8" in d and not _taints(d["mock-device-8"]))(
        env.slice_devices()), timeout=10 * SLOW, interval=0.05, what="taint removed")
    ans = p.prepare([env.ref(other)])[ouid]
    assert ans.error == ""
    assert [d.device_name for d in ans.devices] == ["mock-device-8"]


def test_vanished_optional_device_is_removed(env):
    r = env.root
    for i in range(3):
        mknod(f"{r}/dev/opt/o{i}")
    cfg = env.write_config(f"""apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: opt
    optional: true
    match: {{globs: ["{r}/dev/opt/o*"]}}
    deviceName: "opt-{{1}}"
""", "opt.yaml")
    env.start_plugin(config=cfg)
    env.wait_slices(3)
    os.unlink(f"{r}/dev/opt/o1")
    devs = env.wait_slices(2, timeout=10)
    assert sorted(devs) == ["opt-0", "opt-2"]
    assert not any(_taints(d) for d in devs.values())


@pytest.mark.parametrize("env", [{"ndev": 70}], indirect=True)
def test_taints_shrink_slices_to_64_devices_and_bump_the_generation(env):
    env.start_plugin()
    env.wait_slices(70)
    (s,) = env.slices()
    gen = s["spec"]["pool"]["generation"]
    os.unlink(os.path.join(env.root, "dev/mock/device_9"))

    def split():
        sl = env.slices()
        devs = {d["name"]: d for x in sl for d in x["spec"]["devices"]}
        return sl if len(sl) == 2 and _taints(devs.get("mock-device-9", {})) else None
    sl = wait_for(split, timeout=10 * SLOW, what="two slices with the taint")
    assert all(len(x["spec"]["devices"]) <= 64 for x in sl)
    assert sum(len(x["spec"]["devices"]) for x in sl) == 70
    pools = [x["spec"]["pool"] for x in sl]
    assert all(pl["resourceSliceCount"] == 2 for pl in pools)
    assert len({pl["generation"] for pl in pools}) == 1 and pools[0]["generation"] > gen


def test_slices_recreated_after_watch_expired_410(env):
    env.start_plugin()
    env.wait_slices(8)
    (s,) = env.slices()
    env.api.force_410_next_watch(2)
    env.api.compact()
    env.api.close_watches()
    time.sleep(0.3)
    env.client.delete(f"/apis/resource.k8s.io/{env.rv}/resourceslices/{s['metadata']['name']}")
    t0 = time.time()
    wait_for(lambda: [x for x in env.slices() if x["metadata"]["uid"] != s["metadata"]["uid"]],
             timeout=10 * SLOW, interval=0.05, what="slice re-created")
    assert time.time() - t0 < 2.0 * SLOW


def test_health_stream_sends_the_full_list_on_open(env):
    env.start_plugin()
    env.wait_slices(8)
    devs = wait_for(lambda: env.kubelet.health.get(env.driver), timeout=5 * SLOW,
                    what="health list")
    assert sorted(d["device"] for d in devs) == sorted(f"mock-device-{i}" for i in range(8))
    assert all(d["pool"] == NODE and d["health"] == "HEALTHY" and d["last_updated_time"] > 0
               for d in devs)
    assert not env.kubelet.health_unimplemented.get(env.driver)


def test_registration_service_and_rejected_registration(env):
    """GetInfo over the registration socket; a NotifyRegistrationStatus(false) from the kubelet
    is logged as an error with its message and the registered gauge drops."""
    from plugin_env import protos
    import grpc
    p = env.start_plugin()
    pr = protos()
    ch = grpc.insecure_channel("unix://" + p.reg_sock)
    env._channels.append(ch)
    stub = pr.pluginregistration_pb2_grpc.RegistrationStub(ch)
    info = stub.GetInfo(pr.pluginregistration_pb2.InfoRequest(), timeout=5 * SLOW)
    assert (info.type, info.name, info.endpoint) == ("DRAPlugin", env.driver, p.dra_sock)
    assert list(info.supported_versions) == ["v1.DRAPlugin", "v1beta1.DRAPlugin",
                                             "v1alpha1.DRAResourceHealth"]
    assert p.metric("hostdev_registered") == 1
    stub.NotifyRegistrationStatus(pr.pluginregistration_pb2.RegistrationStatus(
        plugin_registered=False, error="version skew: no thanks"), timeout=5 * SLOW)
    wait_for(lambda: "version skew: no thanks" in p.log(), timeout=5 * SLOW, what="error log")
    line = [ln for ln in p.log().splitlines() if "version skew: no thanks" in ln][0]
    assert line.startswith("E"), line
    assert p.metric("hostdev_registered") == 0


def test_pod_uid_suffix_env_fallbacks_and_json_logs(env):
    """NODE_NAME / POD_UID from the environment, socket names with the pod UID, JSON logs."""
    from plugin_env import Plugin
    pod_uid = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    # the registration socket path must stay within 107 bytes: a short driver name
    driver = "u%s.e.com" % env.driver[1:5]
    env.extra_drivers.append(driver)
    p = Plugin(env, env.config, driver, extra=["--log-format", "json"])
    argv = p.argv()
    i = argv.index("--node-name")
    del argv[i:i + 2]
    p.argv = lambda: argv
    p.dra_sock = os.path.join(p.state_dir, f"dra-{pod_uid}.sock")
    p.reg_sock = os.path.join(p.registry_dir, f"{driver}-{pod_uid}-reg.sock")
    env.plugins.append(p)
    old = {k: os.environ.get(k) for k in ("NODE_NAME", "POD_UID")}
    os.environ.update(NODE_NAME=NODE, POD_UID=pod_uid)
    try:
        p.proc = None
        import subprocess
        with open(p.log_path, "ab") as f:
            p.proc = subprocess.Popen(argv, stdout=f, stderr=f, stdin=subprocess.DEVNULL)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    reg = env.kubelet.wait_registered(driver, 15 * SLOW)
    assert os.path.exists(p.dra_sock) and os.path.exists(p.reg_sock)
    assert reg.endpoint == p.dra_sock and reg.reg_path == p.reg_sock
    env.wait_slices(8, driver=driver)
    lines = [ln for ln in p.log().splitlines() if ln.strip()]
    recs = [json.loads(ln) for ln in lines]
    assert any("plugin started" in json.dumps(r) for r in recs)
    rc, _ = p.stop()
    assert rc == 0
    assert not os.path.exists(p.dra_sock) and not os.path.exists(p.reg_sock)


@pytest.mark.parametrize("args,needle", [
    (["--driver-name", "Bad_Name"], "--driver-name"),
    (["--config", "/nonexistent/config.yaml"], "/nonexistent/config.yaml"),
    (["--mode", "sideways"], "--mode"),
    (["--pod-uid", "../../etc"], "--pod-uid"),
], ids=["driver", "config", "mode", "pod-uid"])
def test_bad_flags_exit_nonzero_with_a_message(env, args, needle):
    from plugin_env import Plugin
    p = Plugin(env, env.config, env.driver)
    argv = p.argv()
    for k in range(0, len(args), 2):
        if args[k] in argv:
            argv[argv.index(args[k]) + 1] = args[k + 1]
        else:
            argv += args[k:k + 2]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode != 0
    assert needle in r.stdout + r.stderr, r.stdout + r.stderr
    assert not os.path.exists(p.reg_sock)


def test_too_long_socket_path_fails_cleanly(env):
    """A registration socket path over 107 bytes is refused at start with a message, and the
    DRA socket served just before is not left behind."""
    from plugin_env import Plugin
    p = Plugin(env, env.config, env.driver, extra=["--pod-uid", "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"])
    r = subprocess.run(p.argv(), capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode != 0
    assert "longer than 107 bytes" in r.stdout + r.stderr
    assert os.listdir(p.state_dir) in ([], ["checkpoint.json"]), os.listdir(p.state_dir)


def test_sigint_also_exits_clean(env):
    import signal
    p = env.start_plugin()
    env.wait_slices(8)
    rc, took = p.stop(signal.SIGINT)
    assert rc == 0 and took < 2.0 * SLOW
    assert not os.path.exists(p.dra_sock) and not os.path.exists(p.reg_sock)


@pytest.mark.parametrize("env", [{"ndev": 130}], indirect=True)
def test_restart_with_fewer_devices_shrinks_the_pool(env):
    p = env.start_plugin()
    env.wait_slices(130)
    gen = env.slices()[0]["spec"]["pool"]["generation"]
    assert p.stop()[0] == 0
    for i in range(8, 130):
        os.unlink(os.path.join(env.root, f"dev/mock/device_{i}"))
    p.start()
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    devs = env.wait_slices(8)
    time.sleep(0.5)
    sl = env.slices()
    assert len(sl) == 1 and len(sl[0]["spec"]["devices"]) == 8
    pool = sl[0]["spec"]["pool"]
    assert pool["resourceSliceCount"] == 1 and pool["generation"] > gen
    assert sorted(devs) == sorted(f"mock-device-{i}" for i in range(8))


def test_device_renumbered_at_runtime_updates_its_attributes(env):
    env.start_plugin()
    env.wait_slices(8)
    node = os.path.join(env.root, "dev/mock/device_2")
    os.unlink(node)
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    wait_for(lambda: env.slice_devices()["mock-device-2"]["attributes"]["minor"] == {"int": 5}
             and not _taints(env.slice_devices()["mock-device-2"]),
             timeout=10 * SLOW, what="minor 5 published")


def test_edited_slice_is_restored(env):
    env.start_plugin()
    env.wait_slices(8)
    (s,) = env.slices()
    s["spec"]["devices"] = s["spec"]["devices"][:3]
    upd = env.client.update(
        f"/apis/resource.k8s.io/{env.rv}/resourceslices/{s['metadata']['name']}", s)
    env.wait_slices(8, timeout=5)
    (s2,) = env.slices()
    assert int(s2["metadata"]["resourceVersion"]) > int(upd["metadata"]["resourceVersion"])


@pytest.mark.parametrize("env", [{"nodes": ("node-a", "node-b")}], indirect=True)
def test_two_nodes_keep_their_own_pools(env):
    pa = env.start_plugin()
    pb = env.start_plugin(node="node-b", wait_registered=False, name="plugin-b")
    env.cluster.kubelets["node-b"].wait_registered(env.driver, 15 * SLOW)

    def pools():
        sl = env.slices()
        return {s["spec"]["nodeName"]: s for s in sl} if len(sl) == 2 else None
    got = wait_for(pools, timeout=10 * SLOW, what="two pools")
    assert sorted(got) == ["node-a", "node-b"]
    for n, s in got.items():
        assert s["spec"]["pool"]["name"] == n and len(s["spec"]["devices"]) == 8
    # node-a's kubelet restarts and wipes node-a's slices: node-b's slice is not touched
    env.kubelet.restart()
    b_uid = got["node-b"]["metadata"]["uid"]
    wait_for(lambda: (pools() or {}).get("node-a", {}).get("metadata", {}).get("uid")
             not in (None, got["node-a"]["metadata"]["uid"]), timeout=10 * SLOW,
             what="node-a slice re-created")
    assert pools()["node-b"]["metadata"]["uid"] == b_uid
    # a claim on node-b is prepared by node-b's plugin only
    env.device_class()
    c = env.allocated_claim("onb", [], results=[
        {"request": "dev", "driver": env.driver, "pool": "node-b", "device": "mock-device-1"}])
    ans = pb.prepare([env.ref(c)])[c["metadata"]["uid"]]
    assert ans.error == "" and [d.pool_name for d in ans.devices] == ["node-b"]
    pb.unprepare([env.ref(c)])
    assert pa.running() and pb.running()


def _delete_first_slice_when_created(env):
    """Make the simulated API server delete the plugin's first slice right after storing it
    (before the create's answer goes out, which is then 0.2 s slow), like a kubelet wiping its
    node's slices just after the plugin published: the plugin's watch sees ADDED and DELETED
    back to back before the plugin knows what it wrote. The
    simulator has no such hook, so the ApiServer instance's _after_write is wrapped here.
    Returns (record, undo): record["deleted_at"] / ["uid"] once it happened."""
    api = env.api
    orig = api._after_write
    rec = {}

    def after_write(rt, obj, action):
        orig(rt, obj, action)
        if (rt.plural == "resourceslices" and action == "create" and "uid" not in rec
                and (obj.get("spec") or {}).get("driver") == env.driver):
            rec["uid"] = obj["metadata"]["uid"]
            api.store.delete(rt, None, obj["metadata"]["name"])
            rec["deleted_at"] = time.time()
            # a slow answer: the plugin's watch has shown both events before it learns the
            # create succeeded
            time.sleep(0.2)
    api._after_write = after_write

    def undo():
        api.__dict__.pop("_after_write", None)
    return rec, undo


def test_slice_deleted_right_after_creation_is_recreated_within_a_second(env):
    rec, undo = _delete_first_slice_when_created(env)
    try:
        p = env.start_plugin()
        sl = wait_for(lambda: [s for s in env.slices() if s["metadata"]["uid"] != rec.get("uid")],
                      timeout=10 * SLOW, interval=0.02, what="slice re-created")
        took = time.time() - rec["deleted_at"]
    finally:
        undo()
    assert "published ResourceSlices" in p.log()
    assert len(sl) == 1
    assert took < 1.0 * SLOW, f"re-created {took:.2f}s after the delete"


def test_hot_plug_is_seen_by_inotify_within_a_second(env):
    """With the periodic rescan pushed out to a minute, adding and removing device nodes still
    reaches the slice within 1 s (inotify on the device directories)."""
    env.start_plugin(extra=["--health-interval-ms", "60000"])
    env.wait_slices(8)
    t0 = time.time()
    env.add_device(8)
    env.wait_slices(9, timeout=5)
    assert time.time() - t0 < 1.0 * SLOW
    t0 = time.time()
    os.unlink(os.path.join(env.root, "dev/mock/device_8"))
    wait_for(lambda: _taints(env.slice_devices().get("mock-device-8", {})), timeout=5 * SLOW,
             interval=0.02, what="taint after removal")
    assert time.time() - t0 < 1.0 * SLOW
