# SPDX-License-Identifier: Apache-2.0
"""Shared plumbing for the end-to-end tests of hostdev-kubelet-plugin (DRA mode): the real binary
against the simulated control plane (tests/sim) with real podman containers.

Fixtures (import them into a test module: `from plugin_env import sim, env  # noqa: F401`):
    sim   one SimCluster per module (node-a, kubelet 1.34, resource.k8s.io v1)
    env   per test: a unique driver name and namespace, a mock device tree with N character
          devices made with mknod, helpers to start/stop/kill the plugin, build claims and pods,
          call the DRA socket directly; everything is torn down afterwards (pods deleted while
          the plugin still runs, plugin stopped with SIGTERM and its exit code checked, the
          driver's CDI specs removed) and the plugin + simulator logs are printed (pytest shows
          them for failing tests).
    A test needing a different cluster (kubelet or API versions) parametrizes `env` indirectly
    with SimCluster keyword arguments: @pytest.mark.parametrize("env", [{...}], indirect=True).

Podman 4.3 reads CDI specs only from /etc/cdi and /var/run/cdi: the plugin writes to
/var/run/cdi, under a driver name unique to each test."""
import glob
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib

import pytest

from conftest import SANITIZED, SOURCE_DIR, find_binary

SIM_DIR = os.path.join(SOURCE_DIR, "tests", "sim")
LIB_DIR = os.path.join(SOURCE_DIR, "tests", "lib")
for _d in (SIM_DIR, LIB_DIR):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import grpc  # noqa: E402

from cluster import SimCluster  # noqa: E402
from hdproto import protos  # noqa: E402
from kclient import ApiError  # noqa: E402
from kubelet_testutil import (claim, claim_spec, claim_template, device_class, pod,  # noqa: E402,F401
                              pod_events, wait_for)

NODE = "node-a"
CDI_DIR = "/var/run/cdi"
RB = "/apis/resource.k8s.io"
# The sanitized build is several times slower: stretch every deadline.
SLOW = 3.0 if SANITIZED else 1.0


def require_podman():
    """Fail (never skip) without root and podman."""
    if os.geteuid() != 0:
        pytest.fail("the simulated cluster needs root (mknod, podman): run the tests as root",
                    pytrace=False)
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run scripts/install-deps.sh", pytrace=False)


def unique_driver():
    return "t%s.example.com" % secrets.token_hex(4)


def cluster_kwargs(**kw):
    kw.setdefault("nodes", (NODE,))
    kw.setdefault("wipe_delay", 5.0)
    kw.setdefault("health_retry", 1.0)
    kw.setdefault("prepare_retry", 0.5)
    kw.setdefault("device_plugins", False)
    return kw


def start_cluster(**kw):
    wd = tempfile.mkdtemp(prefix="hpe-", dir="/tmp")
    c = SimCluster(wd, **cluster_kwargs(**kw))
    try:
        c.start()
    except BaseException:
        shutil.rmtree(wd, ignore_errors=True)
        raise
    return c


def stop_cluster(c):
    try:
        c.stop()
    finally:
        shutil.rmtree(c.workdir, ignore_errors=True)


def mock_config(root, group_extra="", extra_groups=""):
    """The seed config: /ROOT/dev/mock/device_N → mock-device-N with an int index, the device's
    .so bind-mounted and list_device.sh shared by the group."""
    return f"""apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: gpu
    match: {{globs: ["{root}/dev/mock/device_*"]}}
    deviceName: "mock-device-{{1}}"
    containerPath: "/dev/mock/device_{{1}}"
    attributes:
      index: {{int: "{{1}}"}}
    deviceEdits:
      mounts: [{{hostPath: "{root}/mock/so/device_{{1}}.so", containerPath: "/mock/so/device_{{1}}.so", options: [ro, bind]}}]
    commonEdits:
      mounts: [{{hostPath: "{root}/mock/bin/list_device.sh", containerPath: "/usr/local/bin/list_device.sh", options: [ro, bind]}}]
{group_extra}{extra_groups}"""


def mknod(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def ckpt_checksum(data):
    """The plugin's checkpoint checksum: crc32 of the compact, key-sorted JSON of `data`."""
    canon = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return "crc32:%08x" % (zlib.crc32(canon.encode()) & 0xffffffff)


class Plugin:
    """One hostdev-kubelet-plugin process. Output goes to a log file (appended across restarts)."""

    def __init__(self, env, config, driver, node=NODE, kubeconfig=None, extra=(), name="plugin"):
        self.env = env
        self.config = config
        self.driver = driver
        self.node = node
        self.kubeconfig = kubeconfig
        self.extra = list(extra)
        self.log_path = os.path.join(env.root, f"{name}.log")
        d = env.cluster.dirs(node)
        self.plugins_dir, self.registry_dir = d["plugins"], d["registry"]
        self.state_dir = os.path.join(self.plugins_dir, driver)
        self.dra_sock = os.path.join(self.state_dir, "dra.sock")
        self.reg_sock = os.path.join(self.registry_dir, f"{driver}-reg.sock")
        self.checkpoint = os.path.join(self.state_dir, "checkpoint.json")
        self.proc = None
        self.returncodes = []
        self.metrics_port = None
        self.log_offset = 0

    def argv(self):
        return [find_binary("hostdev-kubelet-plugin"), "--config", self.config,
                "--driver-name", self.driver, "--node-name", self.node,
                "--kubeconfig", self.kubeconfig or self.env.cluster.kubeconfig,
                "--kubelet-registry-dir", self.registry_dir,
                "--kubelet-plugins-dir", self.plugins_dir, "--cdi-root", CDI_DIR,
                "--metrics-addr", "127.0.0.1:0", "--health-interval-ms", "500",
                "-v", "4"] + self.extra

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None
        try:
            self.log_offset = os.path.getsize(self.log_path)
        except OSError:
            self.log_offset = 0
        with open(self.log_path, "ab") as f:
            f.write(b"----- start %s\n" % " ".join(self.argv()).encode())
            self.proc = subprocess.Popen(self.argv(), stdout=f, stderr=f, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_started()
        return self

    def wait_started(self, timeout=20.0):
        def started():
            if self.proc.poll() is not None:
                raise AssertionError(f"plugin exited with {self.proc.returncode}:\n{self.log()}")
            # One read of the log for both lines: with two, "plugin started" could appear
            # between them and leave the metrics port unread.
            log = self.log(since_start=True)
            m = re.search(r'"serving metrics".*port="(\d+)"', log)
            if m:
                self.metrics_port = int(m.group(1))
            return '"plugin started"' in log
        wait_for(started, timeout=timeout * SLOW, what="plugin started")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the plugin and wait; returns (exit code, seconds it took)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.time()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(10)
            rc = ("hung", rc)
        took = time.time() - t0
        self.returncodes.append((sig, rc))
        return rc, took

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def log(self, since_start=False):
        try:
            with open(self.log_path, errors="replace") as f:
                if since_start:
                    f.seek(self.log_offset)
                return f.read()
        except OSError:
            return ""

    def http(self, path, timeout=5.0):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}",
                                    timeout=timeout * SLOW) as r:
            return r.status, r.read().decode()

    def metric(self, name, **labels):
        _, text = self.http("/metrics")
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            m = re.match(r"([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
        return None

    def read_checkpoint(self):
        with open(self.checkpoint) as f:
            return json.load(f)

    def write_checkpoint(self, doc):
        doc["checksum"] = ckpt_checksum(doc["data"])
        tmp = self.checkpoint + ".tmp-test"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
        os.replace(tmp, self.checkpoint)

    # -- direct gRPC ------------------------------------------------------------------------
    def stub(self, version="v1"):
        p = protos()
        ch = grpc.insecure_channel("unix://" + self.dra_sock)
        self.env._channels.append(ch)
        mod = p.dra_v1_pb2_grpc if version == "v1" else p.dra_v1beta1_pb2_grpc
        pb = p.dra_v1_pb2 if version == "v1" else p.dra_v1beta1_pb2
        return mod.DRAPluginStub(ch), pb

    def prepare(self, claims, version="v1", timeout=30.0):
        """claims: [(ns, name, uid)] → {uid: NodePrepareResourceResponse}"""
        stub, pb = self.stub(version)
        req = pb.NodePrepareResourcesRequest(
            claims=[pb.Claim(namespace=n, name=nm, uid=u) for n, nm, u in claims])
        return dict(stub.NodePrepareResources(req, timeout=timeout * SLOW).claims)

    def unprepare(self, claims, version="v1", timeout=30.0):
        stub, pb = self.stub(version)
        req = pb.NodeUnprepareResourcesRequest(
            claims=[pb.Claim(namespace=n, name=nm, uid=u) for n, nm, u in claims])
        return dict(stub.NodeUnprepareResources(req, timeout=timeout * SLOW).claims)


class Env:
    """Per-test state; see the module docstring."""

    def __init__(self, cluster, ndev=8):
        self.cluster = cluster
        self.client = cluster.client
        self.api = cluster.api
        self.kubelet = cluster.kubelets[NODE]
        self.driver = unique_driver()
        self.ns = "t-" + secrets.token_hex(4)
        self.root = tempfile.mkdtemp(prefix="hpr-", dir="/tmp")
        self.plugins = []
        self.extra_drivers = []
        self.py_plugins = []
        self.class_names = []
        self._channels = []
        self.expect_clean_exit = True
        self.rv = self.kubelet.rbase.rsplit("/", 1)[1]  # served resource.k8s.io version
        self.client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": self.ns}})
        for d in ("dev/mock", "mock/so", "mock/bin"):
            os.makedirs(os.path.join(self.root, d))
        for i in range(ndev):
            self.add_device(i)
        sh = os.path.join(self.root, "mock/bin/list_device.sh")
        with open(sh, "w") as f:
            f.write("#!/bin/sh\nls /dev/mock\n")
        os.chmod(sh, 0o755)
        self.config = self.write_config(mock_config(self.root))

    # -- host side ---------------------------------------------------------------------------
    def add_device(self, i):
        mknod(os.path.join(self.root, f"dev/mock/device_{i}"))
        with open(os.path.join(self.root, f"mock/so/device_{i}.so"), "w") as f:
            f.write(f"so {i}\n")

    def write_config(self, text, name="config.yaml"):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_plugin(self, config=None, wait_registered=True, **kw):
        p = Plugin(self, config or self.config, kw.pop("driver", self.driver), **kw)
        self.plugins.append(p)
        p.start()
        if wait_registered:
            self.kubelet.wait_registered(p.driver, timeout=15 * SLOW)
        return p

    def cdi_files(self, driver=None):
        return sorted(glob.glob(os.path.join(CDI_DIR, f"k8s.{driver or self.driver}-*.json")))

    def spec_path(self, uid, driver=None):
        return os.path.join(CDI_DIR, f"k8s.{driver or self.driver}-claim_{uid}.json")

    # -- API objects -------------------------------------------------------------------------
    def path(self, plural, name=None, ns=True):
        base = f"{RB}/{self.rv}" + (f"/namespaces/{self.ns}" if ns else "") + f"/{plural}"
        return base + (f"/{name}" if name else "")

    def slices(self, driver=None, version=None):
        items = self.client.list(f"{RB}/{version or self.rv}/resourceslices")["items"]
        return [s for s in items if s["spec"]["driver"] == (driver or self.driver)]

    def slice_devices(self, driver=None):
        """{name: device} over the driver's slices; v1beta1's `basic` level is flattened."""
        return {d["name"]: dict(d.get("basic") or {}, **{k: v for k, v in d.items() if k != "basic"})
                for s in self.slices(driver) for d in s["spec"].get("devices") or []}

    def wait_slices(self, n_devices=None, timeout=10.0, driver=None):
        def ok():
            devs = self.slice_devices(driver)
            return devs if devs and (n_devices is None or len(devs) == n_devices) else None
        return wait_for(ok, timeout=timeout * SLOW, what=f"slices of {driver or self.driver}")

    def versioned(self, obj):
        """OBJ (written in the v1 shape) in the served resource.k8s.io version: v1beta1 has no
        `exactly` level in claim requests."""
        obj = json.loads(json.dumps(obj))
        obj["apiVersion"] = f"resource.k8s.io/{self.rv}"
        if self.rv == "v1beta1":
            spec = obj.get("spec") or {}
            spec = spec.get("spec", spec) if obj["kind"] == "ResourceClaimTemplate" else spec
            for r in (spec.get("devices") or {}).get("requests") or []:
                r.update(r.pop("exactly", {}))
        return obj

    def device_class(self, name=None, driver=None, config=None, extra_expr=None):
        name = name or (driver or self.driver)
        self.client.create(f"{RB}/{self.rv}/deviceclasses", self.versioned(device_class(
            name, driver or self.driver, extra_expr=extra_expr, config=config)))
        self.class_names.append(name)
        return name

    def template(self, name, spec):
        return self.client.create(self.path("resourceclaimtemplates"),
                                  self.versioned(claim_template(name, spec, ns=self.ns)))

    def claim(self, name, spec):
        return self.client.create(self.path("resourceclaims"),
                                  self.versioned(claim(name, spec, ns=self.ns)))

    def get_claim(self, name):
        return self.client.get(self.path("resourceclaims", name))

    def allocated_claim(self, name, devices, request="dev", driver=None, config=None,
                        results=None):
        """A ResourceClaim allocated by writing its status directly (no pod, no scheduler):
        for calling NodePrepareResources by hand."""
        cls = self.class_names[0] if self.class_names else self.device_class()
        c = self.claim(name, claim_spec(cls, count=max(1, len(devices)), name=request))
        res = results if results is not None else [
            {"request": request, "driver": driver or self.driver, "pool": NODE, "device": d}
            for d in devices]
        alloc = {"devices": {"results": res}}
        if config:
            alloc["devices"]["config"] = config
        c["status"] = {"allocation": alloc}
        c = self.client.update(self.path("resourceclaims", name) + "/status", c)
        return c

    def ref(self, c):
        return (c["metadata"]["namespace"], c["metadata"]["name"], c["metadata"]["uid"])

    def pod(self, name, command, claims=(), ctr_claims=None):
        return self.client.create(f"/api/v1/namespaces/{self.ns}/pods",
                                  pod(name, command, claims=claims, ctr_claims=ctr_claims,
                                      ns=self.ns))

    def pod_claim_name(self, name, pod_claim=None, timeout=20.0):
        def get():
            p = self.client.get(f"/api/v1/namespaces/{self.ns}/pods/{name}")
            for s in (p.get("status") or {}).get("resourceClaimStatuses") or []:
                if pod_claim is None or s["name"] == pod_claim:
                    return s.get("resourceClaimName")
            return None
        return wait_for(get, timeout=timeout * SLOW, what=f"claim of pod {name}")

    def wait_pod(self, name, phases=("Succeeded", "Failed"), timeout=60.0):
        return self.kubelet.wait_pod_phase(self.ns, name, phases, timeout=timeout * SLOW)

    def output(self, name):
        o = self.kubelet.container_output(self.ns, name, "ctr")
        return o["stdout"] if o else None

    def delete_pod(self, name, wait=True, timeout=30.0):
        try:
            self.client.delete(f"/api/v1/namespaces/{self.ns}/pods/{name}")
        except ApiError as e:
            if e.status != 404:
                raise
        if wait:
            wait_for(lambda: not self.client.exists(f"/api/v1/namespaces/{self.ns}/pods/{name}"),
                     timeout=timeout * SLOW, what=f"pod {name} gone")

    def events(self, name):
        return pod_events(self.client, name, ns=self.ns)

    def kubelet_log(self):
        try:
            with open(self.kubelet.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- teardown ----------------------------------------------------------------------------
    def teardown(self):
        problems = []
        try:
            pods = self.client.list(f"/api/v1/namespaces/{self.ns}/pods")["items"]
            for p in pods:
                self.delete_pod(p["metadata"]["name"], wait=False)
            if pods and any(p.running() for p in self.plugins):
                try:
                    wait_for(lambda: not self.client.list(
                        f"/api/v1/namespaces/{self.ns}/pods")["items"], timeout=30 * SLOW,
                        what="pods gone")
                except TimeoutError as e:
                    problems.append(str(e))
        except Exception as e:  # keep tearing down
            problems.append(f"pod cleanup: {e}")
        for ch in self._channels:
            ch.close()
        for p in self.plugins:
            if p.running():
                p.stop()
        for p in self.py_plugins:
            p.stop()
        for name in self.class_names:
            try:
                self.client.delete(f"{RB}/{self.rv}/deviceclasses/{name}")
            except Exception:
                pass
        for d in [self.driver] + self.extra_drivers + [p.driver for p in self.plugins]:
            for f in glob.glob(os.path.join(CDI_DIR, f"k8s.{d}-*")):
                try:
                    os.unlink(f)
                except OSError:
                    pass
        sys.stdout.write(f"===== test driver {self.driver} namespace {self.ns} =====\n")
        for p in self.plugins:
            sys.stdout.write(f"===== plugin {p.driver} exits {p.returncodes} =====\n"
                             f"{p.log()[-20000:]}\n")
        for p in self.py_plugins:
            sys.stdout.write(f"===== python plugin {p.argv[3]} =====\n{p.log()[-5000:]}\n")
        self.cluster.dump_logs(sys.stdout, tail=150)
        shutil.rmtree(self.root, ignore_errors=True)
        bad = [(p.driver, rc) for p in self.plugins for sig, rc in p.returncodes
               if sig == signal.SIGTERM and rc != 0]
        if self.expect_clean_exit and bad:
            problems.append(f"plugin did not exit 0 on SIGTERM: {bad}")
        return problems


@pytest.fixture(scope="module")
def sim():
    require_podman()
    c = start_cluster()
    yield c
    stop_cluster(c)


@pytest.fixture
def env(request):
    kw = dict(getattr(request, "param", None) or {})
    ndev = kw.pop("ndev", 8)
    own = None
    if kw:
        require_podman()
        own = start_cluster(**kw)
        c = own
    else:
        c = request.getfixturevalue("sim")
    e = Env(c, ndev=ndev)
    yield e
    problems = e.teardown()
    if own is not None:
        stop_cluster(own)
    assert not problems, problems


def run_threads(fns):
    """Run callables at once; returns their results (re-raises the first exception)."""
    out = [None] * len(fns)
    errs = []

    def one(i, fn):
        try:
            out[i] = fn()
        except BaseException as e:  # noqa: BLE001
            errs.append(e)
    ts = [threading.Thread(target=one, args=(i, f)) for i, f in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    if errs:
        raise errs[0]
    return out
