# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin --mode device-plugin end to end: the simulated kubelet's device-plugin
manager registers the plugin, mirrors ListAndWatch into the Node's capacity, calls
GetPreferredAllocation and Allocate for pods with resources.limits, and podman runs the
containers with the CDI IDs (or legacy devices/mounts/envs) of the answer."""
import re

from dp_env import NODE, SLOW, dpenv, dpsim, wait_for  # noqa: F401

# What a container prints (as in test_plugin_dra): its device nodes, the non-empty .so files
# bind-mounted into it and whether list_device.sh is there.
LS = ("ls /dev/mock; echo --; for f in /mock/so/*; do test -s $f && cat $f; done; echo --; "
      "test -x /usr/local/bin/list_device.sh && echo list-ok")


def parse_ls(out):
    devs, sos, tail = out.split("--\n")
    return (sorted(devs.split()), sorted(int(x.split()[1]) for x in sos.splitlines() if x.strip()),
            "list-ok" in tail)


def test_pods_get_distinct_devices_through_allocate(dpenv):
    """8 mock GPUs advertised as <driver>/gpu: 8; pods asking for 4 and 3 run with distinct
    devices, their .so files and list_device.sh; 1 stays allocatable."""
    e = dpenv
    p = e.start_dp()
    e.wait_node_resource(("8", "8"))
    ep = e.kubelet.dp.endpoints[e.resource]
    assert ep.endpoint == f"{e.driver}-gpu.sock"
    assert ep.options.get_preferred_allocation_available and not ep.options.pre_start_required
    e.dp_pod("a", LS + "; sleep 30", 4)
    e.dp_pod("b", LS + "; sleep 30", 3)
    for n in "ab":
        e.wait_pod(n, phases=("Running",))
    wait_for(lambda: all("list-ok" in (e.output(n) or "") for n in "ab"),
             timeout=10 * SLOW, what="complete container output")
    out = {n: parse_ls(e.output(n)) for n in "ab"}
    for n, k in (("a", 4), ("b", 3)):
        devs, sos, listed = out[n]
        assert len(devs) == k and listed, out
        assert sos == sorted(int(d.split("_")[1]) for d in devs)
    assert not set(out["a"][0]) & set(out["b"][0])
    allocs = {key[1]: v for key, v in e.kubelet.dp.allocations.items()}
    assert sum(len(v[e.resource]) for v in e.kubelet.dp.allocations.values()) == 7, allocs
    assert p.metric("hostdev_dp_allocate_total", result="success") == 2
    assert p.metric("hostdev_dp_registrations_total", result="success") >= 1
    assert re.search(r'"plugin started".*mode="device-plugin"', p.log())
