"""Shared helpers of the simulated scheduler and kubelet: core/v1 Events, timestamps, logs.

Events are recorded like client-go's recorder does it: the first occurrence is a POST of a
new Event named `<object>.<hex>`; a repeat of the same (object, reason, message) updates that
Event with count+1 and a new lastTimestamp (the reference capture shows the kubelet's
FailedPrepareDynamicResources event MODIFIED with count 2, 3, ...).
"""

import datetime
import logging
import os
import random
import threading

from kclient import ApiError


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_logger(name, path=None):
    """A logger writing to `path` (and nowhere else); one handler per path."""
    log = logging.getLogger(f"hdsim.{name}.{id(path)}.{random.random()}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        h = logging.FileHandler(path)
        h.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(message)s",
                                         "%H:%M:%S"))
        log.addHandler(h)
    else:
        log.addHandler(logging.NullHandler())
    return log


class EventRecorder:
    def __init__(self, client, component, host=None, log=None):
        self.client = client
        self.component = component
        self.host = host
        self.log = log or make_logger("events")
        self._lock = threading.Lock()
        self._seen = {}  # (ns, uid, reason, message) -> event name

    def event(self, obj, etype, reason, message):
        md = obj.get("metadata", {})
        ns = md.get("namespace") or "default"
        key = (ns, md.get("uid"), reason, message)
        ts = now_rfc3339()
        path = f"/api/v1/namespaces/{ns}/events"
        with self._lock:
            name = self._seen.get(key)
        try:
            if name:
                try:
                    ev = self.client.get(f"{path}/{name}")
                    ev["count"] = int(ev.get("count") or 1) + 1
                    ev["lastTimestamp"] = ts
                    self.client.update(f"{path}/{name}", ev)
                    return
                except ApiError as e:
                    if e.status != 404:
                        raise
            name = "%s.%016x" % (md.get("name"), random.getrandbits(64))
            src = {"component": self.component}
            if self.host:
                src["host"] = self.host
            ev = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {
                    "kind": obj.get("kind") or "Pod", "namespace": ns, "name": md.get("name"),
                    "uid": md.get("uid"), "apiVersion": obj.get("apiVersion") or "v1",
                    "resourceVersion": md.get("resourceVersion"),
                },
                "reason": reason, "message": message, "source": src,
                "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "type": etype,
                "eventTime": None,
                "reportingComponent": self.component,
                "reportingInstance": self.host or self.component,
            }
            self.client.create(path, ev)
            with self._lock:
                self._seen[key] = name
        except Exception as e:  # events are best effort, like in client-go
            self.log.warning("event %s %s/%s %s not recorded: %s", reason, ns, md.get("name"),
                             message, e)
