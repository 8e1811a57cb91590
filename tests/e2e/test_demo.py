"""The README main job (scripts/demo.py) end to end: it must succeed, show two containers with
disjoint sets of 4 and 3 mock devices plus list_device.sh, one free device, and clean up."""
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, require_root


def _sections(out):
    """Map 'pod-a' / 'pod-b' to the ls output printed for it."""
    res = {}
    for m in re.finditer(r"--- (pod-[ab]): ls [^\n]*\n(.*?)(?=\n--- |\n\x1b\[1m== )", out, re.S):
        res[m.group(1)] = m.group(2)
    return res


def _listing(text, directory):
    m = re.search(re.escape(directory) + r":\n(.*?)(?:\n\n|\Z)", text, re.S)
    return m.group(1).split() if m else []


def test_demo_runs_the_whole_flow():
    require_root("the demo (it creates device nodes)")
    existed = os.path.exists("/dev/mock")
    r = subprocess.run([sys.executable if sys.executable.startswith("/usr/bin") else "/usr/bin/python3",
                        os.path.join(SOURCE_DIR, "scripts", "demo.py"), "--build-dir", BUILD_DIR],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    pods = _sections(out)
    assert set(pods) == {"pod-a", "pod-b"}, out
    a_dev, b_dev = _listing(pods["pod-a"], "/dev/mock"), _listing(pods["pod-b"], "/dev/mock")
    assert len(a_dev) == 4 and len(b_dev) == 3, out
    assert not set(a_dev) & set(b_dev), out
    for pod, devs in (("pod-a", a_dev), ("pod-b", b_dev)):
        assert _listing(pods[pod], "/mock/so") == [d + ".so" for d in devs], out
        assert _listing(pods[pod], "/usr/local/bin") == ["list_device.sh"], out
    assert re.search(r"1 of 8 free: mock-device-\d", out), out
    assert "left in /var/run/cdi: none" in out
    assert "hostdev-kubelet-plugin exited with 0" in out
    # Torn down: no claim specs of the demo driver and no mock devices left behind.
    assert not glob.glob("/var/run/cdi/k8s.hostdev.example.com-claim_*")
    if not existed:
        assert not os.path.exists("/dev/mock")
