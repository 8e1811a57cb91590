"""HTTP plumbing of the simulated API server: threaded TLS server (handshake in the worker
thread), request handler that forwards every method to ApiServer.handle, per-request state."""

import http.server
import socket
import socketserver
import ssl
import sys
import time
import urllib.parse
import uuid

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sim, ctx, port=0):
        self.sim = sim
        self.ctx = ctx
        super().__init__(("127.0.0.1", port), Handler)

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


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostdev-apiserver-sim"
    sys_version = ""

    def log_message(self, fmt, *args):  # routed to the simulator log instead of stderr
        self.server.sim.log("http: " + (fmt % args))

    def log_request(self, code="-", size="-"):  # ApiServer.record logs every answer already
        pass

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


class Req:
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


def go_json_error(text, err):
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
