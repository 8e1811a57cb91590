"""kube/ against the simulated API server, through the kube-test-client driver: TLS and
credentials, Status errors, retries, paging, selectors, the informer and discovery."""
import base64
import errno
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import SOURCE_DIR, find_binary

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "sim"))
from apiserver import ApiServer  # noqa: E402

UA = "hostdev-kubelet-plugin/0.1.0-test"
SLICES = ("resource.k8s.io", "v1", "resourceslices")


@pytest.fixture(scope="module")
def client_bin():
    return find_binary("kube-test-client")


@pytest.fixture(scope="module")
def sim_module(tmp_path_factory):
    srv = ApiServer(str(tmp_path_factory.mktemp("apiserver")))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def sim(sim_module):
    sim_module.clear_faults()
    sim_module.clear_request_log()
    yield sim_module
    sim_module.clear_faults()


def run(binary, sim, *args, kubeconfig=None, env=None, timeout=60, extra=()):
    cmd = [binary, "--kubeconfig", kubeconfig or sim.kubeconfig_path, "--user-agent", UA,
           "--backoff-ms", "50", *extra, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def ok_json(res):
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def entries(sim, path=None, method=None):
    return [e for e in sim.request_log()
            if (path is None or e["path"] == path) and (method is None or e["method"] == method)]


def slice_body(name, node="node-a", driver="hostdev.example.com", labels=None):
    return json.dumps({
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"driver": driver, "nodeName": node,
                 "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                 "devices": [{"name": "dev-0", "attributes": {"index": {"int": 0}}}]}})


SLICES_PATH = "/apis/resource.k8s.io/v1/resourceslices"


def create_slice(binary, sim, name, **kw):
    return ok_json(run(binary, sim, "create", SLICES_PATH, slice_body(name, **kw)))


def delete_all_slices(binary, sim):
    for s in sim.list_objects("resourceslices"):
        run(binary, sim, "delete", f"{SLICES_PATH}/{s['metadata']['name']}")


# -- TLS and credentials ------------------------------------------------------------------------

def test_get_with_verified_tls_and_bearer_token(client_bin, sim):
    ns = ok_json(run(client_bin, sim, "get", "/api/v1/namespaces/default"))
    assert ns["metadata"]["name"] == "default"
    log = entries(sim, "/api/v1/namespaces/default")
    assert len(log) == 1
    assert log[0]["user"] == "admin"
    assert log[0]["userAgent"] == UA


def make_other_ca(d):
    """A CA that did not sign the simulator's certificate (same subject, to be nasty)."""
    os.makedirs(d, exist_ok=True)
    key, crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=hostdev-sim-ca"],
                   check=True, capture_output=True)
    return crt


def test_wrong_ca_is_refused_and_not_retried(client_bin, sim, tmp_path):
    other_ca = make_other_ca(str(tmp_path / "other"))
    kc = tmp_path / "kubeconfig"
    kc.write_text(open(sim.kubeconfig_path).read().replace(sim.ca_path, other_ca))
    t0 = time.monotonic()
    res = run(client_bin, sim, "get", "/api/v1/namespaces/default", kubeconfig=str(kc))
    assert res.returncode == errno.EPROTO, res.stderr
    assert "certificate" in res.stderr.lower()
    assert time.monotonic() - t0 < 5
    assert entries(sim) == []


def test_ca_and_token_inline_data(client_bin, sim, tmp_path):
    ca_b64 = base64.b64encode(open(sim.ca_path, "rb").read()).decode()
    kc = tmp_path / "kubeconfig"
    kc.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: other\n"
        "clusters:\n- name: c\n  cluster:\n"
        f"    server: {sim.url}\n    certificate-authority-data: {ca_b64}\n"
        "contexts:\n- name: wrong\n  context: {cluster: nope, user: nope}\n"
        "- name: other\n  context: {cluster: c, user: u}\n"
        f"users:\n- name: u\n  user:\n    token: {sim.token}\n")
    ns = ok_json(run(client_bin, sim, "get", "/api/v1/namespaces/kube-system",
                     kubeconfig=str(kc)))
    assert ns["metadata"]["name"] == "kube-system"


def test_insecure_skip_tls_verify_only_when_asked(client_bin, sim, tmp_path):
    kc = tmp_path / "kubeconfig"
    text = open(sim.kubeconfig_path).read()
    kc.write_text(text.replace(f"certificate-authority: {sim.ca_path}",
                               "insecure-skip-tls-verify: true"))
    res = run(client_bin, sim, "get", "/version", kubeconfig=str(kc))
    ok_json(res)
    # the program is told, and says so at every start
    assert "warning: server \"%s\": insecure-skip-tls-verify is set" % sim.url in res.stderr
    # without a CA and without the flag the system trust store is used, which does not know
    # the simulator's CA
    kc.write_text(text.replace(f"    certificate-authority: {sim.ca_path}\n", ""))
    res = run(client_bin, sim, "get", "/version", kubeconfig=str(kc))
    assert res.returncode == errno.EPROTO, res.stderr


def test_no_token_over_plain_http(client_bin, sim, tmp_path):
    # A bearer token must never go out in clear text: an http:// server that is not a loopback
    # address is refused before any request, with a config error naming the server.
    kc = tmp_path / "kubeconfig"
    text = open(sim.kubeconfig_path).read()
    assert sim.url.startswith("https://")
    server = "http://192.0.2.1:%s" % sim.url.rsplit(":", 1)[1]
    kc.write_text(text.replace(sim.url, server)
                  .replace(f"    certificate-authority: {sim.ca_path}\n", ""))
    res = run(client_bin, sim, "get", "/version", kubeconfig=str(kc), timeout=20)
    assert res.returncode == errno.EINVAL, res.stderr
    assert ('server "%s": refusing to send credentials over plain HTTP to a non-loopback '
            "address; use https://" % server) in res.stderr


def make_client_cert(d):
    os.makedirs(d, exist_ok=True)
    key, crt = os.path.join(d, "client.key"), os.path.join(d, "client.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=system:node:test/O=system:nodes"],
                   check=True, capture_output=True)
    return crt, key


@pytest.mark.parametrize("inline", [False, True])
def test_client_certificate_is_loaded(client_bin, sim, tmp_path, inline):
    # The simulator authenticates by token only; this checks that the client certificate and
    # key (files or inline data) are handed to TLS, and that a broken one is a clear error.
    crt, key = make_client_cert(str(tmp_path / "pki"))
    if inline:
        enc = {p: base64.b64encode(open(p, "rb").read()).decode() for p in (crt, key)}
        user = (f"    client-certificate-data: {enc[crt]}\n"
                f"    client-key-data: {enc[key]}\n")
    else:
        user = f"    client-certificate: {crt}\n    client-key: {key}\n"
    kc = tmp_path / "kubeconfig"
    kc.write_text(open(sim.kubeconfig_path).read().replace("  user:\n", "  user:\n" + user))
    ok_json(run(client_bin, sim, "get", "/version", kubeconfig=str(kc)))

    kc.write_text(open(sim.kubeconfig_path).read().replace(
        "  user:\n", "  user:\n    client-certificate: missing.crt\n    client-key: missing.key\n"))
    res = run(client_bin, sim, "get", "/version", kubeconfig=str(kc))
    assert res.returncode == errno.EPROTO, res.stderr
    assert "missing.crt" in res.stderr
    assert len(entries(sim, "/version")) == 1  # the broken one never reached the server


def incluster_env(sim):
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(sim.port),
            "HOSTDEV_SERVICEACCOUNT_DIR": sim.incluster_dir}


def run_incluster(binary, sim, *args, timeout=60):
    cmd = [binary, "--in-cluster", "--user-agent", UA, "--backoff-ms", "50", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **incluster_env(sim)))


def test_incluster_service_account(client_bin, sim):
    ns = ok_json(run_incluster(client_bin, sim, "get", "/api/v1/namespaces/kube-system"))
    assert ns["metadata"]["name"] == "kube-system"
    assert entries(sim)[0]["user"] == "system:serviceaccount:kube-system:hostdev-driver"


def test_incluster_without_env_is_a_clear_error(client_bin, sim):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    res = subprocess.run([client_bin, "get", "/version"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert res.returncode == errno.ENOENT
    assert "KUBERNETES_SERVICE_HOST" in res.stderr


def get_loop(cmd, env, rotate, count=16, interval_ms=100):
    """Run get-loop; call ROTATE() once a few requests went through; return the output lines."""
    p = subprocess.Popen(cmd + ["get-loop", "/api/v1/namespaces/default", str(count),
                                str(interval_ms)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, **env))
    lines = []
    for line in p.stdout:
        lines.append(line.strip())
        if len(lines) == 4:
            rotate()
    p.wait(timeout=60)
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    assert p.returncode == 0, (lines, err)
    return lines


def test_token_file_rotation_incluster(client_bin, sim):
    old = sim.incluster_token
    lines = get_loop([client_bin, "--in-cluster"], incluster_env(sim), sim.rotate_incluster_token)
    assert all(line.endswith(" ok") for line in lines), lines
    assert sim.incluster_token != old
    assert old not in sim.tokens
    # the changed file was noticed before sending: no request was rejected
    assert [e for e in entries(sim) if e["code"] == 401] == []


def test_kubeconfig_token_rotation_reloads_after_401(client_bin, sim):
    lines = get_loop([client_bin, "--kubeconfig", sim.kubeconfig_path], {}, sim.rotate_token)
    assert all(line.endswith(" ok") for line in lines), lines
    codes = [e["code"] for e in entries(sim)]
    assert codes.count(401) == 1, codes


def test_kubeconfig_token_file_rotation(client_bin, sim, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("robot-1\n")
    sim.add_token("robot-1", "robot", ("system:masters",))
    kc = tmp_path / "kubeconfig"
    kc.write_text(
        "current-context: c\nclusters:\n- name: c\n  cluster:\n"
        f"    server: {sim.url}\n    certificate-authority: {sim.ca_path}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        "users:\n- name: u\n  user:\n    tokenFile: token\n")

    def rotate():
        sim.add_token("robot-2", "robot", ("system:masters",))
        tmp = tmp_path / "token.new"
        tmp.write_text("robot-2")
        os.replace(tmp, tok)
        sim.tokens.pop("robot-1")

    lines = get_loop([client_bin, "--kubeconfig", str(kc)], {}, rotate)
    assert all(line.endswith(" ok") for line in lines), lines


# -- Status errors --------------------------------------------------------------------------------

def test_404_maps_to_enoent_with_status_message(client_bin, sim):
    path = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/missing"
    res = run(client_bin, sim, "get", path)
    assert res.returncode == errno.ENOENT
    assert (f'errno=ENOENT http=404: GET {path}: 404 NotFound: '
            f'resourceclaims.resource.k8s.io "missing" not found') in res.stderr
    assert len(entries(sim, path)) == 1


def test_409_already_exists_maps_to_estale(client_bin, sim):
    create_slice(client_bin, sim, "dup-slice")
    res = run(client_bin, sim, "create", SLICES_PATH, slice_body("dup-slice"))
    assert res.returncode == errno.ESTALE
    assert '409 AlreadyExists: resourceslices.resource.k8s.io "dup-slice" already exists' \
        in res.stderr
    assert len(entries(sim, SLICES_PATH, "POST")) == 2
    run(client_bin, sim, "delete", f"{SLICES_PATH}/dup-slice")


def test_409_conflict_on_stale_update(client_bin, sim):
    s = create_slice(client_bin, sim, "conflict-slice")
    ok_json(run(client_bin, sim, "patch", f"{SLICES_PATH}/conflict-slice", "merge",
                '{"metadata":{"labels":{"x":"1"}}}'))
    res = run(client_bin, sim, "update", f"{SLICES_PATH}/conflict-slice", json.dumps(s))
    assert res.returncode == errno.ESTALE
    assert "409 Conflict: Operation cannot be fulfilled" in res.stderr
    run(client_bin, sim, "delete", f"{SLICES_PATH}/conflict-slice")


def test_422_maps_to_einval_and_is_not_retried(client_bin, sim):
    body = json.loads(slice_body("bad-slice"))
    body["spec"]["devices"][0]["name"] = "Dev_0.x"
    res = run(client_bin, sim, "create", SLICES_PATH, json.dumps(body))
    assert res.returncode == errno.EINVAL
    assert "http=422" in res.stderr and "422 Invalid: ResourceSlice.resource.k8s.io" in res.stderr
    assert len(entries(sim, SLICES_PATH, "POST")) == 1


def test_403_not_retried(client_bin, sim, tmp_path):
    sim.add_token("nobody-token", "nobody", ())
    sim.authorizer = lambda attrs: False
    try:
        kc = tmp_path / "kubeconfig"
        kc.write_text(open(sim.kubeconfig_path).read().replace(sim.token, "nobody-token"))
        res = run(client_bin, sim, "get", SLICES_PATH, kubeconfig=str(kc))
    finally:
        sim.authorizer = None
    assert res.returncode == errno.EACCES
    assert "403 Forbidden" in res.stderr
    assert len(entries(sim, SLICES_PATH)) == 1


def test_patch_types(client_bin, sim):
    create_slice(client_bin, sim, "patch-slice")
    p = f"{SLICES_PATH}/patch-slice"
    out = ok_json(run(client_bin, sim, "patch", p, "merge", '{"metadata":{"labels":{"a":"1"}}}'))
    assert out["metadata"]["labels"]["a"] == "1"
    out = ok_json(run(client_bin, sim, "patch", p, "json",
                      '[{"op":"add","path":"/metadata/labels/b","value":"2"}]'))
    assert out["metadata"]["labels"] == {"a": "1", "b": "2"}
    out = ok_json(run(client_bin, sim, "patch", p, "strategic",
                      '{"metadata":{"labels":{"c":"3"}}}'))
    assert out["metadata"]["labels"]["c"] == "3"
    out = ok_json(run(client_bin, sim, "delete", p))
    assert out["metadata"]["name"] == "patch-slice"


# -- retries --------------------------------------------------------------------------------------

def test_429_retry_after_is_honoured(client_bin, sim):
    sim.fail_next(2, 429, retry_after=1, match="^/api/v1/namespaces/default$")
    t0 = time.monotonic()
    ok_json(run(client_bin, sim, "get", "/api/v1/namespaces/default"))
    elapsed = time.monotonic() - t0
    codes = [e["code"] for e in entries(sim, "/api/v1/namespaces/default")]
    assert codes == [429, 429, 200]
    assert elapsed >= 1.9, elapsed


def test_5xx_retried_then_success(client_bin, sim):
    sim.fail_next(3, 503, match="^/api/v1/namespaces/default$")
    ok_json(run(client_bin, sim, "get", "/api/v1/namespaces/default"))
    codes = [e["code"] for e in entries(sim, "/api/v1/namespaces/default")]
    assert codes == [503, 503, 503, 200]


def test_5xx_gives_up_with_eagain(client_bin, sim):
    sim.fail_next(10, 500, match="^/api/v1/namespaces/default$")
    res = run(client_bin, sim, "get", "/api/v1/namespaces/default", extra=("--retries", "2"))
    assert res.returncode == errno.EAGAIN
    assert "500 InternalError" in res.stderr
    assert len(entries(sim, "/api/v1/namespaces/default")) == 3


def test_connection_reset_retried(client_bin, sim):
    sim.reset_next(1, match="^/api/v1/namespaces/default$")
    ok_json(run(client_bin, sim, "get", "/api/v1/namespaces/default"))
    log = entries(sim, "/api/v1/namespaces/default")
    assert [e.get("fault") for e in log] == ["reset", None]
    assert log[-1]["code"] == 200


def test_connection_refused(client_bin, sim, tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text(open(sim.kubeconfig_path).read().replace(sim.url, "https://127.0.0.1:1"))
    res = run(client_bin, sim, "get", "/version", kubeconfig=str(kc), extra=("--retries", "1"))
    assert res.returncode == errno.ECONNREFUSED, res.stderr


def test_request_timeout(client_bin, sim):
    sim.inject_latency(1.5)
    t0 = time.monotonic()
    res = run(client_bin, sim, "get", "/api/v1/namespaces/default",
              extra=("--timeout-ms", "300", "--retries", "1"))
    elapsed = time.monotonic() - t0
    sim.inject_latency(0)
    assert res.returncode == errno.ETIMEDOUT, res.stderr
    assert "GET /api/v1/namespaces/default: Operation timed out" in res.stderr
    assert elapsed < 1.4, elapsed


def test_response_size_cap(client_bin, sim):
    res = run(client_bin, sim, "get", "/api/v1/namespaces", extra=("--max-body", "200"))
    assert res.returncode == errno.EFBIG, res.stderr
    assert "response larger than 200 bytes" in res.stderr
    ok_json(run(client_bin, sim, "get", "/api/v1/namespaces"))


def test_client_side_rate_limit(client_bin, sim):
    t0 = time.monotonic()
    res = run(client_bin, sim, "parallel-get", "/version", "1", "6",
              extra=("--qps", "5", "--burst", "1"))
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 >= 0.9


def test_parallel_requests_share_the_client(client_bin, sim):
    out = ok_json(run(client_bin, sim, "parallel-get", "/api/v1/namespaces", "8", "25",
                      extra=("--qps", "-1")))
    assert out == {"requests": 200, "failures": 0}


# -- list and watch -------------------------------------------------------------------------------

def test_list_pages_and_selectors(client_bin, sim):
    delete_all_slices(client_bin, sim)
    for i in range(7):
        create_slice(client_bin, sim, f"page-{i}", node="node-a" if i % 2 else "node-b",
                     labels={"tier": "gold" if i < 3 else "silver"})
    sim.clear_request_log()
    out = ok_json(run(client_bin, sim, "list", *SLICES, "--limit", "3"))
    assert sorted(o["metadata"]["name"] for o in out["items"]) == [f"page-{i}" for i in range(7)]
    assert int(out["resourceVersion"]) >= 7
    assert {(o["kind"], o["apiVersion"]) for o in out["items"]} == \
        {("ResourceSlice", "resource.k8s.io/v1")}
    lists = entries(sim, SLICES_PATH, "GET")
    assert len(lists) == 3
    assert all("limit=3" in e["query"] for e in lists)
    assert [("continue=" in e["query"]) for e in lists] == [False, True, True]

    out = ok_json(run(client_bin, sim, "list", *SLICES, "--label", "tier=gold", "--limit", "2"))
    assert sorted(o["metadata"]["name"] for o in out["items"]) == ["page-0", "page-1", "page-2"]
    out = ok_json(run(client_bin, sim, "list", *SLICES, "--field", "spec.nodeName=node-a"))
    assert sorted(o["metadata"]["name"] for o in out["items"]) == ["page-1", "page-3", "page-5"]
    out = ok_json(run(client_bin, sim, "list", *SLICES, "--label", "tier in (silver)",
                      "--field", "spec.nodeName!=node-a"))
    assert sorted(o["metadata"]["name"] for o in out["items"]) == ["page-4", "page-6"]
    res = run(client_bin, sim, "list", *SLICES, "--field", "spec.pool.name=x")
    assert res.returncode == errno.EINVAL and "400 BadRequest" in res.stderr
    delete_all_slices(client_bin, sim)


def test_watch_from_resource_version(client_bin, sim):
    out = ok_json(run(client_bin, sim, "list", *SLICES))
    rv = out["resourceVersion"]
    create_slice(client_bin, sim, "w-1")
    run(client_bin, sim, "patch", f"{SLICES_PATH}/w-1", "merge", '{"metadata":{"labels":{"a":"b"}}}')
    run(client_bin, sim, "delete", f"{SLICES_PATH}/w-1")
    res = run(client_bin, sim, "watch", *SLICES, "--rv", rv, "--max-events", "3")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["metadata"]["labels"] == {"a": "b"}


def test_watch_too_old_is_eidrm(client_bin, sim):
    sim.force_410_next_watch()
    res = run(client_bin, sim, "watch", *SLICES, "--rv", "1")
    assert res.returncode == errno.EIDRM, res.stderr
    assert '"type":"ERROR"' in res.stdout
    assert f"GET {SLICES_PATH}: 410 Expired: " in res.stderr


# -- informer -------------------------------------------------------------------------------------

class Informer:
    def __init__(self, binary, sim, *args):
        self.p = subprocess.Popen(
            [binary, "--kubeconfig", sim.kubeconfig_path, "--user-agent", UA, "informer",
             *SLICES, "--watch-timeout", "600", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.q = queue.Queue()
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.expect("STARTED")

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def expect(self, prefix, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line starting {prefix!r}; seen {self.lines}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"informer exited; seen {self.lines}; "
                                     f"stderr {self.p.stderr.read()}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def cache(self):
        self.p.send_signal(signal.SIGUSR1)
        head = self.expect("CACHE")
        items = []
        while True:
            line = self.expect("")
            if line == "END":
                return head, items
            if line.startswith("ITEM "):
                items.append(line.split()[1])

    def stop(self):
        t0 = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        line = self.expect("STOPPED")
        self.p.wait(timeout=10)
        took = time.monotonic() - t0
        err = self.p.stderr.read()
        self.p.stdout.close()
        self.p.stderr.close()
        # a sanitizer report (leak, race) turns into a non-zero exit
        assert self.p.returncode == 0, err
        return line, took


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def watches(sim):
    return [e for e in entries(sim, SLICES_PATH, "GET") if "watch=true" in e["query"]]


def lists(sim):
    return [e for e in entries(sim, SLICES_PATH, "GET") if "watch=true" not in e["query"]]


def test_informer_list_then_live_events(client_bin, sim):
    delete_all_slices(client_bin, sim)
    create_slice(client_bin, sim, "inf-a")
    create_slice(client_bin, sim, "inf-b")
    inf = Informer(client_bin, sim, "--limit", "1")
    try:
        assert inf.expect("SYNCED") == "SYNCED 2"
        assert {line.split()[1] for line in inf.lines if line.startswith("ADDED")} == \
            {"inf-a", "inf-b"}
        assert len(lists(sim)) == 2  # two pages of one
        assert wait_for(lambda: len(watches(sim)) == 1)
        create_slice(client_bin, sim, "inf-c")
        assert inf.expect("ADDED").split()[1] == "inf-c"
        run(client_bin, sim, "patch", f"{SLICES_PATH}/inf-a", "merge",
            '{"metadata":{"labels":{"x":"y"}}}')
        assert inf.expect("UPDATED").split()[1] == "inf-a"
        run(client_bin, sim, "delete", f"{SLICES_PATH}/inf-b")
        assert inf.expect("DELETED").split()[1] == "inf-b"
        head, items = inf.cache()
        assert head.split()[1] == "2"
        assert items == ["inf-a", "inf-c"]
    finally:
        inf.stop()
    delete_all_slices(client_bin, sim)


def test_informer_resumes_after_closed_stream(client_bin, sim):
    delete_all_slices(client_bin, sim)
    create_slice(client_bin, sim, "res-a")
    inf = Informer(client_bin, sim)
    try:
        inf.expect("SYNCED")
        assert wait_for(lambda: len(watches(sim)) == 1)
        create_slice(client_bin, sim, "res-b")
        line = inf.expect("ADDED res-b")
        last_rv = line.split()[2]
        sim.close_watches()
        assert wait_for(lambda: len(watches(sim)) == 2)
        resumed = watches(sim)[1]
        assert f"resourceVersion={last_rv}" in resumed["query"]
        assert len(lists(sim)) == 1  # resumed, not relisted
        create_slice(client_bin, sim, "res-c")
        assert inf.expect("ADDED").split()[1] == "res-c"
        # changes made while no stream is open arrive after the resume
        sim.close_watches()
        run(client_bin, sim, "delete", f"{SLICES_PATH}/res-a")
        assert inf.expect("DELETED").split()[1] == "res-a"
        assert len(lists(sim)) == 1
    finally:
        inf.stop()
    delete_all_slices(client_bin, sim)


def test_informer_relists_on_410(client_bin, sim):
    delete_all_slices(client_bin, sim)
    create_slice(client_bin, sim, "rl-a")
    inf = Informer(client_bin, sim)
    try:
        inf.expect("SYNCED 1")
        assert wait_for(lambda: len(watches(sim)) == 1)
        sim.force_410_next_watch()
        sim.close_watches()
        inf.expect("SYNCED 1")
        assert len(lists(sim)) == 2
        create_slice(client_bin, sim, "rl-b")
        assert inf.expect("ADDED").split()[1] == "rl-b"
    finally:
        inf.stop()
    delete_all_slices(client_bin, sim)


def test_informer_relists_after_compaction(client_bin, sim):
    delete_all_slices(client_bin, sim)
    create_slice(client_bin, sim, "cp-a")
    create_slice(client_bin, sim, "cp-b")
    inf = Informer(client_bin, sim)
    try:
        inf.expect("SYNCED 2")
        assert wait_for(lambda: len(watches(sim)) == 1)
        # the stream closes, then history moves on and is compacted past our resourceVersion
        sim.reset_next(1000, match="^/apis/resource.k8s.io/v1/resourceslices$", method="GET")
        sim.close_watches()
        time.sleep(0.3)
        run(client_bin, sim, "delete", f"{SLICES_PATH}/cp-a")
        create_slice(client_bin, sim, "cp-c")
        sim.compact()
        sim.clear_faults()
        inf.expect("SYNCED 2", timeout=20)
        deleted = [line.split()[1] for line in inf.lines if line.startswith("DELETED")]
        added = [line.split()[1] for line in inf.lines if line.startswith("ADDED")]
        assert "cp-a" in deleted and "cp-c" in added
        _head, items = inf.cache()
        assert items == ["cp-b", "cp-c"]
    finally:
        inf.stop()
    delete_all_slices(client_bin, sim)


def test_informer_bookmark_moves_resume_version(client_bin, tmp_path):
    with ApiServer(str(tmp_path / "apiserver"), bookmark_interval=0.3) as srv:
        inf = Informer(client_bin, srv)
        try:
            inf.expect("SYNCED 0")
            assert wait_for(lambda: len(watches(srv)) == 1)
            # other kinds move the global resourceVersion; a bookmark carries it to us
            for i in range(3):
                run(client_bin, srv, "create", "/api/v1/namespaces",
                    json.dumps({"metadata": {"name": f"bm-{i}"}}))
            want = str(srv.current_resource_version())

            def cached_rv():
                return inf.cache()[0].split()[2]
            assert wait_for(lambda: cached_rv() == want, timeout=10)
            srv.close_watches()
            assert wait_for(lambda: len(watches(srv)) == 2)
            assert f"resourceVersion={want}" in watches(srv)[1]["query"]
        finally:
            inf.stop()


def test_informer_read_your_writes(client_bin, sim):
    res = run(client_bin, sim, "informer-rw", *SLICES, SLICES_PATH, slice_body("rw-slice"))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("SEEN rw-slice "), lines
    # a resourceVersion nobody wrote yet times out; a non-number is refused; stop ends waits
    assert lines[1:] == ["LATER ETIMEDOUT", "BAD EINVAL", "STOPPED ECANCELED"]
    run(client_bin, sim, "delete", f"{SLICES_PATH}/rw-slice")


def test_informer_stops_promptly_during_long_poll(client_bin, sim):
    inf = Informer(client_bin, sim)
    inf.expect("SYNCED")
    assert wait_for(lambda: len(watches(sim)) == 1)
    time.sleep(0.3)
    line, took = inf.stop()
    assert inf.p.returncode == 0
    assert int(line.split()[1]) < 500, line
    assert took < 2, took


def test_informer_stops_promptly_during_backoff(client_bin, sim):
    sim.fail_next(1000, 503, match="^/apis/resource.k8s.io/v1/resourceslices$")
    inf = Informer(client_bin, sim)
    inf.expect("ERROR")
    line, _took = inf.stop()
    assert int(line.split()[1]) < 500, line


# -- discovery ------------------------------------------------------------------------------------

@pytest.mark.parametrize("served,expected", [
    (("v1",), "v1"),
    (("v1beta2",), "v1beta2"),
    (("v1beta1",), "v1beta1"),
    (("v1beta1", "v1beta2"), "v1beta2"),
    (("v1", "v1beta1"), "v1"),
])
def test_discovery_picks_first_served(client_bin, tmp_path, served, expected):
    with ApiServer(str(tmp_path / "apiserver"), resource_versions=served) as srv:
        res = run(client_bin, srv, "discover", "resource.k8s.io", "v1,v1beta2,v1beta1")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == expected
        res = run(client_bin, srv, "discover-resource", "resource.k8s.io", expected,
                  "resourceslices")
        assert res.stdout.strip() == "yes"
        res = run(client_bin, srv, "discover-resource", "resource.k8s.io", expected, "widgets")
        assert res.stdout.strip() == "no"
        missing = [v for v in ("v1", "v1beta2", "v1beta1") if v not in served][0]
        res = run(client_bin, srv, "discover-resource", "resource.k8s.io", missing,
                  "resourceslices")
        assert res.returncode == 0 and res.stdout.strip() == "no"


def test_discovery_nothing_served(client_bin, sim):
    res = run(client_bin, sim, "discover", "resource.k8s.io", "v1alpha3")
    assert res.returncode == errno.ENOENT
    assert 'API group "resource.k8s.io": none of v1alpha3 is served (server has: v1)' in res.stderr
    res = run(client_bin, sim, "discover", "nope.example.com", "v1")
    assert res.returncode == errno.ENOENT
    assert 'API group "nope.example.com" is not served' in res.stderr
