"""The device-manager checkpoint of the simulated kubelet, written the way a real kubelet writes
<device-plugins-dir>/kubelet_internal_checkpoint:

    {"Data": {"PodDeviceEntries": [{"PodUID", "ContainerName", "ResourceName",
                                    "DeviceIDs": {"<numa node>": [ids]}, "AllocResp": base64}],
              "RegisteredDevices": {"<resource>": [ids]}},
     "Checksum": N}

Checksum: FNV-1a (32 bit) of the go-spew "%#v" rendering of the Go struct behind "Data" (the
kubelet's checkpointmanager/checksum with k8s.io/utils/dump.ForHash: sorted map keys, types in
parentheses, []byte as decimal bytes, nil as <nil>), so a real kubelet would accept the file.
DeviceIDs are grouped by the device's NUMA node from ListAndWatch topology, -1 without one.
AllocResp is the ContainerAllocateResponse in protobuf bytes. The file is replaced atomically.

Like a real kubelet, entries of finished pods are not dropped when the pod goes: the kubelet
garbage-collects them at its next device-plugin allocation (keep_released=False drops them at
once instead).

API: DPCheckpoint(directory, keep_released=True)
     .allocated(pod_uid, ctr, resource, ids, numa_of, alloc_resp_bytes)
     .released(pod_uid)          .registered(resource, ids)      .save()
     read(directory) -> dict     checksum(data) -> int
"""

import base64
import json
import os
import threading

FILE = "kubelet_internal_checkpoint"


def _fnv1a32(b):
    h = 0x811C9DC5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


def _strs(v):
    return "<nil>" if v is None else "[" + " ".join(v) + "]"


def _entry(e):
    d = e.get("DeviceIDs")
    ids = "<nil>" if d is None else \
        "map[" + " ".join(f"{k}:{_strs(d[k])}" for k in sorted(d, key=int)) + "]"
    a = e.get("AllocResp")
    resp = "<nil>" if a is None else "[" + " ".join(str(x) for x in base64.b64decode(a)) + "]"
    return ("{PodUID:(string)%s ContainerName:(string)%s ResourceName:(string)%s "
            "DeviceIDs:(checkpoint.DevicesPerNUMA)%s AllocResp:([]uint8)%s}"
            % (e["PodUID"], e["ContainerName"], e["ResourceName"], ids, resp))


def spew(data):
    """The go-spew %#v text of checkpoint.checkpointData for the JSON object DATA."""
    ents = data.get("PodDeviceEntries")
    out = "(checkpoint.checkpointData){PodDeviceEntries:([]checkpoint.PodDevicesEntry)"
    out += "<nil>" if ents is None else "[" + " ".join(_entry(e) for e in ents) + "]"
    reg = data.get("RegisteredDevices")
    out += " RegisteredDevices:(map[string][]string)"
    out += "<nil>" if reg is None else \
        "map[" + " ".join(f"{k}:{_strs(reg[k])}" for k in sorted(reg)) + "]"
    return out + "}"


def checksum(data):
    return _fnv1a32(spew(data).encode())


def read(directory):
    with open(os.path.join(directory, FILE)) as f:
        return json.load(f)


class DPCheckpoint:
    def __init__(self, directory, keep_released=True):
        self.dir = directory
        self.keep_released = keep_released
        self.entries = {}    # (pod uid, ctr, resource) -> entry
        self.stale = set()   # keys of released pods still in the file
        self.devices = {}    # resource -> [ids]
        self._lock = threading.Lock()

    def allocated(self, pod_uid, ctr, resource, ids, numa_of, alloc_resp):
        with self._lock:
            # the kubelet's UpdateAllocatedDevices: finished pods go at the next allocation
            for k in self.stale:
                self.entries.pop(k, None)
            self.stale.clear()
            per_numa = {}
            for i in ids:
                per_numa.setdefault(str(numa_of(i)), []).append(i)
            per_numa = dict(sorted(per_numa.items()))  # Go marshals map keys sorted
            self.entries[(pod_uid, ctr, resource)] = {
                "PodUID": pod_uid, "ContainerName": ctr, "ResourceName": resource,
                "DeviceIDs": per_numa,
                "AllocResp": base64.b64encode(alloc_resp).decode() if alloc_resp is not None
                else None}
        self.save()

    def released(self, pod_uid):
        with self._lock:
            keys = [k for k in self.entries if k[0] == pod_uid]
            if self.keep_released:
                self.stale.update(keys)
            else:
                for k in keys:
                    self.entries.pop(k, None)
        self.save()

    def registered(self, resource, ids):
        with self._lock:
            if self.devices.get(resource) == list(ids):
                return
            self.devices[resource] = list(ids)
        self.save()

    def save(self):
        with self._lock:
            data = {"PodDeviceEntries": list(self.entries.values()) or None,  # nil slice: null
                    "RegisteredDevices": dict(sorted(self.devices.items()))}
            doc = {"Data": data, "Checksum": checksum(data)}
            os.makedirs(self.dir, exist_ok=True)
            path = os.path.join(self.dir, FILE)
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
