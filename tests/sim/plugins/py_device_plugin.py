#!/usr/bin/python3
"""Tiny device plugin (v1beta1) in Python, for the simulator's self-tests.

Serves DevicePlugin on <dir>/<name>.sock, then calls Register on <dir>/kubelet.sock.
ListAndWatch streams the --device ID=HOSTPATH list (all Healthy; SIGUSR1 toggles the first
device's health). Allocate answers with CDI IDs (--mode cdi: a static spec
<cdi-dir>/k8s.<domain>-<group>.json written at start, removed at exit) or legacy DeviceSpecs
(--mode legacy: host path -> /dev/hostdev-<id>, plus env HOSTDEV_IDS). When its socket vanishes
(kubelet restart) it serves again and re-registers. Every RPC is appended to --calls-log.
Prints "READY" after the first successful registration; SIGTERM removes socket/spec and exits.
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
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))

import grpc  # noqa: E402

from hdproto import protos  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--resource", default="hostdev.example.com/null")
    ap.add_argument("--dir", required=True, help="device-plugins dir (holds kubelet.sock)")
    ap.add_argument("--name", default=None, help="socket file name (default from resource)")
    ap.add_argument("--device", action="append", default=[], help="ID=HOSTPATH")
    ap.add_argument("--mode", choices=("cdi", "legacy"), default="cdi")
    ap.add_argument("--cdi-dir", default="/var/run/cdi")
    ap.add_argument("--preferred", action="store_true", help="offer GetPreferredAllocation "
                    "(prefers the highest IDs)")
    ap.add_argument("--calls-log", default=None)
    return ap.parse_args(argv)


class DevicePlugin:
    def __init__(self, a):
        self.a = a
        self.p = protos()
        self.pb = self.p.deviceplugin_v1beta1_pb2
        domain, group = a.resource.split("/", 1)
        self.kind = f"k8s.{domain}/{group}"
        self.cdi_file = os.path.join(a.cdi_dir, f"k8s.{domain}-{group}.json")
        self.sock_name = a.name or f"{domain}-{group}.sock"
        self.sock = os.path.join(a.dir, self.sock_name)
        self.devices = dict(d.split("=", 1) for d in a.device)
        self.health = {i: "Healthy" for i in self.devices}
        self.changed = threading.Condition()
        self.lock = threading.Lock()
        self.server = None
        self.registrations = 0

    def record(self, what, **kw):
        if not self.a.calls_log:
            return
        with self.lock, open(self.a.calls_log, "a") as f:
            f.write(json.dumps(dict(kw, call=what, time=time.time())) + "\n")

    def write_cdi(self):
        devs = []
        for i, path in sorted(self.devices.items()):
            st = os.stat(path)
            devs.append({"name": i, "containerEdits": {
                "deviceNodes": [{"path": f"/dev/hostdev-{i}", "hostPath": path, "type": "c",
                                 "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev)}],
                "env": [f"HOSTDEV_DP_{i.upper().replace('-', '_')}=1"]}})
        os.makedirs(self.a.cdi_dir, exist_ok=True)
        with open(self.cdi_file + ".tmp", "w") as f:
            json.dump({"cdiVersion": "0.5.0", "kind": self.kind, "devices": devs}, f)
        os.replace(self.cdi_file + ".tmp", self.cdi_file)

    def servicer(self):
        dp = self
        pb = self.pb

        class S(self.p.deviceplugin_v1beta1_pb2_grpc.DevicePluginServicer):
            def GetDevicePluginOptions(self, request, context):
                return pb.DevicePluginOptions(get_preferred_allocation_available=dp.a.preferred)

            def ListAndWatch(self, request, context):
                dp.record("ListAndWatch")
                last = None
                while context.is_active():
                    with dp.changed:
                        cur = dict(dp.health)
                        if cur == last:
                            dp.changed.wait(0.5)
                            continue
                    last = cur
                    yield pb.ListAndWatchResponse(devices=[pb.Device(ID=i, health=h)
                                                           for i, h in sorted(cur.items())])

            def GetPreferredAllocation(self, request, context):
                dp.record("GetPreferredAllocation", requests=[
                    [list(r.available_deviceIDs), r.allocation_size] for r in request.container_requests])
                out = pb.PreferredAllocationResponse()
                for r in request.container_requests:
                    ids = sorted(r.available_deviceIDs, reverse=True)[:r.allocation_size]
                    out.container_responses.add(deviceIDs=ids)
                return out

            def Allocate(self, request, context):
                dp.record("Allocate", requests=[list(r.devices_ids) for r in request.container_requests])
                out = pb.AllocateResponse()
                for r in request.container_requests:
                    cr = out.container_responses.add()
                    for i in r.devices_ids:
                        if i not in dp.devices:
                            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown device {i}")
                        if dp.a.mode == "cdi":
                            cr.cdi_devices.add(name=f"{dp.kind}={i}")
                        else:
                            cr.devices.add(host_path=dp.devices[i], container_path=f"/dev/hostdev-{i}",
                                           permissions="rw")
                    if dp.a.mode == "legacy":
                        cr.envs["HOSTDEV_IDS"] = ",".join(r.devices_ids)
                return out

            def PreStartContainer(self, request, context):
                return pb.PreStartContainerResponse()
        return S()

    def serve(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
        self.p.deviceplugin_v1beta1_pb2_grpc.add_DevicePluginServicer_to_server(self.servicer(),
                                                                                self.server)
        self.server.add_insecure_port("unix://" + self.sock)
        self.server.start()

    def register(self):
        kubelet_sock = os.path.join(self.a.dir, "kubelet.sock")
        with grpc.insecure_channel("unix://" + kubelet_sock) as ch:
            stub = self.p.deviceplugin_v1beta1_pb2_grpc.RegistrationStub(ch)
            stub.Register(self.pb.RegisterRequest(
                version="v1beta1", endpoint=self.sock_name, resource_name=self.a.resource,
                options=self.pb.DevicePluginOptions(
                    get_preferred_allocation_available=self.a.preferred)), timeout=5)
        self.registrations += 1
        self.record("Register", n=self.registrations)

    def toggle(self):
        with self.changed:
            first = sorted(self.health)[0]
            self.health[first] = "Unhealthy" if self.health[first] == "Healthy" else "Healthy"
            self.changed.notify_all()

    def stop(self):
        if self.server is not None:
            self.server.stop(0)
        for f in (self.sock, self.cdi_file if self.a.mode == "cdi" else None):
            if f:
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass


def main(argv=None):
    a = parse_args(argv)
    dp = DevicePlugin(a)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: dp.toggle())
    if a.mode == "cdi":
        dp.write_cdi()
    ready = False
    registered = False
    while not done.is_set():
        if dp.server is None or not os.path.exists(dp.sock):
            if dp.server is not None:
                print("socket removed: kubelet restarted, serving again", file=sys.stderr, flush=True)
                dp.server.stop(0)
            dp.serve()
            registered = False
        if not registered and os.path.exists(os.path.join(a.dir, "kubelet.sock")):
            try:
                dp.register()
                registered = True
                if not ready:
                    print("READY", flush=True)
                    ready = True
            except grpc.RpcError as e:
                print(f"register failed: {e.code()}", file=sys.stderr, flush=True)
        done.wait(0.1)
    dp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
