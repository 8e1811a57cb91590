"""Reads the real-server captures (tests/data/reference/apiserver-1.36/*.http) so self-tests can
replay a request against the simulator and compare the answer."""

import json
import os
import re

_HERE = os.path.dirname(os.path.abspath(__file__))


# In the repository (see tests/data/reference/PROVENANCE.md): a missing capture is a failure.
CAPTURE_DIR = os.path.join(_HERE, "..", "data", "reference", "apiserver-1.36")


def capture_dir():
    if not os.path.isdir(CAPTURE_DIR):
        raise FileNotFoundError("capture directory %s not found" % os.path.abspath(CAPTURE_DIR))
    return os.path.abspath(CAPTURE_DIR)


class Capture:
    def __init__(self, name):
        d = capture_dir()
        self.name = name
        with open(os.path.join(d, name), encoding="utf-8") as f:
            text = f.read()
        head, _, body = text.partition("\n\n")
        self.req_headers = {}
        self.resp_headers = {}
        self.method = self.target = self.body = None
        self.status = None
        for line in head.splitlines():
            if line.startswith("> Body: "):
                self.body = line[len("> Body: "):]
            elif line.startswith("> ") and self.method is None:
                self.method, self.target = line[2:].split(" ", 1)
            elif line.startswith("> ") and ":" in line:
                k, v = line[2:].split(":", 1)
                self.req_headers[k.strip()] = v.strip()
            elif line.startswith("< ") and self.status is None:
                self.status = int(line[2:].split(" ", 1)[0])
            elif line.startswith("< ") and ":" in line:
                k, v = line[2:].split(":", 1)
                self.resp_headers[k.strip()] = v.strip()
        body = body.strip()
        try:
            self.response = json.loads(body) if body else None
        except ValueError:
            self.response = body

    @property
    def request_json(self):
        return json.loads(self.body) if self.body else None

    @property
    def content_type(self):
        return self.req_headers.get("Content-Type", "application/json")


def ndjson(name):
    with open(os.path.join(capture_dir(), name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


VOLATILE = {"uid", "resourceVersion", "creationTimestamp", "managedFields", "time",
            "deletionTimestamp", "allocationTimestamp", "lastTransitionTime"}


def strip_volatile(o, extra=()):
    """Drops per-run values (uids, resource versions, timestamps, managedFields)."""
    vol = VOLATILE | set(extra)
    if isinstance(o, dict):
        return {k: strip_volatile(v, extra) for k, v in o.items() if k not in vol}
    if isinstance(o, list):
        return [strip_volatile(v, extra) for v in o]
    return o


def generated_name_re(prefix):
    return re.compile(re.escape(prefix) + r"[bcdfghjklmnpqrstvwxz2456789]{5}$")
