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
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sim_crd  # noqa: E402
import sim_discovery as disc  # noqa: E402
import sim_openapi  # noqa: E402
import sim_errors as E  # noqa: E402
from sim_admin import handle_admin  # noqa: E402
from sim_gc import GarbageCollector  # noqa: E402
from sim_http import Req, Server, go_json_error  # noqa: E402
from sim_pki import atomic_write, make_certs  # noqa: E402
from sim_rbac import RbacAuthorizer  # noqa: E402
from sim_store import Store, now_rfc3339  # noqa: E402
from sim_table import table  # noqa: E402
from sim_types import builtin_types, crd_types  # noqa: E402
from sim_types_extra import extra_types  # noqa: E402
from sim_watch import serve_watch  # noqa: E402

PUBLIC_PATHS = ("/version", "/version/", "/healthz", "/livez", "/readyz")
MASTERS = "system:masters"
PATCH_TYPES = {"application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic",
               "application/json-patch+json": "json",
               "application/apply-patch+yaml": "apply"}
INCLUSTER_SA = "system:serviceaccount:kube-system:hostdev-driver"
CHUNK_THRESHOLD = 2048   # bytes; larger JSON bodies are sent chunked


class _Reset(Exception):
    """The connection was reset on purpose (fault injection)."""



class ApiServer:
    """The simulator. Attributes after start(): url, token, ca_path, kubeconfig_path,
    incluster_dir, port, store."""

    def __init__(self, workdir, resource_versions=("v1",), compaction_window=1000, log_path=None,
                 bookmark_interval=60.0, bookmark_min_timeout=10.0, namespaces=None,
                 incluster_namespace="kube-system", rbac=False):
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
        self.gc = GarbageCollector(self.store, self._kind_served, log=self.log)
        self.types = {}
        for rt in builtin_types(self.resource_versions) + extra_types():
            self._register(rt)
        self.bookmark_interval = bookmark_interval
        self.bookmark_min_timeout = bookmark_min_timeout
        self.bookmark_before_deadline = (2.5, 1.2)
        self.incluster_namespace = incluster_namespace
        self.tokens = {}
        self.token = None
        self.incluster_token = None
        # optional callable(request log entry) -> bool, consulted for non-admin users
        self.authorizer = RbacAuthorizer(self.store) if rbac else None
        self.pod_log_provider = None  # optional callable(namespace, pod, container) -> str|None
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
        ctx.set_alpn_protocols(["http/1.1"])
        self._watch_stop.clear()
        self._httpd = Server(self, ctx, self.port or 0)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        if self.token is None:
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
        atomic_write(os.path.join(self.incluster_dir, "ca.crt"), ca_pem, 0o644)
        atomic_write(os.path.join(self.incluster_dir, "namespace"), self.incluster_namespace,
                      0o644)
        self._write_incluster_token()
        self._write_kubeconfig()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="apiserver-sim")
        self._thread.start()
        self.gc.start()
        self.log(f"serving on {self.url} resource.k8s.io versions {self.resource_versions}")
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._watch_stop.set()
        self.gc.stop()
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

    def restart(self, downtime=0.0):
        """Stops serving (open connections and watches are cut), waits `downtime` seconds and
        serves again on the same port with the same objects, tokens and CA."""
        self.stop()
        if downtime:
            time.sleep(downtime)
        self.start()

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
        atomic_write(self.kubeconfig_path, text)

    def _write_incluster_token(self):
        atomic_write(os.path.join(self.incluster_dir, "token"), self.incluster_token, 0o644)

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

    def close_watches(self, reset=False):
        """Ends every open watch stream now: cleanly (final chunk) or, with reset=True, with a
        TCP reset in the middle of the chunked stream."""
        self.store.close_all_watches(reset)
        self.log(f"fault: {'reset' if reset else 'closed'} all watch streams")

    def force_410_next_watch(self, n=1):
        with self._faults_lock:
            self._force_410 += n

    def take_forced_410(self):
        """True (once per pending fault) when the next watch must get a 410 ERROR event."""
        with self._faults_lock:
            if self._force_410 > 0:
                self._force_410 -= 1
                return True
        return False

    def stopping(self):
        return self._watch_stop.is_set()

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
    def _kind_served(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        return any(rt.group == group and rt.kind == kind and version in rt.versions
                   for rt in list(self.types.values()))

    def wait_gc_idle(self, timeout=5.0):
        """True once the garbage collector has handled every pending owner deletion."""
        return self.gc.wait_idle(timeout)

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

    def incluster_env(self):
        """Environment a binary needs for in-cluster config against this server (the token and
        CA are in incluster_dir; point the binary's service-account dir there)."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self.port)}

    def current_resource_version(self):
        return self.store.current_rv()

    # -- request handling -----------------------------------------------------------------
    def handle(self, h, method):
        req = Req(h, method)
        try:
            req.read_body()
            sim_crd.begin_request(req.params.get("fieldValidation")
                                  if method in ("POST", "PUT", "PATCH") else "Ignore", method)
            self._authenticate(req)
            if req.path.startswith("/_sim/"):
                return handle_admin(self, req)
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
            self.send_json(req, e.code, e.body, e.headers)
        except _Reset:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
            self.log(f"client went away: {e!r}")
            h.close_connection = True
        except Exception as e:  # noqa: BLE001 - answer 500 like a real server would
            import traceback
            self.log("internal error: " + traceback.format_exc())
            try:
                self.send_json(req, 500, E.status_body(
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
    def record(self, req, code, fault=None):
        req.entry["code"] = code
        if fault:
            req.entry["fault"] = fault
        if not req.path.startswith("/_sim/"):
            with self._faults_lock:
                self._log_entries.append(dict(req.entry))
        self.log(f"{req.method} {req.h.path} user={req.user} verb={req.entry['verb']} -> {code}"
                 + (f" ({fault})" if fault else ""))

    def send_json(self, req, code, body, headers=None, content_type="application/json"):
        data = (json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                if body is not None else b"")
        h = req.h
        self.record(req, code)
        if code >= 400 and isinstance(body, dict) and body.get("message"):
            self.log(f"    {body.get('reason')}: {body['message'][:2000]}")
        h.send_response(code)
        h.send_header("Audit-Id", req.audit_id)
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Content-Type", content_type)
        if code == 403:
            h.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        for w in sim_crd.take_warnings() if code < 400 else ():
            h.send_header("Warning", "299 - " + json.dumps(w))
        if len(data) <= CHUNK_THRESHOLD:
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        # Like Go's net/http: a body that outgrows the first buffer goes out chunked.
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        out = bytearray()
        for i in range(0, len(data), 4096):
            part = data[i:i + 4096]
            out += b"%x\r\n%s\r\n" % (len(part), part)
        out += b"0\r\n\r\n"
        h.wfile.write(bytes(out))

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
        self.send_json(req, code, E.status_body(code, reason, msg, details), headers)

    def _do_reset(self, req):
        h = req.h
        self.record(req, None, fault="reset")
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 4096\r\n\r\n{\"kind\":\"")
        except OSError:
            pass
        self.hard_close(h)
        raise _Reset()

    @staticmethod
    def hard_close(h):
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
            return self.send_json(req, 200, disc.VERSION_INFO)
        if p in ("/healthz", "/livez", "/readyz"):
            return self._send_raw(req, 200, b"ok", "text/plain; charset=utf-8")
        if p == "/api":
            if agg:
                return self.send_json(req, 200, disc.aggregated(types, True), {
                    "Vary": "Accept"}, "application/json;g=apidiscovery.k8s.io;v=v2;"
                                       "as=APIGroupDiscoveryList")
            return self.send_json(req, 200, disc.api_versions(f"127.0.0.1:{self.port}"))
        if p == "/api/v1":
            return self.send_json(req, 200, disc.api_resource_list(types, "", "v1"))
        if p == "/apis":
            if agg:
                return self.send_json(req, 200, disc.aggregated(types, False), {
                    "Vary": "Accept"}, "application/json;g=apidiscovery.k8s.io;v=v2;"
                                       "as=APIGroupDiscoveryList")
            return self.send_json(req, 200, disc.api_group_list(types))
        if p.startswith("/openapi/") and sim_openapi.handle(self, req, p):
            return None
        parts = p.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            d = disc.api_group(types, parts[1])
            if d:
                return self.send_json(req, 200, d)
        if parts[0] == "apis" and len(parts) == 3:
            d = disc.api_resource_list(types, parts[1], parts[2])
            if d:
                return self.send_json(req, 200, d)
        raise E.resource_not_found()

    def _send_raw(self, req, code, data, ctype):
        h = req.h
        self.record(req, code)
        h.send_response(code)
        h.send_header("Audit-Id", req.audit_id)
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    # -- resources --------------------------------------------------------------------------
    def _decode_body(self, req, rt, version):
        raw = req.read_body()
        text = raw.decode("utf-8", "replace")
        ctype = req.h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in ("", "application/json", "application/yaml", "*/*"):
            raise E.ApiException(415, E.status_body(
                415, "UnsupportedMediaType", 'the body of the request was in an unknown format '
                '- accepted media types include: application/json, application/yaml, '
                'application/vnd.kubernetes.protobuf, application/cbor'))
        try:
            if ctype == "application/yaml":
                import yaml
                body = yaml.safe_load(text)
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            else:
                body = json.loads(text)
        except ImportError:
            raise E.bad_request("YAML bodies need python3-yaml") from None
        except Exception as err:  # noqa: BLE001 - JSON or YAML decode error
            if not isinstance(err, json.JSONDecodeError):
                raise E.bad_request(f"the object provided is unrecognized (must be of type "
                                    f"{rt.kind}): {err}") from None
            raise E.bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                f"version/kind; json parse error: {go_json_error(text, err)} ({text[:50]})"
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

    def _accept_table(self, req):
        return "as=Table" in req.h.headers.get("Accept", "")

    def _render_one(self, req, rt, version, obj):
        if self._accept_table(req) and rt.crd is not None:
            return sim_crd.table(rt.crd, version, [obj],
                                 {"resourceVersion": obj["metadata"]["resourceVersion"]})
        if self._accept_table(req):
            return table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
        if self._accept_meta(req):
            return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"]}
        return rt.render(obj, version)

    def _render_list(self, req, rt, version, items, md):
        if self._accept_table(req) and rt.crd is not None:
            return sim_crd.table(rt.crd, version, items, md)
        if self._accept_table(req):
            return table(rt, items, md)
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
        dry = self._dry_run(req) if verb in ("create", "update", "patch", "delete",
                                             "deletecollection") else False
        if verb == "watch":
            return serve_watch(self, req, rt, version, ns)
        if verb == "list":
            items, md = st.list(rt, ns, req.params)
            return self.send_json(req, 200, self._render_list(req, rt, version, items, md))
        if verb == "get" and sub == "log":
            return self._pod_log(req, rt, ns, name)
        if verb == "get":
            return self.send_json(req, 200, self._render_one(req, rt, version,
                                                              st.get(rt, ns, name)))
        if rt.namespaced and ns is None and verb in ("create", "deletecollection"):
            raise E.method_not_allowed(req.method)
        if verb == "create":
            if sub == "binding":
                return self._bind(req, rt, ns, name)
            if name is not None:
                raise E.method_not_allowed("POST")
            body = self._decode_body(req, rt, version)
            obj = st.create(rt, ns, body, manager=mgr, api_version=gv, dry_run=dry)
            if not dry:
                self._after_write(rt, obj, "create")
            return self.send_json(req, 201, rt.render(obj, version))
        if verb == "update":
            body = self._decode_body(req, rt, version)
            obj = st.update(rt, ns, name, body, subresource=sub, manager=mgr, api_version=gv,
                            dry_run=dry)
            if not dry:
                self._after_write(rt, obj, "update")
            return self.send_json(req, 200, rt.render(obj, version))
        if verb == "patch":
            return self._patch(req, rt, version, ns, name, sub, mgr, gv, dry)
        if verb == "delete":
            opts = self._delete_options(req)
            obj, gone = st.delete(rt, ns, name, opts, dry_run=dry)
            if gone:
                self._after_write(rt, obj, "delete")
            if rt.delete_returns_status and gone:
                det = {"name": name}
                if rt.group:
                    det["group"] = rt.group
                det["kind"] = rt.plural
                det["uid"] = obj["metadata"]["uid"]
                return self.send_json(req, 200, {"kind": "Status", "apiVersion": "v1",
                                                  "metadata": {}, "status": "Success",
                                                  "details": det})
            return self.send_json(req, 200, rt.render(obj, version))
        if verb == "deletecollection":
            items, md = st.delete_collection(rt, ns, req.params, self._delete_options(req),
                                             dry_run=dry)
            for o in items if not dry else ():
                self._after_write(rt, o, "delete")
            return self.send_json(req, 200, self._render_list(req, rt, version, items, md))
        raise E.method_not_allowed(req.method)

    def _pod_log(self, req, rt, ns, name):
        pod = self.store.get(rt, ns, name)
        ctrs = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        ctr = req.params.get("container") or (ctrs[0] if len(ctrs) == 1 else None)
        if ctr is None:
            raise E.bad_request(f"a container name must be specified for pod {name}, choose one "
                                f"of: [{' '.join(ctrs)}]")
        if ctr not in ctrs:
            raise E.bad_request(f"container {ctr} is not valid for pod {name}")
        text = self.pod_log_provider(ns, name, ctr) if self.pod_log_provider else None
        if text is None:
            raise E.bad_request(f'container "{ctr}" in pod "{name}" is waiting to start: '
                                f'ContainerCreating')
        return self._send_raw(req, 200, text.encode() if isinstance(text, str) else text,
                              "text/plain")

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

    @staticmethod
    def _dry_run(req):
        v = req.params.get("dryRun")
        if v is None or v == "":
            return False
        if v != "All":
            raise E.bad_request(f'invalid dry run option: "{v}"; only "All" is supported')
        return True

    def _patch(self, req, rt, version, ns, name, sub, mgr, gv, dry=False):
        ctype = req.h.headers.get("Content-Type", "").split(";")[0].strip()
        ptype = PATCH_TYPES.get(ctype)
        if ptype is None or (ptype == "strategic" and rt.crd_uid is not None):
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
            from_version=(lambda o: rt.from_version(version, o)) if rt.from_version else None,
            dry_run=dry)
        if not dry:
            self._after_write(rt, obj, "create" if created else "update")
        return self.send_json(req, 201 if created else 200, rt.render(obj, version))

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
        return self.send_json(req, 201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
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


def main(argv=None):
    ap = argparse.ArgumentParser(description="simulated Kubernetes API server")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--versions", default="v1",
                    help="resource.k8s.io versions to serve, comma separated")
    ap.add_argument("--log", default=None)
    ap.add_argument("--compaction-window", type=int, default=1000)
    ap.add_argument("--rbac", action="store_true",
                    help="enforce stored RBAC objects for non-admin users")
    args = ap.parse_args(argv)
    srv = ApiServer(args.workdir, resource_versions=tuple(args.versions.split(",")),
                    compaction_window=args.compaction_window, log_path=args.log,
                    rbac=args.rbac)
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
