# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin end to end, the claim path: the simulated scheduler allocates, the
simulated kubelet calls NodePrepareResources, podman starts a busybox container with the CDI IDs
the plugin returned, and the container sees exactly the allocated devices. Also: direct gRPC calls
on the DRA socket for per-claim errors, idempotency and concurrency; opaque config; metrics."""
import os
import re
import time

import pytest

from plugin_env import (NODE, SLOW, claim_spec, env, run_threads, sim,  # noqa: F401
                        wait_for)

# What a container prints: the device nodes it got, the .so files actually bind-mounted (the
# simulated kubelet reuses one rootfs, so bind targets of earlier containers linger as empty
# files: only non-empty ones count) and whether the group's list_device.sh is there.
LS = ("ls /dev/mock; echo --; for f in /mock/so/*; do test -s $f && cat $f; done; echo --; "
      "test -x /usr/local/bin/list_device.sh && echo list-ok")


def parse_ls(out):
    devs, sos, tail = out.split("--\n")
    return (sorted(devs.split()), sorted(int(x.split()[1]) for x in sos.splitlines() if x.strip()),
            "list-ok" in tail)


def allocated(env, claim_name):
    c = env.get_claim(claim_name)
    return sorted(r["device"] for r in c["status"]["allocation"]["devices"]["results"]
                  if r["driver"] == env.driver)


def test_container_sees_exactly_the_allocated_devices(env):
    """Two pods at once (4 and 3 mock GPUs): each container sees exactly its claim's devices,
    their .so files and list_device.sh; specs and checkpoint entries go with the pods."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.template("four", claim_spec(env.driver, count=4))
    env.template("three", claim_spec(env.driver, count=3))
    env.pod("a", LS + "; sleep 30", claims=[("g", {"resourceClaimTemplateName": "four"})])
    env.pod("b", LS + "; sleep 30", claims=[("g", {"resourceClaimTemplateName": "three"})])
    for name in ("a", "b"):
        env.wait_pod(name, phases=("Running",))
    # The containers keep running: wait for each whole listing (it ends with list-ok).
    wait_for(lambda: all("list-ok" in (env.output(n) or "") for n in "ab"),
             timeout=10 * SLOW, what="complete container output")
    out = {n: parse_ls(env.output(n)) for n in "ab"}
    alloc = {n: allocated(env, env.pod_claim_name(n)) for n in "ab"}
    for n, k in (("a", 4), ("b", 3)):
        devs, sos, listed = out[n]
        assert devs == sorted("device_" + d.rsplit("-", 1)[1] for d in alloc[n])
        assert len(devs) == k and listed
        assert sos == sorted(int(d.split("_")[1]) for d in devs)
    assert not set(out["a"][0]) & set(out["b"][0])
    assert len(env.cdi_files()) == 2
    ck = p.read_checkpoint()
    assert sorted(c["state"] for c in ck["data"]["claims"]) == ["PrepareCompleted"] * 2
    for n in "ab":
        env.delete_pod(n)
    wait_for(lambda: env.cdi_files() == [], timeout=10 * SLOW, what="specs removed")
    assert p.read_checkpoint()["data"]["claims"] == []


def _spec(requests, config=None):
    s = {"devices": {"requests": requests}}
    if config:
        s["devices"]["config"] = config
    return s


def _host_config(driver, **fields):
    return {"opaque": {"driver": driver, "parameters": dict(
        {"apiVersion": f"{driver}/v1alpha1", "kind": "HostDeviceConfig"}, **fields)}}


def test_multi_driver_claim_prepares_only_our_devices(env):
    from kubelet_testutil import start_dra_plugin
    other = "py" + env.driver
    env.extra_drivers.append(other)
    env.py_plugins.append(start_dra_plugin(env.cluster, NODE, other,
                                           devices=[("d0", "/dev/null")]))
    env.kubelet.wait_registered(other, 10 * SLOW)
    p = env.start_plugin()
    env.wait_slices(8)
    env.wait_slices(1, driver=other)
    env.device_class()
    env.device_class(driver=other)
    env.claim("both", _spec([
        {"name": "ours", "exactly": {"deviceClassName": env.driver, "count": 2}},
        {"name": "theirs", "exactly": {"deviceClassName": other}}]))
    env.pod("p", LS + "; echo --; ls /dev/hostdev; echo end; sleep 60",
            claims=[("g", {"resourceClaimName": "both"})])
    env.wait_pod("p", phases=("Running",))
    out = wait_for(lambda: "end" in (env.output("p") or "") and env.output("p"),
                   timeout=10 * SLOW, what="output")
    parts = out.split("--\n")
    devs, theirs = parts[0].split(), parts[3].replace("end", "")
    alloc = allocated(env, "both")
    assert devs == sorted("device_" + d.rsplit("-", 1)[1] for d in alloc) and len(devs) == 2
    assert theirs.split() == ["d0"]
    # our spec holds our two devices only; the other driver wrote its own
    uid = env.get_claim("both")["metadata"]["uid"]
    import json
    with open(env.spec_path(uid)) as f:
        spec = json.load(f)
    assert sorted(d["name"] for d in spec["devices"]) == [f"{uid}-{d}" for d in alloc]
    assert os.path.exists(env.spec_path(uid, other))
    entry = p.read_checkpoint()["data"]["claims"]
    assert [sorted(d["device"] for d in entry[0]["devices"])] == [alloc]
    env.delete_pod("p")
    wait_for(lambda: env.cdi_files() == [], timeout=10 * SLOW, what="spec removed")


def test_first_available_subrequest_name_is_stripped(env):
    """A firstAvailable request `main` allocated through subrequest `main/sub`: the plugin
    answers request_names ["main"], so a container asking for request `main` gets the devices."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.claim("fa", _spec([{"name": "main", "firstAvailable": [
        {"name": "big", "deviceClassName": env.driver, "count": 9},
        {"name": "sub", "deviceClassName": env.driver, "count": 2}]}]))
    env.pod("p", LS + "; sleep 30", claims=[("g", {"resourceClaimName": "fa"})],
            ctr_claims=[{"name": "g", "request": "main"}])
    env.wait_pod("p", phases=("Running",))
    c = env.get_claim("fa")
    reqs = {r["request"] for r in c["status"]["allocation"]["devices"]["results"]}
    assert reqs == {"main/sub"}
    uid = c["metadata"]["uid"]
    prepared = env.kubelet.prepared_claims()[uid]["drivers"][env.driver]
    assert [d["request_names"] for d in prepared] == [["main"], ["main"]]
    wait_for(lambda: "list-ok" in (env.output("p") or ""), timeout=10 * SLOW, what="output")
    devs, sos, listed = parse_ls(env.output("p"))
    assert devs == sorted("device_" + d.rsplit("-", 1)[1] for d in allocated(env, "fa"))
    assert len(devs) == 2 and listed
    # the checkpoint keeps the full result name
    assert {d["request"] for d in p.read_checkpoint()["data"]["claims"][0]["devices"]} == \
        {"main/sub"}


def test_shared_claim_is_prepared_once_and_unprepared_after_the_last_pod(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.claim("shared", claim_spec(env.driver, count=2))
    env.pod("s1", LS + "; sleep 60", claims=[("g", {"resourceClaimName": "shared"})])
    env.pod("s2", LS + "; sleep 60", claims=[("g", {"resourceClaimName": "shared"})])
    for n in ("s1", "s2"):
        env.wait_pod(n, phases=("Running",))
    wait_for(lambda: all("list-ok" in (env.output(n) or "") for n in ("s1", "s2")),
             timeout=10 * SLOW, what="output")
    assert parse_ls(env.output("s1"))[0] == parse_ls(env.output("s2"))[0]
    calls = [ln for ln in env.kubelet_log().splitlines()
             if f"NodePrepareResources({env.driver}" in ln and "'shared'" in ln]
    assert len(calls) == 1, calls
    assert p.metric("hostdev_prepare_claims_total", result="success") == 1
    uid = env.get_claim("shared")["metadata"]["uid"]
    env.delete_pod("s1")
    time.sleep(1.0)
    assert env.cdi_files() == [env.spec_path(uid)]
    assert p.metric("hostdev_unprepare_claims_total", result="success") == 0
    env.delete_pod("s2")
    wait_for(lambda: env.cdi_files() == [], timeout=10 * SLOW, what="spec removed")
    assert p.metric("hostdev_unprepare_claims_total", result="success") == 1
    assert p.read_checkpoint()["data"]["claims"] == []


def test_bad_claims_fail_alone_and_metrics_count_them(env):
    """One NodePrepareResources call with a good claim and missing / unallocated / replaced /
    unknown-device claims: each bad one gets its own error, the good one is prepared."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    good = env.allocated_claim("good", ["mock-device-0"])
    unalloc = env.claim("unalloc", claim_spec(env.driver))
    repl = env.allocated_claim("repl", ["mock-device-1"])
    ghost = env.allocated_claim("ghost", ["mock-device-99"])
    stale_uid = "0badc0de-0000-4000-8000-000000000001"
    refs = [env.ref(good), (env.ns, "missing", "0badc0de-0000-4000-8000-000000000002"),
            env.ref(unalloc), (env.ns, "repl", stale_uid), env.ref(ghost)]
    ans = p.prepare(refs)
    assert sorted(ans) == sorted(r[2] for r in refs)
    g = ans[good["metadata"]["uid"]]
    guid = good["metadata"]["uid"]
    assert g.error == ""
    assert [(list(d.request_names), d.pool_name, d.device_name, list(d.cdi_device_ids))
            for d in g.devices] == [(["dev"], NODE, "mock-device-0",
                                     [f"k8s.{env.driver}/claim={guid}-mock-device-0"])]
    errs = {r[1]: ans[r[2]].error for r in refs[1:]}
    assert "not found" in errs["missing"], errs
    assert "not allocated" in errs["unalloc"], errs
    assert repl["metadata"]["uid"] in errs["repl"] and "replaced" in errs["repl"], errs
    assert "mock-device-99" in errs["ghost"], errs
    assert env.cdi_files() == [env.spec_path(guid)]
    assert [c["uid"] for c in p.read_checkpoint()["data"]["claims"]] == [guid]
    # metrics and health
    assert p.metric("hostdev_prepare_claims_total", result="success") == 1
    assert p.metric("hostdev_prepare_claims_total", result="error") == 4
    assert p.metric("hostdev_devices", health="healthy") == 8
    assert p.metric("hostdev_registered") == 1
    assert p.metric("hostdev_prepare_duration_seconds_count") == 5
    # per-phase histograms: every call GETs its claim; only the good one reaches the spec
    # write and the commit
    phase = "hostdev_phase_duration_seconds_count"
    assert p.metric(phase, phase="claim_get") == 5
    assert p.metric(phase, phase="prepare_own") == 5
    assert p.metric(phase, phase="spec_write") == 1
    assert p.metric(phase, phase="checkpoint_commit") == 1
    assert p.metric("hostdev_phase_duration_seconds_bucket", phase="claim_get", le="+Inf") == 5
    status, body = p.http("/healthz")
    assert status == 200 and "ok" in body.lower()
    # unprepare: the good claim and one never prepared both succeed
    un = p.unprepare([env.ref(good), (env.ns, "never", "0badc0de-0000-4000-8000-000000000003")])
    assert all(v.error == "" for v in un.values()) and len(un) == 2
    assert env.cdi_files() == []
    assert p.read_checkpoint()["data"]["claims"] == []
    assert p.metric(phase, phase="spec_remove") == 2
    assert p.metric(phase, phase="checkpoint_remove") == 1


def test_prepared_claims_gauge_follows_prepare_and_unprepare(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("c", ["mock-device-0"])
    assert p.metric("hostdev_prepared_claims") == 0
    assert p.prepare([env.ref(c)])[c["metadata"]["uid"]].error == ""
    assert p.metric("hostdev_prepared_claims") == 1
    p.unprepare([env.ref(c)])
    assert p.metric("hostdev_prepared_claims") == 0


def test_prepare_is_idempotent_and_a_held_device_fails_another_claim(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    a = env.allocated_claim("a", ["mock-device-2", "mock-device-3"])
    b = env.allocated_claim("b", ["mock-device-3"])
    first = p.prepare([env.ref(a)])[a["metadata"]["uid"]]
    assert first.error == "" and len(first.devices) == 2
    spec = env.spec_path(a["metadata"]["uid"])
    before = os.stat(spec).st_mtime_ns
    time.sleep(0.05)
    again = p.prepare([env.ref(a)])[a["metadata"]["uid"]]
    assert again == first
    assert os.stat(spec).st_mtime_ns == before
    busy = p.prepare([env.ref(b)])[b["metadata"]["uid"]]
    assert "mock-device-3" in busy.error and "in use" in busy.error and "a" in busy.error
    assert not os.path.exists(env.spec_path(b["metadata"]["uid"]))
    # the v1beta1 wire path serves the same answer
    beta = p.prepare([env.ref(a)], version="v1beta1")[a["metadata"]["uid"]]
    assert [list(d.cdi_device_ids) for d in beta.devices] == \
        [list(d.cdi_device_ids) for d in first.devices]
    p.unprepare([env.ref(a)])
    ok = p.prepare([env.ref(b)])[b["metadata"]["uid"]]
    assert ok.error == ""
    p.unprepare([env.ref(b)])
    assert env.cdi_files() == []


def test_opaque_env_from_class_and_claim_reaches_the_container(env):
    env.start_plugin()
    env.wait_slices(8)
    env.device_class(config=[_host_config(env.driver, env={"FOO": "class", "CLS": "c"})])
    env.claim("cfg", _spec([{"name": "dev", "exactly": {"deviceClassName": env.driver}}],
                           config=[dict(_host_config(env.driver, env={"FOO": "bar"}),
                                        requests=["dev"])]))
    env.pod("p", "echo FOO=$FOO CLS=$CLS", claims=[("g", {"resourceClaimName": "cfg"})])
    st = env.wait_pod("p")
    assert st["status"]["phase"] == "Succeeded"
    assert env.output("p").strip() == "FOO=bar CLS=c"


def test_user_config_adding_a_mount_is_rejected(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.claim("evil", _spec([{"name": "dev", "exactly": {"deviceClassName": env.driver}}],
                            config=[_host_config(env.driver, env={"A": "b"}, mounts=[
                                {"hostPath": "/etc", "containerPath": "/host-etc"}])]))
    env.pod("p", "ls /host-etc", claims=[("g", {"resourceClaimName": "evil"})])

    def failed():
        return [e for e in env.events("p") if e.get("reason") == "FailedPrepareDynamicResources"]
    ev = wait_for(failed, timeout=20 * SLOW, what="FailedPrepareDynamicResources event")
    assert "mounts" in ev[0]["message"], ev[0]["message"]
    assert env.client.get(f"/api/v1/namespaces/{env.ns}/pods/p")["status"]["phase"] == "Pending"
    assert env.cdi_files() == []
    assert p.read_checkpoint()["data"]["claims"] == []
    assert "mounts" in p.log()


def test_concurrent_prepares_of_different_claims_overlap(env):
    """With 0.4 s added to every API request, 8 claims prepared in 8 parallel calls take far
    less than 8 x 0.4 s: calls for different claims do not wait for each other."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    claims = [env.allocated_claim(f"c{i}", [f"mock-device-{i}"]) for i in range(8)]
    p.prepare([env.ref(claims[0])])  # warm the connection
    p.unprepare([env.ref(claims[0])])
    env.api.inject_latency(0.4)
    try:
        t0 = time.time()
        res = run_threads([lambda c=c: p.prepare([env.ref(c)]) for c in claims])
        took = time.time() - t0
    finally:
        env.api.inject_latency(0)
    for c, r in zip(claims, res):
        assert r[c["metadata"]["uid"]].error == ""
    assert len(env.cdi_files()) == 8
    assert took < 8 * 0.4 * 0.6, took
    p.unprepare([env.ref(c) for c in claims])
    assert env.cdi_files() == []


def test_eight_pods_at_once_all_succeed(env):
    env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.template("one", claim_spec(env.driver))
    # The pods stay up, so all 8 hold their devices at once: a pod that finished early would
    # release its device and a later pod could rightly get the same one.
    for i in range(8):
        env.pod(f"p{i}", LS + "; sleep 30", claims=[("g", {"resourceClaimTemplateName": "one"})])
    seen = []
    for i in range(8):
        st = env.wait_pod(f"p{i}", phases=("Running", "Succeeded", "Failed"), timeout=90)
        assert st["status"]["phase"] == "Running", env.output(f"p{i}")
        # The container keeps running, so wait for its whole listing, not just the start.
        wait_for(lambda i=i: "list-ok" in (env.output(f"p{i}") or ""), timeout=20 * SLOW,
                 what=f"complete output of p{i}")
        devs, sos, listed = parse_ls(env.output(f"p{i}"))
        assert len(devs) == 1 and listed and sos == [int(devs[0].split("_")[1])]
        seen += devs
    assert sorted(seen) == [f"device_{i}" for i in range(8)]
    for i in range(8):
        env.delete_pod(f"p{i}", wait=False)
    wait_for(lambda: env.cdi_files() == [], timeout=20 * SLOW, what="specs removed")


def test_results_for_other_pools_and_drivers_are_ignored(env):
    """Only results whose driver is ours and whose pool is this node are prepared."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    res = [{"request": "dev", "driver": env.driver, "pool": NODE, "device": "mock-device-0"},
           {"request": "dev", "driver": env.driver, "pool": "node-b", "device": "mock-device-1"},
           {"request": "dev", "driver": "other.example.com", "pool": NODE, "device": "mock-device-2"}]
    c = env.allocated_claim("mix", [], results=res)
    ans = p.prepare([env.ref(c)])[c["metadata"]["uid"]]
    assert ans.error == ""
    assert [(d.pool_name, d.device_name) for d in ans.devices] == [(NODE, "mock-device-0")]
    p.unprepare([env.ref(c)])


def test_share_id_is_returned_on_v1_only(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    sid = "5f0b6a3e-5a4d-4b8e-9c57-6d1b2f3a4c5d"
    res = [{"request": "dev", "driver": env.driver, "pool": NODE, "device": "mock-device-0",
            "shareID": sid}]
    c = env.allocated_claim("shared-id", [], results=res)
    uid = c["metadata"]["uid"]
    v1 = p.prepare([env.ref(c)])[uid]
    assert v1.error == "" and [d.share_id for d in v1.devices] == [sid]
    beta = p.prepare([env.ref(c)], version="v1beta1")[uid]
    assert beta.error == "" and [d.device_name for d in beta.devices] == ["mock-device-0"]
    assert not beta.devices[0].ListFields() or all(
        f.name != "share_id" for f, _ in beta.devices[0].ListFields())
    p.unprepare([env.ref(c)])


def test_vanished_device_node_fails_the_claim(env):
    """A device whose node is gone right now fails the claim, even before a rescan noticed."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("gone", ["mock-device-4", "mock-device-5"])
    os.unlink(os.path.join(env.root, "dev/mock/device_5"))
    ans = p.prepare([env.ref(c)])[c["metadata"]["uid"]]
    assert "mock-device-5" in ans.error, ans
    assert env.cdi_files() == []
    assert p.read_checkpoint()["data"]["claims"] == []


def test_opaque_config_is_filtered_by_request(env):
    env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.claim("two", _spec(
        [{"name": "a", "exactly": {"deviceClassName": env.driver}},
         {"name": "b", "exactly": {"deviceClassName": env.driver}}],
        config=[dict(_host_config(env.driver, env={"A_ONLY": "1"}), requests=["a"]),
                dict(_host_config(env.driver, env={"B_ONLY": "1"}), requests=["b"]),
                # another driver's config is not ours to judge
                {"opaque": {"driver": "other.example.com", "parameters": {"whatever": [1]}}}]))
    env.pod("p", "echo A=$A_ONLY B=$B_ONLY; ls /dev/mock; echo end; sleep 30",
            claims=[("g", {"resourceClaimName": "two"})], ctr_claims=[{"name": "g", "request": "a"}])
    env.wait_pod("p", phases=("Running",))
    out = wait_for(lambda: "end" in (env.output("p") or "") and env.output("p"),
                   timeout=10 * SLOW, what="output")
    lines = out.replace("end\n", "").split("\n")
    assert lines[0] == "A=1 B="
    res = {r["request"]: r["device"] for r in
           env.get_claim("two")["status"]["allocation"]["devices"]["results"]}
    assert lines[1:-1] == ["device_" + res["a"].rsplit("-", 1)[1]]


@pytest.mark.parametrize("params,needle", [
    ({"kind": "GpuConfig"}, "GpuConfig"),
    ({"env": {"1BAD": "x"}}, "1BAD"),
    ({"env": {"OK": 5}}, "OK"),
    ({"devices": ["/dev/sda"]}, "devices"),
], ids=["kind", "env-name", "env-value", "devices"])
def test_invalid_opaque_config_fails_the_claim_naming_the_problem(env, params, needle):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    cfg = _host_config(env.driver)
    cfg["opaque"]["parameters"].update(params)
    c = env.allocated_claim("bad", ["mock-device-0"], config=[dict(cfg, source="FromClaim")])
    ans = p.prepare([env.ref(c)])[c["metadata"]["uid"]]
    assert needle in ans.error, ans.error
    assert env.cdi_files() == []


def test_count_group_lets_two_claims_share_one_node(env):
    r = env.root
    from plugin_env import mknod
    mknod(f"{r}/dev/fuse")
    cfg = env.write_config(f"""apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: fuse
    count: 2
    match: {{paths: ["{r}/dev/fuse"]}}
    containerPath: /dev/fuse
""", "count.yaml")
    env.start_plugin(config=cfg)
    devs = env.wait_slices(2)
    names = sorted(devs)
    assert len(names) == 2 and names[0].endswith("-0") and names[1].endswith("-1")
    env.device_class()
    env.template("f", claim_spec(env.driver))
    for n in ("a", "b"):
        env.pod(n, "ls /dev/fuse && sleep 30", claims=[("g", {"resourceClaimTemplateName": "f"})])
    for n in ("a", "b"):
        env.wait_pod(n, phases=("Running",))
    wait_for(lambda: all((env.output(n) or "").strip() == "/dev/fuse" for n in "ab"),
             timeout=10 * SLOW, what="both containers see /dev/fuse")
    assert len(env.cdi_files()) == 2


def test_concurrent_prepares_of_the_same_claim_agree(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("same", ["mock-device-6", "mock-device-7"])
    uid = c["metadata"]["uid"]
    env.api.inject_latency(0.2)
    try:
        res = run_threads([lambda: p.prepare([env.ref(c)])[uid] for _ in range(6)])
    finally:
        env.api.inject_latency(0)
    assert all(r.error == "" for r in res)
    assert all(r == res[0] for r in res)
    assert env.cdi_files() == [env.spec_path(uid)]
    assert [e["uid"] for e in p.read_checkpoint()["data"]["claims"]] == [uid]
    # only the first call fetched the claim: the others waited and found it prepared
    gets = [e for e in env.api.request_log() if e["path"].endswith("/resourceclaims/same")
            and (e.get("userAgent") or "").startswith("hostdev-kubelet-plugin/")]
    assert len(gets) == 1, gets
    res = run_threads([lambda: p.unprepare([env.ref(c)])[uid] for _ in range(4)])
    assert all(r.error == "" for r in res)
    assert env.cdi_files() == []


def test_failed_prepare_rolls_back_and_frees_the_device(env):
    """A device whose per-device mount source is missing fails the claim; nothing is left
    behind and the device is not held, so the claim prepares once the file is back."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    so = os.path.join(env.root, "mock/so/device_3.so")
    os.rename(so, so + ".away")
    c = env.allocated_claim("c", ["mock-device-2", "mock-device-3"])
    uid = c["metadata"]["uid"]
    ans = p.prepare([env.ref(c)])[uid]
    assert "device_3.so" in ans.error, ans.error
    assert env.cdi_files() == []
    assert p.read_checkpoint()["data"]["claims"] == []
    other = env.allocated_claim("other", ["mock-device-2"])
    assert p.prepare([env.ref(other)])[other["metadata"]["uid"]].error == ""
    p.unprepare([env.ref(other)])
    os.rename(so + ".away", so)
    ans = p.prepare([env.ref(c)])[uid]
    assert ans.error == "" and len(ans.devices) == 2
    p.unprepare([env.ref(c)])
    assert env.cdi_files() == []
