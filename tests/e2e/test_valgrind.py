"""Valgrind-clean shutdown: the gRPC test server and the real plugin (serving a pod on the
simulated cluster) are stopped with SIGTERM under valgrind and must exit 0 with no invalid
accesses and nothing definitely or indirectly lost. Normal build only (ASan and valgrind do
not mix)."""
import os
import re
import shutil
import signal
import subprocess

import grpc
import pytest

from conftest import SANITIZED, find_binary, require_tool
from plugin_env import Plugin, claim_spec, env, sim  # noqa: F401 (fixtures)

# Allow-listed in scripts/test.sh: true on every machine for the sanitized build.
pytestmark = pytest.mark.skipif(SANITIZED, reason="valgrind runs on the normal build only")


@pytest.fixture(autouse=True)
def _valgrind_here():
    require_tool("valgrind", "valgrind")

VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--track-fds=no", "--num-callers=30",
            # no gdbserver: its /tmp/vgdb-pipe-* files outlive a valgrind that is killed
            "--vgdb=no"]


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


class ValgrindPlugin(Plugin):
    """The plugin of plugin_env, started under valgrind."""

    def argv(self):
        return VALGRIND + super().argv()


def test_plugin_shutdown_is_clean(env):
    p = ValgrindPlugin(env, env.config, env.driver)
    env.plugins.append(p)
    p.start(wait=False)
    p.wait_started(timeout=90)
    env.kubelet.wait_registered(env.driver, timeout=90)
    env.device_class()
    env.template("two", claim_spec(env.driver, count=2))
    env.pod("p", "ls /dev/mock", claims=[("g", {"resourceClaimTemplateName": "two"})])
    st = env.wait_pod("p", timeout=120)
    assert st["status"]["phase"] == "Succeeded", env.output("p")
    assert len(env.output("p").split()) == 2, env.output("p")
    env.delete_pod("p")
    rc, _ = p.stop(timeout=120)
    check_report(p.log(since_start=True), rc)
