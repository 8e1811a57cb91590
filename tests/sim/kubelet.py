"""Simulated kubelet: DRA plugin watcher + DRA manager + pod lifecycle with real podman containers,
and (through kubelet_dp.DevicePluginManager) the device-plugin manager.

Public API:
    Kubelet(client, node_name, workdir, registry_dir, device_plugins_dir=None, *,
            kubelet_version="1.34", wipe_delay=30.0, health="always", health_retry=5.0,
            sync_interval=0.1, prepare_retry=1.0, log_path=None, rootfs=None,
            stop_timeout=2.0)
        .start() / .stop() / .restart()      restart = new kubelet process: plugin registrations
                                             forgotten and redone, all node slices wiped,
                                             device-plugin sockets deleted; prepared claims and
                                             running containers survive (checkpoint + runtime)
        .registered_drivers() -> {driver: [Plugin]}
        .wait_registered(driver, timeout)  /  .wait_pod_phase(ns, name, phases, timeout)
        .container_output(ns, pod, ctr) -> {"stdout", "stderr", "exit_code"} (None while running)
        .prepared_claims() -> {claim uid: {...}}
        .health -> {driver: [DeviceHealth as dicts]} (last NodeWatchResources message)
        .log_path, .dp (DevicePluginManager or None)
    kubelet_version "1.34" (and later): first of v1.DRAPlugin / v1beta1.DRAPlugin in the plugin's
    list; "1.32"/"1.33": v1beta1.DRAPlugin only. health: "always" (1.36.2 as observed: open
    NodeWatchResources after every registration, retry every health_retry s while UNIMPLEMENTED),
    "advertised" (only when the plugin lists v1alpha1.DRAResourceHealth), "off".
"""

import copy
import json
import os
import shlex
import socket
import stat
import subprocess
import threading
import time

import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hdproto import protos  # noqa: E402
from kclient import ApiError
from kubelet_events import EventRecorder, make_logger, now_rfc3339
from rootfs import build_rootfs
from scheduler import normalize_claim, pod_claim_name, pod_terminal

PREPARE_TIMEOUT = 45.0
GETINFO_TIMEOUT = 1.0
KUBELET_SERVICES = ("v1.DRAPlugin", "v1beta1.DRAPlugin")
HEALTH_SERVICE = "v1alpha1.DRAResourceHealth"
DEFAULT_HEALTH_TIMEOUT = 30
HEALTH_NAMES = {"HEALTHY": "Healthy", "UNHEALTHY": "Unhealthy", "UNKNOWN": "Unknown"}
CONTAINER_LABEL = "io.hostdev.sim.kubelet"
PODMAN_BASE = ["--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
               "--ulimit", "nproc=1024:1024"]


class PrepareError(Exception):
    pass


class Wait(Exception):
    """Not an error: the pod cannot progress yet (claim not allocated, ...)."""


# ---------------------------------------------------------------------------------------------
# one registered DRA plugin instance

class Plugin:
    def __init__(self, kubelet, reg_path, mtime, info, version):
        self.kubelet = kubelet
        self.reg_path = reg_path
        self.mtime = mtime
        self.driver = info.name
        self.endpoint = info.endpoint or reg_path
        self.supported = list(info.supported_versions)
        self.version = version  # "v1" or "v1beta1"
        self.registered_at = time.time()
        self.channel = grpc.insecure_channel("unix://" + self.endpoint)
        p = protos()
        self.pb = p.dra_v1_pb2 if version == "v1" else p.dra_v1beta1_pb2
        mod = p.dra_v1_pb2_grpc if version == "v1" else p.dra_v1beta1_pb2_grpc
        self.stub = mod.DRAPluginStub(self.channel)
        self.connected = True
        self._stop = threading.Event()
        self._health_call = None
        self._health_thread = None

    def __repr__(self):
        return f"Plugin({self.driver}, {self.version}, {self.endpoint})"

    def _claims(self, claims):
        return [self.pb.Claim(namespace=c["namespace"], uid=c["uid"], name=c["name"]) for c in claims]

    def prepare(self, claims, timeout=PREPARE_TIMEOUT):
        return self.stub.NodePrepareResources(
            self.pb.NodePrepareResourcesRequest(claims=self._claims(claims)), timeout=timeout)

    def unprepare(self, claims, timeout=PREPARE_TIMEOUT):
        return self.stub.NodeUnprepareResources(
            self.pb.NodeUnprepareResourcesRequest(claims=self._claims(claims)), timeout=timeout)

    def probe(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(self.endpoint)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def start_health(self, retry):
        self._health_thread = threading.Thread(target=self._health_loop, args=(retry,),
                                               name=f"health-{self.driver}", daemon=True)
        self._health_thread.start()

    def _health_loop(self, retry):
        p = protos()
        stub = p.dra_health_v1alpha1_pb2_grpc.DRAResourceHealthStub(self.channel)
        log = self.kubelet.log
        while not self._stop.is_set():
            try:
                call = stub.NodeWatchResources(p.dra_health_v1alpha1_pb2.NodeWatchResourcesRequest())
                self._health_call = call
                log.info("health stream to %s opened", self.driver)
                for resp in call:
                    devs = [{"pool": d.device.pool_name, "device": d.device.device_name,
                             "health": p.dra_health_v1alpha1_pb2.HealthStatus.Name(d.health),
                             "last_updated_time": d.last_updated_time,
                             "timeout": d.health_check_timeout_seconds or DEFAULT_HEALTH_TIMEOUT,
                             "received": time.time(),
                             "message": d.message} for d in resp.devices]
                    self.kubelet.health[self.driver] = devs
                    self.kubelet.health_updates += 1
            except grpc.RpcError as e:
                if self._stop.is_set():
                    return
                code = e.code() if hasattr(e, "code") else None
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    log.error("health stream of %s: NodeWatchResources UNIMPLEMENTED; "
                              "retrying in %.1fs", self.driver, retry)
                    self.kubelet.health_unimplemented[self.driver] = \
                        self.kubelet.health_unimplemented.get(self.driver, 0) + 1
                else:
                    log.error("health stream of %s failed: %s; retrying in %.1fs", self.driver,
                              code, retry)
            self._stop.wait(retry)

    def close(self):
        self._stop.set()
        if self._health_call is not None:
            try:
                self._health_call.cancel()
            except Exception:
                pass
        try:
            self.channel.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# a container run by podman

class Container:
    def __init__(self, name, podname, cmd, out_dir):
        self.name = name
        self.podman_name = podname
        self.cmd = cmd
        self.out_dir = out_dir
        self.proc = None
        self.started_at = None
        self.finished_at = None
        self.exit_code = None
        self.container_id = None
        self.error = None

    def paths(self):
        b = os.path.join(self.out_dir, self.name)
        return b + ".stdout", b + ".stderr", b + ".exitcode", b + ".cid", b + ".cmd"

    def start(self):
        so, se, ec, cid, cmdf = self.paths()
        for p in (ec, cid):
            if os.path.exists(p):
                os.unlink(p)
        with open(cmdf, "w") as f:
            f.write(" ".join(shlex.quote(a) for a in self.cmd) + "\n")
        self.cmd = self.cmd[:2] + ["--cidfile", cid] + self.cmd[2:]
        with open(so, "wb") as fo, open(se, "wb") as fe:
            self.proc = subprocess.Popen(self.cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.started_at = now_rfc3339()

    def poll(self):
        if self.proc is None or self.exit_code is not None:
            return self.exit_code
        rc = self.proc.poll()
        if self.container_id is None:
            try:
                with open(self.paths()[3]) as f:
                    self.container_id = f.read().strip() or None
            except OSError:
                pass
        if rc is not None:
            self.exit_code = rc
            self.finished_at = now_rfc3339()
            with open(self.paths()[2], "w") as f:
                f.write(f"{rc}\n")
        return self.exit_code

    def stop(self, timeout):
        """podman stop, retried while the container is still being created (a pod deleted
        right after its start); podman rm -f and a kill as the last resort."""
        if self.proc is None or self.poll() is not None:
            return
        t = int(max(0, timeout))
        deadline = time.time() + t + 20
        while time.time() < deadline:
            try:
                subprocess.run(["podman", "stop", "-t", str(t), self.podman_name],
                               capture_output=True, timeout=t + 15)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(1.0)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.proc.poll() is None:
            try:
                subprocess.run(["podman", "rm", "-f", "-t", "0", self.podman_name],
                               capture_output=True, timeout=30)
            except subprocess.TimeoutExpired:
                pass
            self.proc.kill()
            self.proc.wait(10)
        self.poll()


# ---------------------------------------------------------------------------------------------
# per-pod state + worker

class PodWorker:
    def __init__(self, kubelet, pod):
        self.k = kubelet
        self.pod = pod
        md = pod["metadata"]
        self.ns, self.name, self.uid = md["namespace"], md["name"], md["uid"]
        self.key = f"{self.ns}/{self.name}"
        self.deleted = False
        self.wake = threading.Event()
        self.containers = {}
        self.claim_uids = {}     # pod claim name -> claim uid
        self.cdi_ids = {}        # container name -> CDI IDs passed to podman
        self.phase = "Pending"
        self.stage = "prepare"
        self.terminated = False
        self.released = False
        self.dir = os.path.join(kubelet.workdir, "pods", f"{self.ns}_{self.name}_{self.uid[:8]}")
        os.makedirs(self.dir, exist_ok=True)
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.key}", daemon=True)

    def update(self, pod):
        self.pod = pod
        self.wake.set()

    def _run(self):
        try:
            self._loop()
        except Exception as e:  # never let a worker die silently
            if not self.k._final_stop.is_set():
                self.k.log.exception("pod %s: worker crashed: %s", self.key, e)

    def _loop(self):
        log = self.k.log
        last_err = None
        while not self.k._final_stop.is_set():
            pod = self.pod
            if self.deleted or pod["metadata"].get("deletionTimestamp"):
                self._terminate()
                return
            try:
                if self.stage == "prepare":
                    self.k._prepare_pod(self)
                    self.stage = "start"
                if self.stage == "start":
                    self._start_containers()
                    self.stage = "running"
                if self.stage == "running":
                    if self._check_containers():
                        self.stage = "done"
                        self._release()
            except Wait as e:
                if str(e) != last_err:
                    log.info("pod %s: waiting: %s", self.key, e)
                    last_err = str(e)
                self.wake.wait(self.k.sync_interval)
                self.wake.clear()
                continue
            except PrepareError as e:
                msg = f"Failed to prepare dynamic resources: {e}"
                log.warning("pod %s: %s", self.key, msg)
                self.k.events.event(dict(pod, kind="Pod", apiVersion="v1"), "Warning",
                                    "FailedPrepareDynamicResources", msg)
                self._set_status_pending()
                self.wake.wait(self.k.prepare_retry)
                self.wake.clear()
                continue
            except Exception as e:
                log.exception("pod %s: sync failed at %s: %s", self.key, self.stage, e)
                self.wake.wait(self.k.prepare_retry)
                self.wake.clear()
                continue
            self.wake.wait(self.k.sync_interval)
            self.wake.clear()

    # -- containers --------------------------------------------------------------------------
    def _container_cmd(self, ctr, cdi_ids, extra):
        pname = f"hdsim-{self.k.node_name}-{self.uid[:8]}-{ctr['name']}"[:250]
        cmd = ["podman", "run", "--rm", "--name", pname,
               "--label", f"{CONTAINER_LABEL}={self.k.instance_id}"] + PODMAN_BASE
        for i in cdi_ids:
            cmd += ["--device", i]
        for d in extra.get("devices", []):
            cmd += ["--device", f"{d['host_path']}:{d['container_path']}:{d.get('permissions') or 'rwm'}"]
        for m in extra.get("mounts", []):
            cmd += ["-v", f"{m['host_path']}:{m['container_path']}" + (":ro" if m.get("read_only") else "")]
        envs = dict(extra.get("envs", {}))
        for e in ctr.get("env") or []:
            if "value" in e:
                envs[e["name"]] = e["value"]
        for k, v in envs.items():
            cmd += ["-e", f"{k}={v}"]
        if ctr.get("workingDir"):
            cmd += ["--workdir", ctr["workingDir"]]
        # ":O" mounts the shared rootfs as an overlay: runc creates bind-mount targets (device
        # nodes, /mock/so/*.so) inside the rootfs, and without the overlay those stubs would
        # leak into every later container and make it look as if it got other pods' devices.
        cmd += ["--rootfs", self.k.rootfs + ":O"]
        argv = list(ctr.get("command") or []) + list(ctr.get("args") or [])
        if not argv:
            argv = ["/bin/sh"]
        return pname, cmd + argv

    def _start_containers(self):
        spec = self.pod["spec"]
        ev_obj = dict(self.pod, kind="Pod", apiVersion="v1")
        for ctr in spec.get("containers") or []:
            if ctr["name"] in self.containers:
                continue
            cdi_ids = self.k._cdi_ids_for(self, ctr)
            extra = {}
            if self.k.dp is not None:
                extra = self.k.dp.allocate_container(self.pod, ctr)
                cdi_ids = cdi_ids + [c for c in extra.get("cdi_devices", []) if c not in cdi_ids]
            pname, cmd = self._container_cmd(ctr, cdi_ids, extra)
            c = Container(ctr["name"], pname, cmd, self.dir)
            self.k.log.info("pod %s: starting container %s: %s", self.key, ctr["name"],
                            " ".join(shlex.quote(a) for a in cmd))
            self.cdi_ids[ctr["name"]] = list(cdi_ids)
            c.start()
            self.containers[ctr["name"]] = c
            self.k.events.event(ev_obj, "Normal", "Created", f"Created container {ctr['name']}")
            self.k.events.event(ev_obj, "Normal", "Started", f"Started container {ctr['name']}")
        self._push_status()

    def _check_containers(self):
        changed = False
        sig = [self._resources_status(c) for c in self.pod["spec"].get("containers") or []]
        if sig != getattr(self, "_health_sig", None):
            self._health_sig = sig
            changed = True
        for c in self.containers.values():
            before = c.exit_code, c.container_id
            c.poll()
            if (c.exit_code, c.container_id) != before:
                changed = True
                if c.exit_code is not None:
                    self.k.log.info("pod %s: container %s exited with %d", self.key, c.name,
                                    c.exit_code)
        if changed:
            self._push_status()
        return all(c.exit_code is not None for c in self.containers.values())

    def _ctr_status(self, ctr):
        c = self.containers.get(ctr["name"])
        st = {"name": ctr["name"], "image": ctr.get("image", ""), "imageID": "",
              "ready": False, "restartCount": 0, "started": False, "lastState": {}}
        if c is None:
            st["state"] = {"waiting": {"reason": "ContainerCreating"}}
            return st
        if c.container_id:
            st["containerID"] = "podman://" + c.container_id
        if c.exit_code is None and not c.container_id:
            st["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif c.exit_code is None:
            st["state"] = {"running": {"startedAt": c.started_at}}
            st["ready"] = st["started"] = True
        else:
            st["state"] = {"terminated": {
                "exitCode": c.exit_code, "reason": "Completed" if c.exit_code == 0 else "Error",
                "startedAt": c.started_at, "finishedAt": c.finished_at,
                "containerID": st.get("containerID", "")}}
        ars = self._resources_status(ctr)
        if ars:
            st["allocatedResourcesStatus"] = ars
        return st

    def _resources_status(self, ctr):
        """containerStatuses[].allocatedResourcesStatus like the 1.36 kubelet: one entry per
        claim reference, one resource per CDI ID with the health the driver last reported."""
        out = []
        for rc in (ctr.get("resources") or {}).get("claims") or []:
            uid = self.claim_uids.get(rc.get("name"))
            info = self.k.prepared_claims().get(uid) if uid else None
            if not info:
                continue
            want = rc.get("request")
            res = []
            for driver, devs in sorted(info["drivers"].items()):
                for d in devs:
                    if want and d["request_names"] and want not in d["request_names"]:
                        continue
                    h = self.k.device_health(driver, d["pool"], d["device"])
                    res += [{"resourceID": i, "health": h} for i in d["cdi_device_ids"]]
            name = f"claim:{rc['name']}" + (f"/{want}" if want else "")
            out.append({"name": name, "resources": res})
        return out

    def _set_status_pending(self):
        self._push_status()

    def _push_status(self, phase=None):
        spec = self.pod["spec"]
        ctrs = spec.get("containers") or []
        if phase is None:
            if not self.containers or any(c.container_id is None and c.exit_code is None
                                          for c in self.containers.values()):
                phase = "Pending"   # podman has not created every container yet
            elif all(c.exit_code is not None for c in self.containers.values()):
                phase = "Succeeded" if all(c.exit_code == 0 for c in self.containers.values()) \
                    else "Failed"
            else:
                phase = "Running"
        self.phase = phase
        ready = phase == "Running" and all(c.exit_code is None for c in self.containers.values())
        ts = now_rfc3339()
        old = {c.get("type"): c for c in (self.pod.get("status") or {}).get("conditions") or []}

        def cond(t, v):
            o = old.get(t)
            val = "True" if v else "False"
            if o and o.get("status") == val:
                return o
            return {"type": t, "status": val, "lastProbeTime": None, "lastTransitionTime": ts}
        # Only the conditions the kubelet owns, in a strategic merge patch (merge key "type"):
        # the server keeps the others (the scheduler's PodScheduled) even when our copy of the
        # pod predates them, as the real kubelet's status manager does.
        conds = [cond("PodReadyToStartContainers", bool(self.containers)),
                 cond("Initialized", True), cond("Ready", ready), cond("ContainersReady", ready)]
        status = {"phase": phase, "conditions": conds, "hostIP": "127.0.0.1",
                  "containerStatuses": [self._ctr_status(c) for c in ctrs]}
        if not (self.pod.get("status") or {}).get("startTime"):
            status["startTime"] = ts
        try:
            p = self.k.client.patch(f"/api/v1/namespaces/{self.ns}/pods/{self.name}/status",
                                    {"status": status}, patch_type="strategic")
            self.pod = p
        except ApiError as e:
            if e.status == 404:
                self.deleted = True
            else:
                self.k.log.warning("pod %s: status update failed: %s", self.key, e)
        except OSError as e:
            self.k.log.warning("pod %s: status update failed: %s", self.key, e)

    # -- teardown ---------------------------------------------------------------------------
    def _release(self):
        if self.released:
            return
        self.released = True
        self.k._release_pod(self)
        if self.k.dp is not None:
            self.k.dp.release_pod(self.uid)

    def _terminate(self):
        grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        timeout = min(float(grace if grace is not None else 30), self.k.stop_timeout)
        for c in self.containers.values():
            if c.poll() is None:
                self.k.events.event(dict(self.pod, kind="Pod", apiVersion="v1"), "Normal",
                                    "Killing", f"Stopping container {c.name}")
            c.stop(timeout)
        self.k.log.info("pod %s: containers stopped", self.key)
        self._release()
        self.k._wait_unprepared(self)
        if not self.deleted:
            # graceful deletion: the kubelet finishes it (phase Failed, then delete grace 0)
            try:
                if self.containers:
                    self._push_status(phase="Failed" if self.phase != "Succeeded" else "Succeeded")
                self.k.client.delete(f"/api/v1/namespaces/{self.ns}/pods/{self.name}",
                                     params={"gracePeriodSeconds": 0},
                                     body={"apiVersion": "v1", "kind": "DeleteOptions",
                                           "gracePeriodSeconds": 0,
                                           "preconditions": {"uid": self.uid}})
            except ApiError as e:
                if e.status not in (404, 409):
                    self.k.log.warning("pod %s: final delete failed: %s", self.key, e)
        self.terminated = True
        self.k.log.info("pod %s: terminated", self.key)


# ---------------------------------------------------------------------------------------------
# the kubelet

class Kubelet:
    def __init__(self, client, node_name, workdir, registry_dir, device_plugins_dir=None, *,
                 kubelet_version="1.34", wipe_delay=30.0, health="always", health_retry=5.0,
                 sync_interval=0.1, prepare_retry=1.0, log_path=None, rootfs=None,
                 stop_timeout=2.0, watch_interval=0.05, resource_version=None):
        self.client = client
        self.node_name = node_name
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.registry_dir = registry_dir
        self.device_plugins_dir = device_plugins_dir
        self.kubelet_version = kubelet_version
        self.wipe_delay = wipe_delay
        self.health_mode = health
        self.health_retry = health_retry
        self.sync_interval = sync_interval
        self.prepare_retry = prepare_retry
        self.stop_timeout = stop_timeout
        self.watch_interval = watch_interval
        self.version = resource_version
        self.log_path = log_path or os.path.join(self.workdir, f"kubelet-{node_name}.log")
        self.log = make_logger("kubelet", self.log_path)
        self.events = EventRecorder(client, "kubelet", host=node_name, log=self.log)
        self.rootfs = rootfs
        self.instance_id = f"{node_name}-{os.getpid()}-{id(self) & 0xffffff:x}"
        self.health = {}
        self.health_updates = 0
        self.health_unimplemented = {}
        self.dp = None
        self._lock = threading.RLock()
        # One unprepare pass and one state save at a time: pod workers and the reconcile loop
        # all call them, and a real kubelet sends one NodeUnprepareResources per claim.
        self._unprepare_lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._inflight = set()
        self._inflight_cond = threading.Condition()
        self._plugins = {}        # reg path -> Plugin
        self._failed = {}         # reg path -> (mtime, next retry, backoff)
        self._wipe_at = {}        # driver -> deadline
        self._prepared = {}       # claim uid -> {namespace, name, uid, drivers{d: devices}, pods}
        self._unprepare_pending = {}  # claim uid -> info
        self._pods = {}           # pod uid -> PodWorker
        self._stopping = threading.Event()
        self._final_stop = threading.Event()   # pod workers end only on a real stop
        self._threads = []
        self.registration_log = []  # (time, reg path, ok, message) for tests
        self._state_path = os.path.join(self.workdir, f"dra_manager_state-{node_name}")

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def rbase(self):
        if not self.version:
            try:
                g = self.client.get("/apis/resource.k8s.io")
                self.version = g["preferredVersion"]["version"]
            except Exception:
                self.version = "v1"
        return f"/apis/resource.k8s.io/{self.version}"

    def start(self):
        self._stopping.clear()
        self._final_stop.clear()
        if self.rootfs is None:
            self.rootfs = build_rootfs()
        os.makedirs(self.registry_dir, exist_ok=True)
        self._load_state()
        self._register_node()
        self._wipe_slices(None)
        if self.device_plugins_dir:
            from kubelet_dp import DevicePluginManager
            if self.dp is None:
                self.dp = DevicePluginManager(self, self.device_plugins_dir)
            self.dp.start()
        for target, name in ((self._watch_loop, "plugin-watcher"), (self._pod_loop, "pod-sync"),
                             (self._reconcile_loop, "dra-reconcile")):
            t = threading.Thread(target=target, name=f"kubelet-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.log.info("kubelet %s started (version policy %s, registry %s)", self.node_name,
                      self.kubelet_version, self.registry_dir)
        return self

    def stop(self, keep_containers=False):
        self._stopping.set()
        for t in self._threads:
            t.join(10)
        self._threads = []
        with self._lock:
            for p in self._plugins.values():
                p.close()
            self._plugins.clear()
            self._failed.clear()
            self._wipe_at.clear()
        if self.dp is not None:
            self.dp.stop()
        if not keep_containers:
            self._final_stop.set()
            for w in list(self._pods.values()):
                w.wake.set()
            for w in list(self._pods.values()):
                if w.thread.is_alive() and w.thread is not threading.current_thread():
                    w.thread.join(5)
            for w in list(self._pods.values()):
                for c in w.containers.values():
                    try:
                        c.stop(0)
                    except Exception:
                        pass
            self._pods.clear()
            self.cleanup_containers()
        self.log.info("kubelet %s stopped", self.node_name)

    def restart(self):
        """Like a kubelet process restart: registrations and slice state are rebuilt."""
        self.log.info("kubelet %s restarting", self.node_name)
        workers = dict(self._pods)
        self.stop(keep_containers=True)
        if self.dp is not None:
            self.dp.restart_cleanup()
        self._pods = workers
        self.start()
        return self

    def cleanup_containers(self):
        try:
            out = subprocess.run(["podman", "ps", "-a", "-q", "--filter",
                                  f"label={CONTAINER_LABEL}={self.instance_id}"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
            if out:
                subprocess.run(["podman", "rm", "-f", "-t", "0"] + out, capture_output=True,
                               timeout=60)
        except (OSError, subprocess.SubprocessError) as e:
            self.log.warning("container cleanup failed: %s", e)

    def _register_node(self):
        path = f"/api/v1/nodes/{self.node_name}"
        st, obj = self.client.request("GET", path)
        if st == 404:
            body = {"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": self.node_name,
                "labels": {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                           "kubernetes.io/arch": "amd64"}}}
            try:
                self.client.create("/api/v1/nodes", body)
            except ApiError as e:
                if e.status != 409:
                    raise
        elif st // 100 != 2:
            raise ApiError(st, obj)
        self.update_node_status()

    def update_node_status(self, extra_capacity=None):
        cap = {"cpu": "2", "memory": "4Gi", "pods": "110"}
        if self.dp is not None:
            cap.update({k: str(v[0]) for k, v in self.dp.resources().items()})
        alloc = dict(cap)
        if self.dp is not None:
            alloc.update({k: str(v[1]) for k, v in self.dp.resources().items()})
        status = {"capacity": cap, "allocatable": alloc,
                  "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                  "message": "kubelet is posting ready status",
                                  "lastHeartbeatTime": now_rfc3339(),
                                  "lastTransitionTime": now_rfc3339()}],
                  "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                {"type": "Hostname", "address": self.node_name}],
                  "nodeInfo": {"kubeletVersion": f"v{self.kubelet_version}.0-sim",
                               "operatingSystem": "linux", "architecture": "amd64"}}
        base = f"/api/v1/nodes/{self.node_name}"
        st, obj = self.client.request("PATCH", base + "/status", {"status": status},
                                      content_type="application/merge-patch+json")
        if st in (404, 405):
            st, obj = self.client.request("PATCH", base, {"status": status},
                                          content_type="application/merge-patch+json")
        if st // 100 != 2:
            self.log.warning("node status update failed: %s %s", st, obj)

    def _wipe_slices(self, driver):
        sel = f"spec.nodeName={self.node_name}"
        if driver:
            sel += f",spec.driver={driver}"
        try:
            st, obj = self.client.request("DELETE", f"{self.rbase}/resourceslices",
                                          params={"fieldSelector": sel})
            n = len((obj or {}).get("items") or []) if isinstance(obj, dict) else "?"
            if st // 100 != 2:
                raise ApiError(st, obj)
            self.log.info("deleted ResourceSlices with %s (%s objects)", sel, n)
            return True
        except Exception as e:
            self.log.warning("deleting ResourceSlices with %s failed: %s", sel, e)
            return False

    # -- plugin watcher -----------------------------------------------------------------------
    def _scan(self):
        found = {}
        for root, dirs, files in os.walk(self.registry_dir):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                if f.startswith("."):
                    continue
                p = os.path.join(root, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISSOCK(st.st_mode):
                    found[p] = st.st_mtime_ns
        return found

    def _watch_loop(self):
        last_probe = 0.0
        while not self._stopping.is_set():
            try:
                found = self._scan()
                now = time.time()
                with self._lock:
                    current = dict(self._plugins)
                for path, plugin in current.items():
                    if path not in found:
                        self._deregister(path, "socket removed")
                    elif found[path] != plugin.mtime:
                        self._deregister(path, "socket timestamp changed")
                for path in list(self._failed):
                    if path not in found:
                        self._failed.pop(path, None)
                for path, mtime in sorted(found.items()):
                    with self._lock:
                        if path in self._plugins:
                            continue
                    f = self._failed.get(path)
                    if f and f[0] == mtime and now < f[1]:
                        continue
                    self._register(path, mtime)
                if now - last_probe >= 0.5:
                    last_probe = now
                    self._probe_connections()
                self._check_wipes()
            except Exception as e:
                self.log.exception("plugin watcher: %s", e)
            self._stopping.wait(self.watch_interval)

    def _choose_version(self, supported):
        if self.kubelet_version in ("1.32", "1.33"):
            if "v1beta1.DRAPlugin" in supported:
                return "v1beta1"
            raise PrepareError(f"none of the versions {list(supported)} supported by the plugin "
                               f"is supported by this kubelet (v1beta1.DRAPlugin)")
        for s in supported:
            if s in KUBELET_SERVICES:
                return s.split(".")[0]
        raise PrepareError(f"none of services supported by the plugin {list(supported)} are "
                           f"supported by the kubelet {list(KUBELET_SERVICES)}")

    def _register(self, path, mtime):
        p = protos()
        reg = p.pluginregistration_pb2
        ch = grpc.insecure_channel("unix://" + path)
        stub = p.pluginregistration_pb2_grpc.RegistrationStub(ch)
        info = None
        try:
            try:
                info = stub.GetInfo(reg.InfoRequest(), timeout=GETINFO_TIMEOUT)
            except grpc.RpcError as e:
                raise PrepareError(f"GetInfo failed: {e.code()}: {e.details()}")
            if info.type != "DRAPlugin":
                raise PrepareError(f"plugin type {info.type!r} is not handled by this simulator")
            if not info.name:
                raise PrepareError("plugin name is empty")
            version = self._choose_version(info.supported_versions)
            endpoint = info.endpoint or path
            with self._lock:
                for other in self._plugins.values():
                    if other.driver == info.name and other.endpoint == endpoint:
                        raise PrepareError(f"endpoint {endpoint} already registered for "
                                           f"driver {info.name}")
            plugin = Plugin(self, path, mtime, info, version)
            try:
                grpc.channel_ready_future(plugin.channel).result(timeout=1.0)
            except grpc.FutureTimeoutError:
                plugin.close()
                raise PrepareError(f"cannot connect to plugin endpoint {endpoint}")
            try:
                stub.NotifyRegistrationStatus(reg.RegistrationStatus(plugin_registered=True),
                                              timeout=GETINFO_TIMEOUT)
            except grpc.RpcError as e:
                plugin.close()
                raise PrepareError(f"NotifyRegistrationStatus failed: {e.code()}")
            with self._lock:
                self._plugins[path] = plugin
                self._failed.pop(path, None)
                self._wipe_at.pop(plugin.driver, None)
            self.registration_log.append((time.time(), path, True, version))
            self.log.info("registered DRA plugin %s at %s (service %s.DRAPlugin, endpoint %s, "
                          "offered %s)", plugin.driver, path, version, plugin.endpoint,
                          list(info.supported_versions))
            if self.health_mode == "always" or (self.health_mode == "advertised"
                                                and HEALTH_SERVICE in plugin.supported):
                plugin.start_health(self.health_retry)
        except PrepareError as e:
            msg = str(e)
            self.log.error("registration of %s failed: %s", path, msg)
            self.registration_log.append((time.time(), path, False, msg))
            if info is not None:
                try:
                    stub.NotifyRegistrationStatus(
                        reg.RegistrationStatus(plugin_registered=False, error=msg),
                        timeout=GETINFO_TIMEOUT)
                except grpc.RpcError:
                    pass
            prev = self._failed.get(path)
            backoff = min((prev[2] * 2) if prev else 0.5, 5.0)
            self._failed[path] = (mtime, time.time() + backoff, backoff)
        finally:
            ch.close()

    def _deregister(self, path, why):
        with self._lock:
            plugin = self._plugins.pop(path, None)
            if plugin is None:
                return
            left = [p for p in self._plugins.values() if p.driver == plugin.driver]
            if not left and plugin.driver not in self._wipe_at:
                self._wipe_at[plugin.driver] = time.time() + self.wipe_delay
        plugin.close()
        self.log.info("deregistered DRA plugin %s at %s (%s)%s", plugin.driver, path, why,
                      "" if left else f"; slices wiped in {self.wipe_delay}s unless it returns")

    def _probe_connections(self):
        with self._lock:
            plugins = list(self._plugins.values())
        for p in plugins:
            ok = p.probe()
            if ok != p.connected:
                p.connected = ok
                self.log.info("connection to %s at %s: connected=%s", p.driver, p.endpoint, ok)
        with self._lock:
            drivers = {p.driver for p in self._plugins.values()}
            for d in drivers:
                conn = [p for p in self._plugins.values() if p.driver == d and p.connected]
                if conn:
                    self._wipe_at.pop(d, None)
                elif d not in self._wipe_at:
                    self._wipe_at[d] = time.time() + self.wipe_delay

    def _check_wipes(self):
        now = time.time()
        with self._lock:
            due = [d for d, t in self._wipe_at.items() if now >= t]
        for d in due:
            with self._lock:
                if any(p.driver == d and p.connected for p in self._plugins.values()):
                    self._wipe_at.pop(d, None)
                    continue
            if self._wipe_slices(d):
                with self._lock:
                    self._wipe_at.pop(d, None)

    def device_health(self, driver, pool, device):
        """Healthy / Unhealthy / Unknown (no report, or report older than its timeout)."""
        for d in self.health.get(driver) or []:
            if d["pool"] == pool and d["device"] == device:
                if time.time() - d["received"] > d["timeout"]:
                    return "Unknown"
                return HEALTH_NAMES.get(d["health"], "Unknown")
        return "Unknown"

    def registered_drivers(self):
        with self._lock:
            out = {}
            for p in self._plugins.values():
                out.setdefault(p.driver, []).append(p)
            return out

    def plugin_for(self, driver):
        with self._lock:
            cands = [p for p in self._plugins.values() if p.driver == driver]
        if not cands:
            return None
        conn = [p for p in cands if p.connected] or cands
        return max(conn, key=lambda p: p.registered_at)

    def wait_registered(self, driver, timeout=10.0, version=None):
        end = time.time() + timeout
        while time.time() < end:
            p = self.plugin_for(driver)
            if p is not None and (version is None or p.version == version):
                return p
            time.sleep(0.05)
        raise TimeoutError(f"driver {driver} not registered within {timeout}s; "
                           f"registration log: {self.registration_log}")

    # -- DRA manager -------------------------------------------------------------------------
    def _save_state(self):
        with self._save_lock:
            with self._lock:
                data = {u: dict(v, pods=sorted(v["pods"])) for u, v in self._prepared.items()}
            tmp = self._state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, self._state_path)

    def _load_state(self):
        if self._prepared or not os.path.exists(self._state_path):
            return
        with open(self._state_path) as f:
            data = json.load(f)
        self._prepared = {u: dict(v, pods=set(v["pods"])) for u, v in data.items()}

    def prepared_claims(self):
        with self._lock:
            return copy.deepcopy(self._prepared)

    def _prepare_pod(self, w):
        pod = w.pod
        ns = w.ns
        rb = self.rbase
        claims = []
        for pc in pod["spec"].get("resourceClaims") or []:
            cname = pod_claim_name(pod, pc)
            if not cname:
                raise Wait(f"claim for {pc['name']} not created yet")
            try:
                c = normalize_claim(self.client.get(f"{rb}/namespaces/{ns}/resourceclaims/{cname}"),
                                    self.version)
            except ApiError as e:
                if e.status == 404:
                    raise Wait(f"resourceclaim {cname} not found")
                raise PrepareError(f"get resource claim {cname}: {e}")
            if pc.get("resourceClaimTemplateName") and not any(
                    o.get("uid") == w.uid for o in c["metadata"].get("ownerReferences") or []):
                raise PrepareError(f"resource claim {cname} was not created for the pod")
            st = c.get("status") or {}
            if not st.get("allocation"):
                raise Wait(f"resourceclaim {cname} not allocated")
            if not any(r.get("uid") == w.uid for r in st.get("reservedFor") or []):
                raise PrepareError(f"pod {w.name} ({w.uid}) is not allowed to use resource "
                                   f"claim {cname}")
            w.claim_uids[pc["name"]] = c["metadata"]["uid"]
            claims.append(c)
        # pods are prepared concurrently, but a claim that is being prepared for one pod is not
        # sent again for another (a shared claim reaches the driver once)
        uids = {c["metadata"]["uid"] for c in claims}
        with self._inflight_cond:
            while uids & self._inflight:
                self._inflight_cond.wait(0.1)
            self._inflight |= uids
        try:
            self._prepare_claims(w, ns, claims)
        finally:
            with self._inflight_cond:
                self._inflight -= uids
                self._inflight_cond.notify_all()
        self._save_state()

    def _prepare_claims(self, w, ns, claims):
        by_driver = {}
        for c in claims:
            uid = c["metadata"]["uid"]
            results = c["status"]["allocation"]["devices"].get("results") or []
            drivers = sorted({r["driver"] for r in results})
            with self._lock:
                info = self._prepared.get(uid)
                if info is None:
                    info = {"namespace": ns, "name": c["metadata"]["name"], "uid": uid,
                            "drivers": {}, "pods": set(), "complete": False}
                    self._prepared[uid] = info
                info["pods"].add(w.uid)
                self._unprepare_pending.pop(uid, None)
                for d in drivers:
                    if d not in info["drivers"]:
                        by_driver.setdefault(d, []).append(c)
        for d in sorted(by_driver):
            plugin = self.plugin_for(d)
            if plugin is None:
                raise PrepareError(f"prepare dynamic resources: DRA driver {d} is not registered")
            req = [{"namespace": ns, "uid": c["metadata"]["uid"], "name": c["metadata"]["name"]}
                   for c in by_driver[d]]
            self.log.info("NodePrepareResources(%s, %s) for pod %s: %s", d, plugin.version, w.key,
                          [r["name"] for r in req])
            try:
                resp = plugin.prepare(req)
            except grpc.RpcError as e:
                raise PrepareError(f"prepare dynamic resources: NodePrepareResources failed: "
                                   f"{e.code()}: {e.details()}")
            for r in req:
                if r["uid"] not in resp.claims:
                    raise PrepareError("prepare dynamic resources: NodePrepareResources skipped "
                                      "1 ResourceClaims")
                e = resp.claims[r["uid"]]
                if e.error:
                    raise PrepareError(f"prepare dynamic resources: NodePrepareResources failed "
                                       f"for ResourceClaim {r['name']}: {e.error}")
                devs = [{"request_names": list(x.request_names), "pool": x.pool_name,
                         "device": x.device_name, "cdi_device_ids": list(x.cdi_device_ids)}
                        for x in e.devices]
                with self._lock:
                    self._prepared[r["uid"]]["drivers"][d] = devs
                self.log.info("claim %s/%s prepared by %s: %s", ns, r["name"], d,
                              [x["cdi_device_ids"] for x in devs])

    def _cdi_ids_for(self, w, ctr):
        ids = []
        for rc in (ctr.get("resources") or {}).get("claims") or []:
            uid = w.claim_uids.get(rc.get("name"))
            if not uid:
                continue
            with self._lock:
                info = self._prepared.get(uid) or {}
                devs = [d for dl in (info.get("drivers") or {}).values() for d in dl]
            want = rc.get("request")
            for d in devs:
                if not want or not d["request_names"] or want in d["request_names"]:
                    for i in d["cdi_device_ids"]:
                        if i not in ids:
                            ids.append(i)
        return ids

    def _release_pod(self, w):
        with self._lock:
            for uid, info in list(self._prepared.items()):
                if w.uid in info["pods"]:
                    info["pods"].discard(w.uid)
                    if not info["pods"]:
                        self._unprepare_pending[uid] = info
        self._save_state()
        self._unprepare_now()

    def _unprepare_now(self):
        with self._unprepare_lock:
            self._unprepare_pass()

    def _unprepare_pass(self):
        with self._lock:
            pending = list(self._unprepare_pending.items())
        for uid, info in pending:
            ok = True
            for d in sorted(info["drivers"]):
                plugin = self.plugin_for(d)
                if plugin is None:
                    self.log.warning("unprepare claim %s/%s: DRA driver %s is not registered",
                                     info["namespace"], info["name"], d)
                    ok = False
                    continue
                req = [{"namespace": info["namespace"], "uid": uid, "name": info["name"]}]
                try:
                    resp = plugin.unprepare(req)
                    e = resp.claims.get(uid)
                    if e is None:
                        raise PrepareError("NodeUnprepareResources skipped the claim")
                    if e.error:
                        raise PrepareError(e.error)
                    self.log.info("claim %s/%s unprepared by %s", info["namespace"], info["name"], d)
                except (grpc.RpcError, PrepareError) as e:
                    self.log.warning("unprepare claim %s/%s with %s failed: %s", info["namespace"],
                                     info["name"], d, e)
                    ok = False
            if ok:
                with self._lock:
                    if not info["pods"]:
                        self._prepared.pop(uid, None)
                    self._unprepare_pending.pop(uid, None)
                self._save_state()

    def _wait_unprepared(self, w):
        # the pod is not finished until its claims are unprepared
        while not self._stopping.is_set():
            with self._lock:
                mine = [u for u in w.claim_uids.values() if u in self._unprepare_pending]
            if not mine:
                return
            self._stopping.wait(self.prepare_retry)
            self._unprepare_now()

    def _reconcile_loop(self):
        while not self._stopping.wait(self.prepare_retry):
            try:
                if self._unprepare_pending:
                    self._unprepare_now()
            except Exception as e:
                self.log.exception("reconcile: %s", e)

    # -- pods ---------------------------------------------------------------------------------
    def _pod_loop(self):
        while not self._stopping.is_set():
            try:
                pods = self.client.list("/api/v1/pods",
                                        {"fieldSelector": f"spec.nodeName={self.node_name}"})["items"]
                pods = [p for p in pods if p["spec"].get("nodeName") == self.node_name]
                seen = set()
                for p in pods:
                    uid = p["metadata"]["uid"]
                    seen.add(uid)
                    w = self._pods.get(uid)
                    if w is None:
                        if pod_terminal(p):
                            continue
                        w = PodWorker(self, p)
                        self._pods[uid] = w
                        self.log.info("pod %s/%s (%s) admitted", w.ns, w.name, uid)
                        w.thread.start()
                    else:
                        w.update(p)
                        if not w.thread.is_alive() and not w.terminated:
                            w.thread = threading.Thread(target=w._run, daemon=True)
                            w.thread.start()
                            self.log.info("pod %s: worker restarted", w.key)
                for uid, w in list(self._pods.items()):
                    if uid not in seen:
                        if not w.deleted:
                            w.deleted = True
                            w.wake.set()
                            self.log.info("pod %s deleted from the API", w.key)
                        if w.terminated:
                            self._pods.pop(uid, None)
            except Exception as e:
                self.log.warning("pod sync: %s", e)
            self._stopping.wait(self.sync_interval)

    def worker(self, ns, name):
        for w in list(self._pods.values()):
            if w.ns == ns and w.name == name:
                return w
        return None

    def container_output(self, ns, name, ctr):
        w = self.worker(ns, name)
        if w is None or ctr not in w.containers:
            return None
        c = w.containers[ctr]
        c.poll()
        so, se, ec, _, _ = c.paths()

        def rd(p):
            try:
                with open(p, errors="replace") as f:
                    return f.read()
            except OSError:
                return ""
        return {"stdout": rd(so), "stderr": rd(se), "exit_code": c.exit_code}

    def wait_pod_phase(self, ns, name, phases=("Succeeded", "Failed"), timeout=30.0):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            st, obj = self.client.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
            if st == 200:
                last = obj
                if (obj.get("status") or {}).get("phase") in phases:
                    return obj
            time.sleep(0.1)
        raise TimeoutError(f"pod {ns}/{name} not in {phases} after {timeout}s: "
                           f"{json.dumps((last or {}).get('status'))}")
