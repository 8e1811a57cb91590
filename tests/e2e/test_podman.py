# SPDX-License-Identifier: Apache-2.0
"""The seed 002 transcript with real podman: eight mock GPUs made with mknod, a claim for four
of them prepared by hostdevctl, and a busybox container that sees exactly those four nodes, their
four libraries and the group's list_device.sh; a second claim for three others sees those three.

Podman 4.3 reads CDI specs only from /etc/cdi and /var/run/cdi, so the specs go to
/var/run/cdi under a driver name unique to this run, and every file is removed afterwards."""
import glob
import itertools
import os

import pytest

from podman_util import (PODMAN_CDI_DIR, claim_json, make_mock_tree, make_rootfs, mock_config,
                         parse_ls, podman_run, random_uid, require_podman, run_ctl,
                         unique_driver)



@pytest.fixture(autouse=True)
def _podman_here():
    require_podman()


NODE = "node-e2e"
SEEN = ["/dev/mock", "/mock/so", "/usr/local/bin"]


@pytest.fixture
def env(tmp_path):
    root = str(tmp_path / "host")
    make_mock_tree(root)
    config = mock_config(root, str(tmp_path / "config.yaml"))
    driver = unique_driver()
    yield {"tmp": tmp_path, "root": root, "config": config, "driver": driver,
           "runs": itertools.count()}
    for f in glob.glob(os.path.join(PODMAN_CDI_DIR, "k8s.%s-*" % driver)):
        os.unlink(f)


def prepare(env, name, devices):
    uid = random_uid()
    claim = claim_json(str(env["tmp"] / (name + ".json")), uid, env["driver"], NODE, devices,
                       name=name, other_driver_devices=["gpu-6"])
    p = run_ctl("prepare", "--claim", claim, "--config", env["config"], "--driver",
                env["driver"], "--node", NODE, check=0)
    ids = p.stdout.split()
    assert ids == ["k8s.%s/claim=%s-%s" % (env["driver"], uid, d) for d in devices]
    spec = os.path.join(PODMAN_CDI_DIR, "k8s.%s-claim_%s.json" % (env["driver"], uid))
    assert os.path.exists(spec)
    return uid, ids, spec


def fresh_rootfs(env):
    """A new rootfs per container: runc leaves bind-mount targets behind as empty files in a
    --rootfs directory, which the next container would list."""
    return make_rootfs(str(env["tmp"] / ("rootfs-%d" % next(env["runs"]))))


def run(env, ids, *cmd):
    return podman_run(fresh_rootfs(env), ids, *cmd)


def ls_in_container(env, ids):
    p = run(env, ids, "/bin/ls", *SEEN)
    assert p.returncode == 0, "podman failed: %s" % p.stderr
    return parse_ls(p.stdout)


def test_seed_transcript(env):
    uid1, ids1, spec1 = prepare(env, "claim-four", ["gpu-0", "gpu-2", "gpu-5", "gpu-7"])
    seen = ls_in_container(env, ids1)
    assert seen == {
        "/dev/mock": ["device_0", "device_2", "device_5", "device_7"],
        "/mock/so": ["device_0.so", "device_2.so", "device_5.so", "device_7.so"],
        "/usr/local/bin": ["list_device.sh"],
    }

    uid2, ids2, spec2 = prepare(env, "claim-three", ["gpu-1", "gpu-3", "gpu-4"])
    seen = ls_in_container(env, ids2)
    assert seen == {
        "/dev/mock": ["device_1", "device_3", "device_4"],
        "/mock/so": ["device_1.so", "device_3.so", "device_4.so"],
        "/usr/local/bin": ["list_device.sh"],
    }

    # The group script works inside the container and lists the container's own devices.
    p = run(env, ids2, "/bin/sh", "/usr/local/bin/list_device.sh")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["device_1", "device_3", "device_4"]

    # The device node really is the host's node (1:3+i) with rw access.
    p = run(env, ids1[:1], "/bin/ls", "-l", "/dev/mock/device_0")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("crw")
    assert "1,   3" in p.stdout or "1, 3" in p.stdout

    for uid, spec in ((uid1, spec1), (uid2, spec2)):
        run_ctl("unprepare", "--claim-uid", uid, "--driver", env["driver"], check=0)
        assert not os.path.exists(spec)
    # Once unprepared, podman no longer resolves the IDs.
    p = run(env, ids1[:1], "/bin/true")
    assert p.returncode != 0


def test_prepare_refuses_vanished_device(env):
    """A device whose node is gone fails the claim; no spec with a missing device is written."""
    os.unlink(os.path.join(env["root"], "dev/mock/device_5"))
    uid = random_uid()
    claim = claim_json(str(env["tmp"] / "c.json"), uid, env["driver"], NODE, ["gpu-4", "gpu-5"])
    # The config still loads; discovery leaves device_5 out, so the claim names an unknown
    # device.
    p = run_ctl("prepare", "--claim", claim, "--config", env["config"], "--driver",
                env["driver"], "--node", NODE, check=1)
    assert "device 'gpu-5'" in p.stderr
    assert not glob.glob(os.path.join(PODMAN_CDI_DIR, "k8s.%s-*" % env["driver"]))


def test_static_group_spec_with_podman(env):
    """`cdi generate` writes k8s.<driver>/gpu, so plain `podman run --device k8s.<driver>/gpu=<name>`
    works without any claim."""
    p = run_ctl("cdi", "generate", env["config"], "--driver", env["driver"], "--output",
                PODMAN_CDI_DIR, check=0)
    path = os.path.join(PODMAN_CDI_DIR, "k8s.%s-gpu.json" % env["driver"])
    assert p.stdout.strip() == path
    seen = ls_in_container(env, ["k8s.%s/gpu=gpu-6" % env["driver"]])
    assert seen == {"/dev/mock": ["device_6"], "/mock/so": ["device_6.so"],
                    "/usr/local/bin": ["list_device.sh"]}
