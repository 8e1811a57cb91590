#!/usr/bin/python3
"""DRA-mode benchmark of hostdev-kubelet-plugin against fixed targets (issue 13).

  /usr/bin/python3 bench/bench_dra.py --build-dir build [--runs 5] [--smoke]

Prints one JSON row per figure (bench/benchlib.py; bench/table.py makes the table). Progress
goes to stderr.

Set-up per daemon: the simulated API server in its own process (the source of truth for
slices, watches and discovery), bench/fast_api.py in front of it answering ResourceClaim GETs
from prepared JSON (the load source: the simulator's own GET costs ~2.6 ms), the daemon with
its CDI root on /dev/shm (tmpfs, as /var/run/cdi on a node) and its checkpoint on disk.
Callers are separate processes (multiprocessing, spawn) running grpcio stubs.

Latency figures come from the daemon's own histograms (hostdev_phase_duration_seconds,
hostdev_unprepare_duration_seconds), diffed around each run: prepare_own is the whole prepare
less the claim GET, so the API server's share is excluded. Percentiles are interpolated inside
buckets as histogram_quantile() does. Throughput is claims per wall-clock second seen by the
callers; its baseline is the same callers sending empty requests (a do-nothing handler behind
the same gRPC server), the ceiling of the harness itself.
"""
import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))

import benchlib as B  # noqa: E402

NODE = "bench-node"
PY = sys.executable or "/usr/bin/python3"
# For comparisons and profiles: another daemon binary (HDBENCH_PLUGIN=/path) and a wrapper
# command (HDBENCH_WRAP="valgrind --tool=massif --massif-out-file=/path/massif.out").
PLUGIN = os.environ.get("HDBENCH_PLUGIN")
WRAP = os.environ.get("HDBENCH_WRAP", "").split()


def log(*a):
    print("[bench_dra %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# --- callers (separate processes) ---------------------------------------------------------------

def _caller_main(sock, conn):
    import concurrent.futures
    import grpc
    from hdproto import protos
    p = protos()
    ch = grpc.insecure_channel("unix:" + sock)
    stub = p.dra_v1_pb2_grpc.DRAPluginStub(ch)
    pb = p.dra_v1_pb2

    def one(op, c):
        claims = [pb.Claim(namespace="default", name=c[0], uid=c[1])] if c else []
        t = time.monotonic()
        if op == "prepare":
            r = stub.NodePrepareResources(pb.NodePrepareResourcesRequest(claims=claims),
                                          timeout=60)
        else:
            r = stub.NodeUnprepareResources(pb.NodeUnprepareResourcesRequest(claims=claims),
                                            timeout=60)
        dt = time.monotonic() - t
        err = r.claims[c[1]].error if c else ""
        return dt, err

    def lane(op, items):
        out, errs = [], []
        for c in items:
            dt, e = one(op, c)
            out.append(dt)
            if e:
                errs.append(e)
        return out, errs

    conn.send("ready")
    pool = None
    while True:
        msg = conn.recv()
        if msg is None:
            break
        op, lanes = msg
        if pool is None or pool._max_workers < len(lanes):
            pool = concurrent.futures.ThreadPoolExecutor(max(1, len(lanes)))
        conn.send("armed")
        conn.recv()  # go
        t0 = time.monotonic()
        futs = [pool.submit(lane, op, items) for items in lanes]
        lat, errs = [], []
        for f in futs:
            a, e = f.result()
            lat += a
            errs += e
        conn.send((t0, time.monotonic(), lat, errs[:3], len(errs)))
    ch.close()


class Callers:
    """CONCURRENCY callers spread over up to 4 processes (2-core machine: more only thrash)."""

    def __init__(self, sock, concurrency):
        self.concurrency = concurrency
        ctx = multiprocessing.get_context("spawn")
        self.procs, self.conns = [], []
        for _ in range(min(4, concurrency)):
            a, b = ctx.Pipe()
            pr = ctx.Process(target=_caller_main, args=(sock, b), daemon=True)
            pr.start()
            self.procs.append(pr)
            self.conns.append(a)
        for c in self.conns:
            assert c.recv() == "ready"

    def run(self, op, claims):
        """Each claim once, CONCURRENCY at a time. claims: [(name, uid)] or [None]*n (empty
        requests). Returns (seconds wall, [latency seconds], error count, sample errors)."""
        lanes = [claims[i::self.concurrency] for i in range(self.concurrency)]
        per = [lanes[i::len(self.conns)] for i in range(len(self.conns))]
        for c, ls in zip(self.conns, per):
            c.send((op, ls))
        for c in self.conns:
            assert c.recv() == "armed"
        for c in self.conns:
            c.send("go")
        res = [c.recv() for c in self.conns]
        wall = max(r[1] for r in res) - min(r[0] for r in res)
        lat = [x for r in res for x in r[2]]
        return wall, lat, sum(r[4] for r in res), [e for r in res for e in r[3]]

    def close(self):
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


# --- one daemon with its API server ------------------------------------------------------------

class Rig:
    def __init__(self, build_dir, n_devices, work_root, cdi_root, state_on_tmpfs=False):
        self.build_dir = os.path.abspath(build_dir)
        self.n = n_devices
        self.work = tempfile.mkdtemp(prefix="rig-", dir=work_root)
        self.cdi = tempfile.mkdtemp(prefix="cdi-", dir=cdi_root)
        # The checkpoint lives under the plugins dir: on disk as on a node, or on tmpfs to
        # show the daemon's own cost without the disk's flush.
        self.plugins = os.path.join(self.cdi if state_on_tmpfs else self.work, "plugins")
        self.driver = "bench%s.example.com" % os.urandom(3).hex()
        self.sim = self.proxy = self.plugin = None
        self.claims = []
        self.metrics_port = None
        dev = os.path.join(self.work, "dev")
        os.makedirs(dev)
        for i in range(n_devices):
            os.mknod(os.path.join(dev, "d%05d" % i), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        self.cfg = os.path.join(self.work, "devices.yaml")
        with open(self.cfg, "w") as f:
            f.write("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                    "  - name: gpu\n    match: {globs: [\"%s/d*\"]}\n"
                    "    deviceName: \"dev-{1}\"\n    containerPath: \"/dev/mock/{name}\"\n"
                    "    attributes: {index: {int: \"{1}\"}}\n" % dev)

    def _spawn_ready(self, argv, pattern):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        line = proc.stdout.readline()
        m = re.match(pattern, line)
        if not m:
            proc.kill()
            raise RuntimeError("%s did not start: %r" % (argv[1], line))
        return proc, m

    def start_api(self):
        from kclient import KubeClient
        simdir = os.path.join(self.work, "sim")
        os.makedirs(simdir)
        self.sim, m = self._spawn_ready(
            [PY, os.path.join(SRC, "tests", "sim", "apiserver.py"), "--workdir", simdir,
             "--log", os.path.join(self.work, "sim.log")], r"READY (\S+) (\S+)")
        url, kubeconfig = m.group(1), m.group(2)
        self.client = KubeClient.from_kubeconfig(kubeconfig)
        self.client.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                             "metadata": {"name": NODE}})
        self.template = self._claim_template()
        with open(kubeconfig) as f:
            text = f.read()
        ca = re.search(r"certificate-authority: (\S+)", text).group(1)
        token = re.search(r"token: (\S+)", text).group(1)
        self.proxy, m = self._spawn_ready(
            [PY, os.path.join(HERE, "fast_api.py"), "--upstream", url, "--ca", ca],
            r"READY (\d+)")
        self.proxy_port = int(m.group(1))
        self.kubeconfig = os.path.join(self.work, "kubeconfig-fast")
        with open(self.kubeconfig, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: fast\n  cluster:\n"
                    "    server: http://127.0.0.1:%d\ncontexts:\n- name: fast\n  context:\n"
                    "    cluster: fast\n    user: u\ncurrent-context: fast\nusers:\n- name: u\n"
                    "  user:\n    token: %s\n" % (self.proxy_port, token))

    def _claim_template(self):
        """One claim as the simulator stores it, allocated to device 0."""
        base = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"
        self.client.create(base, {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": "template", "namespace": "default"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "x"}}]}}})
        self.client.patch(base + "/template/status", {"status": {"allocation": {"devices": {
            "results": [{"request": "gpu", "driver": self.driver, "pool": NODE,
                         "device": "dev-00000"}]}}}})
        return self.client.get(base + "/template")

    def add_claims(self, count):
        """COUNT claims, claim i allocated device i, served by the fast front."""
        add = {}
        for i in range(len(self.claims), len(self.claims) + count):
            obj = json.loads(json.dumps(self.template))
            name, uid = "bc%05d" % i, str(uuid.uuid4())
            obj["metadata"].update(name=name, uid=uid)
            obj["status"]["allocation"]["devices"]["results"][0]["device"] = "dev-%05d" % i
            add["default/" + name] = obj
            self.claims.append((name, uid))
        self._post("/bench/claims", add)

    def _post(self, path, body):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.proxy_port, path),
                                     data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req, timeout=60).read()

    def stats(self):
        return json.loads(urllib.request.urlopen(
            "http://127.0.0.1:%d/bench/stats" % self.proxy_port, timeout=30).read())

    @property
    def n_slices(self):
        return (self.n + 127) // 128

    def start_plugin(self):
        """Start the daemon; returns (ms to registered, ms to all slices written, ms of that
        the API server spent answering)."""
        import grpc  # noqa: F401  imported before the clock starts
        from hdproto import protos
        protos()
        self._post("/bench/reset", {})
        self.log_path = os.path.join(self.work, "plugin.log")
        logf = open(self.log_path, "w")
        reg_dir = os.path.join(self.work, "reg")
        t0 = time.monotonic()
        self.plugin = subprocess.Popen(
            WRAP + [PLUGIN or os.path.join(self.build_dir, "cmd", "hostdev-kubelet-plugin"),
                    "--config", self.cfg,
             "--driver-name", self.driver, "--node-name", NODE, "--kubeconfig", self.kubeconfig,
             "--kubelet-registry-dir", reg_dir,
             "--kubelet-plugins-dir", self.plugins,
             "--cdi-root", self.cdi, "--metrics-addr", "127.0.0.1:0", "--mode", "dra",
             "--kube-api-qps", "1000000", "--kube-api-burst", "1000000"],
            stdout=logf, stderr=logf)
        logf.close()
        reg = os.path.join(reg_dir, self.driver + "-reg.sock")
        self.sock = os.path.join(self.plugins, self.driver, "dra.sock")
        while not os.path.exists(reg):
            self._check_alive()
            time.sleep(0.001)
        registered = (self._register(reg) - t0) * 1000
        deadline = time.monotonic() + 120
        while True:
            st = self.stats()
            if st["slice_writes"] >= self.n_slices:
                break
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("slices not published: %s" % st)
            time.sleep(0.005)
        self.publish_cpu_ms = B.cpu_ms(self.plugin.pid)
        published = (st["last_slice_write"] - t0) * 1000
        api_ms = st["upstream_seconds"] * 1000
        while self.metrics_port is None:
            m = re.search(r'"serving metrics".*port="(\d+)"', open(self.log_path).read())
            if m:
                self.metrics_port = int(m.group(1))
            else:
                self._check_alive()
                time.sleep(0.005)
        return registered, published, api_ms

    def _register(self, reg):
        import grpc
        from hdproto import protos
        p = protos()
        with grpc.insecure_channel("unix:" + reg) as ch:
            stub = p.pluginregistration_pb2_grpc.RegistrationStub(ch)
            stub.GetInfo(p.pluginregistration_pb2.InfoRequest(), timeout=10)
            stub.NotifyRegistrationStatus(
                p.pluginregistration_pb2.RegistrationStatus(plugin_registered=True), timeout=10)
        return time.monotonic()

    def _check_alive(self):
        if self.plugin.poll() is not None:
            raise RuntimeError("plugin exited: " + open(self.log_path).read()[-3000:])

    def wipe_and_republish(self):
        """Delete every slice of the node as a restarting kubelet does; ms from the delete's
        answer to the last slice re-created."""
        self._post("/bench/reset", {})
        sel = "spec.nodeName=%s" % NODE
        self.client.request("DELETE", "/apis/resource.k8s.io/v1/resourceslices",
                            params={"fieldSelector": sel})
        t_wiped = time.monotonic()
        deadline = t_wiped + 120
        while True:
            st = self.stats()
            if st["slice_writes"] >= self.n_slices:
                return (st["last_slice_write"] - t_wiped) * 1000
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("slices not re-created: %s" % st)
            time.sleep(0.002)

    def scrape(self):
        return B.scrape(self.metrics_port)

    def stop(self):
        if self.plugin and self.plugin.poll() is None:
            self.plugin.send_signal(signal.SIGTERM)
            try:
                self.plugin.wait(30)
            except subprocess.TimeoutExpired:
                self.plugin.kill()
                self.plugin.wait()
        for p in (self.proxy, self.sim):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.cdi, ignore_errors=True)


# --- figures -------------------------------------------------------------------------------------

def phase_key(rig, phase):
    return ("hostdev_phase_duration_seconds", 'driver="%s",phase="%s"' % (rig.driver, phase))


def unprep_key(rig):
    return ("hostdev_unprepare_duration_seconds", 'driver="%s"' % rig.driver)


def latency_runs(rig, callers, claims, runs):
    """Prepare then unprepare CLAIMS RUNS times; per run the histogram diffs."""
    out = []
    for _ in range(runs):
        before = rig.scrape()
        wall_p, lat_p, err_p, sample = callers.run("prepare", claims)
        mid = rig.scrape()
        wall_u, lat_u, err_u, sample_u = callers.run("unprepare", claims)
        after = rig.scrape()
        if err_p or err_u:
            raise RuntimeError("errors: %s %s" % (sample, sample_u))
        out.append({"prep": {ph: B.hist_diff(mid, before, phase_key(rig, ph)) for ph in (
            "prepare_own", "claim_get", "claim_decode", "checkpoint_started", "spec_build",
            "spec_write", "checkpoint_commit")},
            "unprep": B.hist_diff(after, mid, unprep_key(rig)),
            "prep_rate": len(claims) / wall_p, "unprep_rate": len(claims) / wall_u,
            "client_p50": B.pct(lat_p, 50) * 1000})
    return out


def disk_baseline(path, n=50):
    """ms of one atomic 4 KiB write (temp, fsync, rename, directory fsync) in PATH: what one
    checkpoint save costs at least on this disk."""
    ts = []
    for _ in range(n):
        t = time.monotonic()
        tmp = os.path.join(path, ".baseline.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(path, ".baseline"))
        dfd = os.open(path, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        ts.append((time.monotonic() - t) * 1000)
    os.unlink(os.path.join(path, ".baseline"))
    return ts


def bench_latency(args, work, cdi, tmpfs):
    n_claims = 16 if args.smoke else 64 * 8
    rig = Rig(args.build_dir, n_claims, work, cdi, state_on_tmpfs=tmpfs)
    where = "checkpoint on tmpfs" if tmpfs else "checkpoint on disk"
    rows = []
    try:
        rig.start_api()
        rig.start_plugin()
        rig.add_claims(n_claims)
        for conc in ((1, 8) if args.smoke else (1, 8, 64)):
            claims = rig.claims[:64] if conc == 1 and not args.smoke else rig.claims
            log("latency: %d callers, %d claims x %d runs" % (conc, len(claims), args.runs))
            callers = Callers(rig.sock, conc)
            try:
                callers.run("prepare", claims[:conc])  # warm-up: connections, first files
                callers.run("unprepare", claims[:conc])
                res = latency_runs(rig, callers, claims, args.runs)
                base = []
                for _ in range(args.runs):
                    wall, lat, _, _ = callers.run("prepare", [None] * len(claims))
                    base.append((len(claims) / wall, B.pct(lat, 50) * 1000))
            finally:
                callers.close()
            tag = "%d caller%s, %s" % (conc, "" if conc == 1 else "s", where)
            ms = lambda ph, q: [B.quantile(r["prep"][ph], q) * 1000 for r in res]  # noqa: E731
            rows.append(B.row("prepare own p50, %s" % tag, "ms", ms("prepare_own", 0.5)))
            rows.append(B.row("prepare own p99, %s" % tag, "ms", ms("prepare_own", 0.99), 2,
                              "le", note="whole prepare less the claim GET; incl. 3 fsyncs"))
            rows.append(B.row("unprepare p50, %s" % tag, "ms",
                              [B.quantile(r["unprep"], 0.5) * 1000 for r in res]))
            rows.append(B.row("unprepare p99, %s" % tag, "ms",
                              [B.quantile(r["unprep"], 0.99) * 1000 for r in res], 2, "le"))
            if conc == 1 and not tmpfs:
                disk = [B.median(disk_baseline(rig.work, 20)) for _ in range(args.runs)]
                rows.append(B.row("disk: one atomic 4 KiB write p50", "ms", disk,
                                  note="temp+fsync+rename+dir fsync here; a prepare does 2"))
            if conc == 1:
                for ph in ("claim_get", "claim_decode", "checkpoint_started", "spec_build",
                           "spec_write", "checkpoint_commit"):
                    rows.append(B.row("  phase %s p50, %s" % (ph, where), "ms", ms(ph, 0.5),
                                      note="API server's share" if ph == "claim_get" else None))
                rows.append(B.row("prepare round trip p50 (client), %s" % where, "ms",
                                  [r["client_p50"] for r in res], baseline=[b[1] for b in base],
                                  note="baseline: empty NodePrepareResources"))
            rows.append(B.row("prepare throughput, %s" % tag, "claims/s",
                              [r["prep_rate"] for r in res], 1000 if conc == 64 else None,
                              "ge" if conc == 64 else None, baseline=[b[0] for b in base],
                              note="baseline: empty calls, same callers"))
            rows.append(B.row("unprepare throughput, %s" % tag, "claims/s",
                              [r["unprep_rate"] for r in res]))
    finally:
        rig.stop()
    return rows


def bench_scale(args, work, cdi, n):
    runs = 1 if args.smoke else (args.runs if n < 10000 else max(3, args.runs))
    reg, pub, own, cpu, repub, anon, rss, thr = [], [], [], [], [], [], [], []
    names = None
    for i in range(runs):
        log("scale: %d devices, run %d/%d" % (n, i + 1, runs))
        rig = Rig(args.build_dir, n, work, cdi)
        try:
            rig.start_api()
            r_ms, p_ms, api_ms = rig.start_plugin()
            reg.append(r_ms)
            pub.append(p_ms)
            own.append(p_ms - api_ms)
            cpu.append(rig.publish_cpu_ms)
            time.sleep(1.0)  # idle: start-up work done
            st = B.proc_status(rig.plugin.pid)
            anon.append(st["RssAnon"] / 1024)
            rss.append(st["VmRSS"] / 1024)
            thr.append(st["Threads"])
            names = B.threads(rig.plugin.pid)
            repub.append(rig.wipe_and_republish())
        finally:
            rig.stop()
    tag = "%d devices" % n
    rows = [B.row("start -> registered, %s" % tag, "ms", reg),
            B.row("start -> slices written, %s" % tag, "ms", pub,
                  2000 if n == 10000 else None, "le" if n == 10000 else None,
                  note="%d slices, API server time included" % ((n + 127) // 128)),
            B.row("  of which the daemon's own, %s" % tag, "ms", own,
                  note="less the time the API server took to answer"),
            B.row("  CPU time start -> slices written, %s" % tag, "ms", cpu,
                  note="user+system CPU of the daemon; steady under machine load"),
            B.row("republish after wipe, %s" % tag, "ms", repub),
            B.row("RssAnon idle, %s" % tag, "MiB", anon,
                  4 if n == 8 else None, "le" if n == 8 else None),
            B.row("RSS idle, %s" % tag, "MiB", rss),
            B.row("threads idle, %s" % tag, "", thr, note=",".join(sorted(set(names or []))))]
    return rows


def bench_prepared_curve(args, work, cdi):
    """Prepare latency with 10/100/1,000 claims already prepared; memory at 1,000 + 1,000."""
    n = 32 if args.smoke else 1000
    steps = (8, 16) if args.smoke else (10, 100, 1000)
    # Checkpoint on tmpfs: the disk's flush would hide how the daemon's own work grows.
    rig = Rig(args.build_dir, n, work, cdi, state_on_tmpfs=True)
    rows = []
    try:
        rig.start_api()
        rig.start_plugin()
        rig.add_claims(n)
        callers = Callers(rig.sock, 1)
        fill = Callers(rig.sock, 8)
        try:
            done = 0
            for step in steps:
                fill.run("prepare", rig.claims[done:step])
                done = step
                cyc = [rig.claims[i % step] for i in range(48)]
                vals = []
                for _ in range(args.runs):
                    before = rig.scrape()
                    for c in cyc:
                        callers.run("unprepare", [c])
                        callers.run("prepare", [c])
                    after = rig.scrape()
                    vals.append(B.quantile(B.hist_diff(after, before,
                                                       phase_key(rig, "prepare_own")), 0.5) * 1000)
                rows.append(B.row("prepare own p50, %d already prepared" % step, "ms", vals,
                                  note="checkpoint on tmpfs; one claim unprepared and "
                                  "prepared again, 48 times"))
            time.sleep(1.0)
            st = B.proc_status(rig.plugin.pid)
            rows.append(B.row("RssAnon, %d devices + %d prepared" % (n, done), "MiB",
                              [st["RssAnon"] / 1024], 4, "le"))
            rows.append(B.row("RSS, %d devices + %d prepared" % (n, done), "MiB",
                              [st["VmRSS"] / 1024]))
            rows.append(B.row("threads, %d devices + %d prepared" % (n, done), "",
                              [st["Threads"]]))
        finally:
            callers.close()
            fill.close()
    finally:
        rig.stop()
    return rows


def bench_sizes(args):
    rows = []
    for name in ("hostdev-kubelet-plugin", "hostdevctl", "hostdev-controller"):
        path = os.path.join(args.build_dir, "cmd", name)
        if not os.path.exists(path):
            continue
        with tempfile.NamedTemporaryFile(dir=os.path.join(args.build_dir)) as t:
            subprocess.run(["strip", "-o", t.name, path], check=True)
            size = os.path.getsize(t.name)
        rows.append(B.row("binary size %s (stripped)" % name, "KiB", [size / 1024],
                          note="dynamically linked"))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true",
                    help="small sizes, one run: checks the harness, not the speed")
    ap.add_argument("--only", default="latency,scale,curve,sizes")
    args = ap.parse_args()
    if args.smoke:
        args.runs = 1
    work = tempfile.mkdtemp(prefix="hdbench-", dir="/tmp")
    cdi = tempfile.mkdtemp(prefix="hdbench-cdi-", dir="/dev/shm")
    # Each caller process generates its own modules in a private directory: a shared one is
    # rewritten by one process while another imports from it.
    os.environ.pop("HOSTDEV_PYPROTO_DIR", None)
    only = args.only.split(",")
    try:
        if "sizes" in only:
            bench_sizes(args)
        if "latency" in only:
            bench_latency(args, work, cdi, False)
            bench_latency(args, work, cdi, True)
        if "scale" in only:
            for n in ((8,) if args.smoke else (8, 1000, 10000)):
                bench_scale(args, work, cdi, n)
        if "curve" in only:
            bench_prepared_curve(args, work, cdi)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(cdi, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
