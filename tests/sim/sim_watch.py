"""Watch streams of the simulated API server: chunked newline-delimited JSON events,
initial events, resume from a resourceVersion, selectors, bookmarks, timeouts, 410."""

import json
import select
import time

import sim_errors as E
from sim_select import FieldSelector, LabelSelector
from sim_store import Expired

DEFAULT_WATCH_TIMEOUT = 1800


def serve_watch(sim, req, rt, version, ns):
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
    sim.store.validate_list_options(p, watch=True)
    try:
        timeout = float(p.get("timeoutSeconds") or 0) or DEFAULT_WATCH_TIMEOUT
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
    forced = sim.take_forced_410()
    h = req.h
    try:
        if forced:
            raise Expired(rv_n if rv_n is not None else 0, sim.store.current_rv())
        init, backlog, w, cur = sim.store.open_watch(rt, from_rv, initial)
    except Expired as ex:
        watch_headers(sim, req)
        chunk(h, {"type": "ERROR", "object": E.status_body(
            410, "Expired", str(ex))})
        end_chunks(h)
        return
    start = time.monotonic()
    deadline = start + timeout
    try:
        watch_headers(sim, req)

        def ok(o):
            if rt.namespaced and ns and o["metadata"].get("namespace") != ns:
                return False
            return label.matches(o["metadata"].get("labels")) and field.matches(o, rt)

        def send(etype, o):
            chunk(h, {"type": etype, "object": rt.render(o, version)})

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
                chunk(h, {"type": "BOOKMARK", "object": rt.bookmark(
                    version, cur, {"k8s.io/initial-events-end": "true"})})
        for ev in backlog:
            deliver(ev)
        marks = []
        if bookmarks:
            t = start + sim.bookmark_interval
            while t < deadline:
                marks.append(t)
                t += sim.bookmark_interval
            if timeout >= sim.bookmark_min_timeout:
                marks += [deadline - d for d in sim.bookmark_before_deadline]
            marks.sort()
        while True:
            now = time.monotonic()
            while marks and marks[0] <= now:
                marks.pop(0)
                chunk(h, {"type": "BOOKMARK", "object": rt.bookmark(
                    version, sim.store.current_rv())})
            if now >= deadline or sim.stopping():
                break
            if client_gone(h):
                h.close_connection = True
                return
            wait = min([deadline] + marks[:1]) - now
            try:
                ev = w.q.get(timeout=max(0.0, min(wait, 0.5)))
            except Exception:  # queue.Empty
                continue
            if ev is None:
                break
            if ev == "RESET":
                sim.hard_close(h)
                return
            deliver(ev)
        end_chunks(h)
    finally:
        sim.store.close_watch(w)

def client_gone(h):
    """A watching client sends nothing; readable means it closed the connection."""
    try:
        r, _, _ = select.select([h.connection], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(r)

def watch_headers(sim, req):
    h = req.h
    sim.record(req, 200)
    h.send_response(200)
    h.send_header("Audit-Id", req.audit_id)
    h.send_header("Cache-Control", "no-cache, private")
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    h.wfile.flush()

def chunk(h, event):
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    h.wfile.flush()

def end_chunks(h):
    h.wfile.write(b"0\r\n\r\n")
    h.wfile.flush()
