# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin against hostile or unusual claims and kubelet requests (issue 9):
claim env that would override the admin's, admin-access claims, namespace/name that are not
Kubernetes names, oversized requests. The real binary, the simulated control plane, podman."""
import grpc
import pytest

from plugin_env import (NODE, SLOW, claim_spec, env, sim, wait_for)  # noqa: F401

UID = "0badc0de-0000-4000-8000-%012d"


def _plugin_claim_requests(env):
    """Requests the plugin made for anything but its own ResourceSlices."""
    return [e for e in env.api.request_log()
            if (e.get("userAgent") or "").startswith("hostdev-kubelet-plugin/")
            and "/resourceslices" not in e["path"]]


# -- defect 5: namespace and name reach the URL unchecked --------------------------------------

@pytest.mark.parametrize("ns,name,what", [
    ("..", "..", "namespace"),
    (".", "x", "namespace"),
    ("a/../b", "x", "namespace"),
    ("Upper", "x", "namespace"),
    ("n" * 64, "x", "namespace"),
    ("default", "..", "name"),
    ("default", "a/b", "name"),
    ("default", "%2e%2e", "name"),
    ("default", "x" * 254, "name"),
], ids=["dotdot", "dot", "slash", "upper", "long-ns", "name-dotdot", "name-slash",
        "name-escaped", "long-name"])
def test_claim_namespace_and_name_are_checked_before_any_request(env, ns, name, what):
    p = env.start_plugin()
    env.wait_slices(8)
    env.api.clear_request_log()
    uid = UID % 1
    ans = p.prepare([(ns, name, uid)])
    assert sorted(ans) == [uid]
    err = ans[uid].error
    assert what in err and "invalid" in err, err
    assert _plugin_claim_requests(env) == []
    assert env.cdi_files() == []


def test_valid_names_still_prepare(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("a.b-c.0", ["mock-device-0"])
    ans = p.prepare([env.ref(c)])[c["metadata"]["uid"]]
    assert ans.error == "", ans.error
    p.unprepare([env.ref(c)])


# -- defect 8: unbounded requests ------------------------------------------------------------------

@pytest.mark.parametrize("method", ["prepare", "unprepare"])
def test_more_than_1024_claims_in_one_call_fail_with_a_clear_error(env, method):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.api.clear_request_log()
    refs = [(env.ns, f"c{i}", UID % i) for i in range(1025)]
    with pytest.raises(grpc.RpcError) as ei:
        getattr(p, method)(refs)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1025 claims" in ei.value.details() and "1024" in ei.value.details()
    assert _plugin_claim_requests(env) == []
    # exactly 1,024 is served: every claim gets its own answer
    if method == "unprepare":
        ans = p.unprepare(refs[:1024])
        assert len(ans) == 1024 and all(a.error == "" for a in ans.values())


# -- defect 1: a claim can override the admin's environment ----------------------------------

def _host_config(driver, env_vars, source="FromClaim"):
    return {"source": source, "opaque": {"driver": driver, "parameters": {
        "apiVersion": f"{driver}/v1alpha1", "kind": "HostDeviceConfig", "env": env_vars}}}


def _admin_env_config(env, top="", group=""):
    """The seed config plus admin env: VISIBLE_DEVICES per device, MOCK_MODE for the group."""
    from plugin_env import mock_config
    text = mock_config(env.root, group_extra=group) .replace(
        "    deviceEdits:\n",
        '    deviceEdits:\n      env: ["VISIBLE_DEVICES={1}"]\n').replace(
        "    commonEdits:\n", '    commonEdits:\n      env: ["MOCK_MODE=admin"]\n')
    return env.write_config(text + top, "env.yaml")


def test_claim_env_cannot_override_the_admins_env_in_a_container(env):
    """Podman: a claim setting VISIBLE_DEVICES=all is refused naming the variable (on main the
    later entry won and the container saw `all`); a harmless claim env reaches the container
    beside the admin's values."""
    p = env.start_plugin(config=_admin_env_config(env))
    env.wait_slices(8)
    env.device_class()
    req = [{"name": "dev", "exactly": {"deviceClassName": env.driver}}]
    env.claim("evil", {"devices": {"requests": req, "config": [
        {"requests": ["dev"], "opaque": _host_config(env.driver, {
            "VISIBLE_DEVICES": "all"})["opaque"]}]}})
    env.pod("e", "echo VD=$VISIBLE_DEVICES MODE=$MOCK_MODE",
            claims=[("g", {"resourceClaimName": "evil"})])
    env.claim("fine", {"devices": {"requests": req, "config": [
        {"opaque": _host_config(env.driver, {"FOO": "bar"})["opaque"]}]}})
    env.pod("f", "echo VD=$VISIBLE_DEVICES MODE=$MOCK_MODE FOO=$FOO; sleep 30",
            claims=[("g", {"resourceClaimName": "fine"})])
    env.wait_pod("f", phases=("Running",))
    out = wait_for(lambda: env.output("f"), timeout=10 * SLOW, what="output of f")
    dev = env.get_claim("fine")["status"]["allocation"]["devices"]["results"][0]["device"]
    assert out.strip() == f"VD={dev.rsplit('-', 1)[1]} MODE=admin FOO=bar"

    def failed():
        ran = env.output("e")
        assert ran is None, f"the claim's env reached the container: {ran!r}"
        return [e for e in env.events("e") if e.get("reason") == "FailedPrepareDynamicResources"]
    ev = wait_for(failed, timeout=20 * SLOW, what="FailedPrepareDynamicResources event")
    assert "VISIBLE_DEVICES" in ev[0]["message"], ev[0]["message"]
    assert env.client.get(f"/api/v1/namespaces/{env.ns}/pods/e")["status"]["phase"] == "Pending"
    assert env.output("e") is None
    uid = env.get_claim("evil")["metadata"]["uid"]
    assert not __import__("os").path.exists(env.spec_path(uid))
    # The kubelet keeps retrying the claim; a retry in flight holds a PrepareStarted entry
    # for a moment. What must never be there is a completed prepare.
    assert uid not in [c["uid"] for c in p.read_checkpoint()["data"]["claims"]
                       if c["state"] == "PrepareCompleted"]


@pytest.mark.parametrize("var,source", [
    ("VISIBLE_DEVICES", "FromClaim"),   # the admin's deviceEdits
    ("MOCK_MODE", "FromClaim"),         # the admin's commonEdits
    ("MOCK_MODE", "FromClass"),
    ("LD_PRELOAD", "FromClaim"),        # loader variables
    ("LD_LIBRARY_PATH", "FromClaim"),
    ("LD_AUDIT", "FromClaim"),
    ("GCONV_PATH", "FromClaim"),
])
def test_claim_env_naming_admin_or_loader_variables_is_refused(env, var, source):
    p = env.start_plugin(config=_admin_env_config(env))
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("c", ["mock-device-1"],
                            config=[_host_config(env.driver, {"OK": "1", var: "/tmp/evil"},
                                                 source)])
    uid = c["metadata"]["uid"]
    ans = p.prepare([env.ref(c)])[uid]
    assert f"'{var}'" in ans.error and "may not set" in ans.error, ans.error
    assert env.cdi_files() == []
    assert p.read_checkpoint()["data"]["claims"] == []


def test_admin_allow_list_restricts_and_can_allow_a_loader_variable(env):
    """claimEnv.allow at the top restricts every group; a group's own list narrows it further;
    a loader variable passes only when named by a pattern (not by `*`)."""
    cfg = _admin_env_config(
        env, top='claimEnv: {allow: ["APP_*", "LD_LIBRARY_PATH", "VISIBLE_*"]}\n',
        group='    claimEnv: {allow: ["APP_*", "LD_LIBRARY_PATH"]}\n')
    p = env.start_plugin(config=cfg)
    env.wait_slices(8)
    env.device_class()
    cases = [({"APP_MODE": "x", "LD_LIBRARY_PATH": "/opt/lib"}, None),
             ({"FOO": "1"}, "'FOO'"),                  # not in the allow list
             ({"VISIBLE_X": "1"}, "'VISIBLE_X'"),      # allowed at the top, not by the group
             ({"VISIBLE_DEVICES": "all"}, "'VISIBLE_DEVICES'")]  # the admin's, always refused
    for i, (vars_, needle) in enumerate(cases):
        c = env.allocated_claim(f"c{i}", [f"mock-device-{i}"],
                                config=[_host_config(env.driver, vars_)])
        uid = c["metadata"]["uid"]
        ans = p.prepare([env.ref(c)])[uid]
        if needle is None:
            assert ans.error == "", ans.error
            import json
            with open(env.spec_path(uid)) as f:
                spec = json.load(f)
            # one device: its claim env is written once, at spec level
            got = (spec["devices"][0]["containerEdits"].get("env", []) +
                   spec.get("containerEdits", {}).get("env", []))
            assert "LD_LIBRARY_PATH=/opt/lib" in got and "APP_MODE=x" in got
            assert f"VISIBLE_DEVICES={i}" in got
            p.unprepare([env.ref(c)])
        else:
            assert needle in ans.error and "may not set" in ans.error, ans.error
    # a star pattern does not open loader variables
    cfg2 = _admin_env_config(env, top='claimEnv: {allow: ["*"]}\n')
    p.stop()
    p2 = env.start_plugin(config=cfg2)
    env.wait_slices(8)
    c = env.allocated_claim("star", ["mock-device-5"],
                            config=[_host_config(env.driver, {"LD_PRELOAD": "/x.so"})])
    ans = p2.prepare([env.ref(c)])[c["metadata"]["uid"]]
    assert "'LD_PRELOAD'" in ans.error, ans.error


# -- defect 4: adminAccess is ignored ----------------------------------------------------------

def _admin_result(env, device):
    return [{"request": "dev", "driver": env.driver, "pool": NODE, "device": device,
             "adminAccess": True}]


def test_admin_access_claims_neither_take_nor_are_blocked_by_a_device(env):
    import json
    import os
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    a = env.allocated_claim("a", ["mock-device-3"])
    assert p.prepare([env.ref(a)])[a["metadata"]["uid"]].error == ""
    # an admin-access claim gets the held device, with the device's edits
    adm = env.allocated_claim("adm", [], results=_admin_result(env, "mock-device-3"))
    auid = adm["metadata"]["uid"]
    ans = p.prepare([env.ref(adm)])[auid]
    assert ans.error == "", ans.error
    assert [d.device_name for d in ans.devices] == ["mock-device-3"]
    with open(env.spec_path(auid)) as f:
        spec = json.load(f)
    edits = spec["devices"][0]["containerEdits"]
    assert [n["path"] for n in edits["deviceNodes"]] == ["/dev/mock/device_3"]
    assert [m["containerPath"] for m in edits["mounts"]] == ["/mock/so/device_3.so"]
    # a normal claim is still refused by the holder, never by the admin claim
    b = env.allocated_claim("b", ["mock-device-3"])
    buid = b["metadata"]["uid"]
    busy = p.prepare([env.ref(b)])[buid]
    assert "in use" in busy.error and a["metadata"]["uid"] in busy.error, busy.error
    assert auid not in busy.error
    # once the holder is gone, the admin claim does not block anyone
    p.unprepare([env.ref(a)])
    assert p.prepare([env.ref(b)])[buid].error == ""
    # ... and the record survives a restart: still no block, still prepared
    p.stop()
    p = env.start_plugin()
    entries = {c["uid"]: c for c in p.read_checkpoint()["data"]["claims"]}
    assert entries[auid]["devices"][0].get("adminAccess") is True
    p.unprepare([env.ref(b)])
    c = env.allocated_claim("c", ["mock-device-3"])
    assert p.prepare([env.ref(c)])[c["metadata"]["uid"]].error == ""
    assert p.prepare([env.ref(adm)])[auid].error == ""
    p.unprepare([env.ref(c), env.ref(adm)])
    assert env.cdi_files() == []
    assert os.path.exists(p.checkpoint)


def test_admin_access_pod_monitors_a_device_another_pod_holds(env):
    """Through the scheduler and podman: with every device held by one pod, a pod whose claim
    asks for adminAccess in a namespace labelled for it runs and sees a device; without the
    label the scheduler refuses it."""
    env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.template("all", claim_spec(env.driver, count=8))
    env.pod("hog", "sleep 60", claims=[("g", {"resourceClaimTemplateName": "all"})])
    env.wait_pod("hog", phases=("Running",))
    adm_spec = {"devices": {"requests": [{"name": "dev", "exactly": {
        "deviceClassName": env.driver, "adminAccess": True}}]}}
    env.claim("mon", adm_spec)
    env.pod("mon", "ls /dev/mock; sleep 30", claims=[("g", {"resourceClaimName": "mon"})])

    def unschedulable():
        return [e for e in env.events("mon") if e.get("reason") == "FailedScheduling"]
    ev = wait_for(unschedulable, timeout=15 * SLOW, what="FailedScheduling without the label")
    assert "admin-access" in ev[-1]["message"], ev[-1]["message"]
    env.client.patch(f"/api/v1/namespaces/{env.ns}", {"metadata": {"labels": {
        "resource.kubernetes.io/admin-access": "true"}}})
    env.wait_pod("mon", phases=("Running",), timeout=60)
    out = wait_for(lambda: env.output("mon"), timeout=10 * SLOW, what="output of mon")
    res = env.get_claim("mon")["status"]["allocation"]["devices"]["results"]
    assert res[0].get("adminAccess") is True
    assert out.split() == ["device_" + res[0]["device"].rsplit("-", 1)[1]]
