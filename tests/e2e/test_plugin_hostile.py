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
