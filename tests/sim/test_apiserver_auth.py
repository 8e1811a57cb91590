"""API server simulator: TLS, bearer tokens, anonymous access, kubeconfig/in-cluster files."""

import os
import ssl
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from kclient import ApiError, KubeClient  # noqa: E402
from sim_capture import Capture  # noqa: E402

SLICES = "/apis/resource.k8s.io/v1/resourceslices"


def test_invalid_token_is_401_like_capture(apiserver):
    cap = Capture("04-error-401-invalid-bearer-token.http")
    c = KubeClient(apiserver.url, token="not-a-real-token", ca_path=apiserver.ca_path)
    status, hdrs, raw = c.request_raw(cap.method, cap.target)
    assert status == cap.status == 401
    assert hdrs["content-type"] == cap.resp_headers["Content-Type"]
    import json
    assert json.loads(raw) == cap.response


def test_no_credentials_is_403_anonymous_like_capture(apiserver):
    cap = Capture("04-error-403-no-credentials-anonymous.http")
    c = KubeClient(apiserver.url, ca_path=apiserver.ca_path)
    status, obj = c.request(cap.method, cap.target)
    assert status == cap.status == 403
    assert obj == cap.response


def test_version_allowed_without_credentials(apiserver):
    cap = Capture("04-no-credentials-version-allowed.http")
    c = KubeClient(apiserver.url, ca_path=apiserver.ca_path)
    status, obj = c.request(cap.method, cap.target)
    assert status == cap.status == 200
    assert set(obj) == set(cap.response)
    assert obj["major"] == "1" and obj["minor"] == "36"


def test_anonymous_forbidden_messages(apiserver):
    c = KubeClient(apiserver.url, ca_path=apiserver.ca_path)
    status, obj = c.request("GET", "/apis")
    assert status == 403
    assert obj["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'
    status, obj = c.request("GET", "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/x")
    assert status == 403
    assert obj["message"] == ('resourceclaims.resource.k8s.io "x" is forbidden: User '
                              '"system:anonymous" cannot get resource "resourceclaims" in API '
                              'group "resource.k8s.io" in the namespace "default"')
    assert obj["details"] == {"name": "x", "group": "resource.k8s.io", "kind": "resourceclaims"}


def test_tls_is_verified_with_the_ca(apiserver, tmp_path):
    c = KubeClient(apiserver.url, token=apiserver.token, ca_path=apiserver.ca_path)
    assert c.get("/version")["gitVersion"] == "v1.36.2"
    other = tmp_path / "other-ca.crt"
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(other), "-subj", "/CN=x", "-days", "1"], check=True,
                   capture_output=True)
    bad = KubeClient(apiserver.url, token=apiserver.token, ca_path=str(other))
    with pytest.raises(ssl.SSLError):
        bad.get("/version")
    with pytest.raises(ValueError):
        KubeClient(apiserver.url, token=apiserver.token)


def test_kubeconfig_and_incluster_files(apiserver):
    c = KubeClient.from_kubeconfig(apiserver.kubeconfig_path)
    assert c.url == apiserver.url
    assert c.get(SLICES)["kind"] == "ResourceSliceList"
    d = apiserver.incluster_dir
    assert sorted(os.listdir(d)) == ["ca.crt", "namespace", "token"]
    with open(os.path.join(d, "namespace")) as f:
        assert f.read() == "kube-system"
    ic = KubeClient(apiserver.url, token_file=os.path.join(d, "token"),
                    ca_path=os.path.join(d, "ca.crt"))
    assert ic.get(SLICES)["kind"] == "ResourceSliceList"
    assert apiserver.request_log()[-1]["user"] == "system:serviceaccount:kube-system:hostdev-driver"


def test_rotate_token(apiserver):
    old = KubeClient.from_kubeconfig(apiserver.kubeconfig_path)
    old.get(SLICES)
    new_token = apiserver.rotate_token()
    assert new_token == apiserver.token
    with pytest.raises(ApiError) as ei:
        old.get(SLICES)
    assert ei.value.status == 401
    fresh = KubeClient.from_kubeconfig(apiserver.kubeconfig_path)
    assert fresh.token == new_token
    fresh.get(SLICES)


def test_rotate_incluster_token_file_is_reread(apiserver):
    d = apiserver.incluster_dir
    ic = KubeClient(apiserver.url, token_file=os.path.join(d, "token"),
                    ca_path=os.path.join(d, "ca.crt"))
    with open(os.path.join(d, "token")) as f:
        before = f.read()
    apiserver.rotate_incluster_token()
    bad = KubeClient(apiserver.url, token=before, ca_path=apiserver.ca_path)
    assert bad.request("GET", SLICES)[0] == 401
    assert ic.get(SLICES)["kind"] == "ResourceSliceList"


def test_add_token_identities_in_request_log(apiserver):
    apiserver.add_token("node-tok", "system:node:n1", ["system:nodes"])
    apiserver.add_token("sa-tok", "system:serviceaccount:kube-system:ctl",
                        ["system:serviceaccounts"])
    apiserver.clear_request_log()
    KubeClient(apiserver.url, token="node-tok", ca_path=apiserver.ca_path).get(SLICES)
    KubeClient(apiserver.url, token="sa-tok", ca_path=apiserver.ca_path).get(
        "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims")
    log = apiserver.request_log()
    assert [e["user"] for e in log] == ["system:node:n1", "system:serviceaccount:kube-system:ctl"]
    assert "system:nodes" in log[0]["groups"] and "system:authenticated" in log[0]["groups"]
    assert log[1]["resource"] == "resourceclaims" and log[1]["namespace"] == "default"
    assert log[1]["verb"] == "list"


def test_authorizer_hook_denies_non_admins(apiserver):
    apiserver.add_token("node-tok", "system:node:n1", ["system:nodes"])
    apiserver.authorizer = lambda attrs: attrs["verb"] != "delete"
    c = KubeClient(apiserver.url, token="node-tok", ca_path=apiserver.ca_path)
    c.get(SLICES)
    status, obj = c.request("DELETE", SLICES + "/x")
    assert status == 403
    assert 'User "system:node:n1" cannot delete resource "resourceslices"' in obj["message"]
    admin = KubeClient(apiserver.url, token=apiserver.token, ca_path=apiserver.ca_path)
    assert admin.request("DELETE", SLICES + "/x")[0] == 404
