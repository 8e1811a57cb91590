"""Integration tests of the rpc/ layer through an independent gRPC client (Debian python3-grpcio)
against rpc-test-server: every kubelet API path, concurrency, streaming, bad input, socket
hygiene and shutdown."""
import concurrent.futures
import os
import signal
import socket
import stat
import subprocess
import time

import grpc
import pytest

from conftest import find_binary

DRA_V1 = "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/"
DRA_V1BETA1 = "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/"


class Server:
    def __init__(self, sock, extra=(), log_dir=None):
        self.sock = sock
        # The log lives outside the socket's dir: the server must create that dir itself.
        self.log_path = os.path.join(log_dir or os.path.dirname(sock), "server.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([find_binary("rpc-test-server"), "--socket", sock] + list(extra),
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline()
        if line.strip() != b"READY":
            self.proc.wait(5)
            raise AssertionError("server did not start: %r\n%s" % (line, self.logs()))
        self.channel = grpc.insecure_channel("unix:" + sock)

    def logs(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def server(short_tmp):
    s = Server(os.path.join(short_tmp, "plugins", "dra.sock"), log_dir=short_tmp)
    yield s
    s.stop()
    assert s.proc.returncode == 0, s.logs()


def test_registration_paths(server, protos):
    reg = protos.pluginregistration_pb2
    stub = protos.pluginregistration_pb2_grpc.RegistrationStub(server.channel)
    info = stub.GetInfo(reg.InfoRequest(), timeout=5)
    assert info.type == "DRAPlugin"
    assert info.name == "test.example.com"
    assert info.endpoint == server.sock
    assert list(info.supported_versions) == ["v1.DRAPlugin", "v1beta1.DRAPlugin",
                                             "v1alpha1.DRAResourceHealth"]
    stub.NotifyRegistrationStatus(reg.RegistrationStatus(plugin_registered=True), timeout=5)
    stub.NotifyRegistrationStatus(reg.RegistrationStatus(plugin_registered=False, error="nope"),
                                  timeout=5)
    assert 'kubelet refused registration" error="nope"' in server.logs()


@pytest.mark.parametrize("version", ["dra_v1", "dra_v1beta1"])
def test_dra_paths(server, protos, version):
    pb = getattr(protos, version + "_pb2")
    stub = getattr(protos, version + "_pb2_grpc").DRAPluginStub(server.channel)
    claims = [pb.Claim(namespace="ns", uid="uid-a", name="a"),
              pb.Claim(namespace="ns", uid="uid-f", name="fail"),
              pb.Claim(namespace="ns", uid="uid-s", name="shared")]
    resp = stub.NodePrepareResources(pb.NodePrepareResourcesRequest(claims=claims), timeout=5)
    assert set(resp.claims) == {"uid-a", "uid-f", "uid-s"}
    a = resp.claims["uid-a"]
    assert a.error == ""
    assert [d.device_name for d in a.devices] == ["dev-a"]
    assert list(a.devices[0].cdi_device_ids) == ["test.example.com/claim=uid-a-dev"]
    assert list(a.devices[0].request_names) == ["req"]
    assert a.devices[0].pool_name == "pool"
    assert resp.claims["uid-f"].error == "claim failed on purpose"
    if version == "dra_v1":
        assert resp.claims["uid-s"].devices[0].share_id == "share-1"
    un = stub.NodeUnprepareResources(pb.NodeUnprepareResourcesRequest(claims=claims), timeout=5)
    assert set(un.claims) == {"uid-a", "uid-f", "uid-s"}
    assert all(v.error == "" for v in un.claims.values())


def test_device_plugin_paths(server, protos):
    pb = protos.deviceplugin_v1beta1_pb2
    stub = protos.deviceplugin_v1beta1_pb2_grpc.DevicePluginStub(server.channel)
    opts = stub.GetDevicePluginOptions(pb.Empty(), timeout=5)
    assert opts.get_preferred_allocation_available and not opts.pre_start_required
    pref = stub.GetPreferredAllocation(pb.PreferredAllocationRequest(container_requests=[
        pb.ContainerPreferredAllocationRequest(available_deviceIDs=["a", "b", "c"],
                                               allocation_size=2)]), timeout=5)
    assert list(pref.container_responses[0].deviceIDs) == ["a", "b"]
    alloc = stub.Allocate(pb.AllocateRequest(container_requests=[
        pb.ContainerAllocateRequest(devices_ids=["a", "b"]),
        pb.ContainerAllocateRequest(devices_ids=["c"])]), timeout=5)
    assert [[c.name for c in r.cdi_devices] for r in alloc.container_responses] == [
        ["test.example.com/dev=a", "test.example.com/dev=b"], ["test.example.com/dev=c"]]
    # A handler error becomes its status code and message.
    with pytest.raises(grpc.RpcError) as e:
        stub.Allocate(pb.AllocateRequest(container_requests=[
            pb.ContainerAllocateRequest(devices_ids=["fail"])]), timeout=5)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "device fail is unhealthy"
    # A handler that returns without replying is answered INTERNAL by the layer.
    with pytest.raises(grpc.RpcError) as e:
        stub.GetPreferredAllocation(pb.PreferredAllocationRequest(container_requests=[
            pb.ContainerPreferredAllocationRequest(allocation_size=-1)]), timeout=5)
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert "returned no reply" in e.value.details()
    # Paths the server does not serve: PreStartContainer here, and the kubelet's own Register.
    with pytest.raises(grpc.RpcError) as e:
        stub.PreStartContainer(pb.PreStartContainerRequest(devices_ids=["a"]), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    reg = protos.deviceplugin_v1beta1_pb2_grpc.RegistrationStub(server.channel)
    with pytest.raises(grpc.RpcError) as e:
        reg.Register(pb.RegisterRequest(version="v1beta1"), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # The server still answers afterwards.
    assert stub.GetDevicePluginOptions(pb.Empty(), timeout=5).get_preferred_allocation_available


def test_unknown_and_garbage(server):
    with pytest.raises(grpc.RpcError) as e:
        server.channel.unary_unary("/nope.Service/Method")(b"", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/nope.Service/Method" in e.value.details()
    for path in (DRA_V1 + "NodePrepareResources", DRA_V1BETA1 + "NodeUnprepareResources",
                 "/pluginregistration.Registration/NotifyRegistrationStatus"):
        with pytest.raises(grpc.RpcError) as e:
            server.channel.unary_unary(path)(b"\xff\xff\xff\xff", timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
        assert "cannot decode request" in e.value.details()


def test_200_concurrent_calls(server, protos):
    pb = protos.dra_v1_pb2
    stub = protos.dra_v1_pb2_grpc.DRAPluginStub(server.channel)
    # Every call sleeps 50 ms in the handler: served one by one this would take 10 s.
    futures = [stub.NodePrepareResources.future(pb.NodePrepareResourcesRequest(claims=[
        pb.Claim(namespace="ns", uid="uid-%d" % i, name="sleep-50")]), timeout=30)
        for i in range(200)]
    start = time.monotonic()
    answers = [f.result() for f in futures]
    elapsed = time.monotonic() - start
    assert len(answers) == 200
    for i, a in enumerate(answers):
        assert list(a.claims) == ["uid-%d" % i]
        assert a.claims["uid-%d" % i].devices[0].device_name == "dev-sleep-50"
    assert elapsed < 10, "calls were not served concurrently (%.1fs)" % elapsed


def test_deadline_honoured(server, protos):
    pb = protos.dra_v1_pb2
    stub = protos.dra_v1_pb2_grpc.DRAPluginStub(server.channel)
    with pytest.raises(grpc.RpcError) as e:
        stub.NodePrepareResources(pb.NodePrepareResourcesRequest(claims=[
            pb.Claim(namespace="ns", uid="u", name="sleep-1500")]), timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    ok = stub.NodePrepareResources(pb.NodePrepareResourcesRequest(claims=[
        pb.Claim(namespace="ns", uid="u2", name="x")]), timeout=5)
    assert ok.claims["u2"].devices


@pytest.mark.parametrize("which", ["health", "listandwatch"])
def test_stream_pushes_updates_until_cancel(server, protos, which):
    if which == "health":
        pb = protos.dra_health_v1alpha1_pb2
        stream = protos.dra_health_v1alpha1_pb2_grpc.DRAResourceHealthStub(
            server.channel).NodeWatchResources(pb.NodeWatchResourcesRequest(), timeout=30)
    else:
        pb = protos.deviceplugin_v1beta1_pb2
        stream = protos.deviceplugin_v1beta1_pb2_grpc.DevicePluginStub(
            server.channel).ListAndWatch(pb.Empty(), timeout=30)
    got = []
    for msg in stream:
        got.append(msg)
        if len(got) == 4:  # the snapshot sent on open + 3 pushed updates
            break
    stream.cancel()
    assert len(got) == 4
    # Every message is a full snapshot with 1..3 devices.
    assert all(1 <= len(m.devices) <= 3 for m in got)
    if which == "health":
        ticks = [m.devices[0].last_updated_time for m in got]
        assert ticks == sorted(ticks) and len(set(ticks)) == 4
    with pytest.raises(grpc.RpcError) as e:
        next(stream)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    # The server is fine after the cancel, and a new stream works.
    time.sleep(0.3)
    stub = protos.pluginregistration_pb2_grpc.RegistrationStub(server.channel)
    stub.GetInfo(protos.pluginregistration_pb2.InfoRequest(), timeout=5)


def test_many_streams_and_shutdown_with_open_streams(short_tmp, protos):
    s = Server(os.path.join(short_tmp, "dra.sock"), ["--tick-ms", "20"])
    pb = protos.dra_health_v1alpha1_pb2
    stub = protos.dra_health_v1alpha1_pb2_grpc.DRAResourceHealthStub(s.channel)
    streams = [stub.NodeWatchResources(pb.NodeWatchResourcesRequest(), timeout=30)
               for _ in range(20)]
    for st in streams:
        next(st)
    start = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(5) == 0, s.logs()
    assert time.monotonic() - start < 2
    for st in streams:
        with pytest.raises(grpc.RpcError):
            for _ in st:
                pass
    s.stop()
    assert not os.path.exists(s.sock)


def test_socket_permissions_and_parent_dir(server):
    st = os.stat(server.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(server.sock)).st_mode) == 0o700


def test_second_instance_refuses_while_first_lives(server):
    second = subprocess.run([find_binary("rpc-test-server"), "--socket", server.sock],
                            capture_output=True, timeout=20)
    assert second.returncode == 1
    assert b"another process is already serving" in second.stderr
    # The first one still serves on the untouched socket.
    assert os.path.exists(server.sock)
    grpc.channel_ready_future(server.channel).result(timeout=5)
    server.channel.unary_unary("/pluginregistration.Registration/GetInfo")(b"", timeout=5)


def test_stale_socket_replaced(short_tmp):
    path = os.path.join(short_tmp, "dra.sock")
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)  # bound, never listening, then abandoned: what a crash leaves
    leftover.close()
    assert os.path.exists(path)
    s = Server(path)
    s.channel.unary_unary("/pluginregistration.Registration/GetInfo")(b"", timeout=5)
    s.stop()
    assert s.proc.returncode == 0


def test_refuses_non_socket_at_path(short_tmp):
    path = os.path.join(short_tmp, "dra.sock")
    with open(path, "w") as f:
        f.write("precious")
    r = subprocess.run([find_binary("rpc-test-server"), "--socket", path], capture_output=True,
                       timeout=20)
    assert r.returncode == 1
    assert b"is not a socket" in r.stderr
    with open(path) as f:
        assert f.read() == "precious"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_socket_and_exits_zero(short_tmp, sig):
    s = Server(os.path.join(short_tmp, "dra.sock"))
    s.channel.unary_unary("/pluginregistration.Registration/GetInfo")(b"", timeout=5)
    start = time.monotonic()
    s.proc.send_signal(sig)
    rc = s.proc.wait(5)
    elapsed = time.monotonic() - start
    assert rc == 0, s.logs()
    assert elapsed < 2.0
    assert not os.path.exists(s.sock)
    s.stop()


def test_max_message_size(server):
    with pytest.raises(grpc.RpcError) as e:
        server.channel.unary_unary(DRA_V1 + "NodePrepareResources")(b"\x0a" + b"\x00" * (17 << 20),
                                                                   timeout=20)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
