#!/usr/bin/python3
"""Tiny DRA kubelet plugin in Python, for the simulator's self-tests (not our C driver).

Serves the DRA service (v1 and/or v1beta1 DRAPlugin, optionally v1alpha1.DRAResourceHealth) on
<plugins-dir>/<driver>/dra.sock, then the registration service on
<registry-dir>/<driver>-reg.sock; publishes one ResourceSlice (pool = node) with one device per
--device NAME=HOSTPATH; NodePrepareResources GETs each claim, writes a per-claim CDI spec
<cdi-dir>/k8s.<driver>-claim_<uid>.json with the character device node(s) and returns the CDI
IDs; NodeUnprepareResources removes the spec. With --health it streams device health every
second (SIGUSR1 toggles the first device between HEALTHY and UNHEALTHY). Every RPC is appended as a JSON line to --calls-log.
Prints "READY" on stdout once both sockets serve; SIGTERM removes both sockets and exits.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))

import grpc  # noqa: E402

from hdproto import protos  # noqa: E402
from kclient import ApiError, KubeClient  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", default="py.hostdev.example.com")
    ap.add_argument("--node", required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--registry-dir", required=True)
    ap.add_argument("--plugins-dir", required=True)
    ap.add_argument("--cdi-dir", default="/var/run/cdi")
    ap.add_argument("--device", action="append", default=[], help="NAME=HOSTPATH (char device)")
    ap.add_argument("--versions", default="v1.DRAPlugin,v1beta1.DRAPlugin")
    ap.add_argument("--serve", default="v1,v1beta1", help="DRA services actually served")
    ap.add_argument("--health", action="store_true", help="serve v1alpha1.DRAResourceHealth")
    ap.add_argument("--resource-version", default="v1")
    ap.add_argument("--no-publish", action="store_true")
    ap.add_argument("--fail-prepare", default="", help="error text returned for every claim")
    ap.add_argument("--fail-unprepare-times", type=int, default=0)
    ap.add_argument("--calls-log", default=None)
    return ap.parse_args(argv)


class DraPlugin:
    def __init__(self, a):
        self.a = a
        self.p = protos()
        self.client = KubeClient.from_kubeconfig(a.kubeconfig, user_agent="py-dra-plugin")
        self.devices = {}
        for spec in a.device:
            name, path = spec.split("=", 1)
            self.devices[name] = path
        self.prepared = {}
        self.lock = threading.Lock()
        self.unprepare_failures = a.fail_unprepare_times
        self.unhealthy = set()
        self.health_changed = threading.Event()
        self.registered = threading.Event()
        self.reg_status = None
        self.dra_sock = os.path.join(a.plugins_dir, a.driver, "dra.sock")
        self.reg_sock = os.path.join(a.registry_dir, f"{a.driver}-reg.sock")

    def record(self, what, **kw):
        if not self.a.calls_log:
            return
        with self.lock, open(self.a.calls_log, "a") as f:
            f.write(json.dumps(dict(kw, call=what, time=time.time())) + "\n")

    # -- slices -------------------------------------------------------------------------------
    def publish(self):
        a = self.a
        devs = []
        for i, (name, path) in enumerate(sorted(self.devices.items())):
            attrs = {"index": {"int": i}, "path": {"string": path}, "healthy": {"bool": True},
                     "driverVersion": {"version": "1.0.0"}}
            devs.append({"name": name, "basic": {"attributes": attrs}}
                        if a.resource_version == "v1beta1" else {"name": name, "attributes": attrs})
        body = {"apiVersion": f"resource.k8s.io/{a.resource_version}", "kind": "ResourceSlice",
                "metadata": {"generateName": f"{a.node}-{a.driver}-"},
                "spec": {"driver": a.driver, "nodeName": a.node,
                         "pool": {"name": a.node, "generation": 1, "resourceSliceCount": 1},
                         "devices": devs}}
        s = self.client.create(f"/apis/resource.k8s.io/{a.resource_version}/resourceslices", body)
        self.record("Publish", name=s["metadata"]["name"])

    # -- DRA service --------------------------------------------------------------------------
    def _claim_results(self, ns, name, uid):
        c = self.client.get(f"/apis/resource.k8s.io/{self.a.resource_version}/namespaces/{ns}"
                            f"/resourceclaims/{name}")
        if c["metadata"]["uid"] != uid:
            raise RuntimeError(f"claim {ns}/{name} got replaced (uid {c['metadata']['uid']})")
        alloc = (c.get("status") or {}).get("allocation")
        if not alloc:
            raise RuntimeError(f"claim {ns}/{name} not allocated")
        return [r for r in alloc["devices"].get("results") or [] if r["driver"] == self.a.driver]

    def _cdi_path(self, uid):
        return os.path.join(self.a.cdi_dir, f"k8s.{self.a.driver}-claim_{uid}.json")

    def prepare_one(self, pb, claim):
        if self.a.fail_prepare:
            return pb.NodePrepareResourceResponse(error=self.a.fail_prepare)
        results = self._claim_results(claim.namespace, claim.name, claim.uid)
        kind = f"k8s.{self.a.driver}/claim"
        spec_devs, out = [], []
        for r in results:
            host = self.devices.get(r["device"])
            if host is None:
                return pb.NodePrepareResourceResponse(error=f"unknown device {r['device']}")
            st = os.stat(host)
            cname = f"{claim.uid}-{r['device']}"
            spec_devs.append({"name": cname, "containerEdits": {
                "deviceNodes": [{"path": f"/dev/hostdev/{r['device']}", "hostPath": host,
                                 "type": "c", "major": os.major(st.st_rdev),
                                 "minor": os.minor(st.st_rdev), "permissions": "rw"}],
                "env": [f"HOSTDEV_DEVICE_{r['device'].upper().replace('-', '_')}="
                        f"/dev/hostdev/{r['device']}"]}})
            out.append(pb.Device(request_names=[r["request"].split("/")[0]], pool_name=r["pool"],
                                 device_name=r["device"], cdi_device_ids=[f"{kind}={cname}"]))
        spec = {"cdiVersion": "0.5.0", "kind": kind, "devices": spec_devs}
        os.makedirs(self.a.cdi_dir, exist_ok=True)
        path = self._cdi_path(claim.uid)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(spec, f)
        os.replace(tmp, path)
        with self.lock:
            self.prepared[claim.uid] = path
        return pb.NodePrepareResourceResponse(devices=out)

    def make_dra_servicer(self, version):
        pb = self.p.dra_v1_pb2 if version == "v1" else self.p.dra_v1beta1_pb2
        base = (self.p.dra_v1_pb2_grpc if version == "v1" else self.p.dra_v1beta1_pb2_grpc).DRAPluginServicer
        plugin = self

        class S(base):
            def NodePrepareResources(self, request, context):
                plugin.record("NodePrepareResources", version=version,
                              claims=[[c.namespace, c.name, c.uid] for c in request.claims])
                resp = pb.NodePrepareResourcesResponse()
                for c in request.claims:
                    try:
                        resp.claims[c.uid].CopyFrom(plugin.prepare_one(pb, c))
                    except Exception as e:
                        resp.claims[c.uid].CopyFrom(pb.NodePrepareResourceResponse(error=str(e)))
                return resp

            def NodeUnprepareResources(self, request, context):
                plugin.record("NodeUnprepareResources", version=version,
                              claims=[[c.namespace, c.name, c.uid] for c in request.claims])
                resp = pb.NodeUnprepareResourcesResponse()
                for c in request.claims:
                    if plugin.unprepare_failures > 0:
                        plugin.unprepare_failures -= 1
                        resp.claims[c.uid].error = "injected unprepare failure"
                        continue
                    with plugin.lock:
                        path = plugin.prepared.pop(c.uid, plugin._cdi_path(c.uid))
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                    resp.claims[c.uid].CopyFrom(pb.NodeUnprepareResourceResponse())
                return resp
        return S()

    def make_health_servicer(self):
        hp = self.p.dra_health_v1alpha1_pb2
        plugin = self

        class H(self.p.dra_health_v1alpha1_pb2_grpc.DRAResourceHealthServicer):
            def NodeWatchResources(self, request, context):
                plugin.record("NodeWatchResources")
                while context.is_active():
                    devs = [hp.DeviceHealth(device=hp.DeviceIdentifier(pool_name=plugin.a.node,
                                                                       device_name=n),
                                            health=hp.UNHEALTHY if n in plugin.unhealthy
                                            else hp.HEALTHY,
                                            last_updated_time=int(time.time()))
                            for n in sorted(plugin.devices)]
                    yield hp.NodeWatchResourcesResponse(devices=devs)
                    plugin.health_changed.wait(1.0)
                    plugin.health_changed.clear()
        return H()

    def make_reg_servicer(self):
        rp = self.p.pluginregistration_pb2
        plugin = self

        class R(self.p.pluginregistration_pb2_grpc.RegistrationServicer):
            def GetInfo(self, request, context):
                plugin.record("GetInfo")
                return rp.PluginInfo(type="DRAPlugin", name=plugin.a.driver,
                                     endpoint=plugin.dra_sock,
                                     supported_versions=[v for v in plugin.a.versions.split(",") if v])

            def NotifyRegistrationStatus(self, request, context):
                plugin.record("NotifyRegistrationStatus", registered=request.plugin_registered,
                              error=request.error)
                plugin.reg_status = (request.plugin_registered, request.error)
                if request.plugin_registered:
                    plugin.registered.set()
                return rp.RegistrationStatusResponse()
        return R()

    # -- run ----------------------------------------------------------------------------------
    def serve(self):
        for d in (os.path.dirname(self.dra_sock), self.a.registry_dir):
            os.makedirs(d, exist_ok=True)
        for s in (self.dra_sock, self.reg_sock):
            if os.path.exists(s):
                os.unlink(s)
        self.dra_server = grpc.server(concurrent.futures.ThreadPoolExecutor(8))
        served = self.a.serve.split(",")
        if "v1" in served:
            self.p.dra_v1_pb2_grpc.add_DRAPluginServicer_to_server(self.make_dra_servicer("v1"),
                                                                   self.dra_server)
        if "v1beta1" in served:
            self.p.dra_v1beta1_pb2_grpc.add_DRAPluginServicer_to_server(
                self.make_dra_servicer("v1beta1"), self.dra_server)
        if self.a.health:
            self.p.dra_health_v1alpha1_pb2_grpc.add_DRAResourceHealthServicer_to_server(
                self.make_health_servicer(), self.dra_server)
        self.dra_server.add_insecure_port("unix://" + self.dra_sock)
        self.dra_server.start()
        self.reg_server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
        self.p.pluginregistration_pb2_grpc.add_RegistrationServicer_to_server(
            self.make_reg_servicer(), self.reg_server)
        self.reg_server.add_insecure_port("unix://" + self.reg_sock)
        self.reg_server.start()

    def toggle_first(self):
        first = sorted(self.devices)[0]
        self.unhealthy ^= {first}
        self.health_changed.set()

    def shutdown(self):
        for srv in (getattr(self, "reg_server", None), getattr(self, "dra_server", None)):
            if srv is not None:
                srv.stop(0)
        for s in (self.reg_sock, self.dra_sock):
            try:
                os.unlink(s)
            except FileNotFoundError:
                pass


def main(argv=None):
    a = parse_args(argv)
    plugin = DraPlugin(a)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: plugin.toggle_first())
    plugin.serve()
    if not a.no_publish:
        for _ in range(50):
            try:
                plugin.publish()
                break
            except (ApiError, OSError) as e:
                print(f"publish failed: {e}", file=sys.stderr, flush=True)
                time.sleep(0.2)
    print("READY", flush=True)
    done.wait()
    plugin.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
