"""API server simulator: fault injection, request log, admin endpoint, process mode."""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from kclient import ApiError, KubeClient  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SLICES = "/apis/resource.k8s.io/v1/resourceslices"
CLAIMS = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"


def slice_body(name):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": name},
            "spec": {"driver": "test.example.com", "nodeName": "n",
                     "pool": {"name": "n", "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": "d0"}]}}


def test_latency(kube, apiserver):
    apiserver.inject_latency(0.3)
    t0 = time.monotonic()
    kube.get("/version")
    assert time.monotonic() - t0 >= 0.3
    apiserver.inject_latency(0)
    t0 = time.monotonic()
    kube.get("/version")
    assert time.monotonic() - t0 < 0.25


def test_fail_next_with_match_and_retry_after(kube, apiserver):
    apiserver.fail_next(2, code=503, match=r"/resourceslices$")
    kube.get("/version")                              # not matched: untouched
    for _ in range(2):
        status, obj = kube.request("GET", SLICES)
        assert status == 503 and obj["reason"] == "ServiceUnavailable" and obj["code"] == 503
    assert kube.request("GET", SLICES)[0] == 200
    apiserver.fail_next(1, code=429, retry_after=2, match=lambda p: "resourceclaims" in p)
    status, hdrs, raw = kube.request_raw("GET", CLAIMS)
    assert status == 429 and hdrs["retry-after"] == "2"
    import json
    body = json.loads(raw)
    assert body["reason"] == "TooManyRequests" and body["details"] == {"retryAfterSeconds": 2}
    assert kube.request("GET", CLAIMS)[0] == 200
    apiserver.fail_next(1, code=500, method="POST")
    assert kube.request("GET", SLICES)[0] == 200
    assert kube.request("POST", SLICES, slice_body("x"))[0] == 500
    assert kube.request("POST", SLICES, slice_body("x"))[0] == 201
    log = apiserver.request_log()
    assert [e.get("fault") for e in log].count("fail") == 4


def test_reset_mid_response(kube, apiserver):
    apiserver.reset_next(1, match="resourceslices")
    with pytest.raises((http.client.HTTPException, OSError)):
        kube.request_raw("GET", SLICES)
    assert kube.request("GET", SLICES)[0] == 200
    assert apiserver.request_log()[-2]["fault"] == "reset"


def test_close_watches_now(kube, apiserver):
    got = []
    done = threading.Event()

    def run():
        for ev in kube.watch(SLICES, {"timeoutSeconds": 30}):
            got.append(ev)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.3)
    kube.create(SLICES, slice_body("a"))
    time.sleep(0.2)
    apiserver.close_watches()
    assert done.wait(2)
    assert [e["type"] for e in got] == ["ADDED"]


def test_force_410_next_watch(kube, apiserver):
    kube.create(SLICES, slice_body("a"))
    apiserver.force_410_next_watch()
    evs = list(kube.watch(SLICES, {"resourceVersion": "0", "timeoutSeconds": 5}))
    assert len(evs) == 1 and evs[0]["type"] == "ERROR"
    assert evs[0]["object"]["code"] == 410 and evs[0]["object"]["reason"] == "Expired"
    evs = list(kube.watch(SLICES, {"resourceVersion": "0", "timeoutSeconds": 0.3}))
    assert [e["type"] for e in evs] == ["ADDED"]


def test_request_log_names_verbs_like_kubernetes(kube, apiserver):
    apiserver.clear_request_log()
    kube.create(CLAIMS, {"metadata": {"name": "c"}, "spec": {"devices": {"requests": [
        {"name": "r", "exactly": {"deviceClassName": "x"}}]}}})
    c = kube.get(CLAIMS + "/c")
    kube.list(CLAIMS)
    kube.update(CLAIMS + "/c", c)
    kube.patch(CLAIMS + "/c/status", {"status": {}})
    list(kube.watch(CLAIMS, {"timeoutSeconds": 0.2}))
    kube.delete(CLAIMS + "/c")
    kube.request("DELETE", SLICES)
    kube.get("/version")
    log = apiserver.request_log()
    assert [e["verb"] for e in log] == ["create", "get", "list", "update", "patch", "watch",
                                        "delete", "deletecollection", "get"]
    assert log[4]["subresource"] == "status" and log[4]["resource"] == "resourceclaims"
    assert log[0]["namespace"] == "default" and log[0]["apiGroup"] == "resource.k8s.io"
    assert log[0]["code"] == 201 and log[1]["name"] == "c"
    assert log[-1]["resource"] is None and log[-1]["path"] == "/version"
    assert all(e["user"] == "admin" for e in log)
    for k in ("time", "method", "path", "query", "verb", "resource", "subresource", "namespace",
              "user", "code"):
        assert k in log[0]
    apiserver.clear_request_log()
    assert apiserver.request_log() == []


def test_admin_endpoint(kube, apiserver):
    assert kube.request("POST", "/_sim/fail", {"n": 1, "code": 502})[0] == 200
    assert kube.request("GET", SLICES)[0] == 502
    kube.request("POST", "/_sim/latency", {"seconds": 0.2})
    t0 = time.monotonic()
    kube.get(SLICES)
    assert time.monotonic() - t0 >= 0.2
    kube.request("POST", "/_sim/clear-faults")
    kube.request("POST", "/_sim/force-410")
    assert next(kube.watch(SLICES, {"timeoutSeconds": 5}))["type"] == "ERROR"
    kube.request("POST", "/_sim/reset", {"n": 1})
    with pytest.raises((http.client.HTTPException, OSError)):
        kube.request_raw("GET", SLICES)
    state = kube.request("GET", "/_sim/state")[1]
    kube.create(SLICES, slice_body("a"))
    kube.request("POST", "/_sim/compact")
    state2 = kube.request("GET", "/_sim/state")[1]
    assert state2["compactedResourceVersion"] > state["compactedResourceVersion"]
    items = kube.request("GET", "/_sim/requests")[1]["items"]
    assert items and all(not e["path"].startswith("/_sim/") for e in items)
    kube.request("DELETE", "/_sim/requests")
    assert kube.request("GET", "/_sim/requests")[1]["items"] == []
    kube.request("POST", "/_sim/tokens", {"token": "t1", "user": "system:node:n1",
                                          "groups": ["system:nodes"]})
    node = KubeClient(apiserver.url, token="t1", ca_path=apiserver.ca_path)
    node.get(SLICES)
    assert node.request("POST", "/_sim/compact")[0] == 403
    assert KubeClient(apiserver.url, ca_path=apiserver.ca_path).request(
        "POST", "/_sim/compact")[0] == 403
    new = kube.request("POST", "/_sim/rotate-token")[1]["token"]
    assert kube.request("GET", SLICES)[0] == 401
    assert KubeClient(apiserver.url, token=new, ca_path=apiserver.ca_path).get(SLICES)


def test_process_mode(tmp_path):
    log = tmp_path / "api.log"
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "apiserver.py"), "--workdir",
                          str(tmp_path / "w"), "--versions", "v1beta1,v1beta2", "--log",
                          str(log)], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        assert line[0] == "READY" and line[1].startswith("https://127.0.0.1:")
        kube = KubeClient.from_kubeconfig(line[2])
        assert kube.url == line[1]
        grp = kube.get("/apis/resource.k8s.io")
        assert [v["version"] for v in grp["versions"]] == ["v1beta2", "v1beta1"]
        with pytest.raises(ApiError):
            kube.get("/apis/resource.k8s.io/v1/resourceslices")
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = log.read_text()
    assert "GET /apis/resource.k8s.io" in text and "stopped" in text


def test_reset_open_watches(kube, apiserver):
    import socket
    import ssl
    import json as _json
    ctx = ssl.create_default_context(cafile=apiserver.ca_path)
    raw = socket.create_connection(("127.0.0.1", apiserver.port))
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False)
    s.sendall(f"GET {SLICES}?watch=1&timeoutSeconds=30 HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {apiserver.token}\r\n\r\n".encode())
    s.settimeout(5)
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200")
    kube.create(SLICES, slice_body("a"))
    data = s.recv(65536)
    assert b'"ADDED"' in data
    apiserver.close_watches(reset=True)
    rest = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    except (ConnectionResetError, ssl.SSLError, OSError):
        pass
    # An RST looks like a ragged EOF through Python's ssl; what matters is that the chunked
    # stream never got its terminating chunk.
    assert b"0\r\n\r\n" not in rest
    s.close()
    _json.dumps(apiserver.request_log()[-1])


def test_restart_keeps_port_state_and_tokens(kube, apiserver):
    kube.create(SLICES, slice_body("kept"))
    port, token = apiserver.port, apiserver.token
    got = []
    done = threading.Event()

    def run():
        got.extend(kube.watch(SLICES, {"resourceVersion": "0", "timeoutSeconds": 30}))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.3)
    t0 = time.monotonic()
    apiserver.restart(downtime=0.3)
    assert done.wait(3) and [e["type"] for e in got] == ["ADDED"]
    assert time.monotonic() - t0 >= 0.3
    assert (apiserver.port, apiserver.token) == (port, token)
    assert kube.get(SLICES + "/kept")["metadata"]["name"] == "kept"
    evs = list(kube.watch(SLICES, {"resourceVersion": "0", "timeoutSeconds": 0.3}))
    assert [e["type"] for e in evs] == ["ADDED"]
