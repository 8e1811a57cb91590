# SPDX-License-Identifier: Apache-2.0
"""scripts/demo.sh --mode device-plugin (scripts/demo.py --mode device-plugin) end to end: the
node shows hostdev.example.com/gpu: 8, two containers get disjoint sets of 4 and 3 mock devices
with their .so files and list_device.sh through Allocate, one device is left, and everything is
cleaned up."""
import os
import re
import subprocess
import sys

from conftest import BUILD_DIR, SOURCE_DIR, require_root
from test_demo import _listing, _sections


def test_demo_in_device_plugin_mode():
    require_root("the demo (it creates device nodes)")
    existed = os.path.exists("/dev/mock")
    r = subprocess.run([sys.executable if sys.executable.startswith("/usr/bin") else "/usr/bin/python3",
                        os.path.join(SOURCE_DIR, "scripts", "demo.py"), "--build-dir", BUILD_DIR,
                        "--mode", "device-plugin"],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert re.search(r"node demo-node before: capacity hostdev.example.com/gpu=8, "
                     r"allocatable hostdev.example.com/gpu=8", out), out
    assert "k8s.hostdev.example.com-gpu.json  (cdiVersion" in out, out
    pods = _sections(out)
    assert set(pods) == {"pod-a", "pod-b"}, out
    a_dev, b_dev = _listing(pods["pod-a"], "/dev/mock"), _listing(pods["pod-b"], "/dev/mock")
    assert len(a_dev) == 4 and len(b_dev) == 3, out
    assert not set(a_dev) & set(b_dev), out
    for pod, devs in (("pod-a", a_dev), ("pod-b", b_dev)):
        assert _listing(pods[pod], "/mock/so") == [d + ".so" for d in devs], out
        assert _listing(pods[pod], "/usr/local/bin") == ["list_device.sh"], out
    assert re.search(r"node demo-node after: capacity hostdev.example.com/gpu=8", out), out
    assert re.search(r"1 of 8 free: mock-device-\d", out), out
    assert "hostdev-kubelet-plugin exited with 0" in out
    assert not os.path.exists("/var/run/cdi/k8s.hostdev.example.com-gpu.json")
    if not existed:
        assert not os.path.exists("/dev/mock")
