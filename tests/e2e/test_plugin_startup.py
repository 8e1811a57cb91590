# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin start-up against a slow or failing API server (issue 9, defect 10):
the DRA socket is served before the checkpointed claims are checked with the API server; the
check runs in the background, and a claim whose check is pending is unprepared or answered
correctly when the kubelet asks meanwhile."""
import os
import time

from plugin_env import SLOW, env, sim, wait_for  # noqa: F401


def test_startup_serves_before_the_sweep_and_pending_claims_still_work(env):
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    claims = [env.allocated_claim(f"c{i}", [f"mock-device-{i}"]) for i in range(5)]
    for c in claims:
        assert p.prepare([env.ref(c)])[c["metadata"]["uid"]].error == ""
    uids = [c["metadata"]["uid"] for c in claims]
    p.stop()
    # c4 is deleted while the plugin is down: the sweep must unprepare it once it can tell.
    env.client.delete(env.path("resourceclaims", "c4"))
    # Every GET of a claim fails 503 (retried with backoff by the client) until cleared.
    env.api.fail_next(10000, 503, match=r"/resourceclaims/", method="GET")
    try:
        t0 = time.time()
        p.start(wait=False)
        p.wait_started(timeout=20)
        started = time.time() - t0
        # served at once, not after 5 claims x full retries
        assert started < 6 * SLOW, started
        # a pending claim is unprepared when the kubelet asks ...
        un = p.unprepare([env.ref(claims[0])])
        assert un[uids[0]].error == ""
        assert not os.path.exists(env.spec_path(uids[0]))
        # ... and a pending, still-prepared claim is answered from the checkpoint
        ans = p.prepare([env.ref(claims[1])])[uids[1]]
        assert ans.error == "" and [d.device_name for d in ans.devices] == ["mock-device-1"]
        took = time.time() - t0
        assert took < 8 * SLOW, took
        ck = {c["uid"] for c in p.read_checkpoint()["data"]["claims"]}
        assert ck == set(uids[1:]), ck
        # the deleted claim is still held: its check cannot finish while GETs fail
        assert os.path.exists(env.spec_path(uids[4]))
    finally:
        env.api.clear_faults()
    # Once the API server answers, the sweep unprepares the deleted claim and keeps the rest.
    wait_for(lambda: not os.path.exists(env.spec_path(uids[4])), timeout=30 * SLOW,
             what="deleted claim unprepared by the background sweep")
    wait_for(lambda: {c["uid"] for c in p.read_checkpoint()["data"]["claims"]} ==
             set(uids[1:4]), timeout=10 * SLOW, what="checkpoint without the deleted claim")
    for u in uids[1:4]:
        assert os.path.exists(env.spec_path(u))
    assert "sweep" in p.log(since_start=True)
    p.unprepare([env.ref(c) for c in claims[1:4]])
    assert env.cdi_files() == []


def test_stop_during_a_pending_sweep_is_prompt(env):
    """SIGTERM while the sweep is stuck retrying: the plugin still exits 0 within the stop
    timeout (teardown checks the exit code)."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    claims = [env.allocated_claim(f"c{i}", [f"mock-device-{i}"]) for i in range(6)]
    for c in claims:
        assert p.prepare([env.ref(c)])[c["metadata"]["uid"]].error == ""
    p.stop()
    env.api.fail_next(10000, 503, match=r"/resourceclaims/", method="GET")
    try:
        p.start()
        time.sleep(0.5)
        rc, took = p.stop()
        assert rc == 0 and took < 10 * SLOW, (rc, took)
    finally:
        env.api.clear_faults()
    p.start()
    for c in claims:
        p.unprepare([env.ref(c)])
    assert env.cdi_files() == []


def test_sweep_never_puts_an_invalid_checkpointed_name_in_a_url(env):
    """A checkpoint entry with namespace/name '..' (an older plugin did not check them) is kept
    unchecked: the plugin never GETs /apis/resource.k8s.io/v1/ or any other collapsed path."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    c = env.allocated_claim("c", ["mock-device-0"])
    uid = c["metadata"]["uid"]
    assert p.prepare([env.ref(c)])[uid].error == ""
    p.stop()
    doc = p.read_checkpoint()
    for e in doc["data"]["claims"]:
        e["namespace"], e["name"] = "..", ".."
    p.write_checkpoint(doc)
    env.api.clear_request_log()
    p.start()
    wait_for(lambda: "invalid namespace or name" in p.log(since_start=True), timeout=10 * SLOW,
             what="sweep skipping the entry")
    bad = [e for e in env.api.request_log()
           if (e.get("userAgent") or "").startswith("hostdev-kubelet-plugin/")
           and (e["path"].endswith("/") or ".." in e["path"])]
    assert bad == [], [e["path"] for e in bad]
    assert os.path.exists(env.spec_path(uid))
    assert p.unprepare([(env.ns, "c", uid)])[uid].error == ""
    assert env.cdi_files() == []
