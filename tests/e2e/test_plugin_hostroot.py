# SPDX-License-Identifier: Apache-2.0
"""--host-root end to end: the plugin runs as in a container whose view of the host is a
directory (the DaemonSet mounts the host's / at /host). It must look up every host path of the
config under that directory -- discovery, hot-plug, device checks and mount sources at prepare
-- while the CDI specs it writes, and so what podman gets, keep the host's own paths.

The fixture: the env's mock tree (8 devices and their .so files, at host paths under env.root)
is what podman sees; the host-root directory holds a copy of that tree with only devices 0-3.
Whatever the plugin reports that exists only outside the host root shows it looked in the wrong
place."""
import json
import os
import shutil
import tempfile

import pytest

from plugin_env import SLOW, Plugin, claim_spec, env, mknod, sim, wait_for  # noqa: F401

LS = ("ls /dev/mock; echo --; for f in /mock/so/*; do test -s $f && cat $f; done; echo --; "
      "test -x /usr/local/bin/list_device.sh && echo list-ok")


@pytest.fixture
def host_root(env):
    d = tempfile.mkdtemp(prefix="hd-hostroot-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def under(root, host_path):
    return root + host_path


def copy_device(env, root, i):
    mknod(under(root, os.path.join(env.root, f"dev/mock/device_{i}")))
    so = under(root, os.path.join(env.root, f"mock/so/device_{i}.so"))
    os.makedirs(os.path.dirname(so), exist_ok=True)
    shutil.copy(os.path.join(env.root, f"mock/so/device_{i}.so"), so)


def test_plugin_looks_under_host_root_and_specs_keep_host_paths(env, host_root):
    for i in range(4):
        copy_device(env, host_root, i)
    sh = os.path.join(env.root, "mock/bin/list_device.sh")
    os.makedirs(os.path.dirname(under(host_root, sh)))
    shutil.copy(sh, under(host_root, sh))
    # The host root itself is reached through a symlink, as a mount path may be.
    link = host_root + "-link"
    os.symlink(host_root, link)
    try:
        p = env.start_plugin(extra=["--host-root", link])
        # Discovery: only the four devices under the host root, though eight exist outside it.
        devs = env.wait_slices(4)
        assert sorted(devs) == ["mock-device-%d" % i for i in range(4)]
        assert devs["mock-device-0"]["attributes"]["path"]["string"] == \
            os.path.join(env.root, "dev/mock/device_0")

        # Hot-plug is watched under the host root too.
        copy_device(env, host_root, 4)
        env.wait_slices(5, timeout=10)

        # A mount source present on the real path but not under the host root fails the claim.
        os.unlink(under(host_root, os.path.join(env.root, "mock/so/device_3.so")))
        env.device_class()
        c = env.allocated_claim("direct", ["mock-device-3"])
        res = p.prepare([env.ref(c)])[c["metadata"]["uid"]]
        assert "mount source '%s/mock/so/device_3.so' (host root '%s')" % (
            env.root, os.path.realpath(host_root)) in res.error, res.error
        assert not os.path.exists(env.spec_path(c["metadata"]["uid"]))
        shutil.copy(os.path.join(env.root, "mock/so/device_3.so"),
                    under(host_root, os.path.join(env.root, "mock/so/device_3.so")))

        # A pod gets four devices: the spec names the host's paths, never the host root's.
        env.template("four", claim_spec(env.driver, count=4))
        env.pod("a", LS + "; sleep 30", claims=[("g", {"resourceClaimTemplateName": "four"})])
        env.wait_pod("a", phases=("Running",))
        wait_for(lambda: "list-ok" in (env.output("a") or ""), timeout=10 * SLOW,
                 what="container output")
        devs_seen, sos, tail = env.output("a").split("--\n")
        assert len(devs_seen.split()) == 4
        assert sorted(devs_seen.split()) == sorted(
            "device_%s" % s.split()[1] for s in sos.splitlines() if s.strip())
        specs = [f for f in env.cdi_files() if "claim_" in f]
        text = "".join(open(f).read() for f in specs)
        assert host_root not in text and link not in text
        assert len(specs) == 1, specs
        spec = json.loads(open(specs[0]).read())
        host_paths = [n.get("hostPath", n["path"]) for d in spec["devices"]
                      for n in d["containerEdits"]["deviceNodes"]]
        assert all(h.startswith(os.path.join(env.root, "dev/mock/device_")) for h in host_paths)
        env.delete_pod("a")
    finally:
        os.unlink(link)


def test_bad_host_root_stops_start_up(env):
    """A host root that is not there is a start-up failure (exit 1) naming the flag; a relative
    one is a usage error (exit 2)."""
    for arg, code, words in (("/nonexistent-host-root", 1, "--host-root"),
                             ("relative/dir", 2, "must be an absolute path")):
        p = Plugin(env, env.config, env.driver, extra=["--host-root", arg], name="bad-root")
        p.start(wait=False)
        assert p.proc.wait(20 * SLOW) == code, p.log()
        assert words in p.log(since_start=True)
