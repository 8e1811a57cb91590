"""Helpers for the controller's end-to-end tests: a simulated API server with the ledger CRD,
objects shaped like the scheduler leaves them (slices, allocated claims), the controller process,
and a from-scratch recount of what every ledger must say."""
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

import yaml

from conftest import SANITIZED, SOURCE_DIR, find_binary

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "sim"))
from apiserver import ApiServer  # noqa: E402
from kclient import ApiError, KubeClient  # noqa: E402

SLOW = 3.0 if SANITIZED else 1.0
GROUP = "hostdev.example.com"
LEDGERS = f"/apis/{GROUP}/v1alpha1/hostdeviceledgers"
SLICES = "/apis/resource.k8s.io/v1/resourceslices"
CRD_PATH = os.path.join(SOURCE_DIR, "crds", "hostdeviceledgers.yaml")


def wait_for(pred, timeout=10.0, what="condition", interval=0.05):
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def start_apiserver(workdir):
    srv = ApiServer(workdir)
    srv.start()
    kube = KubeClient.from_kubeconfig(srv.kubeconfig_path)
    with open(CRD_PATH) as f:
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", yaml.safe_load(f))
    return srv, kube


class World:
    """One test's objects: its own driver, namespace and node names, so tests sharing the API
    server never see each other's ledgers."""

    def __init__(self, kube, n_devices=8):
        self.kube = kube
        self.tag = secrets.token_hex(3)
        self.driver = f"t{self.tag}.example.com"
        self.ns = f"t-{self.tag}"
        self.n_devices = n_devices
        kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": self.ns}})

    def node_name(self, i=0):
        return f"n{i}-{self.tag}"

    def add_node(self, i=0, n_devices=None, taint=()):
        name = self.node_name(i)
        node = self.kube.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                  "metadata": {"name": name}})
        self.put_slice(i, n_devices, taint)
        return node

    def put_slice(self, i=0, n_devices=None, taint=(), generation=1, model=None):
        name = self.node_name(i)
        n = self.n_devices if n_devices is None else n_devices
        devices = []
        for d in range(n):
            dev = {"name": f"dev-{d}", "attributes": {"group": {"string": "gpu"}}}
            if model:
                dev["attributes"]["model"] = {"string": model}
            if d in taint:
                dev["taints"] = [{"key": f"{GROUP}/unhealthy", "value": "gone",
                                  "effect": "NoSchedule"}]
            devices.append(dev)
        body = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                "metadata": {"name": f"{name}-slice"},
                "spec": {"driver": self.driver, "nodeName": name,
                         "pool": {"name": name, "generation": generation,
                                  "resourceSliceCount": 1},
                         "devices": devices}}
        path = f"{SLICES}/{name}-slice"
        if self.kube.exists(path):
            body["metadata"]["resourceVersion"] = self.kube.get(path)["metadata"]["resourceVersion"]
            return self.kube.update(path, body)
        return self.kube.create(SLICES, body)

    def claims_path(self, name=None):
        p = f"/apis/resource.k8s.io/v1/namespaces/{self.ns}/resourceclaims"
        return f"{p}/{name}" if name else p

    def claim(self, name, results=(), pods=()):
        """Create claim NAME and give it an allocation: RESULTS are (node index, device,
        adminAccess[, driver]) tuples; PODS names in reservedFor."""
        self.kube.create(self.claims_path(), {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name},
            "spec": {"devices": {"requests": [{"name": "r", "exactly": {
                "deviceClassName": "hostdev", "allocationMode": "ExactCount", "count": 1}}]}}})
        return self.allocate(name, results, pods)

    def allocate(self, name, results, pods=()):
        """Set (or with no RESULTS clear) the allocation; an allocation is immutable, so a
        changed one is cleared first, as a manual status edit would have to."""
        c = self.kube.get(self.claims_path(name))
        if results and (c.get("status") or {}).get("allocation"):
            c["status"] = {}
            c = self.kube.update(self.claims_path(name) + "/status", c)
        if results:
            res = []
            for r in results:
                node, dev, admin = r[0], r[1], r[2] if len(r) > 2 else False
                driver = r[3] if len(r) > 3 else self.driver
                pool = self.node_name(node) if isinstance(node, int) else node
                e = {"request": "r", "driver": driver, "pool": pool, "device": dev}
                if admin:
                    e["adminAccess"] = True
                res.append(e)
            c["status"] = {"allocation": {"devices": {"results": res}}}
            if pods:
                c["status"]["reservedFor"] = [{"resource": "pods", "name": p,
                                               "uid": f"uid-{p}"} for p in pods]
        else:
            c["status"] = {}
        return self.kube.update(self.claims_path(name) + "/status", c)

    def ledger(self, i=0):
        try:
            return self.kube.get(f"{LEDGERS}/{self.node_name(i)}")
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def totals(self, i=0):
        led = self.ledger(i)
        st = (led or {}).get("status") or {}
        return tuple(st.get(k) for k in ("total", "allocated", "free"))

    def wait_totals(self, want, i=0, timeout=10.0):
        return wait_for(lambda: self.totals(i) == want and self.ledger(i), timeout,
                        f"ledger {self.node_name(i)} totals {want}")

    def events(self, reason=None):
        items = self.kube.list(f"/apis/events.k8s.io/v1/namespaces/{self.ns}/events")["items"]
        return [e for e in items if reason is None or e.get("reason") == reason]

    def recount(self):
        """What every ledger must say, from the API objects alone: {node: {device: sorted
        claim names}} for this world's driver."""
        want = {}
        for s in self.kube.list(SLICES)["items"]:
            if s["spec"]["driver"] == self.driver:
                node = want.setdefault(s["spec"]["pool"]["name"], {})
                for d in s["spec"].get("devices") or []:
                    node.setdefault(d["name"], [])
        for c in self.kube.list(self.claims_path())["items"]:
            alloc = (c.get("status") or {}).get("allocation") or {}
            for r in (alloc.get("devices") or {}).get("results") or []:
                if r["driver"] == self.driver:
                    holders = want.setdefault(r["pool"], {}).setdefault(r["device"], [])
                    if c["metadata"]["name"] not in holders:
                        holders.append(c["metadata"]["name"])
        return {n: {d: sorted(h) for d, h in devs.items()} for n, devs in want.items()}

    def recorded(self):
        """The same shape, from the ledgers."""
        got = {}
        for led in self.kube.list(LEDGERS)["items"]:
            if (led.get("spec") or {}).get("driver") != self.driver:
                continue
            devs = got.setdefault(led["metadata"]["name"], {})
            for d in (led.get("status") or {}).get("devices") or []:
                devs[d["name"]] = sorted(h["name"] for h in d.get("holders") or [])
        return got


class Controller:
    def __init__(self, srv, driver, workdir, extra=()):
        self.srv = srv
        self.driver = driver
        self.log_path = os.path.join(workdir, f"controller-{secrets.token_hex(3)}.log")
        self.extra = list(extra)
        self.proc = None
        self.port = None

    def start(self, wait_ready=True):
        argv = [find_binary("hostdev-controller"), "--kubeconfig", self.srv.kubeconfig_path,
                "--driver-name", self.driver, "--leader-elect=false", "--write-window-ms", "50",
                "--metrics-addr", "127.0.0.1:0", "-v", "2", *self.extra]
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT)

        def port():
            m = re.search(r'serving /metrics.* port="(\d+)"', self.log())
            return int(m.group(1)) if m else None
        self.port = wait_for(port, 10, "the metrics port")
        if wait_ready:
            wait_for(lambda: self.http("/readyz")[0] == 200, 10, "/readyz")
        return self

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def http(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name):
        _, text = self.http("/metrics")
        m = re.search(r"^%s\{[^}]*\} (\S+)$" % re.escape(name), text, re.M)
        return float(m.group(1)) if m else None

    def stop(self):
        if self.proc is None:
            self.logf.close()
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("controller did not stop on SIGTERM")
            assert rc == 0, self.log()[-3000:]
        self.logf.close()
