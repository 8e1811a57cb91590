#!/usr/bin/python3
"""Benchmark of hostdev-kubelet-plugin --mode device-plugin: Allocate latency for 1 and 8
devices (grpcio straight on the plugin's socket, goal p99 <= 1 ms), the ListAndWatch latency
after a health change (a device node removed / put back) and the re-registration time after a
kubelet restart (every socket in the dir deleted, kubelet.sock created anew). Each figure is
measured in several runs and printed as min / median / max over the runs; the plugin's own
Allocate histogram (/metrics) is printed too. Asserts nothing about speed.

  /usr/bin/python3 bench/bench_dp.py --build-dir build [--runs 5] [--iters 500]

A small fake kubelet stands in for the real one: it serves Registration/Register on
kubelet.sock and opens ListAndWatch on each registered endpoint. The API server simulator is
there only because the plugin talks to one at start.
"""
import argparse
import concurrent.futures
import os
import queue
import re
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))

import grpc  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from hdproto import protos  # noqa: E402

NODE = "bench-node"
NDEV = 8


class FakeKubelet:
    """Registration server on <dir>/kubelet.sock; on Register, a ListAndWatch consumer whose
    messages go to .updates as (monotonic time, {id: health})."""

    def __init__(self, directory):
        self.dir = directory
        self.sock = os.path.join(directory, "kubelet.sock")
        self.p = protos()
        self.registered = queue.Queue()
        self.updates = queue.Queue()
        self.server = None
        self.calls = []

    def start(self):
        pb, pbg = self.p.deviceplugin_v1beta1_pb2, self.p.deviceplugin_v1beta1_pb2_grpc
        kubelet = self

        class Reg(pbg.RegistrationServicer):
            def Register(self, req, ctx):
                kubelet.registered.put((time.monotonic(), req.resource_name, req.endpoint))
                threading.Thread(target=kubelet._watch, args=(req.endpoint,), daemon=True).start()
                return pb.Empty()
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
        pbg.add_RegistrationServicer_to_server(Reg(), self.server)
        self.server.add_insecure_port("unix://" + self.sock)
        self.server.start()
        return time.monotonic()

    def _watch(self, endpoint):
        pb, pbg = self.p.deviceplugin_v1beta1_pb2, self.p.deviceplugin_v1beta1_pb2_grpc
        ch = grpc.insecure_channel("unix://" + os.path.join(self.dir, endpoint))
        call = pbg.DevicePluginStub(ch).ListAndWatch(pb.Empty())
        self.calls.append(call)
        try:
            for resp in call:
                self.updates.put((time.monotonic(), {d.ID: d.health for d in resp.devices}))
        except grpc.RpcError:
            pass

    def stop(self):
        for c in self.calls:
            c.cancel()
        self.calls = []
        if self.server:
            self.server.stop(0)
            self.server = None

    def restart(self):
        """Like a new kubelet: every socket in the dir deleted, then kubelet.sock created.
        Returns the time kubelet.sock was serving."""
        self.stop()
        for f in os.listdir(self.dir):
            path = os.path.join(self.dir, f)
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        while not self.registered.empty():
            self.registered.get()
        return self.start()


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def summary(name, values, unit="ms"):
    print("%-44s %9.3f %9.3f %9.3f  %s (%d runs)" % (name, min(values), statistics.median(values),
                                                      max(values), unit, len(values)))


def wait_update(kubelet, pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            t, devs = kubelet.updates.get(timeout=0.05)
        except queue.Empty:
            continue
        if pred(devs):
            return t
    raise TimeoutError("no ListAndWatch update")


def start_plugin(args, work, api, cdi):
    dp_dir = os.path.join(work, "device-plugins")
    log_path = os.path.join(work, "plugin.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [os.path.join(os.path.abspath(args.build_dir), "cmd", "hostdev-kubelet-plugin"),
         "--config", os.path.join(work, "devices.yaml"), "--driver-name", args.driver,
         "--node-name", NODE, "--kubeconfig", api.kubeconfig_path,
         "--kubelet-registry-dir", os.path.join(work, "reg"),
         "--kubelet-plugins-dir", os.path.join(work, "plugins"), "--cdi-root", cdi,
         "--mode", "device-plugin", "--device-plugins-dir", dp_dir,
         "--metrics-addr", "127.0.0.1:0"], stdout=log, stderr=log)
    port = None
    end = time.monotonic() + 30
    while port is None and time.monotonic() < end:
        assert proc.poll() is None, open(log_path).read()
        m = re.search(r'"serving metrics".*port="(\d+)"', open(log_path).read())
        port = int(m.group(1)) if m else None
        time.sleep(0.01)
    return proc, port


def bench_allocate(args, stub, pb):
    out = {}
    for k in (1, NDEV):
        ids = ["dev-%d" % i for i in range(k)]
        req = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(
            devices_ids=ids)])
        for _ in range(20):
            stub.Allocate(req, timeout=10)  # warm up
        p50s, p99s = [], []
        for _ in range(args.runs):
            ms = []
            for _ in range(args.iters):
                t = time.perf_counter()
                stub.Allocate(req, timeout=10)
                ms.append((time.perf_counter() - t) * 1000)
            p50s.append(pct(ms, 50))
            p99s.append(pct(ms, 99))
        out[k] = (p50s, p99s)
    return out


def bench_health(args, work, kubelet):
    down, up = [], []
    node = os.path.join(work, "dev", "d0")
    for _ in range(args.runs):
        while not kubelet.updates.empty():
            kubelet.updates.get()
        t0 = time.monotonic()
        os.unlink(node)
        down.append((wait_update(kubelet, lambda d: d.get("dev-0") == "Unhealthy") - t0) * 1000)
        t0 = time.monotonic()
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        up.append((wait_update(kubelet, lambda d: d.get("dev-0") == "Healthy") - t0) * 1000)
        time.sleep(0.1)
    return down, up


def bench_reregister(args, kubelet):
    took = []
    for _ in range(args.runs):
        t0 = kubelet.restart()
        t, _, _ = kubelet.registered.get(timeout=10)
        took.append((t - t0) * 1000)
        wait_update(kubelet, lambda d: len(d) == NDEV)
    return took


def server_histogram(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    rows = re.findall(r'hostdev_dp_allocate_duration_seconds_bucket\{[^}]*le="([^"]+)"\} (\d+)',
                      text)
    total = int(re.search(r"hostdev_dp_allocate_duration_seconds_count\{[^}]*\} (\d+)",
                          text).group(1))
    return [(le, int(n)) for le, n in rows], total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iters", type=int, default=500, help="Allocate calls per run")
    args = ap.parse_args()
    args.driver = "bench%s.example.com" % os.urandom(3).hex()
    work = tempfile.mkdtemp(prefix="hdb-", dir="/tmp")
    # /var/run (and /var/run/cdi) is a tmpfs on a node: the CDI root goes to /dev/shm.
    cdi = tempfile.mkdtemp(prefix="hdb-cdi-", dir="/dev/shm")
    os.makedirs(os.path.join(work, "dev"))
    os.makedirs(os.path.join(work, "device-plugins"))
    for i in range(NDEV):
        os.mknod(os.path.join(work, "dev", "d%d" % i), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with open(os.path.join(work, "devices.yaml"), "w") as f:
        f.write("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                "  - name: gpu\n    match: {globs: [\"%s/dev/d*\"]}\n"
                "    deviceName: \"dev-{1}\"\n    containerPath: \"/dev/mock/{name}\"\n" % work)
    api = ApiServer(os.path.join(work, "api"), log_path=os.path.join(work, "api.log"))
    api.start()
    kubelet = FakeKubelet(os.path.join(work, "device-plugins"))
    proc = None
    try:
        kubelet.start()
        proc, port = start_plugin(args, work, api, cdi)
        kubelet.registered.get(timeout=30)
        wait_update(kubelet, lambda d: len(d) == NDEV)
        p = protos()
        ch = grpc.insecure_channel("unix://" + os.path.join(
            work, "device-plugins", "%s-gpu.sock" % args.driver))
        stub = p.deviceplugin_v1beta1_pb2_grpc.DevicePluginStub(ch)
        alloc = bench_allocate(args, stub, p.deviceplugin_v1beta1_pb2)
        ch.close()
        down, up = bench_health(args, work, kubelet)
        rereg = bench_reregister(args, kubelet)
        hist, total = server_histogram(port)

        print("hostdev-kubelet-plugin --mode device-plugin, %d devices, %d runs, %d Allocate "
              "calls per run" % (NDEV, args.runs, args.iters))
        print("%-44s %9s %9s %9s" % ("", "min", "median", "max"))
        for k in (1, NDEV):
            summary("Allocate %d device(s), p50 (client)" % k, alloc[k][0])
            summary("Allocate %d device(s), p99 (client)" % k, alloc[k][1])
        summary("ListAndWatch after a node vanished", down)
        summary("ListAndWatch after it came back", up)
        summary("re-registration after kubelet restart", rereg)
        print("server-side Allocate histogram (hostdev_dp_allocate_duration_seconds, %d calls):"
              % total)
        print("    " + "  ".join("<=%ss: %.1f%%" % (le, 100.0 * n / max(total, 1))
                                 for le, n in hist if le in ("0.0001", "0.00025", "0.0005",
                                                             "0.001", "0.0025")))
        med_p99 = max(statistics.median(alloc[k][1]) for k in alloc)
        worst_p99 = max(max(alloc[k][1]) for k in alloc)
        print("goal Allocate p99 <= 1 ms: %s (median run %.3f ms, worst run %.3f ms)" % (
            "met" if med_p99 <= 1.0 else "NOT met", med_p99, worst_p99))
    finally:
        kubelet.stop()
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        api.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(cdi, ignore_errors=True)


if __name__ == "__main__":
    main()
