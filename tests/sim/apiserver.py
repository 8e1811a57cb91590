#!/usr/bin/python3
"""Simulated Kubernetes API server (1.32 .. 1.36 shapes) for tests and the demo.

HTTPS on 127.0.0.1 with a throw-away CA, bearer tokens, discovery, a generic object store with
watch, ResourceSlice/ResourceClaim validation and fault injection. See
docs/simulator-apiserver.md for what is and is not simulated.

In-process:   with ApiServer(workdir) as srv: ...
Process mode: /usr/bin/python3 tests/sim/apiserver.py --workdir D [--versions v1beta1,v1beta2]
              [--log FILE]   -> prints "READY <url> <kubeconfig>" and serves until SIGTERM.
"""

import argparse
import http.server
import json
import os
import re
import secrets
import select
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sim_discovery as disc  # noqa: E402
import sim_errors as E  # noqa: E402
from sim_select import FieldSelector, LabelSelector  # noqa: E402
from sim_store import Expired, Store, now_rfc3339  # noqa: E402
from sim_types import builtin_types, crd_types  # noqa: E402

PUBLIC_PATHS = ("/version", "/version/", "/healthz", "/livez", "/readyz")
MASTERS = "system:masters"
PATCH_TYPES = {"application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic",
               "application/json-patch+json": "json",
               "application/apply-patch+yaml": "apply"}
DEFAULT_WATCH_TIMEOUT = 1800
INCLUSTER_SA = "system:serviceaccount:kube-system:hostdev-driver"


class _Reset(Exception):
    """The connection was reset on purpose (fault injection)."""


# -- certificates -----------------------------------------------------------------------------

_CERT_CACHE = {}
_CERT_LOCK = threading.Lock()


def make_certs(d):
    """CA + serving cert for 127.0.0.1/localhost, made once per process with the openssl CLI
    (EC P-256) and copied into d."""
    import shutil
    import tempfile
    with _CERT_LOCK:
        src = _CERT_CACHE.get("dir")
        if src is None or not os.path.exists(os.path.join(src, "server.key")):
            src = tempfile.mkdtemp(prefix="hostdev-sim-pki-")
            _make_certs(src)
            _CERT_CACHE["dir"] = src
    os.makedirs(d, exist_ok=True)
    for n in ("ca.key", "ca.crt", "server.key", "server.crt"):
        shutil.copyfile(os.path.join(src, n), os.path.join(d, n))
        os.chmod(os.path.join(d, n), 0o600 if n.endswith(".key") else 0o644)
    return os.path.join(d, "ca.crt"), os.path.join(d, "server.crt"), os.path.join(d, "server.key")


def _make_certs(d):
    os.makedirs(d, exist_ok=True)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "3", "-subj", "/CN=hostdev-sim-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "3", "-extfile", ext)
    return ca_crt, crt, key


def _atomic_write(path, text, mode=0o600):
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# -- HTTP plumbing ----------------------------------------------------------------------------

class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sim, ctx):
        self.sim = sim
        self.ctx = ctx
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(30)
            tls = self.ctx.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            self.sim.log(f"TLS handshake failed from {client_address}: {e}")
            try:
                request.close()
            except OSError:
                pass
            return
        self.sim._conns.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            self.sim._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        self.sim.log(f"handler error for {client_address}: {sys.exc_info()[1]!r}")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostdev-apiserver-sim"
    sys_version = ""

    def log_message(self, fmt, *args):  # routed to the simulator log instead of stderr
        self.server.sim.log("http: " + (fmt % args))

    def do_GET(self):
        self.server.sim.handle(self, "GET")

    def do_POST(self):
        self.server.sim.handle(self, "POST")

    def do_PUT(self):
        self.server.sim.handle(self, "PUT")

    def do_PATCH(self):
        self.server.sim.handle(self, "PATCH")

    def do_DELETE(self):
        self.server.sim.handle(self, "DELETE")


class _Req:
    """Per-request state: parsed URL, identity, the request-log entry."""

    def __init__(self, h, method):
        self.h = h
        self.method = method
        u = urllib.parse.urlsplit(h.path)
        self.path = u.path
        self.query = u.query
        self.params = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query,
                                                                  keep_blank_values=True).items()}
        self.user = None
        self.groups = ()
        self.audit_id = str(uuid.uuid4())
        self.entry = {"time": time.time(), "method": method, "path": self.path,
                      "query": self.query, "verb": method.lower(), "apiGroup": None,
                      "apiVersion": None, "resource": None, "subresource": None,
                      "namespace": None, "name": None, "user": None,
                      "userAgent": h.headers.get("User-Agent", ""), "code": None}
        self.body_raw = None

    def read_body(self):
        if self.body_raw is not None:
            return self.body_raw
        h = self.h
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = h.rfile.readline()
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    h.rfile.readline()
                    break
                data += h.rfile.read(n)
                h.rfile.readline()
        else:
            n = int(h.headers.get("Content-Length") or 0)
            data = h.rfile.read(n) if n else b""
        self.body_raw = data
        return data


def _go_json_error(text, err):
    pos = err.pos
    ch = text[pos] if pos < len(text) else None
    if ch is None:
        return "unexpected end of JSON input"
    prev = text[:pos].rstrip()[-1:] if text[:pos].rstrip() else ""
    what = "looking for beginning of object key string" if prev in ("{", ",") and \
        err.msg.startswith("Expecting property name") else "looking for beginning of value"
    if err.msg.startswith("Expecting ',' delimiter") or err.msg.startswith("Expecting ':'"):
        what = "after object key:value pair" if "','" in err.msg else "after object key"
    return f"invalid character '{ch}' {what}"


class ApiServer:
    """The simulator. Attributes after start(): url, token, ca_path, kubeconfig_path,
    incluster_dir, port, store."""

    def __init__(self, workdir, resource_versions=("v1",), compaction_window=1000, log_path=None,
                 bookmark_interval=60.0, bookmark_min_timeout=10.0, namespaces=None,
                 incluster_namespace="kube-system"):
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.resource_versions = tuple(resource_versions)
        for v in self.resource_versions:
            if v not in ("v1", "v1beta1", "v1beta2"):
                raise ValueError(f"unknown resource.k8s.io version {v}")
        self.log_path = log_path or os.path.join(self.workdir, "apiserver.log")
        self._log_lock = threading.Lock()
        self._log_file = None
        self.store = Store(compaction_window, log=self.log)
        self.types = {}
        for rt in builtin_types(self.resource_versions):
            self._register(rt)
        self.bookmark_interval = bookmark_interval
        self.bookmark_min_timeout = bookmark_min_timeout
        self.bookmark_before_deadline = (2.5, 1.2)
        self.incluster_namespace = incluster_namespace
        self.tokens = {}
        self.token = None
        self.incluster_token = None
        self.authorizer = None     # optional callable(attrs dict) -> bool
        self._faults_lock = threading.Lock()
        self._latency = 0.0
        self._fail = []            # [remaining, code, retry_after, match, method]
        self._reset = []           # [remaining, match, method]
        self._force_410 = 0
        self._log_entries = []
        self._watch_stop = threading.Event()
        self._conns = set()
        self._httpd = None
        self._thread = None
        self.url = None
        self.port = None
        self._bootstrap(namespaces or ("default", "kube-system", "kube-public",
                                       "kube-node-lease"))

    # -- lifecycle ------------------------------------------------------------------------
    def _register(self, rt):
        self.types[(rt.group, rt.plural)] = rt
        self.store.register(rt)

    def _bootstrap(self, namespaces):
        ns_rt = self.types[("", "namespaces")]
        for ns in namespaces:
            self.store.create(ns_rt, None, {"metadata": {"name": ns}}, check_ns=False)
        self.store.compact()

    def start(self):
        self._log_file = open(self.log_path, "a", buffering=1)
        tls_dir = os.path.join(self.workdir, "pki")
        self.ca_path, crt, key = make_certs(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(crt, key)
        self._httpd = _Server(self, ctx)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.token = "admin-" + secrets.token_hex(16)
        self.tokens[self.token] = ("admin", (MASTERS, "system:authenticated"))
        self.incluster_token = "sa-" + secrets.token_hex(16)
        self.tokens[self.incluster_token] = (INCLUSTER_SA, (
            "system:serviceaccounts", "system:serviceaccounts:kube-system",
            "system:authenticated"))
        self.kubeconfig_path = os.path.join(self.workdir, "kubeconfig")
        self.incluster_dir = os.path.join(self.workdir, "serviceaccount")
        os.makedirs(self.incluster_dir, exist_ok=True)
        with open(self.ca_path) as f:
            ca_pem = f.read()
        _atomic_write(os.path.join(self.incluster_dir, "ca.crt"), ca_pem, 0o644)
        _atomic_write(os.path.join(self.incluster_dir, "namespace"), self.incluster_namespace,
                      0o644)
        self._write_incluster_token()
        self._write_kubeconfig()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="apiserver-sim")
        self._thread.start()
        self.log(f"serving on {self.url} resource.k8s.io versions {self.resource_versions}")
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._watch_stop.set()
        self.store.close_all_watches()
        self._httpd.shutdown()
        self._httpd.server_close()
        for c in list(self._conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._httpd = None
        self.log("stopped")
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self, msg):
        line = f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {msg}\n"
        with self._log_lock:
            if self._log_file:
                self._log_file.write(line)

    def _write_kubeconfig(self):
        text = (
            "apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: sim\n  cluster:\n"
            f"    server: {self.url}\n    certificate-authority: {self.ca_path}\n"
            "contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: admin\n"
            "    namespace: default\n"
            "current-context: sim\n"
            f"users:\n- name: admin\n  user:\n    token: {self.token}\n")
        _atomic_write(self.kubeconfig_path, text)

    def _write_incluster_token(self):
        _atomic_write(os.path.join(self.incluster_dir, "token"), self.incluster_token, 0o644)

    # -- tokens ---------------------------------------------------------------------------
    def add_token(self, token, user, groups=()):
        groups = tuple(groups)
        if "system:authenticated" not in groups:
            groups += ("system:authenticated",)
        self.tokens[token] = (user, groups)

    def rotate_token(self):
        """New admin token; the old one is rejected (401) from now on. Rewrites kubeconfig."""
        old = self.token
        self.token = "admin-" + secrets.token_hex(16)
        self.tokens[self.token] = ("admin", (MASTERS, "system:authenticated"))
        self.tokens.pop(old, None)
        self._write_kubeconfig()
        self.log("admin token rotated")
        return self.token

    def rotate_incluster_token(self):
        old = self.incluster_token
        self.incluster_token = "sa-" + secrets.token_hex(16)
        self.tokens[self.incluster_token] = self.tokens.pop(old)
        self._write_incluster_token()
        self.log("in-cluster token rotated")
        return self.incluster_token

    # -- faults ---------------------------------------------------------------------------
    def inject_latency(self, seconds):
        self._latency = float(seconds)

    def fail_next(self, n, code=500, retry_after=None, match=None, method=None):
        with self._faults_lock:
            self._fail.append([int(n), int(code), retry_after, match, method])

    def reset_next(self, n, match=None, method=None):
        with self._faults_lock:
            self._reset.append([int(n), match, method])

    def close_watches(self):
        self.store.close_all_watches()
        self.log("fault: closed all watch streams")

    def force_410_next_watch(self, n=1):
        with self._faults_lock:
            self._force_410 += n

    def compact(self):
        self.store.compact()
        self.log(f"compacted history at resourceVersion {self.store.current_rv()}")

    def clear_faults(self):
        with self._faults_lock:
            self._latency = 0.0
            self._fail.clear()
            self._reset.clear()
            self._force_410 = 0

    def request_log(self):
        with self._faults_lock:
            return [dict(e) for e in self._log_entries]

    def clear_request_log(self):
        with self._faults_lock:
            self._log_entries.clear()

    @staticmethod
    def _matches(match, method_filter, method, path):
        if method_filter and method_filter.upper() != method:
            return False
        if match is None:
            return True
        if callable(match):
            return bool(match(path))
        return re.search(match, path) is not None

    def _take_fault(self, lst, method, path):
        with self._faults_lock:
            for f in lst:
                if f[0] > 0 and self._matches(f[-2], f[-1], method, path):
                    f[0] -= 1
                    return f
        return None

    # -- convenience for tests ------------------------------------------------------------
    def _type_by_plural(self, plural, group=None):
        for (g, p), rt in self.types.items():
            if p == plural and (group is None or g == group):
                return rt
        raise KeyError(plural)

    def get_object(self, kind_plural, name, namespace=None, group=None):
        rt = self._type_by_plural(kind_plural, group)
        obj = self.store.peek(rt.store_key, namespace if rt.namespaced else "", name)
        return rt.render(obj, rt.versions[0]) if obj is not None else None

    def list_objects(self, kind_plural, namespace=None, group=None):
        rt = self._type_by_plural(kind_plural, group)
        items, _ = self.store.list(rt, namespace if rt.namespaced else None, {})
        return [rt.render(o, rt.versions[0]) for o in items]

    def current_resource_version(self):
        return self.store.current_rv()

    # -- request handling -----------------------------------------------------------------
    def handle(self, h, method):
        req = _Req(h, method)
        try:
            req.read_body()
            self._authenticate(req)
            if req.path.startswith("/_sim/"):
                return self._admin(req)
            route = self._route(req)
            if self._latency > 0:
                time.sleep(self._latency)
            if self._take_fault(self._reset, method, req.path):
                return self._do_reset(req)
            f = self._take_fault(self._fail, method, req.path)
            if f:
                return self._do_fail(req, f[1], f[2])
            self._authorize(req, route)
            if route[0] == "nonresource":
                return self._nonresource(req)
            return self._resource(req, route)
        except E.ApiException as e:
            self._send_json(req, e.code, e.body, e.headers)
        except _Reset:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
            self.log(f"client went away: {e!r}")
            h.close_connection = True
        except Exception as e:  # noqa: BLE001 - answer 500 like a real server would
            import traceback
            self.log("internal error: " + traceback.format_exc())
            try:
                self._send_json(req, 500, E.status_body(
                    500, "InternalError", f"Internal error occurred: {e}",
                    {"causes": [{"message": str(e)}]}))
            except OSError:
                pass

    def _authenticate(self, req):
        auth = req.h.headers.get("Authorization")
        if auth is None:
            req.user, req.groups = "system:anonymous", ("system:unauthenticated",)
        else:
            tok = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            ident = self.tokens.get(tok) if tok else None
            if ident is None:
                req.entry["user"] = None
                raise E.ApiException(401, E.status_body(401, "Unauthorized", "Unauthorized"))
            req.user, req.groups = ident
        req.entry["user"] = req.user
        req.entry["groups"] = list(req.groups)

    def _authorize(self, req, route):
        if req.user == "system:anonymous":
            if route[0] == "nonresource" and req.path in PUBLIC_PATHS and req.method == "GET":
                return
            self._forbid(req, route)
        if self.authorizer is not None and MASTERS not in req.groups:
            if not self.authorizer(dict(req.entry)):
                self._forbid(req, route)

    def _forbid(self, req, route):
        e = req.entry
        if route[0] == "nonresource":
            raise E.ApiException(403, E.status_body(
                403, "Forbidden", f'forbidden: User "{req.user}" cannot {e["verb"]} path '
                                  f'"{req.path}"', {}))
        rt = route[1]
        res = rt.plural + (f"/{e['subresource']}" if e["subresource"] else "")
        qual = E.qualified(rt)
        named = f' "{e["name"]}"' if e["name"] else ""
        scope = f'in the namespace "{e["namespace"]}"' if e["namespace"] else "at the cluster scope"
        msg = (f'{qual}{named} is forbidden: User "{req.user}" cannot {e["verb"]} resource '
               f'"{res}" in API group "{rt.group}" {scope}')
        det = {}
        if e["name"]:
            det["name"] = e["name"]
        det["group"] = rt.group
        det["kind"] = rt.plural
        raise E.ApiException(403, E.status_body(403, "Forbidden", msg, det))

    # -- responses ------------------------------------------------------------------------
    def _record(self, req, code, fault=None):
        req.entry["code"] = code
        if fault:
            req.entry["fault"] = fault
        if not req.path.startswith("/_sim/"):
            with self._faults_lock:
                self._log_entries.append(dict(req.entry))
        self.log(f"{req.method} {req.h.path} user={req.user} verb={req.entry['verb']} -> {code}"
                 + (f" ({fault})" if fault else ""))

    def _send_json(self, req, code, body, headers=None, content_type="application/json"):
        data = (json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                if body is not None else b"")
        h = req.h
        self._record(req, code)
        h.send_response(code)
        h.send_header("Audit-Id", req.audit_id)
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Content-Type", content_type)
        if code == 403:
            h.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _do_fail(self, req, code, retry_after):
        reasons = {429: ("TooManyRequests", "Too many requests, please try again later."),
                   500: ("InternalError", "Internal error occurred: injected fault"),
                   502: ("InternalError", "Bad Gateway (injected fault)"),
                   503: ("ServiceUnavailable", "The server is currently unable to handle the "
                                               "request (injected fault)"),
                   504: ("Timeout", "Timeout: request did not complete (injected fault)")}
        reason, msg = reasons.get(code, ("InternalError", f"injected fault {code}"))
        details = None
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after))
            details = {"retryAfterSeconds": int(retry_after)}
        req.entry["fault"] = "fail"
        self._send_json(req, code, E.status_body(code, reason, msg, details), headers)

    def _do_reset(self, req):
        h = req.h
        self._record(req, None, fault="reset")
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 4096\r\n\r\n{\"kind\":\"")
        except OSError:
            pass
        self._hard_close(h)
        raise _Reset()

    @staticmethod
    def _hard_close(h):
        h.close_connection = True
        sock = h.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    # -- routing --------------------------------------------------------------------------
    def _route(self, req):
        """('nonresource',) | ('resource', rt, version, ns, name, sub, watch_prefix)."""
        parts = [urllib.parse.unquote(p) for p in req.path.strip("/").split("/") if p != ""]
        e = req.entry
        if not parts:
            return ("nonresource",)
        if parts[0] == "api":
            if len(parts) < 3 or parts[1] != "v1":
                return ("nonresource",)
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis":
            if len(parts) < 4:
                return ("nonresource",)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return ("nonresource",)
        e["apiGroup"], e["apiVersion"] = group, version
        watch_prefix = False
        if rest and rest[0] == "watch":
            watch_prefix = True
            rest = rest[1:]
        ns = name = sub = None
        if len(rest) >= 2 and rest[0] == "namespaces" and group == "" and \
                (len(rest) == 2 or (len(rest) == 3 and rest[2] in ("status", "finalize"))):
            plural, name = "namespaces", rest[1]
            sub = rest[2] if len(rest) == 3 else None
        elif len(rest) >= 3 and rest[0] == "namespaces":
            ns, plural = rest[1], rest[2]
            name = rest[3] if len(rest) > 3 else None
            sub = "/".join(rest[4:]) or None
        elif rest:
            plural = rest[0]
            name = rest[1] if len(rest) > 1 else None
            sub = "/".join(rest[2:]) or None
        else:
            raise E.resource_not_found()
        e["resource"], e["namespace"], e["name"], e["subresource"] = plural, ns, name, sub
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}[req.method]
        if req.method == "GET" and (watch_prefix or
                                    req.params.get("watch") in ("1", "true", "True")):
            verb = "watch"
        elif req.method == "GET" and name is None:
            verb = "list"
        elif req.method == "DELETE" and name is None:
            verb = "deletecollection"
        e["verb"] = verb
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            raise E.resource_not_found()
        if sub and sub not in rt.subresources:
            raise E.resource_not_found()
        if rt.namespaced and ns is None and name is not None:
            raise E.resource_not_found()
        if not rt.namespaced and ns is not None:
            raise E.resource_not_found()
        return ("resource", rt, version, ns, name, sub, watch_prefix)

    # -- non-resource endpoints ---------------------------------------------------------------
    def _nonresource(self, req):
        if req.method != "GET":
            raise E.method_not_allowed(req.method)
        p = req.path.rstrip("/") or "/"
        types = list(self.types.values())
        accept = req.h.headers.get("Accept", "")
        agg = "as=APIGroupDiscoveryList" in accept
        if p == "/version":
            return self._send_json(req, 200, disc.VERSION_INFO)
        if p in ("/healthz", "/livez", "/readyz"):
            return self._send_raw(req, 200, b"ok", "text/plain; charset=utf-8")
        if p == "/api":
            if agg:
                return self._send_json(req, 200, disc.aggregated(types, True), {
                    "Vary": "Accept"}, "application/json;g=apidiscovery.k8s.io;v=v2;"
                                       "as=APIGroupDiscoveryList")
            return self._send_json(req, 200, disc.api_versions(f"127.0.0.1:{self.port}"))
        if p == "/api/v1":
            return self._send_json(req, 200, disc.api_resource_list(types, "", "v1"))
        if p == "/apis":
            if agg:
                return self._send_json(req, 200, disc.aggregated(types, False), {
                    "Vary": "Accept"}, "application/json;g=apidiscovery.k8s.io;v=v2;"
                                       "as=APIGroupDiscoveryList")
            return self._send_json(req, 200, disc.api_group_list(types))
        parts = p.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            d = disc.api_group(types, parts[1])
            if d:
                return self._send_json(req, 200, d)
        if parts[0] == "apis" and len(parts) == 3:
            d = disc.api_resource_list(types, parts[1], parts[2])
            if d:
                return self._send_json(req, 200, d)
        raise E.resource_not_found()

    def _send_raw(self, req, code, data, ctype):
        h = req.h
        self._record(req, code)
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    # -- resources --------------------------------------------------------------------------
    def _decode_body(self, req, rt, version):
        raw = req.read_body()
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError as err:
            raise E.bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                f"version/kind; json parse error: {_go_json_error(text, err)} ({text[:50]})"
            ) from None
        if not isinstance(body, dict):
            raise E.bad_request(f"the object provided is unrecognized (must be of type "
                                f"{rt.kind}): couldn't get version/kind; json parse error: json: "
                                f"cannot unmarshal {type(body).__name__} into Go value of type "
                                f"struct {{ APIVersion string \"json:\\\"apiVersion,omitempty"
                                f"\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}")
        want = rt.api_version(version)
        if body.get("apiVersion") and body["apiVersion"] != want:
            raise E.bad_request(f"the API version in the data ({body['apiVersion']}) does not "
                                f"match the expected API version ({want})")
        if body.get("kind") and body["kind"] != rt.kind:
            raise E.bad_request(f"the kind in the data ({body['kind']}) does not match the "
                                f"expected kind ({rt.kind})")
        return self._from_version(rt, version, body)

    @staticmethod
    def _from_version(rt, version, body):
        return rt.from_version(version, body) if rt.from_version else body

    @staticmethod
    def _manager(req):
        fm = req.params.get("fieldManager")
        if fm:
            return fm
        ua = req.h.headers.get("User-Agent", "")
        return ua.split("/")[0][:128] if ua else None

    def _accept_meta(self, req):
        return "as=PartialObjectMetadata" in req.h.headers.get("Accept", "")

    def _render_one(self, req, rt, version, obj):
        if self._accept_meta(req):
            return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"]}
        return rt.render(obj, version)

    def _render_list(self, req, rt, version, items, md):
        if self._accept_meta(req):
            return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": md,
                    "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": o["metadata"]} for o in items]}
        return {"kind": rt.list_kind, "apiVersion": rt.api_version(version), "metadata": md,
                "items": [rt.render(o, version, with_kind=False) for o in items]}

    def _resource(self, req, route):
        _, rt, version, ns, name, sub, _wp = route
        verb = req.entry["verb"]
        st = self.store
        mgr = self._manager(req)
        gv = rt.api_version(version)
        if verb == "watch":
            return self._watch(req, rt, version, ns)
        if verb == "list":
            items, md = st.list(rt, ns, req.params)
            return self._send_json(req, 200, self._render_list(req, rt, version, items, md))
        if verb == "get":
            return self._send_json(req, 200, self._render_one(req, rt, version,
                                                              st.get(rt, ns, name)))
        if verb == "create":
            if sub == "binding":
                return self._bind(req, rt, ns, name)
            if name is not None:
                raise E.method_not_allowed("POST")
            body = self._decode_body(req, rt, version)
            obj = st.create(rt, ns, body, manager=mgr, api_version=gv)
            self._after_write(rt, obj, "create")
            return self._send_json(req, 201, rt.render(obj, version))
        if verb == "update":
            body = self._decode_body(req, rt, version)
            obj = st.update(rt, ns, name, body, subresource=sub, manager=mgr, api_version=gv)
            self._after_write(rt, obj, "update")
            return self._send_json(req, 200, rt.render(obj, version))
        if verb == "patch":
            return self._patch(req, rt, version, ns, name, sub, mgr, gv)
        if verb == "delete":
            opts = self._delete_options(req)
            obj, gone = st.delete(rt, ns, name, opts)
            if gone:
                self._after_write(rt, obj, "delete")
            if rt.delete_returns_status and gone:
                det = {"name": name}
                if rt.group:
                    det["group"] = rt.group
                det["kind"] = rt.plural
                det["uid"] = obj["metadata"]["uid"]
                return self._send_json(req, 200, {"kind": "Status", "apiVersion": "v1",
                                                  "metadata": {}, "status": "Success",
                                                  "details": det})
            return self._send_json(req, 200, rt.render(obj, version))
        if verb == "deletecollection":
            items, md = st.delete_collection(rt, ns, req.params, self._delete_options(req))
            for o in items:
                self._after_write(rt, o, "delete")
            return self._send_json(req, 200, self._render_list(req, rt, version, items, md))
        raise E.method_not_allowed(req.method)

    def _delete_options(self, req):
        opts = {}
        raw = req.read_body()
        if raw.strip():
            try:
                opts = json.loads(raw)
            except ValueError:
                raise E.bad_request("invalid DeleteOptions body") from None
        for k in ("gracePeriodSeconds",):
            if k in req.params:
                opts[k] = int(req.params[k])
        if "propagationPolicy" in req.params:
            opts["propagationPolicy"] = req.params["propagationPolicy"]
        return opts

    def _patch(self, req, rt, version, ns, name, sub, mgr, gv):
        ctype = req.h.headers.get("Content-Type", "").split(";")[0].strip()
        ptype = PATCH_TYPES.get(ctype)
        if ptype is None:
            raise E.unsupported_media_type(ctype)
        raw = req.read_body().decode("utf-8", "replace")
        try:
            if ptype == "apply":
                try:
                    import yaml
                    patch = yaml.safe_load(raw)
                except ImportError:
                    patch = json.loads(raw)
            else:
                patch = json.loads(raw)
        except Exception as err:  # noqa: BLE001
            raise E.bad_request(f"error decoding patch: {err}") from None
        if ptype == "apply":
            if not req.params.get("fieldManager"):
                raise E.ApiException(422, E.status_body(
                    422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                    'Required value: is required for apply patch',
                    {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                        {"reason": "FieldValueRequired",
                         "message": "Required value: is required for apply patch",
                         "field": "fieldManager"}]}))
            if isinstance(patch, dict):
                want = rt.api_version(version)
                if patch.get("apiVersion") and patch["apiVersion"] != want:
                    raise E.bad_request(f"the API version in the data ({patch['apiVersion']}) "
                                        f"does not match the expected API version ({want})")
                patch = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
        obj, created = self.store.patch(
            rt, ns, name, ptype, patch, subresource=sub, manager=mgr, api_version=gv,
            to_version=(lambda o: rt.to_version(version, o)) if rt.to_version else None,
            from_version=(lambda o: rt.from_version(version, o)) if rt.from_version else None)
        self._after_write(rt, obj, "create" if created else "update")
        return self._send_json(req, 201 if created else 200, rt.render(obj, version))

    def _bind(self, req, rt, ns, name):
        body = json.loads(req.read_body() or b"{}")
        target = (body.get("target") or {}).get("name")
        if not target:
            raise E.invalid_exception("Binding", "", name, [E.required("target.name")])
        with self.store.lock:
            pod = self.store.get(rt, ns, name)
            cur = (pod.get("spec") or {}).get("nodeName")
            if cur:
                raise E.conflict(rt, name, f'pod {name} is already assigned to node "{cur}"')
            pod["spec"]["nodeName"] = target
            conds = [c for c in (pod.get("status") or {}).get("conditions") or []
                     if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": now_rfc3339()})
            pod.setdefault("status", {})["conditions"] = conds
            key = (ns, name)
            old = self.store.objects[rt.store_key][key]
            self.store._update_locked(rt, key, old, pod, None, None, self._manager(req), "v1",
                                      "Update")
        return self._send_json(req, 201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                          "status": "Success", "code": 201})

    def _after_write(self, rt, obj, action):
        if rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions":
            self._sync_crd(obj, action)

    def _sync_crd(self, crd, action):
        spec = crd.get("spec") or {}
        key = (spec.get("group"), (spec.get("names") or {}).get("plural"))
        if action == "delete":
            rt = self.types.pop(key, None)
            if rt is not None:
                self.store.delete_store_key(rt.store_key)
            return
        rt = crd_types(crd)
        self._register(rt)
        self.store.types[rt.store_key] = rt
        if action == "create":
            names = spec.get("names") or {}
            status = {"conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now_rfc3339(),
                 "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now_rfc3339(),
                 "reason": "InitialNamesAccepted", "message": "the initial names have been "
                                                             "accepted"}],
                "acceptedNames": {k: names[k] for k in ("plural", "singular", "shortNames",
                                                        "kind", "listKind", "categories")
                                  if k in names},
                "storedVersions": [v["name"] for v in spec.get("versions") or []
                                   if v.get("storage")]}
            crd_rt = self.types[("apiextensions.k8s.io", "customresourcedefinitions")]
            try:
                self.store.update(crd_rt, "", crd["metadata"]["name"], {"status": status},
                                  subresource="status", check_rv=False)
            except E.ApiException as e:
                self.log(f"CRD status update failed: {e.body}")

    # -- watch ------------------------------------------------------------------------------
    def _watch(self, req, rt, version, ns):
        p = req.params
        label = LabelSelector.parse(p.get("labelSelector", ""))
        field = FieldSelector.parse(p.get("fieldSelector", ""), rt)
        sie = p.get("sendInitialEvents")
        rvm = p.get("resourceVersionMatch", "")
        if sie is not None and rvm != "NotOlderThan":
            raise E.ApiException(422, E.status_body(
                422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                'Forbidden: sendInitialEvents requires setting '
                                'resourceVersionMatch to NotOlderThan',
                {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
                    {"reason": "FieldValueForbidden",
                     "message": "Forbidden: sendInitialEvents requires setting "
                                "resourceVersionMatch to NotOlderThan",
                     "field": "resourceVersionMatch"}]}))
        try:
            timeout = float(p.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError:
            raise E.bad_request("invalid timeoutSeconds") from None
        bookmarks = p.get("allowWatchBookmarks") in ("true", "1", "True")
        rv_s = p.get("resourceVersion", "")
        try:
            rv_n = int(rv_s) if rv_s not in ("", "0") else None
        except ValueError:
            raise E.bad_request(f'invalid resource version: "{rv_s}"') from None
        if sie == "true":
            initial, from_rv = True, None
        elif sie == "false":
            initial, from_rv = False, rv_n
        elif rv_n is None:
            initial, from_rv = True, None
        else:
            initial, from_rv = False, rv_n
        forced = False
        with self._faults_lock:
            if self._force_410 > 0:
                self._force_410 -= 1
                forced = True
        h = req.h
        try:
            if forced:
                raise Expired(rv_n if rv_n is not None else 0, self.store.current_rv())
            init, backlog, w, cur = self.store.open_watch(rt, from_rv, initial)
        except Expired as ex:
            self._watch_headers(req)
            self._chunk(h, {"type": "ERROR", "object": E.status_body(
                410, "Expired", str(ex))})
            self._end_chunks(h)
            return
        start = time.monotonic()
        deadline = start + timeout
        try:
            self._watch_headers(req)

            def ok(o):
                if rt.namespaced and ns and o["metadata"].get("namespace") != ns:
                    return False
                return label.matches(o["metadata"].get("labels")) and field.matches(o, rt)

            def send(etype, o):
                self._chunk(h, {"type": etype, "object": rt.render(o, version)})

            def deliver(ev):
                erv, _sk, etype, obj, old = ev
                if etype == "ADDED":
                    if ok(obj):
                        send("ADDED", obj)
                elif etype == "DELETED":
                    if ok(obj):
                        send("DELETED", obj)
                else:
                    mn, mo = ok(obj), ok(old)
                    if mn and mo:
                        send("MODIFIED", obj)
                    elif mn:
                        send("ADDED", obj)
                    elif mo:
                        gone = dict(old)
                        gone["metadata"] = dict(old["metadata"], resourceVersion=str(erv))
                        send("DELETED", gone)

            if init is not None:
                for o in init:
                    if ok(o):
                        send("ADDED", o)
                if bookmarks:
                    self._chunk(h, {"type": "BOOKMARK", "object": rt.bookmark(
                        version, cur, {"k8s.io/initial-events-end": "true"})})
            for ev in backlog:
                deliver(ev)
            marks = []
            if bookmarks:
                t = start + self.bookmark_interval
                while t < deadline:
                    marks.append(t)
                    t += self.bookmark_interval
                if timeout >= self.bookmark_min_timeout:
                    marks += [deadline - d for d in self.bookmark_before_deadline]
                marks.sort()
            while True:
                now = time.monotonic()
                while marks and marks[0] <= now:
                    marks.pop(0)
                    self._chunk(h, {"type": "BOOKMARK", "object": rt.bookmark(
                        version, self.store.current_rv())})
                if now >= deadline or self._watch_stop.is_set():
                    break
                if self._client_gone(h):
                    h.close_connection = True
                    return
                wait = min([deadline] + marks[:1]) - now
                try:
                    ev = w.q.get(timeout=max(0.0, min(wait, 0.5)))
                except Exception:  # queue.Empty
                    continue
                if ev is None:
                    break
                deliver(ev)
            self._end_chunks(h)
        finally:
            self.store.close_watch(w)

    @staticmethod
    def _client_gone(h):
        """A watching client sends nothing; readable means it closed the connection."""
        try:
            r, _, _ = select.select([h.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def _watch_headers(self, req):
        h = req.h
        self._record(req, 200)
        h.send_response(200)
        h.send_header("Audit-Id", req.audit_id)
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()

    @staticmethod
    def _chunk(h, event):
        data = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.flush()

    @staticmethod
    def _end_chunks(h):
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    # -- admin endpoint -------------------------------------------------------------------------
    def _admin(self, req):
        if MASTERS not in req.groups:
            raise E.ApiException(403, E.status_body(
                403, "Forbidden", f'forbidden: User "{req.user}" cannot {req.method.lower()} '
                                  f'path "{req.path}"', {}))
        raw = req.read_body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise E.bad_request("admin body must be JSON") from None
        op = req.path[len("/_sim/"):].strip("/")
        m = req.method
        result = {"ok": True}
        if op == "latency" and m == "POST":
            self.inject_latency(body.get("seconds", 0))
        elif op == "fail" and m == "POST":
            self.fail_next(body.get("n", 1), body.get("code", 500), body.get("retry_after"),
                           body.get("match"), body.get("method"))
        elif op == "reset" and m == "POST":
            self.reset_next(body.get("n", 1), body.get("match"), body.get("method"))
        elif op == "close-watches" and m == "POST":
            self.close_watches()
        elif op == "force-410" and m == "POST":
            self.force_410_next_watch(body.get("n", 1))
        elif op == "compact" and m == "POST":
            self.compact()
        elif op == "clear-faults" and m == "POST":
            self.clear_faults()
        elif op == "requests" and m == "GET":
            result = {"items": self.request_log()}
        elif op == "requests" and m == "DELETE":
            self.clear_request_log()
        elif op == "rotate-token" and m == "POST":
            result = {"token": self.rotate_token()}
        elif op == "rotate-incluster-token" and m == "POST":
            result = {"token": self.rotate_incluster_token()}
        elif op == "tokens" and m == "POST":
            self.add_token(body["token"], body["user"], body.get("groups", ()))
        elif op == "state" and m == "GET":
            result = {"resourceVersion": self.store.current_rv(),
                      "compactedResourceVersion": self.store.compacted_rv,
                      "openWatches": len(self.store.watchers)}
        else:
            raise E.resource_not_found()
        return self._send_json(req, 200, result)


def main(argv=None):
    ap = argparse.ArgumentParser(description="simulated Kubernetes API server")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--versions", default="v1",
                    help="resource.k8s.io versions to serve, comma separated")
    ap.add_argument("--log", default=None)
    ap.add_argument("--compaction-window", type=int, default=1000)
    args = ap.parse_args(argv)
    srv = ApiServer(args.workdir, resource_versions=tuple(args.versions.split(",")),
                    compaction_window=args.compaction_window, log_path=args.log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    srv.start()
    print(f"READY {srv.url} {srv.kubeconfig_path}", flush=True)
    while not stop.is_set():
        stop.wait(0.5)
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
