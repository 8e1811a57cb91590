# SPDX-License-Identifier: Apache-2.0
"""`hostdevctl prepare` applies a claim's opaque HostDeviceConfig env exactly as the daemon
does (issue 9, defect 11: offline prepare ignored it), including the claimEnv rules."""
import json

import pytest

from podman_util import claim_json, random_uid, run_ctl

CONFIG = """apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: mem
    match: {paths: [/dev/null, /dev/zero]}
    deviceEdits:
      env: ["MEM_DEV={name}"]
    commonEdits:
      env: ["MEM=1"]
"""


def _claim(tmp_path, uid, env_vars, requests=None):
    path = claim_json(str(tmp_path / "claim.json"), uid, "hostdev.example.com", "node-a",
                      ["null", "zero"])
    with open(path) as f:
        c = json.load(f)
    cfg = {"source": "FromClaim", "opaque": {"driver": "hostdev.example.com", "parameters": {
        "apiVersion": "hostdev.example.com/v1alpha1", "kind": "HostDeviceConfig",
        "env": env_vars}}}
    if requests:
        cfg["requests"] = requests
    c["status"]["allocation"]["devices"]["config"] = [cfg]
    with open(path, "w") as f:
        json.dump(c, f)
    return path


@pytest.fixture
def config(tmp_path):
    p = tmp_path / "config.yaml"
    p.write_text(CONFIG)
    return str(p)


def test_offline_prepare_adds_the_claims_env(config, tmp_path):
    root = tmp_path / "cdi"
    uid = random_uid()
    claim = _claim(tmp_path, uid, {"APP_MODE": "fast"})
    run_ctl("prepare", "--claim", claim, "--config", config, "--cdi-root", str(root),
            "--node", "node-a", check=0)
    spec = json.loads((root / f"k8s.hostdev.example.com-claim_{uid}.json").read_text())
    envs = {d["name"]: d["containerEdits"]["env"] for d in spec["devices"]}
    assert envs == {f"{uid}-null": ["MEM_DEV=null"], f"{uid}-zero": ["MEM_DEV=zero"]}
    # The same env for every device of the claim: written once, at spec level.
    assert spec["containerEdits"]["env"].count("APP_MODE=fast") == 1


@pytest.mark.parametrize("var,why", [("MEM", "sets it"), ("MEM_DEV", "sets it"),
                                     ("LD_PRELOAD", "dynamic-loader")])
def test_offline_prepare_refuses_what_the_daemon_refuses(config, tmp_path, var, why):
    root = tmp_path / "cdi"
    uid = random_uid()
    claim = _claim(tmp_path, uid, {var: "x"})
    p = run_ctl("prepare", "--claim", claim, "--config", config, "--cdi-root", str(root),
                "--node", "node-a", check=1)
    assert f"claim env '{var}'" in p.stderr and why in p.stderr, p.stderr
    assert not root.exists() or list(root.iterdir()) == []


def test_offline_prepare_rejects_a_bad_opaque_config(config, tmp_path):
    uid = random_uid()
    claim = _claim(tmp_path, uid, {"1BAD": "x"})
    p = run_ctl("prepare", "--claim", claim, "--config", config, "--cdi-root",
                str(tmp_path / "cdi"), "--node", "node-a", check=1)
    assert "1BAD" in p.stderr, p.stderr
