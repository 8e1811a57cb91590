# SPDX-License-Identifier: Apache-2.0
"""Every CDI spec we write validates against the official CDI JSON schema and declares exactly
the minimum cdiVersion its fields need; the schema's own test data goes through our strict
reader.

cdi-emit (tests/unit/cdi_emit.c) writes the specs with the real cdi_spec_write() path. The
minimum version is checked twice: against the table cdi-emit's fixtures encode, and against an
independent Python reading of the rules below, so a bug in one place cannot hide in both.
"""
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

BUILD_DIR = Path(os.environ.get("HOSTDEV_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
SOURCE_DIR = Path(os.environ.get("HOSTDEV_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SCHEMA_DIR = SOURCE_DIR / "tests" / "data" / "reference" / "cdi-schema"
EMIT = BUILD_DIR / "cdi" / "cdi-emit"

VERSIONS = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"]

# Schema test data our strict reader deliberately judges differently from the schema, with the
# reason. Empty today: the reader agrees with the schema on every file.
READER_DISAGREES = {}


def _key(v):
    return VERSIONS.index(v)


def _edits_min(e):
    """The version one containerEdits object needs (the rules of specs-go/version.go)."""
    v = "0.3.0"
    rdt = e.get("intelRdt")
    if e.get("netDevices") or (rdt and (rdt.get("schemata") or rdt.get("enableMonitoring"))):
        return "1.1.0"
    if rdt is not None or e.get("additionalGids"):
        return "0.7.0"
    if any(n.get("hostPath") for n in e.get("deviceNodes", [])):
        v = "0.5.0"
    elif any(m.get("type") for m in e.get("mounts", [])):
        v = "0.4.0"
    return v


def independent_min_version(spec):
    need = [_edits_min(spec.get("containerEdits", {}))]
    if spec.get("annotations"):
        need.append("0.6.0")
    if "." in spec["kind"].split("/", 1)[1]:
        need.append("0.6.0")
    for d in spec["devices"]:
        need.append(_edits_min(d["containerEdits"]))
        if d.get("annotations"):
            need.append("0.6.0")
        if d["name"][:1].isdigit():
            need.append("0.5.0")
    return max(need, key=_key)


def load_validator():
    schema = json.loads((SCHEMA_DIR / "schema.json").read_text())
    defs = json.loads((SCHEMA_DIR / "defs.json").read_text())
    try:  # jsonschema >= 4.18: referencing registry
        from referencing import Registry, Resource

        registry = Registry().with_resources(
            [("defs.json", Resource.from_contents(defs, default_specification=_draft7()))]
        )
        return jsonschema.Draft7Validator(schema, registry=registry)
    except ImportError:  # Debian bookworm's 4.10: a local RefResolver, no network
        resolver = jsonschema.RefResolver(base_uri="", referrer=schema, store={"defs.json": defs})
        return jsonschema.Draft7Validator(schema, resolver=resolver)


def _draft7():
    from referencing.jsonschema import DRAFT7

    return DRAFT7


@pytest.fixture(scope="module")
def validator():
    assert (SCHEMA_DIR / "schema.json").exists(), f"CDI schema not found in {SCHEMA_DIR}"
    v = load_validator()
    jsonschema.Draft7Validator.check_schema(v.schema)
    return v


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    assert EMIT.exists(), f"{EMIT} not built"
    out = tmp_path_factory.mktemp("cdi")
    subprocess.run([str(EMIT), str(out)], check=True, timeout=60)
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest


def test_emitted_set_is_representative(emitted):
    out, manifest = emitted
    declared = {json.loads((out / f).read_text())["cdiVersion"] for f in manifest}
    # every row of the table that a field can trigger
    assert declared == {"0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "1.1.0"}
    assert any(f.startswith("k8s.hostdev.example.com-claim_") for f in manifest)
    assert "k8s.hostdev.example.com-gpu.json" in manifest
    # only the specs and the manifest: no temp files left behind
    assert sorted(p.name for p in out.iterdir()) == sorted(list(manifest) + ["manifest.json"])


def test_emitted_specs_validate_against_schema(emitted, validator):
    out, manifest = emitted
    failures = []
    for name in sorted(manifest):
        doc = json.loads((out / name).read_text())
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        failures += [f"{name}: {'/'.join(map(str, e.path))}: {e.message}" for e in errors]
    assert not failures, "\n".join(failures)


def test_emitted_specs_declare_minimum_version(emitted):
    out, manifest = emitted
    for name, expected in sorted(manifest.items()):
        doc = json.loads((out / name).read_text())
        assert doc["cdiVersion"] == expected, name
        assert independent_min_version(doc) == expected, name


def test_emitted_specs_are_files_runtimes_read(emitted):
    out, manifest = emitted
    for name in manifest:
        st = (out / name).lstat()
        assert oct(st.st_mode & 0o7777) == "0o644", name
        assert name.endswith(".json")
    claim = next(f for f in manifest if f.startswith("k8s.hostdev.example.com-claim_af1a"))
    doc = json.loads((out / claim).read_text())
    assert doc["kind"] == "k8s.hostdev.example.com/claim"
    uid = claim[len("k8s.hostdev.example.com-claim_") : -len(".json")]
    assert all(d["name"].startswith(uid + "-") for d in doc["devices"])
    assert doc["containerEdits"]["mounts"][0]["containerPath"] == "/usr/local/bin/list_device.sh"
    for d in doc["devices"]:
        for n in d["containerEdits"]["deviceNodes"]:
            assert n["type"] == "c" and "major" in n and "minor" in n


def test_reader_accepts_what_it_writes(emitted):
    out, manifest = emitted
    files = [str(out / f) for f in sorted(manifest)]
    res = subprocess.run([str(EMIT), "--read", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _schema_testdata():
    """Every file of the schema's testdata; a missing or empty folder is one failing case
    (never zero silently collected tests)."""
    for kind in ("good", "bad"):
        d = SCHEMA_DIR / "testdata" / kind
        files = sorted(d.glob("*.json")) if d.is_dir() else []
        if not files:
            yield pytest.param(kind, d, id=f"{kind}/missing")
        for f in files:
            yield pytest.param(kind, f, id=f"{kind}/{f.name}")


@pytest.mark.parametrize("kind,path", list(_schema_testdata()))
def test_schema_testdata_through_strict_reader(kind, path, validator):
    assert path.is_file(), f"no schema testdata in {path}"
    assert EMIT.exists(), f"{EMIT} not built"
    try:
        schema_ok = not list(validator.iter_errors(json.loads(path.read_text())))
    except json.JSONDecodeError:
        schema_ok = False
    assert schema_ok == (kind == "good"), f"schema itself disagrees with testdata/{kind}"

    res = subprocess.run([str(EMIT), "--read", str(path)], capture_output=True, text=True)
    reader_ok = res.returncode == 0
    rel = f"{kind}/{path.name}"
    if rel in READER_DISAGREES:
        assert reader_ok != schema_ok, f"{rel} no longer disagrees; drop it from the list"
        return
    assert reader_ok == schema_ok, f"{rel}: reader says {res.stdout.strip()}"


def test_strict_reader_rejects_what_the_schema_allows(tmp_path, validator):
    """The schema permits unknown fields and low versions; our reader (like the CDI library)
    does not."""
    assert EMIT.exists(), f"{EMIT} not built"
    base = {
        "cdiVersion": "0.3.0",
        "kind": "vendor.com/device",
        "devices": [{"name": "d", "containerEdits": {"deviceNodes": [{"path": "/dev/x"}]}}],
    }
    cases = {
        "unknown-top.json": dict(base, extra=1),
        "host-path-too-low.json": dict(
            base,
            devices=[
                {
                    "name": "d",
                    "containerEdits": {"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/y"}]},
                }
            ],
        ),
        "empty-edits.json": dict(base, devices=[{"name": "d", "containerEdits": {}}]),
    }
    for name, doc in cases.items():
        assert not list(validator.iter_errors(doc)), name
        p = tmp_path / name
        p.write_text(json.dumps(doc))
        res = subprocess.run([str(EMIT), "--read", str(p)], capture_output=True, text=True)
        assert res.returncode == 1, f"{name}: {res.stdout}"
    out = subprocess.run(
        [str(EMIT), "--read", str(tmp_path / "host-path-too-low.json")],
        capture_output=True,
        text=True,
    ).stdout
    assert "too low" in out and "0.5.0" in out
