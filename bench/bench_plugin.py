#!/usr/bin/python3
"""Benchmark of hostdev-kubelet-plugin on the simulated API server: start-up time, prepare and
unprepare latency for one claim at a time and for 8 claims prepared concurrently (8 kubelet pod
workers at once), and the daemon's memory. Prints a table; asserts nothing about speed.

  /usr/bin/python3 bench/bench_plugin.py --build-dir build [--claims 64]

Each claim allocates one of the node's mock devices and is fetched from the (Python) API server
simulator on every prepare, so absolute numbers include the simulator's HTTP latency; compare
the 1-at-a-time and concurrent columns, and see the 'api GET' row for that share.
"""
import argparse
import concurrent.futures
import os
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))

import grpc  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from hdproto import protos  # noqa: E402

NODE = "bench-node"


def rss_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def row(name, ms):
    print("%-34s %8.2f %8.2f %8.2f %6d" % (name, statistics.median(ms), pct(ms, 95), max(ms),
                                          len(ms)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--claims", type=int, default=64)
    args = ap.parse_args()
    n = args.claims - args.claims % 8
    work = tempfile.mkdtemp(prefix="hdb-", dir="/tmp")
    driver = "bench%s.example.com" % os.urandom(3).hex()
    # On a node /var/run (and so /var/run/cdi) is a tmpfs; the checkpoint lives on disk under
    # /var/lib/kubelet. Mirror that: CDI root on /dev/shm, everything else under /tmp.
    cdi = tempfile.mkdtemp(prefix="hdb-cdi-", dir="/dev/shm")
    os.makedirs(os.path.join(work, "dev"))
    for i in range(n):
        os.mknod(os.path.join(work, "dev", "d%03d" % i), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    cfg = os.path.join(work, "devices.yaml")
    with open(cfg, "w") as f:
        f.write("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                "  - name: gpu\n    match: {globs: [\"%s/dev/d*\"]}\n"
                "    deviceName: \"dev-{1}\"\n    containerPath: \"/dev/mock/{name}\"\n"
                "    attributes: {index: {int: \"{1}\"}}\n" % work)
    api = ApiServer(os.path.join(work, "api"), log_path=os.path.join(work, "api.log"))
    api.start()
    proc = None
    try:
        from kclient import KubeClient
        client = KubeClient.from_kubeconfig(api.kubeconfig_path)
        client.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": NODE}})
        claims = []
        for i in range(n):
            uid_name = "c%03d" % i
            obj = client.create("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims", {
                "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                "metadata": {"name": uid_name, "namespace": "default"},
                "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                    "deviceClassName": "x"}}]}}})
            client.patch("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/%s/status"
                         % uid_name, {"status": {"allocation": {"devices": {"results": [{
                             "request": "gpu", "driver": driver, "pool": NODE,
                             "device": "dev-%03d" % i}]}}}})
            claims.append((uid_name, obj["metadata"]["uid"]))

        t0 = time.monotonic()
        log = open(os.path.join(work, "plugin.log"), "w")
        # No kubelet here (no registry dir yet): auto mode would choose device-plugin.
        proc = subprocess.Popen(
            [os.path.join(os.path.abspath(args.build_dir), "cmd", "hostdev-kubelet-plugin"),
             "--config", cfg, "--driver-name", driver, "--node-name", NODE,
             "--kubeconfig", api.kubeconfig_path, "--kubelet-registry-dir",
             os.path.join(work, "reg"), "--kubelet-plugins-dir", os.path.join(work, "plugins"),
             "--cdi-root", cdi, "--mode", "dra"], stdout=log, stderr=log)
        reg = os.path.join(work, "reg", driver + "-reg.sock")
        while not os.path.exists(reg):
            time.sleep(0.002)
            assert proc.poll() is None, open(os.path.join(work, "plugin.log")).read()
        startup_ms = (time.monotonic() - t0) * 1000
        mem_start = rss_kib(proc.pid)

        p = protos()
        ch = grpc.insecure_channel("unix:" + os.path.join(work, "plugins", driver, "dra.sock"))
        stub = p.dra_v1_pb2_grpc.DRAPluginStub(ch)

        def prepare(c):
            t = time.monotonic()
            r = stub.NodePrepareResources(p.dra_v1_pb2.NodePrepareResourcesRequest(claims=[
                p.dra_v1_pb2.Claim(namespace="default", name=c[0], uid=c[1])]), timeout=30)
            assert r.claims[c[1]].error == "", r.claims[c[1]].error
            return (time.monotonic() - t) * 1000

        def unprepare(c):
            t = time.monotonic()
            r = stub.NodeUnprepareResources(p.dra_v1_pb2.NodeUnprepareResourcesRequest(claims=[
                p.dra_v1_pb2.Claim(namespace="default", name=c[0], uid=c[1])]), timeout=30)
            assert r.claims[c[1]].error == ""
            return (time.monotonic() - t) * 1000

        def api_get(c):
            t = time.monotonic()
            client.get("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/" + c[0])
            return (time.monotonic() - t) * 1000

        prepare(claims[0]), unprepare(claims[0])  # warm up connections
        seq_prep = [prepare(c) for c in claims]
        again = [prepare(c) for c in claims[:8]]  # already prepared: idempotent path
        mem_prepared = rss_kib(proc.pid)
        seq_unprep = [unprepare(c) for c in claims]
        api_ms = [api_get(c) for c in claims[:16]]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            conc_prep, conc_unprep = [], []
            for k in range(0, n, 8):
                conc_prep += list(pool.map(prepare, claims[k:k + 8]))
            for k in range(0, n, 8):
                conc_unprep += list(pool.map(unprepare, claims[k:k + 8]))
        ch.close()

        print("hostdev-kubelet-plugin benchmark (%d claims, one device each; simulated API "
              "server; CDI root on tmpfs, checkpoint on disk)" % n)
        print("%-34s %8s %8s %8s %6s" % ("operation (ms)", "p50", "p95", "max", "n"))
        row("prepare, one claim at a time", seq_prep)
        row("prepare, 8 claims concurrently", conc_prep)
        row("prepare again (already prepared)", again)
        row("unprepare, one at a time", seq_unprep)
        row("unprepare, 8 concurrently", conc_unprep)
        row("api GET claim (python client)", api_ms)
        print("start-up to registration socket: %.1f ms" % startup_ms)
        print("memory after start: RSS %d KiB; after %d prepared claims: RSS %d KiB, peak %d KiB"
              % (mem_start["VmRSS"], n, mem_prepared["VmRSS"], mem_prepared["VmHWM"]))
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        api.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(cdi, ignore_errors=True)


if __name__ == "__main__":
    main()
