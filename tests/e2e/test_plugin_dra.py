# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin end to end, the claim path: the simulated scheduler allocates, the
simulated kubelet calls NodePrepareResources, podman starts a busybox container with the CDI IDs
the plugin returned, and the container sees exactly the allocated devices. Also: direct gRPC calls
on the DRA socket for per-claim errors, idempotency and concurrency; opaque config; metrics."""
import os
import re
import time

import pytest

from plugin_env import (NODE, SLOW, claim_spec, env, run_threads, sim,  # noqa: F401
                        wait_for)

# What a container prints: the device nodes it got, the .so files actually bind-mounted (the
# simulated kubelet reuses one rootfs, so bind targets of earlier containers linger as empty
# files: only non-empty ones count) and whether the group's list_device.sh is there.
LS = ("ls /dev/mock; echo --; for f in /mock/so/*; do test -s $f && cat $f; done; echo --; "
      "test -x /usr/local/bin/list_device.sh && echo list-ok")


def parse_ls(out):
    devs, sos, tail = out.split("--\n")
    return (sorted(devs.split()), sorted(int(x.split()[1]) for x in sos.splitlines() if x.strip()),
            "list-ok" in tail)


def allocated(env, claim_name):
    c = env.get_claim(claim_name)
    return sorted(r["device"] for r in c["status"]["allocation"]["devices"]["results"]
                  if r["driver"] == env.driver)


def test_container_sees_exactly_the_allocated_devices(env):
    """Two pods at once (4 and 3 mock GPUs): each container sees exactly its claim's devices,
    their .so files and list_device.sh; specs and checkpoint entries go with the pods."""
    p = env.start_plugin()
    env.wait_slices(8)
    env.device_class()
    env.template("four", claim_spec(env.driver, count=4))
    env.template("three", claim_spec(env.driver, count=3))
    env.pod("a", LS + "; sleep 30", claims=[("g", {"resourceClaimTemplateName": "four"})])
    env.pod("b", LS + "; sleep 30", claims=[("g", {"resourceClaimTemplateName": "three"})])
    for name in ("a", "b"):
        env.wait_pod(name, phases=("Running",))
    wait_for(lambda: all((env.output(n) or "").count("--") == 2 for n in "ab"),
             timeout=10 * SLOW, what="container output")
    time.sleep(0.3)
    out = {n: parse_ls(env.output(n)) for n in "ab"}
    alloc = {n: allocated(env, env.pod_claim_name(n)) for n in "ab"}
    for n, k in (("a", 4), ("b", 3)):
        devs, sos, listed = out[n]
        assert devs == sorted("device_" + d.rsplit("-", 1)[1] for d in alloc[n])
        assert len(devs) == k and listed
        assert sos == sorted(int(d.split("_")[1]) for d in devs)
    assert not set(out["a"][0]) & set(out["b"][0])
    assert len(env.cdi_files()) == 2
    ck = p.read_checkpoint()
    assert sorted(c["state"] for c in ck["data"]["claims"]) == ["PrepareCompleted"] * 2
    for n in "ab":
        env.delete_pod(n)
    wait_for(lambda: env.cdi_files() == [], timeout=10 * SLOW, what="specs removed")
    assert p.read_checkpoint()["data"]["claims"] == []
