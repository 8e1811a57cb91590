"""Valgrind-clean shutdown: the gRPC test server and the real plugin (serving a pod on the
simulated cluster) are stopped with SIGTERM under valgrind and must exit 0 with no invalid
accesses and nothing definitely or indirectly lost. Normal build only (ASan and valgrind do
not mix)."""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

from conftest import SANITIZED, SOURCE_DIR, find_binary

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "sim"))

pytestmark = [pytest.mark.skipif(SANITIZED, reason="valgrind runs on the normal build only"),
              pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind not installed")]

VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--track-fds=no", "--num-callers=30"]


def check_report(text, rc):
    assert rc == 0, "exit %d\n%s" % (rc, text[-6000:])
    assert re.search(r"ERROR SUMMARY: 0 errors", text), text[-6000:]
    for kind in ("definitely", "indirectly"):
        m = re.search(kind + r" lost: ([\d,]+) bytes", text)
        assert m is None or m.group(1) == "0", text[-6000:]


def test_rpc_server_shutdown_is_clean(short_tmp, protos):
    sock = os.path.join(short_tmp, "s", "dra.sock")
    log = os.path.join(short_tmp, "vg.log")
    with open(log, "w") as f:
        proc = subprocess.Popen(VALGRIND + [find_binary("rpc-test-server"), "--socket", sock],
                                stdout=subprocess.PIPE, stderr=f)
    assert proc.stdout.readline().strip() == b"READY"
    ch = grpc.insecure_channel("unix:" + sock)
    pb = protos.dra_v1_pb2
    stub = protos.dra_v1_pb2_grpc.DRAPluginStub(ch)
    for i in range(4):
        stub.NodePrepareResources(pb.NodePrepareResourcesRequest(claims=[
            pb.Claim(namespace="n", uid="u%d" % i, name="fail" if i % 2 else "x")]), timeout=30)
    with pytest.raises(grpc.RpcError):
        ch.unary_unary("/nope.X/Y")(b"\xff", timeout=30)
    hs = protos.dra_health_v1alpha1_pb2_grpc.DRAResourceHealthStub(ch).NodeWatchResources(
        protos.dra_health_v1alpha1_pb2.NodeWatchResourcesRequest())
    next(hs)  # a stream left open at shutdown
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(120)
    ch.close()
    check_report(open(log).read(), rc)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for mknod and podman")
def test_plugin_shutdown_is_clean():
    from cluster import SimCluster
    from kubelet_testutil import claim_spec, claim_template, device_class, pod, wait_for
    work = tempfile.mkdtemp(prefix="hdvg-", dir="/tmp")
    driver = "vg%s.example.com" % os.urandom(3).hex()
    c = SimCluster(os.path.join(work, "c"), nodes=("node-a",), device_plugins=False).start()
    proc = None
    log = os.path.join(work, "vg.log")
    try:
        os.makedirs(os.path.join(work, "dev"))
        for i in range(3):
            os.mknod(os.path.join(work, "dev", "d%d" % i), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        cfg = os.path.join(work, "devices.yaml")
        with open(cfg, "w") as f:
            f.write("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                    "  - name: gpu\n    match: {globs: [\"%s/dev/d*\"]}\n"
                    "    containerPath: \"/dev/mock/{name}\"\n" % work)
        d = c.dirs("node-a")
        with open(log, "w") as f:
            proc = subprocess.Popen(VALGRIND + [
                find_binary("hostdev-kubelet-plugin"), "--config", cfg, "--driver-name", driver,
                "--node-name", "node-a", "--kubeconfig", c.kubeconfig,
                "--kubelet-registry-dir", d["registry"], "--kubelet-plugins-dir", d["plugins"],
                "--cdi-root", "/var/run/cdi", "--metrics-addr", "127.0.0.1:0"],
                stdout=f, stderr=f)
        c.kubelets["node-a"].wait_registered(driver, timeout=90)
        c.client.create("/apis/resource.k8s.io/v1/deviceclasses", device_class("vg", driver))
        c.client.create("/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates",
                        claim_template("two", claim_spec("vg", count=2)))
        c.client.create("/api/v1/namespaces/default/pods",
                        pod("p", "ls /dev/mock", claims=[("g", {"resourceClaimTemplateName": "two"})]))
        wait_for(lambda: c.client.get("/api/v1/namespaces/default/pods/p")["status"].get("phase")
                 == "Succeeded", timeout=120, what="pod to succeed")
        out = c.kubelets["node-a"].container_output("default", "p", "ctr")["stdout"]
        assert len(out.split()) == 2, out
        c.client.delete("/api/v1/namespaces/default/pods/p")
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(120)
        proc = None
        check_report(open(log).read(), rc)
    finally:
        if proc:
            proc.kill()
            proc.wait()
        c.stop()
        for f in os.listdir("/var/run/cdi") if os.path.isdir("/var/run/cdi") else []:
            if driver in f:
                os.unlink(os.path.join("/var/run/cdi", f))
        shutil.rmtree(work, ignore_errors=True)
