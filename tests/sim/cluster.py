#!/usr/bin/python3
"""A whole simulated cluster: API server + scheduler/claim controller + one kubelet per node.

In-process (pytest fixtures):
    c = SimCluster(workdir, nodes=("node-a",), resource_versions=("v1",), kubelet_version="1.34",
                   wipe_delay=30.0, health="always", device_plugins=True).start()
    resource_versions=() serves no resource.k8s.io at all (a cluster without DRA); kubelet_version
    "1.31" etc. is reported as the Node's status.nodeInfo.kubeletVersion ("v1.31.0-sim").
    c.client            admin KubeClient          c.api        the ApiServer
    c.kubelets[node]    Kubelet                   c.scheduler  Scheduler
    c.dirs(node)        {"registry", "plugins", "device_plugins", "cdi"}
    c.kubeconfig        admin kubeconfig path     c.node_kubeconfig(node) kubeconfig as system:node:<n>
    c.logs() -> {name: text};  c.dump_logs(stream)  (tests print these when they fail)
    c.container_output(ns, pod, ctr) -> {"stdout", "stderr", "exit_code"}
    c.wait_pod_phase(ns, pod, phases=("Succeeded", "Failed"), timeout=30) -> pod
    c.stop()

As a process (README demo, e2e tests of the C plugin):
    python3 tests/sim/cluster.py --workdir D [--node N ...] [--resource-versions v1,v1beta1|none]
        [--kubelet-version 1.34] [--wipe-delay 30] [--health always|advertised|off]
        [--no-device-plugins]
    prints "READY <url> <admin kubeconfig>" once everything runs, writes D/cluster.json (url,
    kubeconfigs, per-node dirs, log paths) and stops cleanly on SIGTERM/SIGINT.
    Kubelet restarts: SIGHUP restarts every kubelet; creating D/control/restart-kubelet-<node>
    restarts one (the file is removed); each prints "RESTARTED kubelet <node>".
"""

import argparse
import json
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from kclient import KubeClient  # noqa: E402
from kubelet import Kubelet  # noqa: E402
from scheduler import Scheduler  # noqa: E402


class SimCluster:
    def __init__(self, workdir, nodes=("node-a",), resource_versions=("v1",),
                 kubelet_version="1.34", wipe_delay=30.0, health="always", health_retry=5.0,
                 device_plugins=True, prepare_retry=1.0, cdi_dir="/var/run/cdi",
                 scheduler_interval=0.1, sync_interval=0.1, api_kwargs=None):
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.nodes = list(nodes)
        self.resource_versions = tuple(resource_versions)
        self.kubelet_version = kubelet_version
        self.wipe_delay = wipe_delay
        self.health = health
        self.health_retry = health_retry
        self.device_plugins = device_plugins
        self.prepare_retry = prepare_retry
        self.cdi_dir = cdi_dir
        self.scheduler_interval = scheduler_interval
        self.sync_interval = sync_interval
        self.api_kwargs = api_kwargs or {}
        self.api = None
        self.client = None
        self.scheduler = None
        self.kubelets = {}
        self._node_tokens = {}

    def dirs(self, node):
        base = os.path.join(self.workdir, "nodes", node)
        return {"registry": os.path.join(base, "plugins_registry"),
                "plugins": os.path.join(base, "plugins"),
                "device_plugins": os.path.join(base, "device-plugins"),
                "cdi": self.cdi_dir}

    @property
    def kubeconfig(self):
        return self.api.kubeconfig_path

    def log_paths(self):
        out = {"apiserver": os.path.join(self.workdir, "apiserver.log"),
               "scheduler": os.path.join(self.workdir, "scheduler.log")}
        for n in self.nodes:
            out[f"kubelet-{n}"] = os.path.join(self.workdir, f"kubelet-{n}.log")
        return out

    def start(self):
        from apiserver import ApiServer
        self.api = ApiServer(os.path.join(self.workdir, "apiserver"),
                             resource_versions=self.resource_versions,
                             log_path=self.log_paths()["apiserver"], **self.api_kwargs)
        self.api.start()
        try:
            self.client = KubeClient(self.api.url, token=self.api.token, ca_path=self.api.ca_path,
                                     user_agent="sim-admin")
            sched_client = KubeClient(self.api.url, token=self.api.token,
                                      ca_path=self.api.ca_path, user_agent="kube-scheduler")
            self.scheduler = Scheduler(sched_client, resource_version=None,
                                       interval=self.scheduler_interval,
                                       log_path=self.log_paths()["scheduler"]).start()
            for n in self.nodes:
                tok = f"sim-node-{n}-{os.urandom(8).hex()}"
                self.api.add_token(tok, f"system:node:{n}", ["system:nodes", "system:authenticated"])
                self._node_tokens[n] = tok
                kc = KubeClient(self.api.url, token=tok, ca_path=self.api.ca_path,
                                user_agent=f"kubelet/{n}")
                d = self.dirs(n)
                for k in ("registry", "plugins"):
                    os.makedirs(d[k], exist_ok=True)
                self.kubelets[n] = Kubelet(
                    kc, n, self.workdir, d["registry"],
                    d["device_plugins"] if self.device_plugins else None,
                    kubelet_version=self.kubelet_version, wipe_delay=self.wipe_delay,
                    health=self.health, health_retry=self.health_retry,
                    prepare_retry=self.prepare_retry, sync_interval=self.sync_interval,
                    log_path=self.log_paths()[f"kubelet-{n}"]).start()
        except BaseException:
            self.stop()
            raise
        return self

    def node_kubeconfig(self, node):
        """A kubeconfig authenticating as system:node:<node> (what a plugin using the
        kubelet's credentials would have)."""
        path = os.path.join(self.workdir, f"kubeconfig-{node}")
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "sim",
               "clusters": [{"name": "sim", "cluster": {"server": self.api.url,
                                                        "certificate-authority": self.api.ca_path}}],
               "users": [{"name": node, "user": {"token": self._node_tokens[node]}}],
               "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": node}}]}
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def container_output(self, ns, pod, ctr):
        """{"stdout", "stderr", "exit_code"} of a container on whichever node ran it."""
        for k in self.kubelets.values():
            out = k.container_output(ns, pod, ctr)
            if out is not None:
                return out
        return None

    def wait_pod_phase(self, ns, pod, phases=("Succeeded", "Failed"), timeout=30.0):
        return next(iter(self.kubelets.values())).wait_pod_phase(ns, pod, phases, timeout)

    def stop(self):
        for k in self.kubelets.values():
            try:
                k.stop()
            except Exception as e:
                print(f"kubelet stop: {e}", file=sys.stderr)
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.api is not None:
            self.api.stop()

    def logs(self):
        out = {}
        for name, p in self.log_paths().items():
            try:
                with open(p, errors="replace") as f:
                    out[name] = f.read()
            except OSError:
                out[name] = ""
        return out

    def dump_logs(self, stream=None, tail=400):
        stream = stream or sys.stderr
        for name, text in self.logs().items():
            lines = text.splitlines()[-tail:]
            stream.write(f"===== {name} ({len(lines)} lines) =====\n" + "\n".join(lines) + "\n")

    def describe(self):
        return {"url": self.api.url, "kubeconfig": self.kubeconfig, "ca": self.api.ca_path,
                "workdir": self.workdir,
                "nodes": {n: dict(self.dirs(n), kubeconfig=self.node_kubeconfig(n))
                          for n in self.nodes},
                "logs": self.log_paths()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--node", action="append", default=[])
    ap.add_argument("--resource-versions", default="v1")
    ap.add_argument("--kubelet-version", default="1.34")
    ap.add_argument("--wipe-delay", type=float, default=30.0)
    ap.add_argument("--health", default="always", choices=("always", "advertised", "off"))
    ap.add_argument("--no-device-plugins", action="store_true")
    ap.add_argument("--cdi-dir", default="/var/run/cdi")
    a = ap.parse_args(argv)
    c = SimCluster(a.workdir, nodes=a.node or ["node-a"],
                   resource_versions=tuple(v for v in a.resource_versions.split(",")
                                           if v and v != "none"),
                   kubelet_version=a.kubelet_version, wipe_delay=a.wipe_delay, health=a.health,
                   device_plugins=not a.no_device_plugins, cdi_dir=a.cdi_dir)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    c.start()
    try:
        with open(os.path.join(c.workdir, "cluster.json"), "w") as f:
            json.dump(c.describe(), f, indent=1)
        print(f"READY {c.api.url} {c.kubeconfig}", flush=True)
        ctl = os.path.join(c.workdir, "control")
        os.makedirs(ctl, exist_ok=True)
        restart_all = threading.Event()
        signal.signal(signal.SIGHUP, lambda *_: restart_all.set())
        while not done.wait(0.2):
            todo = set(c.nodes) if restart_all.is_set() else set()
            restart_all.clear()
            for f in os.listdir(ctl):
                if f.startswith("restart-kubelet-") and f[len("restart-kubelet-"):] in c.kubelets:
                    todo.add(f[len("restart-kubelet-"):])
                    os.unlink(os.path.join(ctl, f))
            for n in sorted(todo):
                c.kubelets[n].restart()
                print(f"RESTARTED kubelet {n}", flush=True)
    finally:
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
