# SPDX-License-Identifier: Apache-2.0
"""Helpers for the hostdevctl and podman end-to-end tests: the hostdevctl binary, a mock device
tree made with mknod, a busybox-static rootfs, the CDI JSON schema, and running podman the way
this host allows (runc, no network, explicit ulimits)."""
import json
import os
import secrets
import shutil
import stat
import subprocess

from conftest import REFERENCE_DIR, SOURCE_DIR, find_binary

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "test", "true")
PODMAN_OPTS = ["--runtime", "runc", "--network", "none",
               "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# Podman 4.3 reads CDI specs only from these, and only cdiVersion <= 0.5.0.
PODMAN_CDI_DIR = "/var/run/cdi"

EXAMPLES = ["mock-gpus", "fuse", "serial", "nvidia", "amd", "kvm-tun"]


def hostdevctl():
    return find_binary("hostdevctl")


def run_ctl(*args, check=None):
    """Run hostdevctl; returns CompletedProcess with text output. CHECK: expected exit code."""
    p = subprocess.run([hostdevctl(), *args], capture_output=True, text=True, timeout=60)
    if check is not None:
        assert p.returncode == check, "exit %d, want %d\nstdout: %s\nstderr: %s" % (
            p.returncode, check, p.stdout, p.stderr)
    return p


def example(name):
    return os.path.join(SOURCE_DIR, "deploy", "examples", name + ".yaml")


def is_root():
    return os.geteuid() == 0


def unique_driver():
    """A driver name no other test run uses, so specs in the shared /var/run/cdi never clash."""
    return "t%s.example.com" % secrets.token_hex(4)


def random_uid():
    h = secrets.token_hex(16)
    return "%s-%s-4%s-8%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


def make_mock_tree(root, n=8, major=1, first_minor=3):
    """ROOT/dev/mock/device_0..N-1 (char devices MAJOR:FIRST_MINOR+i), ROOT/mock/so/device_i.so
    and ROOT/mock/bin/list_device.sh. Needs root for mknod."""
    for d in ("dev/mock", "mock/so", "mock/bin"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for i in range(n):
        os.mknod(os.path.join(root, "dev/mock/device_%d" % i), 0o666 | stat.S_IFCHR,
                 os.makedev(major, first_minor + i))
        with open(os.path.join(root, "mock/so/device_%d.so" % i), "w") as f:
            f.write("mock library %d\n" % i)
    script = os.path.join(root, "mock/bin/list_device.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nls /dev/mock\n")
    os.chmod(script, 0o755)


def mock_config(root, path):
    """The seed's mock GPU config with host paths under ROOT and the seed's container paths."""
    text = """apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: gpu
    match:
      globs: ["{root}/dev/mock/device_*"]
    deviceName: "gpu-{{1}}"
    containerPath: "/dev/mock/{{name}}"
    permissions: rw
    attributes:
      index: {{int: "{{1}}"}}
      model: {{string: mock-gpu}}
    deviceEdits:
      mounts:
        - hostPath: "{root}/mock/so/{{name}}.so"
          containerPath: "/mock/so/{{name}}.so"
          options: [ro, nosuid, nodev, bind]
    commonEdits:
      mounts:
        - hostPath: {root}/mock/bin/list_device.sh
          containerPath: /usr/local/bin/list_device.sh
          options: [ro, nosuid, nodev, bind]
""".format(root=root)
    with open(path, "w") as f:
        f.write(text)
    return path


def claim_json(path, uid, driver, pool, devices, name="claim", namespace="default",
               other_driver_devices=()):
    """An allocated v1 ResourceClaim giving DEVICES of DRIVER in POOL (plus, to be ignored,
    OTHER_DRIVER_DEVICES of another driver)."""
    results = [{"request": "gpus", "driver": driver, "pool": pool, "device": d}
               for d in devices]
    results += [{"request": "other", "driver": "other.example.com", "pool": pool, "device": d}
                for d in other_driver_devices]
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {"devices": {"requests": [{"name": "gpus", "exactly": {
            "deviceClassName": "hostdev", "count": len(devices)}}]}},
        "status": {"allocation": {"devices": {"results": results}}},
    }
    with open(path, "w") as f:
        json.dump(claim, f)
    return path


def make_rootfs(path):
    """A minimal rootfs: Debian's busybox-static as /bin/busybox plus applet symlinks."""
    os.makedirs(os.path.join(path, "bin"), exist_ok=True)
    for d in ("dev", "proc", "sys", "etc", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    return path


def podman_missing():
    """None when podman end-to-end tests can run here, else what is missing (a failure: run
    the suite as root after scripts/install-deps.sh)."""
    if not is_root():
        return "podman end-to-end tests need root (mknod, /var/run/cdi): run the tests as root"
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            return "%s is not installed: run scripts/install-deps.sh" % tool
    if not os.path.exists(BUSYBOX):
        return "busybox-static (%s) is not installed: run scripts/install-deps.sh" % BUSYBOX
    return None


def require_podman():
    """Fail (never skip) unless podman end-to-end tests can run here."""
    import pytest
    reason = podman_missing()
    if reason:
        pytest.fail(reason, pytrace=False)


def podman_run(rootfs, devices, *cmd):
    """podman run --rm with our options, one --device per CDI ID, options before --rootfs."""
    args = ["podman", "run", "--rm", *PODMAN_OPTS]
    for d in devices:
        args += ["--device", d]
    args += ["--rootfs", rootfs, *cmd]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def parse_ls(output):
    """`ls DIR...` output → {dir: [entries]}."""
    out, cur = {}, None
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.endswith(":"):
            cur = line[:-1]
            out[cur] = []
        elif cur is not None:
            out[cur] += line.split()
    return out


def cdi_validator():
    """A Draft 7 validator for the official CDI schema, $refs resolved locally only."""
    import jsonschema
    base = os.path.join(REFERENCE_DIR, "cdi-schema")
    with open(os.path.join(base, "schema.json")) as f:
        schema = json.load(f)
    with open(os.path.join(base, "defs.json")) as f:
        defs = json.load(f)
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7
        registry = Registry().with_resources(
            [("defs.json", Resource.from_contents(defs, default_specification=DRAFT7))])
        return jsonschema.Draft7Validator(schema, registry=registry)
    except ImportError:
        resolver = jsonschema.RefResolver(base_uri="", referrer=schema,
                                          store={"defs.json": defs})
        return jsonschema.Draft7Validator(schema, resolver=resolver)
