"""Helpers for the scheduler/kubelet/cluster self-tests: start the tiny Python plugins, build
objects, wait for conditions, clean up CDI files. Logs of every simulator are printed at
teardown (pytest shows them for failing tests)."""

import glob
import json
import os
import secrets
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable or "/usr/bin/python3"
CDI_DIR = "/var/run/cdi"


def wait_for(cond, timeout=20.0, interval=0.05, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def unique_driver(prefix="py"):
    return f"{prefix}{secrets.token_hex(3)}.sim.example.com"


class PluginProc:
    """A plugin subprocess; output goes to a log file printed on teardown."""

    def __init__(self, argv, log_path, calls_log):
        self.argv = argv
        self.log_path = log_path
        self.calls_log = calls_log
        self.logf = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.logf,
                                     start_new_session=True)
        line = b""
        end = time.time() + 30
        while time.time() < end:
            line = self.proc.stdout.readline()
            if not line or line.strip() == b"READY":
                break
            self.logf.write(line)
        if line.strip() != b"READY":
            self.stop()
            raise RuntimeError(f"plugin {argv} did not start: {self.log()}")

    def calls(self, name=None):
        try:
            with open(self.calls_log) as f:
                out = [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []
        return [c for c in out if name is None or c["call"] == name]

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.logf.close()


def start_dra_plugin(cluster, node, driver, devices=(("d0", "/dev/null"),), extra=(),
                     kubeconfig=None, name="dra"):
    d = cluster.dirs(node)
    wd = cluster.workdir
    argv = [PY, os.path.join(HERE, "plugins", "py_dra_plugin.py"), "--driver", driver,
            "--node", node, "--kubeconfig", kubeconfig or cluster.kubeconfig,
            "--registry-dir", d["registry"], "--plugins-dir", d["plugins"],
            "--cdi-dir", d["cdi"], "--calls-log", os.path.join(wd, f"{name}-{driver}.calls")]
    for n, p in devices:
        argv += ["--device", f"{n}={p}"]
    argv += list(extra)
    return PluginProc(argv, os.path.join(wd, f"{name}-{driver}.log"),
                      os.path.join(wd, f"{name}-{driver}.calls"))


def start_device_plugin(cluster, node, resource, devices, extra=(), name="dp"):
    d = cluster.dirs(node)
    wd = cluster.workdir
    tag = resource.replace("/", "_")
    argv = [PY, os.path.join(HERE, "plugins", "py_device_plugin.py"), "--resource", resource,
            "--dir", d["device_plugins"], "--cdi-dir", d["cdi"],
            "--calls-log", os.path.join(wd, f"{name}-{tag}.calls")]
    for i, p in devices:
        argv += ["--device", f"{i}={p}"]
    argv += list(extra)
    return PluginProc(argv, os.path.join(wd, f"{name}-{tag}.log"),
                      os.path.join(wd, f"{name}-{tag}.calls"))


def remove_cdi_files(driver_or_domain):
    for p in glob.glob(os.path.join(CDI_DIR, f"k8s.{driver_or_domain}-*.json")) + \
            glob.glob(os.path.join(CDI_DIR, f"k8s.{driver_or_domain}.json")):
        try:
            os.unlink(p)
        except OSError:
            pass


def cdi_files(driver_or_domain):
    return sorted(glob.glob(os.path.join(CDI_DIR, f"k8s.{driver_or_domain}-*.json")))


# -- objects -----------------------------------------------------------------------------------

def device_class(name, driver, extra_expr=None, config=None, version="v1"):
    expr = f'device.driver == "{driver}"'
    if extra_expr:
        expr += f" && {extra_expr}"
    spec = {"selectors": [{"cel": {"expression": expr}}]}
    if config:
        spec["config"] = config
    return {"apiVersion": f"resource.k8s.io/{version}", "kind": "DeviceClass",
            "metadata": {"name": name}, "spec": spec}


def claim_spec(cls, count=None, selectors=(), mode=None, name="dev"):
    ex = {"deviceClassName": cls}
    if count:
        ex["count"] = count
    if mode:
        ex["allocationMode"] = mode
    if selectors:
        ex["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    return {"devices": {"requests": [{"name": name, "exactly": ex}]}}


def claim_template(name, spec, ns="default"):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": ns}, "spec": {"spec": spec}}


def claim(name, spec, ns="default"):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def pod(name, command, claims=(), ctr_claims=None, limits=None, ns="default", grace=1):
    """claims: [(podClaimName, {"resourceClaimTemplateName": t} | {"resourceClaimName": c})]"""
    ctr = {"name": "ctr", "image": "busybox", "command": ["/bin/sh", "-c", command]}
    res = {}
    if claims:
        res["claims"] = ctr_claims if ctr_claims is not None else [{"name": n} for n, _ in claims]
    if limits:
        res["limits"] = limits
    if res:
        ctr["resources"] = res
    spec = {"containers": [ctr], "restartPolicy": "Never",
            "terminationGracePeriodSeconds": grace}
    if claims:
        spec["resourceClaims"] = [dict({"name": n}, **src) for n, src in claims]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def pod_events(client, name, ns="default"):
    items = client.list(f"/api/v1/namespaces/{ns}/events").get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]
