"""Small Kubernetes REST client shared by the simulators and the Python tests.

Verified TLS only (a CA file is required for https URLs), bearer-token auth, JSON bodies,
chunked newline-delimited JSON watches. Standard library plus python3-yaml for kubeconfigs.
"""

import http.client
import json
import os
import socket
import ssl
import urllib.parse

__all__ = ["ApiError", "KubeClient"]

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiError(Exception):
    """Non-2xx answer from the API server; body is the decoded Status (or raw text)."""

    def __init__(self, status, body):
        self.status = status
        self.body = body
        msg = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {msg}")

    @property
    def reason(self):
        return self.body.get("reason") if isinstance(self.body, dict) else None


def _load_yaml_or_json(text):
    try:
        import yaml  # Debian python3-yaml
        return yaml.safe_load(text)
    except ImportError:
        return json.loads(text)


class KubeClient:
    def __init__(self, url, token=None, ca_path=None, token_file=None, user_agent="hostdev-sim",
                 timeout=30.0, ca_data=None):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("https", "http"):
            raise ValueError(f"unsupported URL {url!r}")
        self.url = url.rstrip("/")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.token = token
        self.token_file = token_file
        self.ca_path = ca_path
        self.user_agent = user_agent
        self.timeout = timeout
        self._ctx = None
        if self.scheme == "https":
            if not ca_path and not ca_data:
                raise ValueError("https needs ca_path or ca_data (this client never skips "
                                 "verification)")
            ctx = ssl.create_default_context(cafile=ca_path, cadata=ca_data)
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            self._ctx = ctx

    @classmethod
    def from_kubeconfig(cls, path, user_agent="hostdev-sim"):
        with open(path) as f:
            cfg = _load_yaml_or_json(f.read())
        cur = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cur)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {})
        base = os.path.dirname(os.path.abspath(path))
        ca = cluster.get("certificate-authority")
        if ca and not os.path.isabs(ca):
            ca = os.path.join(base, ca)
        ca_data = None
        if not ca and cluster.get("certificate-authority-data"):
            import base64
            ca_data = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii")
        tf = user.get("tokenFile")
        if tf and not os.path.isabs(tf):
            tf = os.path.join(base, tf)
        return cls(cluster["server"], token=user.get("token"), ca_path=ca, token_file=tf,
                   user_agent=user_agent, ca_data=ca_data)

    @classmethod
    def in_cluster(cls, host, port, sa_dir, user_agent="hostdev-sim"):
        return cls(f"https://{host}:{port}", ca_path=os.path.join(sa_dir, "ca.crt"),
                   token_file=os.path.join(sa_dir, "token"), user_agent=user_agent)

    # -- plumbing ---------------------------------------------------------------------------
    def _conn(self, timeout=None):
        t = self.timeout if timeout is None else timeout
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, context=self._ctx, timeout=t)
        return http.client.HTTPConnection(self.host, self.port, timeout=t)

    def _headers(self, content_type=None, accept="application/json"):
        h = {"Accept": accept, "User-Agent": self.user_agent}
        tok = self.token
        if self.token_file:
            with open(self.token_file) as f:
                tok = f.read().strip()
        if tok:
            h["Authorization"] = "Bearer " + tok
        if content_type:
            h["Content-Type"] = content_type
        return h

    @staticmethod
    def _target(path, params):
        if not path.startswith("/"):
            path = "/" + path
        if params:
            items = {k: ("true" if v is True else "false" if v is False else v)
                     for k, v in params.items() if v is not None}
            sep = "&" if "?" in path else "?"
            path = path + sep + urllib.parse.urlencode(items)
        return path

    def request_raw(self, method, path, body=None, content_type="application/json", params=None,
                    headers=None, timeout=None):
        """Returns (status, headers dict (lower-case names), raw bytes)."""
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = json.dumps(body).encode()
        h = self._headers(content_type if data is not None else None)
        if headers:
            h.update(headers)
        conn = self._conn(timeout)
        try:
            conn.request(method, self._target(path, params), body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, hdrs, raw
        finally:
            conn.close()

    def request(self, method, path, body=None, content_type="application/json", params=None,
                headers=None, timeout=None):
        """Returns (status, decoded body): a dict for JSON answers, else text."""
        status, _, raw = self.request_raw(method, path, body, content_type, params, headers, timeout)
        text = raw.decode("utf-8", "replace")
        try:
            obj = json.loads(text) if text else None
        except ValueError:
            obj = text
        return status, obj

    def _checked(self, method, path, body=None, content_type="application/json", params=None):
        status, obj = self.request(method, path, body, content_type, params)
        if status // 100 != 2:
            raise ApiError(status, obj)
        return obj

    # -- convenience ------------------------------------------------------------------------
    def get(self, path, params=None):
        return self._checked("GET", path, params=params)

    def list(self, path, params=None):
        return self._checked("GET", path, params=params)

    def create(self, path, body, params=None):
        return self._checked("POST", path, body, params=params)

    def update(self, path, body, params=None):
        return self._checked("PUT", path, body, params=params)

    def patch(self, path, body, patch_type="merge", params=None):
        ct = PATCH_TYPES.get(patch_type, patch_type)
        return self._checked("PATCH", path, body, content_type=ct, params=params)

    def delete(self, path, params=None, body=None):
        return self._checked("DELETE", path, body, params=params)

    def exists(self, path):
        status, obj = self.request("GET", path)
        if status == 404:
            return False
        if status // 100 != 2:
            raise ApiError(status, obj)
        return True

    def watch(self, path, params=None, timeout=None):
        """Yields watch event dicts until the server closes the stream.

        `watch=true` is added to params. `timeout` is the socket read timeout (default: the
        stream's timeoutSeconds + 10, else the client timeout); a non-200 answer raises ApiError.
        """
        p = dict(params or {})
        p["watch"] = "true"
        if timeout is None:
            ts = p.get("timeoutSeconds")
            timeout = float(ts) + 10 if ts is not None else max(self.timeout, 60.0)
        conn = self._conn(timeout)
        try:
            conn.request("GET", self._target(path, p), headers=self._headers())
            resp = conn.getresponse()
            if resp.status != 200:
                raw = resp.read().decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                raise ApiError(resp.status, body)
            while True:
                try:
                    line = resp.readline()
                except (http.client.IncompleteRead, ConnectionError, ssl.SSLError):
                    return
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        except socket.timeout:
            return
        finally:
            conn.close()
