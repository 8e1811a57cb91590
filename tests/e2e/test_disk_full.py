# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin on full and read-only disks: the CDI root on a small tmpfs filled up
or remounted read-only, the checkpoint's directory filled up. The claim whose write fails gets
an error naming the path and the errno, the daemon keeps serving, nothing is half-written (no
temp file, no partial spec, the checkpoint on disk still right), and the claim prepares once
the space is back. Needs root (mount)."""
import contextlib
import errno
import glob
import json
import os
import subprocess

import pytest

from plugin_env import NODE, ckpt_checksum, env, sim  # noqa: F401

ENOSPC = os.strerror(errno.ENOSPC)  # "No space left on device"
EROFS = os.strerror(errno.EROFS)  # "Read-only file system"


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def tmpfs(path, size="512k"):
    os.makedirs(path, exist_ok=True)
    run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path)
    try:
        yield path
    finally:
        if subprocess.run(["umount", path], capture_output=True).returncode != 0:
            run("umount", "-l", path)


def fill(path):
    """Fill the file system of PATH: a file grows until ENOSPC. Returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return filler


def leftovers(path):
    """Temp files of atomic writes (".NAME.XXXXXXXX.tmp") in PATH."""
    return [f for f in os.listdir(path) if f.startswith(".") and f.endswith(".tmp")]


def checkpoint_uids(p):
    """UIDs in the checkpoint on disk, after checking it parses and its checksum holds."""
    with open(p.checkpoint) as f:
        doc = json.load(f)
    assert doc["checksum"] == ckpt_checksum(doc["data"])
    assert all(e["state"] == "PrepareCompleted" for e in doc["data"]["claims"]), doc
    return sorted(e["uid"] for e in doc["data"]["claims"])


def ids(answer):
    return [i for d in answer.devices for i in d.cdi_device_ids]


def two_claims(env):
    env.device_class()
    a = env.allocated_claim("a", ["mock-device-1"])
    b = env.allocated_claim("b", ["mock-device-2"])
    return a, b


def spec_name(env, c):
    return os.path.basename(env.spec_path(c["metadata"]["uid"]))


def test_full_cdi_root_fails_the_claim_and_prepares_once_space_is_back(env):
    a, b = two_claims(env)
    ua, ub = a["metadata"]["uid"], b["metadata"]["uid"]
    cdi = os.path.join(env.root, "cdi")
    with tmpfs(cdi):
        p = env.start_plugin(extra=["--cdi-root", cdi])
        try:
            ans_a = p.prepare([env.ref(a)])[ua]
            assert ans_a.error == ""
            filler = fill(cdi)

            err = p.prepare([env.ref(b)])[ub].error
            assert cdi in err and spec_name(env, b) in err and ENOSPC in err, err
            assert err.count(spec_name(env, b)) == 1 and err.count(ENOSPC) == 1, err
            assert p.running()
            assert sorted(os.listdir(cdi)) == sorted([spec_name(env, a), "filler"])
            assert checkpoint_uids(p) == [ua]
            assert leftovers(p.state_dir) == []
            # the daemon still answers what needs no space
            again = p.prepare([env.ref(a)])[ua]
            assert again.error == "" and ids(again) == ids(ans_a)

            os.unlink(filler)
            ans_b = p.prepare([env.ref(b)])[ub]
            assert ans_b.error == "", ans_b.error
            assert os.path.exists(os.path.join(cdi, spec_name(env, b)))
            assert checkpoint_uids(p) == sorted([ua, ub])
            assert all(a.error == "" for a in p.unprepare([env.ref(a), env.ref(b)]).values())
            assert os.listdir(cdi) == [] and checkpoint_uids(p) == []
        finally:
            p.stop()


def test_read_only_cdi_root_fails_prepare_and_unprepare_until_writable(env):
    a, b = two_claims(env)
    ua, ub = a["metadata"]["uid"], b["metadata"]["uid"]
    cdi = os.path.join(env.root, "cdi")
    with tmpfs(cdi):
        p = env.start_plugin(extra=["--cdi-root", cdi])
        try:
            assert p.prepare([env.ref(a)])[ua].error == ""
            run("mount", "-o", "remount,ro", cdi)
            try:
                err = p.prepare([env.ref(b)])[ub].error
                assert cdi in err and spec_name(env, b) in err and EROFS in err, err
                err = p.unprepare([env.ref(a)])[ua].error
                assert cdi in err and spec_name(env, a) in err and EROFS in err, err
                assert p.running()
                assert os.listdir(cdi) == [spec_name(env, a)]
                # a failed unprepare keeps the claim: still held, still answered
                assert checkpoint_uids(p) == [ua]
                assert p.prepare([env.ref(a)])[ua].error == ""
            finally:
                run("mount", "-o", "remount,rw", cdi)
            assert p.prepare([env.ref(b)])[ub].error == ""
            assert p.unprepare([env.ref(a)])[ua].error == ""
            assert os.listdir(cdi) == [spec_name(env, b)]
            assert checkpoint_uids(p) == [ub]
            assert p.unprepare([env.ref(b)])[ub].error == ""
        finally:
            p.stop()


def test_full_checkpoint_dir_fails_the_claim_names_the_path_and_recovers(env):
    a, b = two_claims(env)
    ua, ub = a["metadata"]["uid"], b["metadata"]["uid"]
    state_dir = os.path.join(env.cluster.dirs(NODE)["plugins"], env.driver)
    with tmpfs(state_dir):
        p = env.start_plugin()
        assert p.state_dir == state_dir
        try:
            ans_a = p.prepare([env.ref(a)])[ua]
            assert ans_a.error == ""
            filler = fill(state_dir)

            err = p.prepare([env.ref(b)])[ub].error
            assert p.checkpoint in err and ENOSPC in err, err
            assert p.running()
            assert not os.path.exists(env.spec_path(ub))  # rolled back
            assert leftovers(state_dir) == []
            assert checkpoint_uids(p) == [ua]
            again = p.prepare([env.ref(a)])[ua]
            assert again.error == "" and ids(again) == ids(ans_a)

            # an unprepare that cannot record itself fails, and keeps failing on retry
            # instead of answering success while the checkpoint on disk still holds the claim
            for attempt in range(2):
                err = p.unprepare([env.ref(a)])[ua].error
                assert p.checkpoint in err and ENOSPC in err, (attempt, err)
                assert checkpoint_uids(p) == [ua]
            assert leftovers(state_dir) == []

            os.unlink(filler)
            assert p.prepare([env.ref(b)])[ub].error == ""
            assert p.unprepare([env.ref(a)])[ua].error == ""
            assert checkpoint_uids(p) == [ub]
            assert env.cdi_files() == [env.spec_path(ub)]
            # a restart agrees: a stays unprepared (its spec is not restored), b stays
            assert p.stop()[0] == 0
            p.start()
            assert env.cdi_files() == [env.spec_path(ub)]
            assert checkpoint_uids(p) == [ub]
            assert p.unprepare([env.ref(b)])[ub].error == ""
        finally:
            p.stop()
        assert glob.glob(os.path.join(state_dir, "*.sock")) == []


def test_full_checkpoint_dir_at_start_still_serves_and_recovers(env):
    """The start-up repair cannot save the checkpoint: the daemon logs it once (path, errno) and
    serves; a prepare fails naming the path while the disk is full and succeeds after."""
    a, b = two_claims(env)
    ua, ub = a["metadata"]["uid"], b["metadata"]["uid"]
    state_dir = os.path.join(env.cluster.dirs(NODE)["plugins"], env.driver)
    with tmpfs(state_dir):
        p = env.start_plugin()
        try:
            assert p.prepare([env.ref(a)])[ua].error == ""
            assert p.stop()[0] == 0
            filler = fill(state_dir)

            p.start()  # waits for "plugin started": a failed save no longer stops it
            assert p.running()
            msg = "cannot save the checkpoint at start"
            lines = [ln for ln in p.log(since_start=True).splitlines() if msg in ln]
            assert len(lines) == 1, p.log(since_start=True)
            assert lines[0].startswith("E") and p.checkpoint in lines[0], lines[0]  # klog: error
            assert ENOSPC in lines[0], lines[0]
            assert checkpoint_uids(p) == [ua]  # the old file is intact
            assert leftovers(state_dir) == []

            err = p.prepare([env.ref(b)])[ub].error
            assert p.checkpoint in err and ENOSPC in err, err
            # each layer adds only what it knows: the file is named once
            assert err.count(os.path.basename(p.checkpoint)) == 1, err
            assert p.running()
            assert not os.path.exists(env.spec_path(ub))

            os.unlink(filler)
            assert p.prepare([env.ref(b)])[ub].error == ""
            assert checkpoint_uids(p) == sorted([ua, ub])
            assert p.unprepare([env.ref(a), env.ref(b)])[ua].error == ""
            assert checkpoint_uids(p) == []
        finally:
            p.stop()
