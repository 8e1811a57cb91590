# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin end to end, crashes and outages: SIGTERM (sockets removed, exit 0,
slices kept, no gap on restart), kill -9 between spec write and checkpoint, a corrupt checkpoint,
a wiped CDI dir, claims deleted while the plugin was down, the API server failing during a
prepare, bearer-token rotation, and opaque env too big to write."""
import glob
import json
import os
import re
import secrets
import signal
import threading
import time

import pytest

from plugin_env import NODE, SANITIZED, SLOW, claim_spec, env, sim, wait_for  # noqa: F401

HOLD = "ls /dev/mock; sleep 120"


def running_pod_with_claim(env, name="p", count=2):
    """A pod holding a claim for COUNT devices; returns (claim object, spec path)."""
    if env.driver not in env.class_names:
        env.device_class()
    env.template(name + "-t", claim_spec(env.driver, count=count))
    env.pod(name, HOLD, claims=[("g", {"resourceClaimTemplateName": name + "-t"})])
    env.wait_pod(name, phases=("Running",))
    c = env.get_claim(env.pod_claim_name(name))
    spec = env.spec_path(c["metadata"]["uid"])
    assert os.path.exists(spec)
    return c, spec


def plugin_only_fault(api, n, code, path_re):
    """Fail the next N GETs matching PATH_RE with CODE, but only those sent by the plugin (the
    simulated kubelet GETs the same claim paths). The simulator's fault matcher sees only the
    path, so the user agent is passed to it through a thread-local set by a wrapped
    _authenticate; returns a function that undoes the wrapping."""
    local = threading.local()
    orig = api._authenticate

    def auth(req):
        local.ua = req.entry.get("userAgent") or ""
        return orig(req)
    api._authenticate = auth

    def match(path):
        return (getattr(local, "ua", "").startswith("hostdev-kubelet-plugin/")
                and re.search(path_re, path) is not None)
    api.fail_next(n, code, match=match, method="GET")

    def undo():
        api.clear_faults()
        api.__dict__.pop("_authenticate", None)
    return undo


def test_sigterm_removes_sockets_exits_0_and_keeps_slices_without_gap(env):
    p = env.start_plugin()
    env.wait_slices(8)
    uids = {s["metadata"]["uid"] for s in env.slices()}
    assert os.path.exists(p.dra_sock) and os.path.exists(p.reg_sock)
    gaps = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if not env.slices():
                gaps.append(time.time())
            time.sleep(0.05)
    t = threading.Thread(target=watch)
    t.start()
    try:
        rc, took = p.stop(signal.SIGTERM)
        assert rc == 0
        assert took < 2.0 * SLOW, took
        assert not os.path.exists(p.dra_sock) and not os.path.exists(p.reg_sock)
        assert os.listdir(p.registry_dir) == [] or all(
            not f.startswith(env.driver) for f in os.listdir(p.registry_dir))
        time.sleep(0.5)
        assert {s["metadata"]["uid"] for s in env.slices()} == uids
        # a restart within the kubelet's grace period: slices never disappear
        p.start()
        env.kubelet.wait_registered(env.driver, 15 * SLOW)
        time.sleep(1.0)
    finally:
        stop.set()
        t.join()
    assert not gaps
    assert sum(len(s["spec"]["devices"]) for s in env.slices()) == 8


def test_kill9_between_spec_write_and_checkpoint(env):
    """A crash after the CDI spec was written but before the checkpoint said PrepareCompleted:
    the restarted plugin removes the spec and the entry, the kubelet's retry prepares the claim
    again (same CDI IDs), and the pod's deletion unprepares it."""
    p = env.start_plugin()
    env.wait_slices(8)
    c, spec = running_pod_with_claim(env)
    uid = c["metadata"]["uid"]
    ck = p.read_checkpoint()
    (entry,) = ck["data"]["claims"]
    assert entry["uid"] == uid and entry["state"] == "PrepareCompleted"
    ids = [i for d in entry["devices"] for i in d["cdiIDs"]]
    rc, _ = p.kill9()
    assert rc == -signal.SIGKILL
    entry["state"] = "PrepareStarted"
    entry.pop("specFile", None)
    p.write_checkpoint(ck)
    p.start()
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    assert not os.path.exists(spec)
    assert p.read_checkpoint()["data"]["claims"] == []
    assert "undoing interrupted prepare" in p.log(since_start=True)
    # the kubelet retries NodePrepareResources for a claim whose prepare did not complete
    ans = p.prepare([env.ref(c)])[uid]
    assert ans.error == ""
    assert [i for d in ans.devices for i in d.cdi_device_ids] == ids
    assert os.path.exists(spec)
    assert [e["state"] for e in p.read_checkpoint()["data"]["claims"]] == ["PrepareCompleted"]
    env.delete_pod("p")
    wait_for(lambda: not os.path.exists(spec), timeout=10 * SLOW, what="spec removed")
    assert p.read_checkpoint()["data"]["claims"] == []


@pytest.mark.parametrize("damage", ["not-json", "bad-checksum", "unknown-version"])
def test_corrupt_checkpoint_is_moved_aside_and_claims_still_unprepare(env, damage):
    p = env.start_plugin()
    env.wait_slices(8)
    c, spec = running_pod_with_claim(env)
    uid = c["metadata"]["uid"]
    assert p.stop()[0] == 0
    if damage == "not-json":
        with open(p.checkpoint, "w") as f:
            f.write('{"apiVersion": "hostdev')
    else:
        doc = p.read_checkpoint()
        if damage == "bad-checksum":
            doc["data"]["claims"][0]["devices"][0]["device"] = "mock-device-7x"
        else:
            doc["apiVersion"] = "hostdev.example.com/v9"
        with open(p.checkpoint, "w") as f:
            json.dump(doc, f)
    p.start()
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    log = p.log(since_start=True)
    assert re.search(r'^E.*checkpoint', log, re.M), log
    aside = glob.glob(p.checkpoint + ".corrupt-*")
    assert len(aside) == 1, os.listdir(p.state_dir)
    assert aside[0] in log
    rebuilt = p.read_checkpoint()
    assert [e["uid"] for e in rebuilt["data"]["claims"]] == [uid]
    assert os.path.exists(spec)
    env.delete_pod("p")
    wait_for(lambda: not os.path.exists(spec), timeout=10 * SLOW, what="spec removed")
    assert p.read_checkpoint()["data"]["claims"] == []
    assert p.running()


def test_wiped_cdi_spec_is_restored_at_start(env):
    p = env.start_plugin()
    env.wait_slices(8)
    c, spec = running_pod_with_claim(env)
    with open(spec) as f:
        before = json.load(f)
    assert p.stop()[0] == 0
    os.unlink(spec)
    p.start()
    assert os.path.exists(spec)
    with open(spec) as f:
        assert json.load(f) == before
    assert "restored missing CDI spec" in p.log(since_start=True)
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    env.delete_pod("p")
    wait_for(lambda: not os.path.exists(spec), timeout=10 * SLOW, what="spec removed")


def test_claim_deleted_while_plugin_down_is_cleaned_up_at_start(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    gone = env.allocated_claim("gone", ["mock-device-1"])
    kept = env.allocated_claim("kept", ["mock-device-2"])
    ans = p.prepare([env.ref(gone), env.ref(kept)])
    assert all(a.error == "" for a in ans.values())
    assert p.stop()[0] == 0
    env.client.delete(env.path("resourceclaims", "gone"))
    wait_for(lambda: not env.client.exists(env.path("resourceclaims", "gone")), timeout=10,
             what="claim deleted")
    p.start()
    # the API server is asked about checkpointed claims in the background, after start-up
    wait_for(lambda: not os.path.exists(env.spec_path(gone["metadata"]["uid"])),
             timeout=10 * SLOW, what="spec of the deleted claim removed")
    wait_for(lambda: [e["uid"] for e in p.read_checkpoint()["data"]["claims"]] ==
             [kept["metadata"]["uid"]], timeout=10 * SLOW, what="deleted claim unprepared")
    # the gauge follows the sweep's unprepare, not only the kubelet's next call
    wait_for(lambda: p.metric("hostdev_prepared_claims") == 1, timeout=5 * SLOW,
             what="prepared-claims gauge updated by the sweep")
    assert os.path.exists(env.spec_path(kept["metadata"]["uid"]))
    p.unprepare([env.ref(kept)])
    assert env.cdi_files() == []
    assert p.metric("hostdev_prepared_claims") == 0


def _env_config(driver, prefix, n_vars, requests=None):
    """A HostDeviceConfig entry with N_VARS variables of 4000 bytes (within the API's 10 KiB
    per opaque config)."""
    c = {"source": "FromClaim",
         "opaque": {"driver": driver, "parameters": {
             "apiVersion": f"{driver}/v1alpha1", "kind": "HostDeviceConfig",
             "env": {f"{prefix}{k}": "x" * 4000 for k in range(n_vars)}}}}
    if requests is not None:
        c["requests"] = requests
    return c


def test_opaque_env_is_stored_once_and_amplification_fails_alone(env):
    """Issue 9, defect 3: 16 results x 20 opaque configs of 8 KB once wrote every config into
    every device of the spec and of the checkpoint, past what the plugin reads back; after a
    restart the checkpoint was moved aside and devices were handed out twice. Now env matching
    every device is written once, a claim that would still write too much fails alone naming
    the limit, and the other claims survive a restart."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    good = env.allocated_claim("good", ["mock-device-0"])
    guid = good["metadata"]["uid"]
    assert p.prepare([env.ref(good)])[guid].error == ""

    # 16 results in 16 subrequests over 7 devices.
    results = [{"request": f"dev/s{i}", "driver": env.driver, "pool": NODE,
                "device": f"mock-device-{1 + i % 7}"} for i in range(16)]
    # Configs for every request: stored once per claim, not per device.
    once = env.allocated_claim("once", [], results=results,
                               config=[_env_config(env.driver, f"C{c}_", 2) for c in range(4)])
    ouid = once["metadata"]["uid"]
    assert p.prepare([env.ref(once)])[ouid].error == ""
    with open(env.spec_path(ouid)) as f:
        spec = f.read()
    assert spec.count("C3_1=") == 1
    assert len(spec) < 48 * 1024
    with open(p.checkpoint) as f:
        assert f.read().count("C3_1=") == 1
    assert p.unprepare([env.ref(once)])[ouid].error == ""

    # 20 configs for all subrequests but the last: devices differ, each would carry 160 KB.
    big = env.allocated_claim("big", [], results=results, config=[
        _env_config(env.driver, f"C{c}_", 2, [f"dev/s{i}" for i in range(15)])
        for c in range(20)])
    buid = big["metadata"]["uid"]
    err = p.prepare([env.ref(big)])[buid].error
    assert "more than the 131072 bytes one claim may write (DM_PREPARE_MAX_CLAIM_ENV)" in err
    assert not os.path.exists(env.spec_path(buid))
    assert os.path.getsize(p.checkpoint) < 64 * 1024
    assert [e["uid"] for e in p.read_checkpoint()["data"]["claims"]] == [guid]

    assert p.stop()[0] == 0
    p.start()
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    assert glob.glob(p.checkpoint + ".corrupt-*") == []
    assert [e["uid"] for e in p.read_checkpoint()["data"]["claims"]] == [guid]
    thief = env.allocated_claim("thief", ["mock-device-0"])
    tuid = thief["metadata"]["uid"]
    assert "already in use by ResourceClaim" in p.prepare([env.ref(thief)])[tuid].error
    assert p.unprepare([env.ref(good)])[guid].error == ""


# the plugin's API client makes 1 + 5 retries per request (kube/client.c max_retries)
ATTEMPTS = 6


def test_api_server_errors_during_prepare_fail_the_claim_then_retry_succeeds(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    good = env.allocated_claim("good", ["mock-device-0"])
    down = env.allocated_claim("down", ["mock-device-1"])
    # direct call: the claim whose GETs all fail gets an error, the other one is prepared
    undo = plugin_only_fault(env.api, ATTEMPTS, 503, r"/resourceclaims/down$")
    try:
        ans = p.prepare([env.ref(good), env.ref(down)], timeout=60)
    finally:
        undo()
    assert ans[good["metadata"]["uid"]].error == ""
    err = ans[down["metadata"]["uid"]].error
    assert "down" in err and "503" in err, err
    assert not os.path.exists(env.spec_path(down["metadata"]["uid"]))
    again = p.prepare([env.ref(down)])[down["metadata"]["uid"]]
    assert again.error == "" and len(again.devices) == 1
    p.unprepare([env.ref(good), env.ref(down)])
    # through the kubelet: the first NodePrepareResources fails, its retry succeeds
    env.template("one", claim_spec(env.driver))
    undo = plugin_only_fault(env.api, ATTEMPTS, 503, r"/resourceclaims/")
    try:
        env.pod("p", "ls /dev/mock", claims=[("g", {"resourceClaimTemplateName": "one"})])
        st = env.wait_pod("p", timeout=60)
    finally:
        undo()
    assert st["status"]["phase"] == "Succeeded"
    assert len(env.output("p").split()) == 1
    ev = [e for e in env.events("p") if e.get("reason") == "FailedPrepareDynamicResources"]
    assert ev and "503" in ev[0]["message"], ev
    assert "NodePrepareResources failed for ResourceClaim" in ev[0]["message"], ev[0]


def test_request_retried_after_one_503_exits_clean(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("c", ["mock-device-0"])
    undo = plugin_only_fault(env.api, 1, 503, r"/resourceclaims/c$")
    try:
        ans = p.prepare([env.ref(c)])[c["metadata"]["uid"]]
    finally:
        undo()
    assert ans.error == ""
    assert "kube: retrying request" in p.log()
    p.unprepare([env.ref(c)])
    env.expect_clean_exit = False  # checked here, in the test body
    rc, _ = p.stop()
    assert rc == 0, p.log()[-3000:]


def _user_kubeconfig(env, token=None, token_file=None):
    path = os.path.join(env.root, "kubeconfig")
    user = {"tokenFile": token_file} if token_file else {"token": token}
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "sim",
           "clusters": [{"name": "sim", "cluster": {"server": env.api.url,
                                                    "certificate-authority": env.api.ca_path}}],
           "users": [{"name": "plugin", "user": user}],
           "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "plugin"}}]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.replace(tmp, path)
    return path


def _write_token(path, token):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)


@pytest.mark.parametrize("how", ["tokenFile", "kubeconfig-token"])
def test_token_rotation_mid_test(env, how):
    """The plugin's own bearer token is replaced and the old one revoked (the simulator's
    rotate_token() would also cut off the test's admin client, so the plugin gets its own
    token): with a tokenFile the file is rewritten, with an inline token the kubeconfig is."""
    groups = ["system:masters", "system:authenticated"]
    old = "plugin-" + secrets.token_hex(12)
    env.api.add_token(old, "hostdev-plugin", groups)
    tf = os.path.join(env.root, "token")
    if how == "tokenFile":
        _write_token(tf, old)
        kc = _user_kubeconfig(env, token_file=tf)
    else:
        kc = _user_kubeconfig(env, token=old)
    p = env.start_plugin(kubeconfig=kc)
    env.wait_slices(8)
    env.device_class()
    c1 = env.allocated_claim("c1", ["mock-device-0"])
    assert p.prepare([env.ref(c1)])[c1["metadata"]["uid"]].error == ""
    # rotate
    new = "plugin-" + secrets.token_hex(12)
    env.api.add_token(new, "hostdev-plugin", groups)
    if how == "tokenFile":
        _write_token(tf, new)
    else:
        _user_kubeconfig(env, token=new)
    env.api.tokens.pop(old)
    env.api.clear_request_log()
    c2 = env.allocated_claim("c2", ["mock-device-1"])
    ans = p.prepare([env.ref(c2)])[c2["metadata"]["uid"]]
    assert ans.error == "", ans.error
    # watches reconnect with the new token: a deleted slice comes back
    env.api.close_watches()
    (s,) = env.slices()
    env.client.delete(f"/apis/resource.k8s.io/{env.rv}/resourceslices/{s['metadata']['name']}")
    wait_for(lambda: [x for x in env.slices() if x["metadata"]["uid"] != s["metadata"]["uid"]],
             timeout=10 * SLOW, what="slice re-created with the new token")
    mine = [e for e in env.api.request_log()
            if (e.get("userAgent") or "").startswith("hostdev-kubelet-plugin/")]
    assert any(e["code"] == 200 and e.get("user") == "hostdev-plugin" for e in mine)
    p.unprepare([env.ref(c1), env.ref(c2)])
    assert env.cdi_files() == []


def test_kubelet_restart_with_a_running_pod_then_unprepare(env):
    p = env.start_plugin()
    env.wait_slices(8)
    c, spec = running_pod_with_claim(env)
    env.kubelet.restart()
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    env.wait_slices(8)
    assert os.path.exists(spec)
    env.delete_pod("p")
    wait_for(lambda: not os.path.exists(spec), timeout=10 * SLOW, what="spec removed")
    assert p.read_checkpoint()["data"]["claims"] == []


def test_pod_deleted_while_plugin_down_is_unprepared_when_it_returns(env):
    p = env.start_plugin()
    env.wait_slices(8)
    c, spec = running_pod_with_claim(env)
    assert p.stop()[0] == 0
    env.delete_pod("p", wait=False)
    time.sleep(1.5)
    assert os.path.exists(spec)  # nobody to unprepare it yet
    p.start()
    wait_for(lambda: not os.path.exists(spec), timeout=15 * SLOW, what="spec removed")
    wait_for(lambda: not env.client.exists(f"/api/v1/namespaces/{env.ns}/pods/p"),
             timeout=15 * SLOW, what="pod gone")
    assert p.read_checkpoint()["data"]["claims"] == []


def test_healthz_fails_when_the_dra_socket_does_not_answer(env):
    p = env.start_plugin()
    st, body = p.http("/healthz")
    assert st == 200
    os.rename(p.dra_sock, p.dra_sock + ".moved")
    try:
        import urllib.error
        with pytest.raises(urllib.error.HTTPError) as ei:
            p.http("/healthz")
        assert ei.value.code >= 500
    finally:
        os.rename(p.dra_sock + ".moved", p.dra_sock)
    assert p.http("/healthz")[0] == 200


def test_hostile_claim_uids_are_refused(env):
    p = env.start_plugin()
    victim = os.path.join(env.root, "victim.json")
    with open(victim, "w") as f:
        f.write("{}")
    rel = os.path.relpath(victim, "/var/run/cdi")[:-len(".json")]
    bad = [(env.ns, "a", "../../../etc/passwd"), (env.ns, "b", ""), (env.ns, "c", "x" * 300),
           (env.ns, "d", "a/b")]
    ans = p.prepare(bad)
    assert all(ans[u].error for _, _, u in bad if u), ans
    un = p.unprepare([(env.ns, "e", f"../{rel}")])
    assert os.path.exists(victim)
    assert os.listdir("/var/run/cdi") is not None and env.cdi_files() == []
    assert p.prepare([]) == {}
    assert p.running()
    del un


def test_sigterm_during_an_inflight_prepare(env):
    """SIGTERM while a prepare waits on a slow API server: the plugin still exits 0 promptly and
    leaves a consistent state (a spec only for a checkpointed claim); after a restart the claim
    prepares normally."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("slow", ["mock-device-0"])
    uid = c["metadata"]["uid"]
    env.api.inject_latency(1.0)
    out = {}

    def call():
        try:
            out["ans"] = p.prepare([env.ref(c)], timeout=20)
        except Exception as e:  # the connection may be cut: that is fine
            out["err"] = e
    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.3)
    try:
        rc, took = p.stop()
    finally:
        env.api.inject_latency(0)
    t.join(30)
    assert rc == 0, p.log()[-3000:]
    assert took < 3.0 * SLOW, took
    entries = {e["uid"]: e for e in p.read_checkpoint()["data"]["claims"]}
    spec = os.path.exists(env.spec_path(uid))
    assert spec == (entries.get(uid, {}).get("state") == "PrepareCompleted"), (spec, entries)
    p.start()
    ans = p.prepare([env.ref(c)])[uid]
    assert ans.error == ""
    p.unprepare([env.ref(c)])
    assert env.cdi_files() == []


def test_restart_with_a_prepared_device_gone_and_its_spec_wiped(env):
    """The spec of a prepared claim cannot be restored because its device vanished while the
    plugin was down: the plugin still starts (error logged, no crash loop), and the claim still
    unprepares."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("c", ["mock-device-7"])
    uid = c["metadata"]["uid"]
    assert p.prepare([env.ref(c)])[uid].error == ""
    assert p.stop()[0] == 0
    os.unlink(env.spec_path(uid))
    os.unlink(os.path.join(env.root, "dev/mock/device_7"))
    p.start()
    env.kubelet.wait_registered(env.driver, 15 * SLOW)
    log = p.log(since_start=True)
    assert re.search(r"^E.*cannot restore CDI spec.*" + uid, log, re.M), log
    assert not os.path.exists(env.spec_path(uid))
    assert p.unprepare([env.ref(c)])[uid].error == ""
    assert p.read_checkpoint()["data"]["claims"] == []


def test_rolling_update_with_pod_uid_sockets(env):
    """Two instances with different --pod-uid serve at once; the kubelet uses the newer one;
    the old one stops; claims prepared by the old one are unprepared by the new one."""
    driver = "r%s.e.com" % env.driver[1:5]  # socket paths stay under 107 bytes
    env.extra_drivers.append(driver)
    uid_a = "0a0a0a0a-0000-4000-8000-00000000000a"
    uid_b = "0b0b0b0b-0000-4000-8000-00000000000b"
    a = env.start_plugin(driver=driver, extra=["--pod-uid", uid_a], name="plugin-a")
    a.dra_sock = os.path.join(a.state_dir, f"dra-{uid_a}.sock")
    env.wait_slices(8, driver=driver)
    env.device_class(driver=driver)
    env.template("t", claim_spec(driver, count=2))
    env.pod("p", HOLD, claims=[("g", {"resourceClaimTemplateName": "t"})])
    env.wait_pod("p", phases=("Running",))
    cl = env.get_claim(env.pod_claim_name("p"))
    spec = env.spec_path(cl["metadata"]["uid"], driver)
    assert os.path.exists(spec)
    b = env.start_plugin(driver=driver, extra=["--pod-uid", uid_b], name="plugin-b",
                         wait_registered=False)
    b.dra_sock = os.path.join(b.state_dir, f"dra-{uid_b}.sock")
    wait_for(lambda: (env.kubelet.plugin_for(driver) or a).endpoint == b.dra_sock,
             timeout=15 * SLOW, what="kubelet uses the new instance")
    assert a.stop()[0] == 0
    assert os.path.exists(b.dra_sock) and not os.path.exists(a.dra_sock)
    time.sleep(0.5)
    assert len(env.slice_devices(driver)) == 8
    env.delete_pod("p")
    wait_for(lambda: not os.path.exists(spec), timeout=10 * SLOW, what="spec removed by b")
    assert b.read_checkpoint()["data"]["claims"] == []
    assert "unprepared claim" in b.log()


def test_insecure_kubeconfig_is_warned_at_every_start(env):
    """insecure-skip-tls-verify is honoured (the plugin still talks to the API server) but never
    silently: the plugin logs a warning naming the server at every start."""
    token = "plugin-" + secrets.token_hex(12)
    env.api.add_token(token, "hostdev-plugin", ["system:masters", "system:authenticated"])
    kc = _user_kubeconfig(env, token=token)
    with open(kc) as f:
        cfg = json.load(f)
    cfg["clusters"][0]["cluster"] = {"server": env.api.url, "insecure-skip-tls-verify": True}
    with open(kc, "w") as f:
        json.dump(cfg, f)
    want = 'server \\"%s\\": insecure-skip-tls-verify is set' % env.api.url
    p = env.start_plugin(kubeconfig=kc)
    env.wait_slices(8)
    assert want in p.log(since_start=True)
    p.stop()
    p.start()
    assert want in p.log(since_start=True)
