"""Device-plugin manager of the simulated kubelet (device plugin API v1beta1).

Serves /v1beta1.Registration/Register on <dir>/kubelet.sock. On Register it connects back to
<dir>/<endpoint>, consumes ListAndWatch (capacity = devices, allocatable = healthy devices,
mirrored into the Node's status), and for a container with resources.limits[<resource>] = n it
picks n free healthy devices (GetPreferredAllocation first when the plugin offers it), calls
PreStartContainer when required, and Allocate; the container then gets the response's
cdi_devices as podman --device <CDI ID>, legacy devices as --device host:ctr:perm, mounts as -v
and envs as -e. restart_cleanup() deletes every socket in the dir, like a new kubelet.

API: DevicePluginManager(kubelet, dir).start() / .stop() / .restart_cleanup()
     .resources() -> {resource: (capacity, allocatable)}; .endpoints -> {resource: Endpoint}
     (Endpoint.history: (time, {id: health}) per ListAndWatch message; .topology: {id: [numa]})
     .register_log: [(time, resource, accepted, endpoint or error)]; .refuse: refuse the next
     n Register calls; .started_at: when
     kubelet.sock began to serve (re-registration time = next register_log time - started_at)
     .allocate_container(pod, ctr) -> {"cdi_devices", "devices", "mounts", "envs"}
     .release_pod(pod uid); .allocations -> {(pod uid, ctr): {resource: [ids]}}
"""

import concurrent.futures
import os
import stat
import threading
import time

import grpc

from hdproto import protos
from kubelet_dp_checkpoint import DPCheckpoint
from scheduler import _quantity

KUBELET_SOCKET = "kubelet.sock"


class DeviceAllocateError(Exception):
    pass


class Endpoint:
    def __init__(self, mgr, resource, endpoint, options):
        self.mgr = mgr
        self.resource = resource
        self.endpoint = endpoint
        self.path = os.path.join(mgr.dir, endpoint)
        self.options = options
        self.devices = {}   # id -> health
        self.topology = {}  # id -> [NUMA node IDs] (empty: the plugin sent no topology)
        self.history = []   # (time.time(), {id: health}) per ListAndWatch message
        self.channel = grpc.insecure_channel("unix://" + self.path)
        p = protos()
        self.pb = p.deviceplugin_v1beta1_pb2
        self.stub = p.deviceplugin_v1beta1_pb2_grpc.DevicePluginStub(self.channel)
        self.alive = True
        self.updates = 0
        self._call = None
        self.thread = threading.Thread(target=self._watch, name=f"dp-{resource}", daemon=True)

    def _watch(self):
        log = self.mgr.log
        try:
            self._call = self.stub.ListAndWatch(self.pb.Empty())
            for resp in self._call:
                self.devices = {d.ID: d.health for d in resp.devices}
                self.topology = {d.ID: [n.ID for n in d.topology.nodes] for d in resp.devices}
                self.history.append((time.time(), dict(self.devices)))
                self.mgr.checkpoint.registered(self.resource, sorted(self.devices))
                self.updates += 1
                log.info("device plugin %s: ListAndWatch %s", self.resource,
                         sorted(self.devices.items()))
                self.mgr.node_status_changed()
        except grpc.RpcError as e:
            log.info("device plugin %s: ListAndWatch ended: %s", self.resource,
                     e.code() if hasattr(e, "code") else e)
        self.alive = False
        if self.mgr.endpoints.get(self.resource) is self:
            self.mgr.node_status_changed()

    def close(self):
        self.alive = False
        if self._call is not None:
            try:
                self._call.cancel()
            except Exception:
                pass
        try:
            self.channel.close()
        except Exception:
            pass


class DevicePluginManager:
    def __init__(self, kubelet, directory):
        self.k = kubelet
        self.log = kubelet.log
        self.dir = directory
        self.endpoints = {}
        self.allocations = {}  # (pod uid, ctr name) -> {resource: [ids]}
        self.register_log = []
        self.started_at = None  # time.time() when kubelet.sock last began to serve
        self.refuse = 0  # tests: refuse this many more Register calls (INVALID_ARGUMENT)
        self.checkpoint = DPCheckpoint(directory)  # kubelet_internal_checkpoint, real format
        self._lock = threading.RLock()
        self._server = None

    # -- registration server ----------------------------------------------------------------
    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        p = protos()
        mgr = self

        class Reg(p.deviceplugin_v1beta1_pb2_grpc.RegistrationServicer):
            def Register(self, request, context):
                try:
                    mgr._register(request)
                except DeviceAllocateError as e:
                    mgr.register_log.append((time.time(), request.resource_name, False, str(e)))
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
                mgr.register_log.append((time.time(), request.resource_name, True, request.endpoint))
                return p.deviceplugin_v1beta1_pb2.Empty()

        sock = os.path.join(self.dir, KUBELET_SOCKET)
        if os.path.exists(sock):
            os.unlink(sock)
        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
        p.deviceplugin_v1beta1_pb2_grpc.add_RegistrationServicer_to_server(Reg(), self._server)
        self._server.add_insecure_port("unix://" + sock)
        self._server.start()
        self.started_at = time.time()
        self.log.info("device-plugin registration serving on %s", sock)

    def stop(self):
        if self._server is not None:
            self._server.stop(0)
            self._server = None
        with self._lock:
            for ep in self.endpoints.values():
                ep.close()

    def restart_cleanup(self):
        """A new kubelet deletes every socket in the device-plugins dir."""
        with self._lock:
            for ep in self.endpoints.values():
                ep.close()
        for f in os.listdir(self.dir):
            p = os.path.join(self.dir, f)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    os.unlink(p)
                    self.log.info("kubelet restart: removed socket %s", p)
            except OSError:
                pass

    def _register(self, req):
        if self.refuse > 0:
            self.refuse -= 1
            raise DeviceAllocateError(f"registration of {req.resource_name} refused by the test")
        if req.version != "v1beta1":
            raise DeviceAllocateError(f"version {req.version!r} not supported (want v1beta1)")
        if "/" not in req.resource_name or not req.endpoint or "/" in req.endpoint:
            raise DeviceAllocateError(f"invalid registration {req.resource_name!r} "
                                      f"endpoint {req.endpoint!r}")
        ep = Endpoint(self, req.resource_name, req.endpoint, req.options)
        try:
            grpc.channel_ready_future(ep.channel).result(timeout=2.0)
        except grpc.FutureTimeoutError:
            ep.close()
            raise DeviceAllocateError(f"cannot connect to {ep.path}")
        with self._lock:
            old = self.endpoints.get(req.resource_name)
            self.endpoints[req.resource_name] = ep
        if old is not None:
            old.close()
        self.log.info("device plugin registered: %s at %s (preferred=%s prestart=%s)",
                      req.resource_name, ep.path, req.options.get_preferred_allocation_available,
                      req.options.pre_start_required)
        ep.thread.start()

    # -- capacity ------------------------------------------------------------------------------
    def resources(self):
        with self._lock:
            out = {}
            for r, ep in self.endpoints.items():
                healthy = sum(1 for h in ep.devices.values() if h == "Healthy") if ep.alive else 0
                out[r] = (len(ep.devices), healthy)
            return out

    def node_status_changed(self):
        try:
            self.k.update_node_status()
        except Exception as e:
            self.log.warning("node status update failed: %s", e)

    # -- allocation ----------------------------------------------------------------------------
    def _in_use(self, resource):
        used = set()
        for alloc in self.allocations.values():
            used.update(alloc.get(resource, []))
        return used

    def allocate_container(self, pod, ctr):
        uid = pod["metadata"]["uid"]
        key = (uid, ctr["name"])
        limits = (ctr.get("resources") or {}).get("limits") or {}
        out = {"cdi_devices": [], "devices": [], "mounts": [], "envs": {}}
        with self._lock:
            wanted = {r: _quantity(v) for r, v in limits.items() if r in self.endpoints}
            for r in limits:
                if "/" in r and not r.startswith("kubernetes.io/") and r not in self.endpoints:
                    raise DeviceAllocateError(f"no device plugin registered for {r}")
            for res, n in sorted(wanted.items()):
                ep = self.endpoints[res]
                ids = (self.allocations.get(key) or {}).get(res)
                if ids is None:
                    free = sorted(i for i, h in ep.devices.items()
                                  if h == "Healthy" and i not in self._in_use(res))
                    if len(free) < n:
                        raise DeviceAllocateError(f"requested {n} {res}, {len(free)} available")
                    ids = free[:n]
                    if ep.options.get_preferred_allocation_available:
                        pr = ep.stub.GetPreferredAllocation(ep.pb.PreferredAllocationRequest(
                            container_requests=[ep.pb.ContainerPreferredAllocationRequest(
                                available_deviceIDs=free, allocation_size=n)]), timeout=10)
                        pref = list(pr.container_responses[0].deviceIDs) if pr.container_responses else []
                        if len(pref) == n and all(i in free for i in pref):
                            ids = pref
                        self.log.info("GetPreferredAllocation %s from %s: %s", res, free, pref)
                    self.allocations.setdefault(key, {})[res] = ids
                if ep.options.pre_start_required:
                    ep.stub.PreStartContainer(ep.pb.PreStartContainerRequest(devices_ids=ids),
                                              timeout=30)
                resp = ep.stub.Allocate(ep.pb.AllocateRequest(container_requests=[
                    ep.pb.ContainerAllocateRequest(devices_ids=ids)]), timeout=30)
                self.checkpoint.allocated(uid, ctr["name"], res, ids,
                                          lambda i: getattr(ep, "numa", {}).get(i, -1),
                                          b"".join(c.SerializeToString()
                                                   for c in resp.container_responses))
                self.log.info("Allocate %s %s for %s/%s: %s", res, ids,
                              pod["metadata"]["name"], ctr["name"], str(resp).replace("\n", " "))
                for cr in resp.container_responses:
                    out["cdi_devices"] += [c.name for c in cr.cdi_devices]
                    if not cr.cdi_devices:
                        out["devices"] += [{"host_path": d.host_path,
                                            "container_path": d.container_path,
                                            "permissions": d.permissions} for d in cr.devices]
                        out["mounts"] += [{"host_path": m.host_path,
                                           "container_path": m.container_path,
                                           "read_only": m.read_only} for m in cr.mounts]
                        out["envs"].update(dict(cr.envs))
        return out

    def release_pod(self, pod_uid):
        with self._lock:
            for key in [k for k in self.allocations if k[0] == pod_uid]:
                self.allocations.pop(key, None)
        self.checkpoint.released(pod_uid)
