# SPDX-License-Identifier: Apache-2.0
"""hostdev-kubelet-plugin's command line as a user meets it: docs/plugin.md lists exactly the
flags `--help` prints, the exit status is what the docs say (2 usage, 1 anything else), and
every error line is a log line in the chosen format that names the program. No cluster needed."""
import json
import os
import re
import subprocess

from conftest import SOURCE_DIR, find_binary

PLUGIN_DOC = os.path.join(SOURCE_DIR, "docs", "plugin.md")


def run(*args):
    return subprocess.run([find_binary("hostdev-kubelet-plugin"), *args], capture_output=True,
                          text=True, timeout=30, env=dict(os.environ, NODE_NAME="node-a"))


def help_flags():
    out = run("--help").stdout
    flags = set()
    for line in out.splitlines():
        m = re.match(r"\s+(?:-v, )?(--[a-z][a-z-]*)(?:, (--[a-z-]+))?", line)
        if m:
            flags.update(f for f in m.groups() if f)
    return flags


def doc_section(title):
    text = open(PLUGIN_DOC).read()
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text, re.S | re.M)
    assert m, "docs/plugin.md has no '## %s' section" % title
    return m.group(1)


def test_docs_list_every_flag_and_only_those():
    flags = help_flags()
    assert {"--config", "--host-root", "--kube-api-qps", "--kube-api-burst", "--v"} <= flags
    rows = [l for l in doc_section("Flags").splitlines() if l.startswith("| `-")]
    documented = set()
    for row in rows:
        documented.update(re.findall(r"`(--[a-z][a-z-]*)", row.split("|")[1]))
    assert documented == flags, ("in --help only: %s; in docs/plugin.md only: %s"
                                 % (sorted(flags - documented), sorted(documented - flags)))


def test_exit_status_is_documented_once_and_true(tmp_path):
    section = doc_section("Exit status")
    assert "| 1 |" in section and "| 2 |" in section
    assert run("--help").stdout.count("Exit status:") == 1
    # Usage errors: 2.
    for args in (["--bogus"], ["--v", "x"], ["--mode", "sideways"], ["--cdi-root", "relative"],
                 ["--config"], ["stray"]):
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
    # A config that does not load is not a usage error: 1.
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: hostdev.example.com/v1alpha1\nkind: DeviceConfig\ngroups: 3\n")
    p = run("--config", str(bad), "--kubeconfig", "/nonexistent")
    assert p.returncode == 1, p.stderr
    assert str(bad) in p.stderr
    p = run("--config", "/nonexistent.yaml")
    assert p.returncode == 1, p.stderr


def test_error_lines_are_log_lines_naming_the_program():
    p = run("--bogus")
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert re.match(r'E\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w.-]+:\d+\] '
                    r'"hostdev-kubelet-plugin: unknown flag; see --help" flag="--bogus"$',
                    lines[0]), lines[0]
    p = run("--log-format", "json", "--v", "x")
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    rec = json.loads(lines[0])
    assert rec["msg"].startswith("hostdev-kubelet-plugin: ")
    assert rec["value"] == "x" and rec["severity"] == "E"
    p = run("--log-format=json", "--mode", "sideways")
    rec = json.loads(p.stderr.splitlines()[0])
    assert "--mode 'sideways'" in rec["err"]
