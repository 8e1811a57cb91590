"""API server simulator: discovery documents per served resource.k8s.io version set."""

import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from kclient import KubeClient  # noqa: E402
from sim_capture import Capture  # noqa: E402



def _client(srv):
    return KubeClient(srv.url, token=srv.token, ca_path=srv.ca_path)


@pytest.fixture(params=[("v1",), ("v1beta1",), ("v1beta1", "v1beta2")],
                ids=["1.34+", "1.32", "1.33"])
def versioned(request, tmp_path):
    srv = ApiServer(str(tmp_path / "api"), resource_versions=request.param)
    srv.start()
    yield srv, request.param
    srv.stop()


@pytest.mark.parametrize("name", ["01-discovery-apis_resource-k8s-io.http",
                                  "01-discovery-apis_resource-k8s-io_v1.http",
                                  "01-discovery-apis_coordination-k8s-io_v1.http",
                                  "01-discovery-version.http",
                                  "04-error-404-unserved-version-v1beta1.http"])
def test_discovery_matches_capture(apiserver, name):
    cap = Capture(name)
    status, hdrs, raw = _client(apiserver).request_raw(cap.method, cap.target)
    import json
    obj = json.loads(raw)
    assert status == cap.status
    assert hdrs["content-type"] == cap.resp_headers["Content-Type"]
    if name == "01-discovery-version.http":
        assert list(obj) == list(cap.response)
        for k in ("major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor",
                  "minCompatibilityMinor", "gitVersion", "platform"):
            assert obj[k] == cap.response[k]
    else:
        assert obj == cap.response


def test_api_and_apis_shapes(apiserver):
    c = _client(apiserver)
    api = c.get("/api")
    cap = Capture("01-discovery-api.http").response
    assert api["kind"] == cap["kind"] and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    apis = c.get("/apis")
    assert apis["kind"] == "APIGroupList"
    names = [g["name"] for g in apis["groups"]]
    for g in ("events.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io", "resource.k8s.io"):
        assert g in names
    real = Capture("01-discovery-apis.http").response
    real_rg = next(g for g in real["groups"] if g["name"] == "resource.k8s.io")
    assert next(g for g in apis["groups"] if g["name"] == "resource.k8s.io") == real_rg
    core = c.get("/api/v1")
    kinds = {r["name"]: r for r in core["resources"]}
    for r in ("pods", "pods/status", "pods/binding", "nodes", "nodes/status", "namespaces",
              "events"):
        assert r in kinds


def test_aggregated_discovery(apiserver):
    c = _client(apiserver)
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    status, hdrs, raw = c.request_raw("GET", "/apis", headers={"Accept": accept})
    assert status == 200
    assert hdrs["content-type"] == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    import json
    doc = json.loads(raw)
    real = Capture("01-discovery-apis-aggregated-v2.http").response
    ours = next(i for i in doc["items"] if i["metadata"]["name"] == "resource.k8s.io")
    theirs = next(i for i in real["items"] if i["metadata"]["name"] == "resource.k8s.io")
    assert ours == theirs
    status, _, raw = c.request_raw("GET", "/api", headers={"Accept": accept})
    core = json.loads(raw)["items"][0]
    assert core["metadata"] == {}
    assert "pods" in [r["resource"] for r in core["versions"][0]["resources"]]


def test_versions_served_per_option(versioned):
    srv, versions = versioned
    c = _client(srv)
    grp = c.get("/apis/resource.k8s.io")
    assert [v["version"] for v in grp["versions"]] == [v for v in ("v1", "v1beta2", "v1beta1")
                                                      if v in versions]
    assert grp["preferredVersion"]["version"] == grp["versions"][0]["version"]
    for v in ("v1", "v1beta1", "v1beta2"):
        status, obj = c.request("GET", f"/apis/resource.k8s.io/{v}")
        lst_status, lst = c.request("GET", f"/apis/resource.k8s.io/{v}/resourceslices")
        if v in versions:
            assert status == 200
            assert {r["name"] for r in obj["resources"]} == {
                "deviceclasses", "resourceclaims", "resourceclaims/status",
                "resourceclaimtemplates", "resourceslices"}
            assert lst_status == 200 and lst["apiVersion"] == f"resource.k8s.io/{v}"
        else:
            assert status == 404
            assert lst_status == 404
            assert lst["message"] == "the server could not find the requested resource"
            assert lst["details"] == {}


def test_crd_group_appears_in_discovery(apiserver):
    c = _client(apiserver)
    c.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "ledgers.hostdev.example.com"},
        "spec": {"group": "hostdev.example.com", "scope": "Cluster",
                 "names": {"plural": "ledgers", "singular": "ledger", "kind": "Ledger",
                           "listKind": "LedgerList"},
                 "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}},
                               "subresources": {"status": {}}}]}})
    assert "hostdev.example.com" in [g["name"] for g in c.get("/apis")["groups"]]
    rl = c.get("/apis/hostdev.example.com/v1alpha1")
    assert [r["name"] for r in rl["resources"]] == ["ledgers", "ledgers/status"]
