# SPDX-License-Identifier: Apache-2.0
"""hostdevctl as a user runs it: every subcommand, help and usage errors, the shipped examples,
the ResourceSlices `discover --json` prints, and CDI specs that validate against the official
schema. Configs here use real nodes of every Linux host (/dev/null, /dev/zero, /dev/full), so
these tests need no root; the mknod-based flows live in test_podman.py."""
import json
import os
import re
import subprocess

import pytest

from podman_util import (EXAMPLES, cdi_validator, claim_json, example, random_uid, run_ctl)

COMMANDS = [["validate"], ["discover"], ["deviceclasses"], ["cdi", "generate"],
            ["cdi", "validate"], ["prepare"], ["unprepare"]]

HOST_CONFIG = """apiVersion: hostdev.example.com/v1alpha1
kind: DeviceConfig
groups:
  - name: mem
    match:
      paths: [/dev/null, /dev/zero, /dev/full]
    permissions: rw
    attributes:
      index: {int: "{index}"}
      kind: {string: "{name}"}
      virtual: {bool: true}
      api: {version: 1.0.0}
    deviceEdits:
      env: ["MEM_DEVICE={device}"]
    commonEdits:
      env: ["MEM=1"]
"""


@pytest.fixture
def host_config(tmp_path):
    p = tmp_path / "config.yaml"
    p.write_text(HOST_CONFIG)
    return str(p)


# ---- usage ----

def test_no_arguments_is_usage_error():
    p = run_ctl(check=2)
    assert "Usage: hostdevctl COMMAND" in p.stderr


def test_global_help():
    p = run_ctl("--help", check=0)
    for c in COMMANDS:
        assert " ".join(c) in p.stdout
    assert "Exit status: 0 ok; 1 failed or did nothing of what was asked" in p.stdout
    assert "2 usage (unknown command,\nflag or argument)" in p.stdout


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: "-".join(c))
def test_subcommand_help(cmd):
    p = run_ctl(*cmd, "--help", check=0)
    assert p.stdout.startswith("Usage: hostdevctl " + " ".join(cmd))
    assert "-h, --help" in p.stdout


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["validate"],
    ["validate", "a.yaml", "b.yaml"],
    ["validate", "--bogus", "a.yaml"],
    ["discover", "x.yaml", "--node"],
    ["discover", "x.yaml", "--output", "/tmp"],
    ["cdi"],
    ["cdi", "frob"],
    ["cdi", "validate"],
    ["prepare"],
    ["prepare", "--claim"],
    ["unprepare"],
    ["unprepare", "--claim-uid", "u", "--driver", "Not_A_Domain"],
], ids=lambda a: "_".join(a) or "none")
def test_usage_errors_exit_2(args):
    p = run_ctl(*args, check=2)
    assert p.stderr.startswith("hostdevctl:")
    assert p.stdout == ""


def test_cdi_help():
    p = run_ctl("cdi", "--help", check=0)
    assert "cdi generate" in p.stdout and "cdi validate" in p.stdout


# ---- validate ----

@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_validate(name):
    p = run_ctl("validate", "--offline", example(name), check=0)
    assert re.fullmatch(re.escape(example(name)) + r": valid \(\d+ groups?; devices not checked\)\n",
                        p.stdout), p.stdout


def test_validate_reports_position_and_fix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(HOST_CONFIG.replace("virtual: {bool: true}", "virtual: {bool: maybe}"))
    p = run_ctl("validate", str(bad), check=1)
    assert p.stderr == ("hostdevctl: %s:11:7: attribute 'virtual': 'maybe' is not true or false\n"
                        % bad)


def test_validate_missing_file():
    p = run_ctl("validate", "/nonexistent.yaml", check=1)
    assert "/nonexistent.yaml" in p.stderr


# ---- discover ----

def test_discover_table(host_config):
    p = run_ctl("discover", host_config, "--node", "node-a", check=0)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["DEVICE", "GROUP", "TYPE", "NUMBERS", "PATH"]
    assert [l.split()[0] for l in lines[1:]] == ["full", "null", "zero"]
    assert lines[2].split()[1:] == ["mem", "c", "1:3", "/dev/null"]


def test_discover_json_shape(host_config):
    p = run_ctl("discover", host_config, "--node", "node-a", "--driver", "hd.example.com",
                "--json", check=0)
    slices = json.loads(p.stdout)
    assert len(slices) == 1
    s = slices[0]
    assert s["apiVersion"] == "resource.k8s.io/v1"
    assert s["kind"] == "ResourceSlice"
    assert s["metadata"] == {"generateName": "node-a-hd.example.com-"}
    spec = s["spec"]
    assert spec["driver"] == "hd.example.com"
    assert spec["nodeName"] == "node-a"
    assert spec["pool"] == {"name": "node-a", "generation": 1, "resourceSliceCount": 1}
    assert [d["name"] for d in spec["devices"]] == ["full", "null", "zero"]
    null = spec["devices"][1]
    assert set(null) == {"name", "attributes"}
    assert null["attributes"] == {
        "group": {"string": "mem"},
        "path": {"string": "/dev/null"},
        "major": {"int": 1},
        "minor": {"int": 3},
        "index": {"int": 1},
        "kind": {"string": "null"},
        "virtual": {"bool": True},
        "api": {"version": "1.0.0"},
    }
    for d in spec["devices"]:
        for value in d["attributes"].values():
            assert len(value) == 1 and list(value)[0] in ("int", "bool", "string", "version")


def test_discover_device_plugin_view(tmp_path):
    """--mode device-plugin lists what the device-plugin mode advertises: the extended resource
    (resourceName or <driver>/<group>), one ID per device (count: N gives N) and the NUMA node
    sysfs gives, '-' where it has none."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: mem\n    match: {paths: [/dev/null, /dev/zero]}\n"
                   "    resourceName: example.org/memdev\n"
                   "  - name: fuse\n    match: {paths: [/dev/full]}\n    count: 2\n")
    sysfs = tmp_path / "sys"
    st = os.stat("/dev/zero")
    numa = sysfs / "dev" / "char" / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}" / "device"
    numa.mkdir(parents=True)
    (numa / "numa_node").write_text("1\n")
    p = run_ctl("discover", str(cfg), "--driver", "hd.example.com", "--mode", "device-plugin",
                "--sysfs-root", str(sysfs), check=0)
    rows = [l.split() for l in p.stdout.splitlines()]
    assert rows[0] == ["RESOURCE", "DEVICE", "ID", "NUMA", "PATH"]
    assert rows[1:] == [["example.org/memdev", "null", "-", "/dev/null"],
                        ["example.org/memdev", "zero", "1", "/dev/zero"],
                        ["hd.example.com/fuse", "full-0", "-", "/dev/full"],
                        ["hd.example.com/fuse", "full-1", "-", "/dev/full"]]
    p = run_ctl("discover", str(cfg), "--mode", "device-plugin", "--sysfs-root", str(sysfs),
                "--json", check=0)
    got = {(d["resource"], d["id"]): d["numa"] for d in json.loads(p.stdout)}
    assert got[("example.org/memdev", "zero")] == 1
    assert got[("hostdev.example.com/fuse", "full-1")] == -1
    p = run_ctl("discover", str(cfg), "--mode", "both", check=2)
    assert "--mode 'both'" in p.stderr


def test_discover_chunks_at_128(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: null\n    match: {paths: [/dev/null]}\n    count: 300\n")
    p = run_ctl("discover", str(cfg), "--node", "n1", "--json", check=0)
    slices = json.loads(p.stdout)
    assert [len(s["spec"]["devices"]) for s in slices] == [128, 128, 44]
    assert {s["spec"]["pool"]["resourceSliceCount"] for s in slices} == {3}
    names = [d["name"] for s in slices for d in s["spec"]["devices"]]
    assert names == ["null-%d" % i for i in range(300)]


def test_discover_drops_invalid_device(tmp_path):
    """A templated version that is not SemVer for one device drops only that device."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: mem\n    match: {paths: [/dev/null, /dev/zero]}\n"
                   "    attributes:\n      fw: {version: \"1.0.{minor}\"}\n"
                   "  - name: odd\n    match: {paths: [/dev/full]}\n"
                   "    attributes:\n      fw: {version: \"1.0.0{name}\"}\n")
    p = run_ctl("discover", str(cfg), "--node", "n1", "--json", check=0)
    devices = json.loads(p.stdout)[0]["spec"]["devices"]
    assert [d["name"] for d in devices] == ["null", "zero"]
    assert "not published: device 'full': attribute 'fw': '1.0.0full' is not a SemVer" in p.stderr


def test_discover_reports_missing_devices(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: gone\n    match: {paths: [/dev/hostdev-test-missing]}\n")
    p = run_ctl("discover", str(cfg), "--node", "n1", check=0)
    assert "warning: group 'gone': no device found" in p.stderr


# ---- cdi generate / validate ----

def test_cdi_generate_validates_against_schema(host_config, tmp_path):
    out = tmp_path / "cdi"
    p = run_ctl("cdi", "generate", host_config, "--output", str(out), "--driver",
                "hd.example.com", check=0)
    path = out / "k8s.hd.example.com-mem.json"
    assert p.stdout.strip() == str(path)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    spec = json.loads(path.read_text())
    cdi_validator().validate(spec)
    assert spec["cdiVersion"] == "0.3.0"
    assert spec["kind"] == "k8s.hd.example.com/mem"
    assert [d["name"] for d in spec["devices"]] == ["full", "null", "zero"]
    null = spec["devices"][1]["containerEdits"]
    assert null["deviceNodes"] == [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                                    "permissions": "rw"}]
    assert null["env"] == ["MEM_DEVICE=null"]
    assert spec["containerEdits"] == {"env": ["MEM=1"]}

    p = run_ctl("cdi", "validate", str(path), check=0)
    assert p.stdout == "%s: valid (kind k8s.hd.example.com/mem, 3 devices)\n" % path


def test_cdi_generate_to_stdout(host_config):
    p = run_ctl("cdi", "generate", host_config, check=0)
    spec = json.loads(p.stdout)
    cdi_validator().validate(spec)
    assert spec["kind"] == "k8s.hostdev.example.com/mem"


def test_cdi_generate_count_shares_one_cdi_device(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: fuse\n    match: {paths: [/dev/null]}\n    count: 10\n")
    p = run_ctl("cdi", "generate", str(cfg), check=0)
    spec = json.loads(p.stdout)
    assert [d["name"] for d in spec["devices"]] == ["null"]


def test_cdi_validate_rejects_bad_specs(tmp_path):
    low = tmp_path / "low.json"
    low.write_text(json.dumps({"cdiVersion": "0.3.0", "kind": "example.com/x", "devices": [
        {"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/a",
                                                            "hostPath": "/dev/b"}]}}]}))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"cdiVersion": "0.3.0", "kind": "example.com/x",
                                 "devices": [{"name": "a", "containerEdits": {}}]}))
    p = run_ctl("cdi", "validate", str(low), str(empty), check=1)
    assert str(low) in p.stderr and "0.5.0" in p.stderr
    assert str(empty) in p.stderr


# ---- prepare / unprepare ----

def test_prepare_unprepare_offline(host_config, tmp_path):
    root = tmp_path / "cdi"
    uid = random_uid()
    claim = claim_json(str(tmp_path / "claim.json"), uid, "hostdev.example.com", "node-a",
                       ["null", "zero"], other_driver_devices=["full"])
    p = run_ctl("prepare", "--claim", claim, "--config", host_config, "--cdi-root", str(root),
                "--node", "node-a", check=0)
    assert p.stdout.splitlines() == ["k8s.hostdev.example.com/claim=%s-null" % uid,
                                     "k8s.hostdev.example.com/claim=%s-zero" % uid]
    path = root / ("k8s.hostdev.example.com-claim_%s.json" % uid)
    spec = json.loads(path.read_text())
    cdi_validator().validate(spec)
    assert spec["kind"] == "k8s.hostdev.example.com/claim"
    assert [d["name"] for d in spec["devices"]] == [uid + "-null", uid + "-zero"]
    assert spec["containerEdits"] == {"env": ["MEM=1"]}
    # The claim UID starts the device names; a digit there needs cdiVersion 0.5.0.
    assert spec["cdiVersion"] == ("0.5.0" if uid[0].isdigit() else "0.3.0")
    run_ctl("cdi", "validate", str(path), check=0)

    run_ctl("unprepare", "--claim-uid", uid, "--cdi-root", str(root), check=0)
    assert not path.exists()
    run_ctl("unprepare", "--claim-uid", uid, "--cdi-root", str(root), check=0)


def test_prepare_failures(host_config, tmp_path):
    root = tmp_path / "cdi"
    uid = random_uid()
    claim = claim_json(str(tmp_path / "claim.json"), uid, "hostdev.example.com", "node-a",
                       ["null", "nope"])
    p = run_ctl("prepare", "--claim", claim, "--config", host_config, "--cdi-root", str(root),
                "--node", "node-a", check=1)
    assert p.stderr == ("hostdevctl: prepare claim %s: device 'nope' (request 'gpus') is not in "
                        "this node's inventory\n" % uid)
    assert not root.exists() or os.listdir(root) == []

    bad_uid = claim_json(str(tmp_path / "bad.json"), "../../etc", "hostdev.example.com",
                         "node-a", ["null"])
    p = run_ctl("prepare", "--claim", bad_uid, "--config", host_config, "--cdi-root", str(root),
                "--node", "node-a", check=1)
    assert "invalid claim UID" in p.stderr

    broken = tmp_path / "broken.json"
    broken.write_text('{"metadata": {"name": 1}}')
    p = run_ctl("prepare", "--claim", str(broken), "--config", host_config, check=1)
    assert "metadata.name: expected a string, got a number" in p.stderr

    p = run_ctl("unprepare", "--claim-uid", "not-a-uid", "--cdi-root", str(root), check=1)
    assert "not-a-uid" in p.stderr


def test_prepare_other_pool_is_a_no_op(host_config, tmp_path):
    root = tmp_path / "cdi"
    uid = random_uid()
    claim = claim_json(str(tmp_path / "claim.json"), uid, "hostdev.example.com", "node-b",
                       ["null"])
    p = run_ctl("prepare", "--claim", claim, "--config", host_config, "--cdi-root", str(root),
                "--node", "node-a", check=1)
    assert p.stdout == ""
    assert p.stderr == ("hostdevctl: claim %s has no device of driver hostdev.example.com in "
                        "pool node-a; nothing prepared (check --driver and --node)\n" % uid)
    assert not root.exists() or os.listdir(root) == []


def test_real_fixture_claim_parses(host_config, tmp_path):
    """The API server's v1 ResourceClaim fixture decodes; its UID is not RFC 4122, so prepare
    stops there (after parsing), never with a crash."""
    from conftest import REFERENCE_DIR
    fixture = os.path.join(REFERENCE_DIR, "k8s-api", "resource.k8s.io.v1.ResourceClaim.json")
    assert os.path.exists(fixture), "fixture %s not found" % fixture
    p = run_ctl("prepare", "--claim", fixture, "--config", host_config, "--cdi-root",
                str(tmp_path), check=1)
    assert 'invalid claim UID "uidValue"' in p.stderr


# ---- doing nothing is a failure ----

TWO_GROUPS = HOST_CONFIG + """  - name: gone
    match: {paths: [/dev/hostdev-test-missing]}
"""


def test_validate_checks_the_groups_match_on_this_host(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TWO_GROUPS)
    p = run_ctl("validate", str(cfg), check=1)
    assert p.stdout == ""
    assert p.stderr.splitlines() == [
        "hostdevctl: warning: group 'gone': device '/dev/hostdev-test-missing' left out: stat "
        "'/dev/hostdev-test-missing': No such file or directory",
        "hostdevctl: %s: group 'gone' matches no device on this host; fix its 'match', set "
        "'optional: true', or check the file alone with --offline" % cfg]
    # An optional group only warns, and says it is the optional one.
    cfg.write_text(TWO_GROUPS + "    optional: true\n")
    p = run_ctl("validate", str(cfg), check=0)
    assert p.stdout == "%s: valid (2 groups, 3 devices on this host)\n" % cfg
    assert p.stderr == ("hostdevctl: warning: %s: group 'gone' (optional) matches no device on "
                        "this host\n" % cfg)
    p = run_ctl("validate", "--offline", str(cfg), check=0)
    assert p.stdout == "%s: valid (2 groups; devices not checked)\n" % cfg


def test_validate_reports_missing_mount_sources(tmp_path):
    """What every prepare would fail on (the first real-cluster run: a mount source the plugin
    cannot see) is reported by validate, naming the device and the path."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: mem\n    match: {paths: [/dev/null]}\n"
                   "    deviceEdits:\n      mounts: [{hostPath: /nonexistent/lib.so}]\n")
    p = run_ctl("validate", str(cfg), check=1)
    assert p.stderr == ("hostdevctl: %s: group 'mem': device 'null': mount source "
                        "'/nonexistent/lib.so': No such file or directory\n" % cfg)
    cfg.write_text(cfg.read_text().replace("lib.so}", "lib.so, optional: true}"))
    run_ctl("validate", str(cfg), check=0)


def test_validate_under_host_root(tmp_path):
    """--host-root: the paths are looked up under the directory, not on this file system."""
    if os.geteuid() != 0:
        pytest.fail("mknod needs root: run the tests as root", pytrace=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: x\n    match: {globs: [/dev/hostdev-test-only-in-root/d*]}\n")
    run_ctl("validate", str(cfg), check=1)
    root = tmp_path / "host"
    (root / "dev/hostdev-test-only-in-root").mkdir(parents=True)
    os.mknod(str(root / "dev/hostdev-test-only-in-root/d0"), 0o600 | 0o020000, os.makedev(1, 3))
    p = run_ctl("validate", "--host-root", str(root), str(cfg), check=0)
    assert p.stdout == "%s: valid (1 group, 1 device on this host)\n" % cfg
    p = run_ctl("discover", "--host-root", str(root), str(cfg), check=0)
    assert p.stdout.splitlines()[1].split()[-1] == "/dev/hostdev-test-only-in-root/d0"
    p = run_ctl("validate", "--host-root", str(tmp_path / "nope"), str(cfg), check=1)
    assert p.stderr.startswith("hostdevctl: --host-root: host root '%s'" % (tmp_path / "nope"))


def test_cdi_generate_that_writes_nothing_fails(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TWO_GROUPS)
    out = tmp_path / "out"
    # The required group without a device fails; the other group's spec is still written.
    p = run_ctl("cdi", "generate", str(cfg), "--output", str(out), check=1)
    assert "group 'gone' has no device on this node" in p.stderr
    assert os.listdir(out) == ["k8s.hostdev.example.com-mem.json"]
    # Only an optional group without a device: a warning, and since no spec is written, 1.
    cfg.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups:\n"
                   "  - name: gone\n    match: {paths: [/dev/hostdev-test-missing]}\n"
                   "    optional: true\n")
    p = run_ctl("cdi", "generate", str(cfg), "--output", str(tmp_path / "out2"), check=1)
    assert "(it is optional); no spec" in p.stderr
    assert p.stderr.endswith("hostdevctl: %s: no group has a device on this host; no spec "
                             "written\n" % cfg)
    assert not (tmp_path / "out2").exists() or os.listdir(tmp_path / "out2") == []


def test_cdi_validate_names_the_file_once(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"cdiVersion": "0.3.0", "kind": "example.com/x", "devices": []}))
    p = run_ctl("cdi", "validate", str(bad), str(empty), "/nonexistent-spec.json", check=1)
    lines = p.stderr.splitlines()
    assert len(lines) == 3, p.stderr
    for line, name in zip(lines, (str(bad), str(empty), "/nonexistent-spec.json")):
        assert line.startswith("hostdevctl: ") and line.count(name) == 1, line


def test_cdi_help_is_one_usage_text():
    p = run_ctl("cdi", "--help", check=0)
    assert p.stdout.count("Usage:") == 1
    assert p.stdout.startswith("Usage: hostdevctl cdi generate|validate")
    p = run_ctl("cdi", check=2)
    assert p.stderr.count("Usage:") == 1
    assert p.stderr.startswith("hostdevctl: 'cdi' needs a subcommand")


def test_every_error_line_has_the_prefix(tmp_path):
    """Whatever goes wrong, each line on stderr starts with "hostdevctl:" (usage text aside)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: 3\n")
    for args in (["validate", str(bad)], ["validate", "/nonexistent.yaml"],
                 ["discover", str(bad)], ["cdi", "generate", str(bad)],
                 ["deviceclasses", str(bad)], ["prepare", "--claim", "/nonexistent.json"],
                 ["validate", "--bogus", "x"]):
        p = run_ctl(*args)
        assert p.returncode in (1, 2), args
        first = p.stderr.splitlines()[0]
        assert first.startswith("hostdevctl: "), (args, p.stderr)


# ---- deviceclasses ----

def test_deviceclasses_yaml(tmp_path):
    import yaml
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TWO_GROUPS)
    p = run_ctl("deviceclasses", str(cfg), "--driver", "hd.example.com", check=0)
    docs = list(yaml.safe_load_all(p.stdout))
    assert [d["metadata"]["name"] for d in docs] == ["mem.hd.example.com", "gone.hd.example.com"]
    assert docs[0] == {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                       "metadata": {"name": "mem.hd.example.com"},
                       "spec": {"selectors": [{"cel": {"expression":
                           'device.driver == "hd.example.com" && '
                           'device.attributes["hd.example.com"].group == "mem"'}}]}}
    p = run_ctl("deviceclasses", str(cfg), "--extended-resource", check=0)
    docs = list(yaml.safe_load_all(p.stdout))
    assert [d["spec"]["extendedResourceName"] for d in docs] == [
        "hostdev.example.com/mem", "hostdev.example.com/gone"]
    run_ctl("deviceclasses", str(cfg), "--driver", "Bad_Name", check=2)
