# SPDX-License-Identifier: Apache-2.0
"""Plumbing for the device-plugin mode end-to-end tests: a simulated cluster whose kubelet runs
its device-plugin manager (tests/sim/kubelet_dp.py), and the per-test Env of plugin_env with
helpers to start hostdev-kubelet-plugin in --mode device-plugin and call its sockets directly.

Fixtures: `dpsim` (one cluster per module), `dpenv` (per test; torn down like plugin_env's env).
"""
import os
import time

import grpc
import pytest

import plugin_env
from plugin_env import NODE, SLOW, Env, pod, require_podman, start_cluster, stop_cluster, wait_for
from hdproto import protos


@pytest.fixture(scope="module")
def dpsim():
    require_podman()
    c = start_cluster(device_plugins=True)
    yield c
    stop_cluster(c)


class DPEnv(Env):
    """plugin_env.Env plus device-plugin helpers."""

    def __init__(self, cluster, ndev=8):
        super().__init__(cluster, ndev=ndev)
        self.dp_dir = cluster.dirs(NODE)["device_plugins"]
        self.resource = f"{self.driver}/gpu"
        self.dp_channels = []

    def start_dp(self, extra=(), config=None, wait=True, **kw):
        argv = ["--mode", "device-plugin", "--device-plugins-dir", self.dp_dir] + list(extra)
        p = self.start_plugin(config=config, wait_registered=False, extra=argv, **kw)
        if wait:
            self.wait_registered_dp(p)
        return p

    def socket(self, group="gpu", driver=None):
        return os.path.join(self.dp_dir, f"{driver or self.driver}-{group}.sock")

    def wait_registered_dp(self, p, resource=None, timeout=15.0):
        res = resource or self.resource

        def ok():
            ep = self.kubelet.dp.endpoints.get(res)
            return ep is not None and ep.alive and ep.updates > 0
        wait_for(ok, timeout=timeout * SLOW, what=f"{res} registered")

    def node_resource(self, res=None):
        """(capacity, allocatable) of RES on the Node object."""
        st = self.client.get(f"/api/v1/nodes/{NODE}").get("status") or {}
        r = res or self.resource
        return (st.get("capacity") or {}).get(r), (st.get("allocatable") or {}).get(r)

    def wait_node_resource(self, want, res=None, timeout=10.0):
        return wait_for(lambda: self.node_resource(res) == want, timeout=timeout * SLOW,
                        what=f"node {res or self.resource} = {want}")

    def dp_pod(self, name, command, n, res=None):
        return self.client.create(f"/api/v1/namespaces/{self.ns}/pods",
                                  pod(name, command, limits={res or self.resource: str(n)},
                                      ns=self.ns))

    def stub(self, group="gpu", driver=None):
        p = protos()
        ch = grpc.insecure_channel("unix://" + self.socket(group, driver))
        self._channels.append(ch)
        return p.deviceplugin_v1beta1_pb2_grpc.DevicePluginStub(ch), p.deviceplugin_v1beta1_pb2

    def allocate(self, ids, group="gpu", timeout=10.0):
        stub, pb = self.stub(group)
        return stub.Allocate(pb.AllocateRequest(container_requests=[
            pb.ContainerAllocateRequest(devices_ids=list(ids))]), timeout=timeout * SLOW)

    def preferred(self, available, size, must=(), group="gpu"):
        stub, pb = self.stub(group)
        r = stub.GetPreferredAllocation(pb.PreferredAllocationRequest(container_requests=[
            pb.ContainerPreferredAllocationRequest(available_deviceIDs=list(available),
                                                   must_include_deviceIDs=list(must),
                                                   allocation_size=size)]),
            timeout=10 * SLOW)
        return list(r.container_responses[0].deviceIDs)

    def watch(self, group="gpu"):
        """Open ListAndWatch; returns (call, queue of (time, {id: (health, numa)}))."""
        import queue
        import threading
        stub, pb = self.stub(group)
        call = stub.ListAndWatch(pb.Empty())
        q = queue.Queue()

        def run():
            try:
                for resp in call:
                    q.put((time.monotonic(), {
                        d.ID: (d.health, [n.ID for n in d.topology.nodes] if d.HasField("topology")
                               else None) for d in resp.devices}))
            except grpc.RpcError:
                pass
        threading.Thread(target=run, daemon=True).start()
        self.dp_channels.append(call)
        return call, q

    def teardown(self):
        for c in self.dp_channels:
            c.cancel()
        return super().teardown()


@pytest.fixture
def dpenv(request):
    kw = dict(getattr(request, "param", None) or {})
    ndev = kw.pop("ndev", 8)
    e = DPEnv(request.getfixturevalue("dpsim"), ndev=ndev)
    yield e
    problems = e.teardown()
    assert not problems, problems


__all__ = ["dpsim", "dpenv", "DPEnv", "NODE", "SLOW", "wait_for", "plugin_env"]
