"""Compile the project's .proto files for Python at test time and import them.

Usage:
    from hdproto import protos
    p = protos()
    p.dra_v1_pb2.NodePrepareResourcesRequest(...)
    p.dra_v1_pb2_grpc.DRAPluginStub(channel)

Modules: pluginregistration, dra_v1, dra_v1beta1, dra_health_v1alpha1, deviceplugin_v1beta1,
each as <name>_pb2 and <name>_pb2_grpc. Generated code goes to a private temp dir that is
removed as soon as the modules are imported (they need no file afterwards), so a test run
leaves nothing in /tmp even when its process is killed; with $HOSTDEV_PYPROTO_DIR set the code
is written there and kept. It is never written into the source tree.
"""
import importlib
import os
import shutil
import sys
import tempfile
import threading
import types

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
NAMES = ["pluginregistration", "dra_v1", "dra_v1beta1", "dra_health_v1alpha1",
         "deviceplugin_v1beta1"]

_lock = threading.Lock()
_cached = None


def protos():
    """Return a namespace holding every generated *_pb2 and *_pb2_grpc module."""
    global _cached
    with _lock:
        if _cached is not None:
            return _cached
        keep = os.environ.get("HOSTDEV_PYPROTO_DIR")
        out = keep or tempfile.mkdtemp(prefix="hdproto-")
        try:
            _cached = _generate_and_import(out)
        finally:
            if not keep:
                if out in sys.path:
                    sys.path.remove(out)
                shutil.rmtree(out, ignore_errors=True)
        return _cached


def _generate_and_import(out):
    from grpc_tools import protoc  # Debian python3-grpc-tools
    os.makedirs(out, exist_ok=True)
    proto_dir = os.path.realpath(PROTO_DIR)
    files = [os.path.join(proto_dir, n + ".proto") for n in NAMES]
    rc = protoc.main(["protoc", "-I" + proto_dir, "--python_out=" + out,
                      "--grpc_python_out=" + out] + files)
    if rc != 0:
        raise RuntimeError("grpc_tools.protoc failed with %d for %s" % (rc, proto_dir))
    if out not in sys.path:
        sys.path.insert(0, out)
    # Import everything now: the *_pb2_grpc modules import their *_pb2 at load time, and
    # nothing is loaded from OUT afterwards.
    importlib.invalidate_caches()
    ns = types.SimpleNamespace()
    for n in NAMES:
        for suffix in ("_pb2", "_pb2_grpc"):
            mod = importlib.import_module(n + suffix)
            setattr(ns, n + suffix, mod)
    return ns
