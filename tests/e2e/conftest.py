"""Shared pytest plumbing for the end-to-end tests: where the build is, how to find our binaries,
and the proto modules compiled for Python. Each test file adds its own fixtures."""
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("HOSTDEV_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("HOSTDEV_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
# Upstream fixtures, schemas and API-server captures (see tests/data/reference/PROVENANCE.md).
REFERENCE_DIR = os.path.join(SOURCE_DIR, "tests", "data", "reference")
SANITIZED = os.environ.get("HOSTDEV_SANITIZE", "0") in ("1", "ON", "TRUE", "true")

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "lib"))


def require_root(what):
    """Fail (never skip) when not root: the suite is run as root (README, Set-up)."""
    if os.geteuid() != 0:
        pytest.fail("%s needs root: run the tests as root (README, Set-up)" % what, pytrace=False)


def require_tool(name, package):
    """Path of a tool the tests need; fail (never skip) when it is missing."""
    path = shutil.which(name)
    if not path:
        pytest.fail("%s not found: run scripts/install-deps.sh (Debian package %s)"
                    % (name, package), pytrace=False)
    return path


def find_binary(name):
    """Path of an executable built in the build dir (any sub-folder). When a target moved
    between folders, an old copy may linger in a developer's build dir: take the newest."""
    found = []
    for root, _dirs, files in os.walk(BUILD_DIR):
        if "CMakeFiles" in root:
            continue
        if name in files:
            path = os.path.join(root, name)
            if os.access(path, os.X_OK):
                found.append((os.stat(path).st_mtime, path))
    if not found:
        raise FileNotFoundError("%s not built under %s" % (name, BUILD_DIR))
    return max(found)[1]


@pytest.fixture(scope="session")
def protos():
    from hdproto import protos as load
    return load()


@pytest.fixture
def short_tmp():
    """A temp dir with a short path: unix socket paths are limited to 107 bytes."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="hd-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
