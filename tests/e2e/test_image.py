"""The container image (Containerfile, scripts/image.sh): built once per session with podman
(from debian:12 or, with no registry reachable, a debootstrap base), its programs run in it,
every example config validates in it, the runtime layers stay small, the runtime stage holds no
compiler and no -dev package, and the OCI archive names the image for `ctr images import`."""
import json
import os
import re
import subprocess
import tarfile

import pytest

from conftest import SOURCE_DIR, require_root, require_tool
from podman_util import EXAMPLES, PODMAN_OPTS, make_mock_tree

# The goal for what the runtime stage adds above debian:12 (uncompressed); measured
# 35 MB with the kubelet plugin and hostdevctl.
RUNTIME_LAYERS_MAX_BYTES = 40 * 1000 * 1000
CONTROLLER = os.path.join(SOURCE_DIR, "cmd", "hostdev-controller.c")


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(dra-driver-hostdev VERSION ([0-9.]+)", f.read(), re.M)
    assert m, "no project VERSION in CMakeLists.txt"
    return m.group(1)


def programs():
    """The programs the image ships: the controller once its source is in the tree."""
    names = ["hostdev-kubelet-plugin", "hostdevctl"]
    if os.path.exists(CONTROLLER):
        names.append("hostdev-controller")
    return names


@pytest.fixture(scope="module")
def image(request):
    """scripts/image.sh, once for the whole file: (image name, archive path, its report)."""
    require_root("building the image (rootful podman)")
    require_tool("podman", "podman")
    require_tool("debootstrap", "debootstrap")
    r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "image.sh"), "--quiet"],
                       capture_output=True, text=True, timeout=3000, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "scripts/image.sh failed:\n" + r.stderr[-6000:]
    name = r.stdout.strip().splitlines()[-1]
    version = project_version()
    assert name == "localhost/dra-driver-hostdev:" + version
    archive = os.path.join(SOURCE_DIR, "build", "image",
                           "dra-driver-hostdev-%s.oci.tar" % version)
    # The build report (time, sizes) past pytest's capture: ctest keeps it in its log.
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\n" + r.stderr.strip())
    return name, archive, r.stderr


def run_in(image_name, *argv, user=None, volumes=(), timeout=120):
    cmd = ["podman", "run", "--rm", *PODMAN_OPTS]
    if user:
        cmd += ["--user", user]
    for v in volumes:
        cmd += ["-v", v]
    cmd += [image_name, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def inspect(name):
    r = subprocess.run(["podman", "image", "inspect", name], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


@pytest.mark.parametrize("program", programs())
def test_program_runs_in_image(image, program):
    name = image[0]
    r = run_in(name, program, "--version")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "%s %s" % (program, project_version())
    r = run_in(name, program, "--help")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Usage: " + program in r.stdout


def test_programs_run_as_the_controllers_user(image):
    # The controller's Deployment runs the image as 65532: everything must be readable and
    # executable for it, not only for root.
    for program in programs():
        r = run_in(image[0], program, "--version", user="65532:65532")
        assert r.returncode == 0, program + ": " + r.stdout + r.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_config_validates_in_image(image, example):
    # --offline: the file alone; the image has none of the examples' devices.
    examples = os.path.join(SOURCE_DIR, "deploy", "examples")
    r = run_in(image[0], "hostdevctl", "validate", "--offline", "/examples/%s.yaml" % example,
               volumes=["%s:/examples:ro" % examples])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("/examples/%s.yaml: valid" % example), r.stdout + r.stderr


def test_validate_sees_the_host_under_host_root_in_image(image, tmp_path):
    """As in the DaemonSet: the host's / at /host, the config names host paths. The seed's
    devices exist only in the mounted tree, so validate finds them there or nowhere."""
    examples = os.path.join(SOURCE_DIR, "deploy", "examples")
    argv = ["hostdevctl", "validate", "--host-root", "/host", "/examples/mock-gpus.yaml"]
    vols = ["%s:/examples:ro" % examples, "%s:/host:ro" % tmp_path]
    r = run_in(image[0], *argv, volumes=vols)
    assert r.returncode != 0, "validate found the devices in an empty host root: " + r.stdout
    make_mock_tree(str(tmp_path))
    r = run_in(image[0], *argv, volumes=vols)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("/examples/mock-gpus.yaml: valid"), r.stdout + r.stderr


def test_runtime_layers_are_small(image):
    """What the runtime stage adds above the base: libraries, certificates and the programs."""
    name, _archive, report = image
    info = inspect(name)
    base = re.search(r"^image: base (\S+),", report, re.M).group(1)
    added = info["Size"] - inspect(base)["Size"]
    print("runtime layers above %s: %.1f MB (image %.1f MB)" % (base, added / 1e6,
                                                                 info["Size"] / 1e6))
    assert 0 < added <= RUNTIME_LAYERS_MAX_BYTES, \
        "the runtime stage adds %.1f MB, cap %.1f MB" % (added / 1e6,
                                                         RUNTIME_LAYERS_MAX_BYTES / 1e6)
    assert info["Labels"]["org.opencontainers.image.version"] == project_version()


def test_runtime_image_has_no_compiler_and_no_dev_package(image):
    r = run_in(image[0], "dpkg-query", "-W", "-f", "${Package} ${Status}\n")
    assert r.returncode == 0, r.stderr
    installed = [line.split()[0] for line in r.stdout.splitlines()
                 if line.endswith("install ok installed")]
    assert "libgrpc29" in installed and "ca-certificates" in installed, installed
    build_tools = {"gcc", "gcc-12", "cpp", "cpp-12", "g++", "clang", "make", "cmake", "binutils",
                   "pkg-config", "pkgconf", "protobuf-c-compiler", "python3", "python3-minimal"}
    bad = [p for p in installed if p.endswith("-dev") or p in build_tools]
    assert not bad, "build packages in the runtime image: %s" % bad
    r = run_in(image[0], "sh", "-c",
               "for t in cc gcc c++ ld as make cmake; do command -v $t; done; true")
    assert r.stdout.strip() == "", "compiler tools in the runtime image: " + r.stdout
    r = run_in(image[0], "test", "-s", "/etc/ssl/certs/ca-certificates.crt")
    assert r.returncode == 0, "no CA bundle in the image"


def test_oci_archive_names_the_image(image):
    name, archive, _report = image
    assert os.path.getsize(archive) > 0
    with tarfile.open(archive) as t:
        names = set(t.getnames())
        assert "oci-layout" in names
        index = json.load(t.extractfile("index.json"))
        (manifest,) = index["manifests"]
        ann = manifest["annotations"]
        # containerd's importer takes io.containerd.image.name as is.
        assert ann["io.containerd.image.name"] == name
        assert ann["org.opencontainers.image.ref.name"] == name
        blob = manifest["digest"].replace(":", "/")
        m = json.load(t.extractfile("blobs/" + blob))
        # The archive holds this very image (its config digest is the image ID).
        assert m["config"]["digest"] == "sha256:" + inspect(name)["Id"]
        for layer in m["layers"]:
            assert "blobs/" + layer["digest"].replace(":", "/") in names
