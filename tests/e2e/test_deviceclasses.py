# SPDX-License-Identifier: Apache-2.0
"""`hostdevctl deviceclasses` output as an admin uses it: applied with kubectl to the simulated
API server, the classes' CEL compiles and the simulated scheduler allocates each pod's claim from
exactly its group's devices."""
import shutil
import subprocess

import pytest
import yaml

from conftest import find_binary
from plugin_env import SLOW, claim_spec, env, sim, wait_for  # noqa: F401

LS = "ls /dev/mock /dev/zero 2>/dev/null; sleep 30"


def kubectl(env, *args, stdin=None):
    exe = shutil.which("kubectl")
    if not exe:
        pytest.fail("kubectl is not installed: see README, Set-up", pytrace=False)
    return subprocess.run([exe, "--kubeconfig", env.cluster.kubeconfig, *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_generated_classes_allocate_their_group(env):
    config = env.write_config(open(env.config).read() + (
        "  - name: mem\n"
        "    match: {paths: [/dev/zero]}\n"), name="two-groups.yaml")
    out = subprocess.run([find_binary("hostdevctl"), "deviceclasses", config, "--driver",
                          env.driver], capture_output=True, text=True, check=True).stdout
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(out)]
    assert names == ["gpu." + env.driver, "mem." + env.driver]
    # As an admin would: kubectl apply, with its client-side validation against the OpenAPI
    # document the API server serves.
    r = kubectl(env, "apply", "-f", "-", stdin=out)
    assert r.returncode == 0, r.stdout + r.stderr
    env.class_names.extend(names)  # deleted at teardown

    env.start_plugin(config=config)
    env.wait_slices(9)
    env.template("gpus", claim_spec("gpu." + env.driver, count=3))
    env.template("mem", claim_spec("mem." + env.driver, count=1))
    env.pod("g", LS, claims=[("c", {"resourceClaimTemplateName": "gpus"})])
    env.pod("m", LS, claims=[("c", {"resourceClaimTemplateName": "mem"})])
    for name in ("g", "m"):
        env.wait_pod(name, phases=("Running",))

    def results(pod):
        c = env.get_claim(env.pod_claim_name(pod))
        return sorted(r["device"] for r in c["status"]["allocation"]["devices"]["results"])
    gpus = results("g")
    assert len(gpus) == 3 and all(d.startswith("mock-device-") for d in gpus), gpus
    assert results("m") == ["zero"]
    # No gpu-class claim can reach the mem group: a fourth... ninth gpu stays allocatable only
    # from the mock devices (8), so asking for 9 never schedules.
    env.template("too-many", claim_spec("gpu." + env.driver, count=9))
    env.pod("x", "true", claims=[("c", {"resourceClaimTemplateName": "too-many"})])
    wait_for(lambda: any("cannot allocate" in (e.get("message") or "") or
                         "Unschedulable" in (e.get("reason") or "") or
                         "FailedScheduling" in (e.get("reason") or "")
                         for e in env.client.list(f"/api/v1/namespaces/{env.ns}/events")["items"]),
             timeout=20 * SLOW, what="pod x unschedulable")
    pod = env.client.get(f"/api/v1/namespaces/{env.ns}/pods/x")
    assert not pod["spec"].get("nodeName")
    for name in ("g", "m", "x"):
        env.delete_pod(name)
