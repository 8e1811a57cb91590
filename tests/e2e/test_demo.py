"""The README main job (scripts/demo.py) end to end: it must succeed, show two containers with
disjoint sets of 4 and 3 mock devices plus list_device.sh, the CDI device IDs the plugin
returned, the claims as kubectl prints them, one free device, keep the plugin's log at the path
it prints, and clean up. Piped, its output has no escape codes."""
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
    for m in re.finditer(r"--- (pod-[ab]): ls [^\n]*\n(.*?)(?=\n--- |\n== )", out, re.S):
        res[m.group(1)] = m.group(2)
    return res


def _listing(text, directory):
    m = re.search(re.escape(directory) + r":\n(.*?)(?:\n\n|\Z)", text, re.S)
    return m.group(1).split() if m else []


def test_demo_runs_the_whole_flow():
    require_root("the demo (it creates device nodes)")
    existed = os.path.exists("/dev/mock")
    log_dir = os.path.join(BUILD_DIR, "demo-test")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    r = subprocess.run([sys.executable if sys.executable.startswith("/usr/bin") else "/usr/bin/python3",
                        os.path.join(SOURCE_DIR, "scripts", "demo.py"), "--build-dir", BUILD_DIR,
                        "--log-dir", log_dir],
                       capture_output=True, text=True, timeout=300, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    # stdout is a pipe: no colour codes even without NO_COLOR.
    assert "\x1b" not in out
    # The IDs NodePrepareResources returned: 4 + 3, one per allocated device.
    ids = re.findall(r"^    (k8s\.hostdev\.example\.com/claim=[0-9a-f-]{36}-mock-device-\d)$", out,
                     re.M)
    assert len(ids) == 7 and len(set(ids)) == 7, out
    # The claims as kubectl prints them.
    m = re.search(r"^NAME +STATE +AGE\n((?:.+\n){2})", out, re.M)
    assert m, out
    for line in m.group(1).splitlines():
        assert re.match(r"pod-[ab]-gpus-\w+ +allocated,reserved +\d+s$", line), line
    # The plugin's log is kept where the demo says.
    m = re.search(r"^hostdev-kubelet-plugin log kept at (\S+)$", out, re.M)
    assert m and m.group(1) == os.path.join(log_dir, "plugin.log"), out
    with open(m.group(1)) as f:
        assert '"plugin started"' in f.read()
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
    # The controller's ledger after the pods started and after they were deleted.
    assert "ledger demo-node: total 8, allocated 7, free 1" in out
    assert "ledger demo-node: total 8, allocated 0, free 8" in out
    assert out.index("allocated 7, free 1") < out.index("allocated 0, free 8")
    assert "hostdev-controller exited with 0" in out
    # Torn down: no claim specs of the demo driver and no mock devices left behind.
    assert not glob.glob("/var/run/cdi/k8s.hostdev.example.com-claim_*")
    if not existed:
        assert not os.path.exists("/dev/mock")
