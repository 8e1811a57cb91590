#!/usr/bin/python3
"""Benchmark of hostdev-controller against a local fake API server that answers from prepared
bytes, so the numbers are the controller's, not a simulator's:

  events/s     claim watch events handled per second: one watch stream of N prepared MODIFIED
               events written as fast as the controller reads it (controller pinned to one core
               with taskset); from the first byte to claim_events_total == N.
  B/alloc      memory per tracked allocation: RssAnon after N allocated claims minus RssAnon
               with none, divided by N.
  cold start   time from exec to a complete ledger set: NODES nodes x 8 devices and 8 claims per
               node, all listed at start; ends when every node's ledger status has been PUT.
  writes/node/s  ledger PUTs per node per second while one node's claims churn for 2 s
               (the coalescing window is 200 ms, so at most ~5).

Prints min / median / max over --runs runs (>= 5 by default); asserts nothing about speed.

  /usr/bin/python3 bench/bench_controller.py --build-dir build [--runs 5] [--nodes 1000]
      [--events 100000]
"""
import argparse
import http.server
import json
import os
import re
import shutil
import signal
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = "hostdev.example.com"
LEDGER_PREFIX = f"/apis/{DRIVER}/v1alpha1/hostdeviceledgers"


def node_name(i):
    return f"node-{i:04d}"


def slice_obj(i):
    name = node_name(i)
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": f"{name}-s", "resourceVersion": "1", "uid": f"s-{i}"},
            "spec": {"driver": DRIVER, "nodeName": name,
                     "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": f"dev-{d}", "attributes": {
                         "group": {"string": "gpu"}, "index": {"int": d}}} for d in range(8)]}}


def claim_obj(k, node, dev, rv=1):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": f"claim-{k}", "namespace": "bench", "uid": f"uid-{k:08d}",
                         "resourceVersion": str(rv), "generation": 1,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "hostdev-gpu", "allocationMode": "ExactCount",
                "count": 1}}]}},
            "status": {"allocation": {"devices": {"results": [{
                "request": "gpu", "driver": DRIVER, "pool": node_name(node),
                "device": f"dev-{dev}"}]}, "nodeSelector": {"nodeSelectorTerms": [{
                    "matchFields": [{"key": "metadata.name", "operator": "In",
                                     "values": [node_name(node)]}]}]}},
                "reservedFor": [{"resource": "pods", "name": f"pod-{k}",
                                 "uid": f"pod-uid-{k:08d}"}]}}


class Fake:
    """What the fake server serves: listed claims and slices, one prepared claim watch stream,
    and counters of ledger writes per node."""

    def __init__(self, claims, slices, stream=b"", pace_s=0.0):
        self.claims = json.dumps({"kind": "ResourceClaimList", "apiVersion": "resource.k8s.io/v1",
                                  "metadata": {"resourceVersion": "1"}, "items": claims}).encode()
        self.slices = json.dumps({"kind": "ResourceSliceList", "apiVersion": "resource.k8s.io/v1",
                                  "metadata": {"resourceVersion": "1"}, "items": slices}).encode()
        self.stream = stream
        self.stream_end = None
        self.pace_s = pace_s  # spread the stream's lines over this many seconds
        self.stream_sent = False
        self.stream_start = None
        self.lock = threading.Lock()
        self.puts = {}
        self.rv = 10
        self.stop = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one segment per answer: no delayed-ACK stalls
    wbufsize = 1 << 16

    def log_message(self, *a):
        pass

    def send(self, code, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self):
        self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"})

    def watch(self, fake, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if data:
            fake.stream_start = time.monotonic()
            if fake.pace_s:
                lines = data.splitlines(keepends=True)
                batches = max(1, int(fake.pace_s * 100))  # one write every 10 ms
                per = max(1, len(lines) // batches)
                chunks = [b"".join(lines[i:i + per]) for i in range(0, len(lines), per)]
                gap = fake.pace_s / len(chunks)
            else:
                chunks = [data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
                gap = 0
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if gap:
                    time.sleep(gap)
            fake.stream_end = time.monotonic()
        fake.stop.wait(30)  # hold the stream open without events
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        fake = self.server.fake
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        p = url.path
        if p == "/apis/resource.k8s.io":
            return self.send(200, {"kind": "APIGroup", "apiVersion": "v1",
                                   "name": "resource.k8s.io", "versions": [
                                       {"groupVersion": "resource.k8s.io/v1", "version": "v1"}],
                                   "preferredVersion": {"groupVersion": "resource.k8s.io/v1",
                                                        "version": "v1"}})
        if p.endswith("/resourceclaims"):
            if q.get("watch") == ["true"]:
                with fake.lock:
                    data, fake.stream_sent = (b"" if fake.stream_sent else fake.stream), True
                return self.watch(fake, data)
            return self.send(200, fake.claims)
        if p.endswith("/resourceslices"):
            if q.get("watch") == ["true"]:
                return self.watch(fake, b"")
            return self.send(200, fake.slices)
        if p.startswith("/api/v1/nodes/"):
            name = p.rsplit("/", 1)[1]
            return self.send(200, {"kind": "Node", "apiVersion": "v1",
                                   "metadata": {"name": name, "uid": f"uid-{name}"}})
        return self.not_found()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_POST(self):
        fake = self.server.fake
        obj = self.body()
        with fake.lock:
            fake.rv += 1
            obj["metadata"]["resourceVersion"] = str(fake.rv)
        obj["metadata"]["generation"] = 1
        self.send(201, obj)

    def do_PUT(self):
        fake = self.server.fake
        obj = self.body()
        name = self.path.split("/")[-2]
        with fake.lock:
            fake.rv += 1
            obj["metadata"]["resourceVersion"] = str(fake.rv)
            fake.puts.setdefault(name, []).append(time.monotonic())
        self.send(200, obj)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(fake):
    srv = Server(("127.0.0.1", 0), Handler)
    srv.fake = fake
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def kubeconfig(tmp, port):
    path = os.path.join(tmp, "kubeconfig")
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "b",
                   "clusters": [{"name": "b", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                   "users": [{"name": "b", "user": {"token": "bench"}}],
                   "contexts": [{"name": "b", "context": {"cluster": "b", "user": "b"}}]}, f)
    return path


class Ctl:
    def __init__(self, binary, tmp, port, cpu=None, extra=()):
        self.log_path = os.path.join(tmp, "controller.log")
        argv = [binary, "--kubeconfig", kubeconfig(tmp, port), "--leader-elect=false",
                "--metrics-addr", "127.0.0.1:0", "--kube-api-qps", "100000",
                "--kube-api-burst", "100000", *extra]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        self.t0 = time.monotonic()
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.monotonic() + 30
        while self.port is None and time.monotonic() < deadline:
            m = re.search(r'port="(\d+)"', open(self.log_path).read())
            self.port = int(m.group(1)) if m else None
            time.sleep(0.01)
        if self.port is None:
            raise RuntimeError("controller did not start: " + open(self.log_path).read())

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            m = re.search(r"^%s\{[^}]*\} (\S+)$" % name, r.read().decode(), re.M)
        return float(m.group(1)) if m else 0.0

    def rss_anon_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        return 0

    def wait_metric(self, name, value, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metric(name) >= value:
                return time.monotonic()
            time.sleep(0.02)
        raise RuntimeError(f"{name} did not reach {value}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def event_stream(n, nodes):
    lines = []
    for k in range(n):
        obj = claim_obj(k % (nodes * 8), (k // 8) % nodes, k % 8, rv=100 + k)
        lines.append(json.dumps({"type": "MODIFIED" if k >= nodes * 8 else "ADDED",
                                 "object": obj}, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def run_events(binary, tmp, n, nodes):
    """Claim events per second from one prepared stream, the controller on one core."""
    fake = Fake([], [slice_obj(i) for i in range(nodes)], event_stream(n, nodes))
    srv = serve(fake)
    ctl = Ctl(binary, tmp, srv.server_address[1], cpu=0, extra=["--write-window-ms", "1000"])
    try:
        ctl.wait_metric("hostdev_controller_ready", 1)
        end = ctl.wait_metric("hostdev_controller_claim_events_total", n)
        return n / (end - fake.stream_start)
    finally:
        ctl.stop()
        fake.stop.set()
        srv.shutdown()
        srv.server_close()


def run_memory(binary, tmp, n, nodes):
    """RssAnon with all devices published and no claims vs with N allocated claims."""
    slices = [slice_obj(i) for i in range(nodes)]
    base = Fake([], slices)
    srv = serve(base)
    ctl = Ctl(binary, tmp, srv.server_address[1], extra=["--write-window-ms", "1000"])
    try:
        ctl.wait_metric("hostdev_controller_ready", 1)
        time.sleep(0.5)
        empty = ctl.rss_anon_kib()
        empty_heap = ctl.metric("hostdev_controller_heap_bytes")
    finally:
        ctl.stop()
        base.stop.set()
        srv.shutdown()
        srv.server_close()
    claims = [claim_obj(k, (k // 8) % nodes, k % 8) for k in range(n)]
    full = Fake(claims, slices)
    srv = serve(full)
    ctl = Ctl(binary, tmp, srv.server_address[1], extra=["--write-window-ms", "1000"])
    try:
        ctl.wait_metric("hostdev_controller_allocations", n)
        time.sleep(0.5)
        used = ctl.rss_anon_kib()
        used_heap = ctl.metric("hostdev_controller_heap_bytes")
    finally:
        ctl.stop()
        full.stop.set()
        srv.shutdown()
        srv.server_close()
    return (used - empty) * 1024.0 / n, (used_heap - empty_heap) / n


def run_cold_start(binary, tmp, nodes):
    claims = [claim_obj(k, k // 8, k % 8) for k in range(nodes * 8)]
    fake = Fake(claims, [slice_obj(i) for i in range(nodes)])
    srv = serve(fake)
    try:
        ctl = Ctl(binary, tmp, srv.server_address[1])
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with fake.lock:
                    done = len(fake.puts)
                if done >= nodes:
                    return time.monotonic() - ctl.t0
                time.sleep(0.01)
            raise RuntimeError("cold start did not finish")
        finally:
            ctl.stop()
    finally:
        fake.stop.set()
        srv.shutdown()
        srv.server_close()


def run_churn(binary, tmp, seconds=2.0, rate=2000):
    """One node's 8 claims move between its devices: RATE events/s for SECONDS. Returns the
    ledger PUTs per second for that node while the events flowed."""
    lines = []
    for k in range(int(seconds * rate)):
        obj = claim_obj(k % 8, 0, (k + k // 8) % 8, rv=100 + k)
        lines.append(json.dumps({"type": "ADDED" if k < 8 else "MODIFIED", "object": obj}))
    fake = Fake([], [slice_obj(0)], ("\n".join(lines) + "\n").encode(), pace_s=seconds)
    srv = serve(fake)
    ctl = Ctl(binary, tmp, srv.server_address[1], extra=["--write-window-ms", "200"])
    try:
        ctl.wait_metric("hostdev_controller_claim_events_total", len(lines), timeout=60)
        while fake.stream_end is None:
            time.sleep(0.01)
        t0, t1 = fake.stream_start, fake.stream_end
        with fake.lock:
            puts = [t for t in fake.puts.get(node_name(0), []) if t0 <= t <= t1]
        return len(puts) / (t1 - t0)
    finally:
        ctl.stop()
        fake.stop.set()
        srv.shutdown()
        srv.server_close()


def summary(name, unit, values):
    vals = [v for v in values if v is not None]
    print("%-30s %12.1f %12.1f %12.1f  %s (n=%d)" % (name, min(vals), statistics.median(vals),
                                                     max(vals), unit, len(vals)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--events", type=int, default=100000)
    a = ap.parse_args()
    binary = os.path.join(a.build_dir, "cmd", "hostdev-controller")
    tmp = tempfile.mkdtemp(prefix="bench-ctl-", dir=a.build_dir)
    try:
        rates, mem, heap, cold, churn = [], [], [], [], []
        for _ in range(a.runs):
            rates.append(run_events(binary, tmp, a.events, min(a.nodes, 100)))
            rss, used = run_memory(binary, tmp, a.nodes * 8, a.nodes)
            mem.append(rss)
            heap.append(used)
            cold.append(run_cold_start(binary, tmp, a.nodes))
            churn.append(run_churn(binary, tmp))
        print("%-30s %12s %12s %12s" % ("", "min", "median", "max"))
        summary("claim events handled", "events/s", rates)
        summary("heap per allocation", "bytes (mallinfo2)", heap)
        summary("RssAnon per allocation", "bytes", mem)
        summary(f"cold start {a.nodes}x8, {a.nodes * 8} claims", "s", cold)
        summary("ledger writes per node (churn)", "writes/s", churn)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
