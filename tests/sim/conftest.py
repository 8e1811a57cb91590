"""Shared pytest setup for tests/sim: import paths and an `apiserver` fixture."""

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (HERE, os.path.join(os.path.dirname(HERE), "lib")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import pytest  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from kclient import KubeClient  # noqa: E402


def _print_log_on_failure(request, path):
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and os.path.exists(path):
        with open(path) as f:
            sys.stderr.write(f"\n--- {path} ---\n{f.read()[-20000:]}\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def short_workdir():
    """A work dir under /tmp with a short path (unix socket paths are limited to 107 bytes),
    removed afterwards whatever happened, also when the setup using it failed."""
    wd = tempfile.mkdtemp(prefix="hds-", dir="/tmp")
    try:
        yield wd
    finally:
        shutil.rmtree(wd, ignore_errors=True)


@pytest.fixture
def apiserver(tmp_path, request):
    """A started simulated API server (resource.k8s.io v1). Its log is printed on failure.
    Parametrize indirectly with a dict of ApiServer kwargs to change options."""
    kwargs = getattr(request, "param", None) or {}
    srv = ApiServer(str(tmp_path / "apiserver"), **kwargs)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        _print_log_on_failure(request, srv.log_path)


@pytest.fixture
def kube(apiserver):
    """Admin KubeClient for the `apiserver` fixture."""
    return KubeClient(apiserver.url, token=apiserver.token, ca_path=apiserver.ca_path)
