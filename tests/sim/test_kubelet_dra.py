"""Kubelet simulator with the tiny Python DRA plugin: registration, version choice, prepare ->
real podman container seeing the CDI device, unprepare, events, slice wiping."""

import os
import signal
import sys
import time

import pytest

from cluster import SimCluster
from kubelet_testutil import (cdi_files, claim, claim_spec, claim_template, device_class, pod,
                              pod_events, remove_cdi_files, start_dra_plugin, unique_driver,
                              wait_for)

NODE = "node-a"


def _cluster(workdir, **kw):
    kw.setdefault("wipe_delay", 2.0)
    kw.setdefault("health_retry", 0.5)
    kw.setdefault("prepare_retry", 0.5)
    kw.setdefault("device_plugins", False)
    return SimCluster(workdir, nodes=(NODE,), **kw)


@pytest.fixture
def env(request, short_workdir):
    wd = short_workdir
    c = _cluster(wd, **getattr(request, "param", {})).start()
    drivers, plugins = [], []

    class Env:
        cluster = c
        client = c.client
        kubelet = c.kubelets[NODE]

        def plugin(self, driver=None, **kw):
            driver = driver or unique_driver()
            drivers.append(driver)
            p = start_dra_plugin(c, NODE, driver, **kw)
            plugins.append(p)
            return driver, p
    yield Env()
    for p in plugins:
        p.stop()
    c.stop()
    for d in drivers:
        remove_cdi_files(d)
    c.dump_logs(sys.stdout)
    for p in plugins:
        sys.stdout.write(f"===== plugin {p.argv[3]} =====\n{p.log()}\n")


def slices_of(client, driver):
    return [s for s in client.list("/apis/resource.k8s.io/v1/resourceslices")["items"]
            if s["spec"]["driver"] == driver]


def setup_class_and_template(client, driver, tmpl="one-dev"):
    client.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(driver, driver))
    client.create("/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates",
                  claim_template(tmpl, claim_spec(driver)))


def test_register_prepare_run_container_and_unprepare(env):
    driver, plugin = env.plugin(devices=[("d0", "/dev/null"), ("d1", "/dev/zero")])
    p = env.kubelet.wait_registered(driver, 5)
    assert p.version == "v1"
    assert plugin.calls("NotifyRegistrationStatus")[0]["registered"] is True
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    setup_class_and_template(env.client, driver)
    env.client.create("/api/v1/namespaces/default/pods", pod(
        "p1", "ls -l /dev/hostdev/; env | grep HOSTDEV_ | sort; cat /dev/hostdev/d0 && echo read-ok",
        claims=[("dev", {"resourceClaimTemplateName": "one-dev"})]))
    done = env.kubelet.wait_pod_phase("default", "p1", timeout=30)
    out = env.kubelet.container_output("default", "p1", "ctr")
    assert done["status"]["phase"] == "Succeeded", out
    assert out["exit_code"] == 0
    # d0 = /dev/null (1,3) was allocated first; the container sees it as a char device
    assert "1,   3" in out["stdout"] and "d0" in out["stdout"], out
    assert "HOSTDEV_DEVICE_D0=/dev/hostdev/d0" in out["stdout"]
    assert "read-ok" in out["stdout"]
    # pod status and generated claim like the real components
    st = done["status"]
    cs = st["containerStatuses"][0]
    assert cs["state"]["terminated"]["exitCode"] == 0
    assert {c["type"] for c in st["conditions"]} == {
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}
    rcs = st["resourceClaimStatuses"]
    assert rcs[0]["name"] == "dev" and rcs[0]["resourceClaimName"].startswith("p1-dev-")
    assert len(rcs[0]["resourceClaimName"]) == len("p1-dev-") + 5
    prep = plugin.calls("NodePrepareResources")
    assert len(prep) == 1 and prep[0]["version"] == "v1"
    assert prep[0]["claims"][0][1] == rcs[0]["resourceClaimName"]
    # the pod finished: its claim is unprepared, the CDI spec removed, the claim cleaned up
    wait_for(lambda: plugin.calls("NodeUnprepareResources"), what="unprepare")
    wait_for(lambda: not cdi_files(driver), what="CDI spec removed")
    evs = {e["reason"] for e in pod_events(env.client, "p1")}
    assert "Scheduled" in evs


def test_unprepare_on_pod_delete_shared_claim(env):
    driver, plugin = env.plugin()
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    env.client.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(driver, driver))
    env.client.create("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims",
                      claim("shared", claim_spec(driver)))
    for n in ("s1", "s2"):
        env.client.create("/api/v1/namespaces/default/pods", pod(
            n, "test -c /dev/hostdev/d0 && echo up; sleep 3600",
            claims=[("dev", {"resourceClaimName": "shared"})]))
    for n in ("s1", "s2"):
        env.kubelet.wait_pod_phase("default", n, phases=("Running",), timeout=30)
        wait_for(lambda: "up" in (env.kubelet.container_output("default", n, "ctr") or {}).get("stdout", ""),
                 what=f"{n} output")
    c = env.client.get("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/shared")
    assert sorted(r["name"] for r in c["status"]["reservedFor"]) == ["s1", "s2"]
    # shared claim prepared once
    assert len(plugin.calls("NodePrepareResources")) == 1
    assert len(cdi_files(driver)) == 1
    env.client.delete("/api/v1/namespaces/default/pods/s1")
    time.sleep(1.5)
    assert not plugin.calls("NodeUnprepareResources"), "claim still used by s2"
    env.client.delete("/api/v1/namespaces/default/pods/s2")
    wait_for(lambda: plugin.calls("NodeUnprepareResources"), what="unprepare", timeout=15)
    assert plugin.calls("NodeUnprepareResources")[0]["claims"][0][1] == "shared"
    wait_for(lambda: not cdi_files(driver), what="CDI spec removed")
    # the claim controller deallocates it once no pod is left
    wait_for(lambda: not (env.client.get(
        "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/shared").get("status") or {}
    ).get("allocation"), what="deallocation")


def test_prepare_error_event_and_retry(env):
    driver, plugin = env.plugin(extra=["--fail-prepare", "injected failure"])
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    setup_class_and_template(env.client, driver)
    env.client.create("/api/v1/namespaces/default/pods", pod(
        "bad", "true", claims=[("dev", {"resourceClaimTemplateName": "one-dev"})]))

    def ev():
        for e in pod_events(env.client, "bad"):
            if e["reason"] == "FailedPrepareDynamicResources" and (e.get("count") or 1) >= 2:
                return e
    e = wait_for(ev, timeout=20, what="repeated FailedPrepareDynamicResources event")
    assert e["type"] == "Warning"
    assert "injected failure" in e["message"]
    assert e["message"].startswith("Failed to prepare dynamic resources: ")
    assert e["source"]["component"] == "kubelet"
    assert len(plugin.calls("NodePrepareResources")) >= 2
    assert env.client.get("/api/v1/namespaces/default/pods/bad")["status"]["phase"] == "Pending"


def test_driver_not_registered_event(env):
    driver = unique_driver()
    env.client.create("/apis/resource.k8s.io/v1/resourceslices", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": "orphan"},
        "spec": {"driver": driver, "nodeName": NODE, "devices": [{"name": "x0"}],
                 "pool": {"name": NODE, "generation": 1, "resourceSliceCount": 1}}})
    setup_class_and_template(env.client, driver)
    env.client.create("/api/v1/namespaces/default/pods", pod(
        "orph", "true", claims=[("dev", {"resourceClaimTemplateName": "one-dev"})]))
    e = wait_for(lambda: [x for x in pod_events(env.client, "orph")
                          if x["reason"] == "FailedPrepareDynamicResources"], what="event")[0]
    assert e["message"] == ("Failed to prepare dynamic resources: prepare dynamic resources: "
                            f"DRA driver {driver} is not registered")
    # same shape as the real kubelet's event (07-events-pod2-plugin-stopped-corev1.http)
    from sim_capture import Capture
    ref = [x for x in Capture("07-events-pod2-plugin-stopped-corev1.http").response["items"]
           if x["reason"] == "FailedPrepareDynamicResources"][0]
    assert set(e) - {"kind", "apiVersion"} == set(ref)
    assert set(e["involvedObject"]) == set(ref["involvedObject"])
    assert set(e["source"]) == set(ref["source"]) and e["source"]["host"] == NODE
    assert e["reportingComponent"] == "kubelet" and e["reportingInstance"] == NODE


@pytest.mark.parametrize("env", [{"kubelet_version": "1.32"}], indirect=True)
def test_version_choice_1_32_prefers_v1beta1(env):
    driver, plugin = env.plugin()
    p = env.kubelet.wait_registered(driver, 5)
    assert p.version == "v1beta1"
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    setup_class_and_template(env.client, driver)
    env.client.create("/api/v1/namespaces/default/pods", pod(
        "old", "test -c /dev/hostdev/d0", claims=[("dev", {"resourceClaimTemplateName": "one-dev"})]))
    assert env.kubelet.wait_pod_phase("default", "old", timeout=30)["status"]["phase"] == "Succeeded"
    assert plugin.calls("NodePrepareResources")[0]["version"] == "v1beta1"


def test_version_choice_1_34_first_supported_and_rejection(env):
    # v1beta1 listed first -> 1.34+ takes the first entry it knows
    d1, p1 = env.plugin(extra=["--versions", "v1beta1.DRAPlugin,v1.DRAPlugin"])
    assert env.kubelet.wait_registered(d1, 5).version == "v1beta1"
    # nothing the kubelet knows -> NotifyRegistrationStatus(false, "none of services ...")
    d2, p2 = env.plugin(extra=["--versions", "v1alpha3.NodeService"])
    st = wait_for(lambda: p2.calls("NotifyRegistrationStatus"), what="registration status")[0]
    assert st["registered"] is False
    assert "none of services supported" in st["error"]
    assert d2 not in env.kubelet.registered_drivers()


def test_reregister_on_mtime_change_and_health_stream(env):
    driver, plugin = env.plugin()
    p = env.kubelet.wait_registered(driver, 5)
    # the plugin serves no DRAResourceHealth: the kubelet retries (0.5 s in this test)
    wait_for(lambda: env.kubelet.health_unimplemented.get(driver, 0) >= 2, what="health retries")
    reg = p.reg_path
    st = os.stat(reg)
    os.utime(reg, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    wait_for(lambda: len(plugin.calls("GetInfo")) >= 2, what="re-registration")
    p2 = env.kubelet.wait_registered(driver, 5)
    assert p2 is not p
    # dot-files are ignored
    import socket
    s = socket.socket(socket.AF_UNIX)
    dot = os.path.join(os.path.dirname(reg), ".hidden.sock")
    s.bind(dot)
    try:
        time.sleep(0.4)
        assert all(not e[1].endswith(".hidden.sock") for e in env.kubelet.registration_log)
    finally:
        s.close()
        os.unlink(dot)


def test_health_stream_in_pod_status(env):
    driver, plugin = env.plugin(extra=["--health", "--versions",
                                       "v1.DRAPlugin,v1beta1.DRAPlugin,v1alpha1.DRAResourceHealth"])
    env.kubelet.wait_registered(driver, 5)
    h = wait_for(lambda: env.kubelet.health.get(driver), what="health message")
    assert h[0]["device"] == "d0" and h[0]["health"] == "HEALTHY"
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    setup_class_and_template(env.client, driver)
    env.client.create("/api/v1/namespaces/default/pods", pod(
        "h", "sleep 3600", claims=[("dev", {"resourceClaimTemplateName": "one-dev"})]))
    env.kubelet.wait_pod_phase("default", "h", phases=("Running",), timeout=30)
    uid = env.kubelet.worker("default", "h").claim_uids["dev"]

    def ars():
        st = env.client.get("/api/v1/namespaces/default/pods/h")["status"]
        return st["containerStatuses"][0].get("allocatedResourcesStatus")
    want = [{"name": "claim:dev", "resources": [
        {"resourceID": f"k8s.{driver}/claim={uid}-d0", "health": "Healthy"}]}]
    wait_for(lambda: ars() == want, what="Healthy in pod status")
    plugin.send_signal(signal.SIGUSR1)
    want[0]["resources"][0]["health"] = "Unhealthy"
    wait_for(lambda: ars() == want, what="Unhealthy in pod status")


def test_slices_wiped_at_start_and_after_plugin_gone(env):
    client = env.client
    driver, plugin = env.plugin()
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(client, driver), what="slice")
    other = client.create("/apis/resource.k8s.io/v1/resourceslices", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": "other-node-slice"},
        "spec": {"driver": driver, "nodeName": "node-z", "devices": [],
                 "pool": {"name": "node-z", "generation": 1, "resourceSliceCount": 1}}})
    # kubelet restart: every slice of its node goes, other nodes' stay; the plugin re-registers
    env.kubelet.restart()
    wait_for(lambda: [s["metadata"]["name"] for s in slices_of(client, driver)] == ["other-node-slice"],
             timeout=5, what="node slices wiped at kubelet start")
    env.kubelet.wait_registered(driver, 5)
    # republish, then stop the plugin: slices stay for wipe_delay (2 s here, 30 s real), then go
    client.create("/apis/resource.k8s.io/v1/resourceslices", {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": "republished"},
        "spec": {"driver": driver, "nodeName": NODE, "devices": [],
                 "pool": {"name": NODE, "generation": 2, "resourceSliceCount": 1}}})
    # The kubelet can notice the plugin is gone only after it stops, so the wipe comes at
    # least the wipe delay (2 s here) after this point, however late the test sees it.
    t0 = time.time()
    plugin.stop()
    wait_for(lambda: not env.kubelet.registered_drivers().get(driver), what="deregistration")
    time.sleep(max(0.0, t0 + 1.0 - time.time()))
    assert "republished" in [s["metadata"]["name"] for s in slices_of(client, driver)]
    wait_for(lambda: [s["metadata"]["name"] for s in slices_of(client, driver)] == ["other-node-slice"],
             timeout=6, what="driver slices wiped after wipe delay")
    assert time.time() - t0 >= 1.5
    assert client.get("/apis/resource.k8s.io/v1/resourceslices/other-node-slice")["metadata"]["uid"] \
        == other["metadata"]["uid"]


# A wipe delay long enough for a Python plugin to start again on a loaded machine (it took
# 2.1 s once, past the 2 s default here, and the slices were wiped before it returned).
@pytest.mark.parametrize("env", [{"wipe_delay": 6.0}], indirect=True)
def test_plugin_returns_before_wipe_keeps_slices(env):
    client = env.client
    driver, plugin = env.plugin()
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(client, driver), what="slice")
    n = len(slices_of(client, driver))
    plugin.stop()
    wait_for(lambda: not env.kubelet.registered_drivers().get(driver), what="deregistration")
    gone = time.monotonic()
    _, plugin2 = env.plugin(driver=driver, extra=["--no-publish"])
    env.kubelet.wait_registered(driver, 10)
    back = time.monotonic() - gone
    assert back < 5.5, f"the plugin took {back:.1f} s to return, not within the 6 s wipe delay"
    time.sleep(max(0.0, gone + 6.5 - time.monotonic()))  # past the wipe deadline
    assert len(slices_of(client, driver)) == n


def test_unprepare_retried_until_success(env):
    driver, plugin = env.plugin(extra=["--fail-unprepare-times", "2"])
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    setup_class_and_template(env.client, driver)
    env.client.create("/api/v1/namespaces/default/pods", pod(
        "r", "sleep 3600", claims=[("dev", {"resourceClaimTemplateName": "one-dev"})]))
    env.kubelet.wait_pod_phase("default", "r", phases=("Running",), timeout=30)
    w = env.kubelet.worker("default", "r")
    assert w.cdi_ids["ctr"] == [f"k8s.{driver}/claim={w.claim_uids['dev']}-d0"]
    env.client.delete("/api/v1/namespaces/default/pods/r")
    wait_for(lambda: len(plugin.calls("NodeUnprepareResources")) >= 3, timeout=15,
             what="three unprepare attempts")
    # the pod object goes away only after the successful unprepare
    wait_for(lambda: env.client.request("GET", "/api/v1/namespaces/default/pods/r")[0] == 404,
             what="pod deleted")
    assert not cdi_files(driver)
    assert not env.kubelet.prepared_claims()
    evs = {e["reason"] for e in pod_events(env.client, "r")}
    assert {"Created", "Started", "Killing"} <= evs


def test_killed_plugin_connection_drop_wipes_slices(env):
    client = env.client
    driver, plugin = env.plugin()
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(client, driver), what="slice")
    plugin.stop(sig=signal.SIGKILL)   # sockets stay behind, nobody listens
    wait_for(lambda: not env.kubelet.plugin_for(driver).connected, what="connection drop")
    wait_for(lambda: not slices_of(client, driver), timeout=6, what="slices wiped")
    # a new instance replaces the stale sockets and registers again
    _, plugin2 = env.plugin(driver=driver)
    wait_for(lambda: (env.kubelet.plugin_for(driver) or None) and
                 env.kubelet.plugin_for(driver).connected and env.kubelet.plugin_for(driver),
                 what="re-registered")
    assert plugin2.calls("NotifyRegistrationStatus")[-1]["registered"] is True


def test_cdi_ids_per_container_follow_claim_requests(env):
    driver, plugin = env.plugin(devices=[("d0", "/dev/null"), ("d1", "/dev/zero")])
    env.kubelet.wait_registered(driver, 5)
    wait_for(lambda: slices_of(env.client, driver), what="slice")
    env.client.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(driver, driver))
    spec = {"devices": {"requests": [
        {"name": "first", "exactly": {"deviceClassName": driver, "selectors": [{"cel": {
            "expression": f'device.attributes["{driver}"].index == 0'}}]}},
        {"name": "second", "exactly": {"deviceClassName": driver, "selectors": [{"cel": {
            "expression": f'device.attributes["{driver}"].index == 1'}}]}}]}}
    env.client.create("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims", claim("two", spec))
    body = pod("multi", "ls /dev/hostdev/", claims=[("devs", {"resourceClaimName": "two"})],
               ctr_claims=[{"name": "devs", "request": "second"}])
    c2 = dict(body["spec"]["containers"][0], name="all",
              resources={"claims": [{"name": "devs"}]})
    c3 = dict(body["spec"]["containers"][0], name="none", resources={},
              command=["/bin/sh", "-c", "ls /dev/hostdev 2>&1 || true"])
    body["spec"]["containers"] += [c2, c3]
    env.client.create("/api/v1/namespaces/default/pods", body)
    assert env.kubelet.wait_pod_phase("default", "multi", timeout=30)["status"]["phase"] == "Succeeded"
    out = {n: env.kubelet.container_output("default", "multi", n)["stdout"].split()
           for n in ("ctr", "all", "none")}
    assert out["ctr"] == ["d1"]
    assert out["all"] == ["d0", "d1"]
    assert "d0" not in out["none"] and "d1" not in out["none"]
    w = env.kubelet.worker("default", "multi")
    uid = w.claim_uids["devs"]
    assert w.cdi_ids["ctr"] == [f"k8s.{driver}/claim={uid}-d1"]
    assert w.cdi_ids["all"] == [f"k8s.{driver}/claim={uid}-d0", f"k8s.{driver}/claim={uid}-d1"]
    assert w.cdi_ids["none"] == []


@pytest.mark.parametrize("env", [{"health": "advertised", "kubelet_version": "1.33"}], indirect=True)
def test_subdirectory_socket_and_advertised_health_only(env):
    sub = os.path.join(env.cluster.dirs(NODE)["registry"], "sub", "dir")
    driver, plugin = env.plugin(extra=["--registry-dir", sub,
                                       "--versions", "v1.DRAPlugin,v1beta1.DRAPlugin"])
    p = env.kubelet.wait_registered(driver, 5)
    assert p.reg_path.startswith(sub) and p.version == "v1beta1"
    time.sleep(1.0)
    # not advertised -> the kubelet does not open the health stream
    assert not plugin.calls("NodeWatchResources")
    assert env.kubelet.health_unimplemented.get(driver, 0) == 0
