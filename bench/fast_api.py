#!/usr/bin/python3
"""Load source for the benchmarks: a plain-HTTP front for the simulated API server that answers
ResourceClaim GETs itself, from prepared JSON, and forwards every other request (discovery,
ResourceSlice list/watch/create/update/delete, Node GETs) to the simulator unchanged.

The simulator stays the source of truth for behaviour; this process only takes its ~2.6 ms
per claim GET out of the throughput figures. It also counts what it sees, for timings that
must not include the harness: how long the simulator took to answer (upstream seconds) and
when the last ResourceSlice write succeeded.

  fast_api.py --upstream URL --ca FILE --claims FILE   -> prints "READY <port>"

Endpoints of its own: GET /bench/stats (JSON counters), POST /bench/reset (zero them),
POST /bench/claims (body: {"ns/name": claim, ...}; merged into what is served).
"""
import argparse
import http.client
import http.server
import json
import re
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

CLAIM_PATH = re.compile(r"^/apis/resource\.k8s\.io/[^/]+/namespaces/([^/]+)/resourceclaims/([^/]+)$")
SLICE_PATH = re.compile(r"^/apis/resource\.k8s\.io/[^/]+/resourceslices(/[^/]+)?$")
HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class State:
    def __init__(self, upstream, ca):
        u = urllib.parse.urlsplit(upstream)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.check_hostname = False
        self.claims = {}
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.stats = {"claim_gets": 0, "forwarded": 0, "upstream_seconds": 0.0,
                          "slice_writes": 0, "slice_write_errors": 0,
                          "last_slice_write": 0.0, "first_slice_write": 0.0,
                          "slice_upstream_seconds": 0.0}

    def note(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k in ("last_slice_write",):
                    self.stats[k] = v
                elif k == "first_slice_write":
                    if not self.stats[k]:
                        self.stats[k] = v
                else:
                    self.stats[k] += v


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in main

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def _reply(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _own(self, method, path):
        st = self.state
        if path == "/bench/stats" and method == "GET":
            with st.lock:
                body = json.dumps(st.stats).encode()
            self._reply(200, body)
        elif path == "/bench/reset" and method == "POST":
            self._body()
            st.reset()
            self._reply(200, b"{}")
        elif path == "/bench/claims" and method == "POST":
            add = json.loads(self._body())
            with st.lock:
                for k, v in add.items():
                    st.claims[k] = json.dumps(v).encode()
            self._reply(200, b"{}")
        else:
            return False
        return True

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        method = self.command
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/bench/") and self._own(method, path):
            return
        m = CLAIM_PATH.match(path)
        if method == "GET" and m:
            body = self.state.claims.get(m.group(1) + "/" + m.group(2))
            if body is not None:
                self.state.note(claim_gets=1)
                self._reply(200, body)
                return
        self._forward(method, path)

    def _upstream(self):
        conn = getattr(self, "_up", None)
        if conn is None:
            st = self.state
            conn = self._up = http.client.HTTPSConnection(st.host, st.port, context=st.ctx,
                                                          timeout=600)
        return conn

    def _forward(self, method, path):
        body = self._body()
        query = urllib.parse.urlsplit(self.path).query
        watch = re.search(r"(^|&)watch=(1|true)", query) is not None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        is_slice_write = method in ("POST", "PUT", "DELETE", "PATCH") and SLICE_PATH.match(path)
        t0 = time.monotonic()
        if watch:  # its own connection: it stays open
            st = self.state
            conn = http.client.HTTPSConnection(st.host, st.port, context=st.ctx, timeout=3600)
        else:
            conn = self._upstream()
        try:
            conn.request(method, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException):
            self._up = None
            self._reply(502, b'{"kind":"Status","status":"Failure","code":502}')
            return
        if watch:
            self._stream(resp, conn)
            return
        data = resp.read()
        dt = time.monotonic() - t0
        self.state.note(forwarded=1, upstream_seconds=dt)
        if is_slice_write:
            now = time.monotonic()
            if 200 <= resp.status < 300:
                self.state.note(slice_writes=1, last_slice_write=now, first_slice_write=t0,
                                slice_upstream_seconds=dt)
            else:
                self.state.note(slice_write_errors=1)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, resp, conn):
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--claims", help="JSON file {\"ns/name\": claim} to serve")
    args = ap.parse_args()
    Handler.state = State(args.upstream, args.ca)
    if args.claims:
        with open(args.claims) as f:
            Handler.state.claims = {k: json.dumps(v).encode() for k, v in json.load(f).items()}
    srv = Server(("127.0.0.1", 0), Handler)
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
