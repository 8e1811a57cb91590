"""Object store of the simulated API server: one global resourceVersion counter, a bounded
event history (the "watch cache"; older versions are compacted), watch fan-out, the write
pipelines (create/update/patch/delete with the real server's semantics) and garbage
collection by ownerReferences.

Objects are stored in the internal (v1) form without kind/apiVersion. All methods take the
store lock; nothing here does network I/O.
"""

import base64
import collections
import copy
import datetime
import json
import queue
import random
import threading
import uuid

import sim_errors as E
import sim_patch
import sim_validation as val
from sim_select import FieldSelector, LabelSelector

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_plus(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def fields_v1(obj):
    """A FieldsV1-like set: f:<key> for every map key, {} for leaves and lists."""
    out = {}
    if isinstance(obj, dict):
        for k in sorted(obj):
            v = obj[k]
            out["f:" + k] = fields_v1(v) if isinstance(v, dict) else {}
    return out


class Watcher:
    def __init__(self, store_key):
        self.store_key = store_key
        self.q = queue.Queue()
        self.closed = False

    def close(self, reset=False):
        self.closed = True
        self.q.put("RESET" if reset else None)


class Expired(Exception):
    def __init__(self, requested, oldest):
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


def _go_quote_char(b):
    c = chr(b)
    if c == "'":
        return "'\\''"
    if b < 0x20 or b == 0x7f:
        esc = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
        return "'" + esc.get(b, "\\x%02x" % b) + "'"
    if 0x80 <= b < 0xa0:
        return "'\\u%04x'" % b
    return "'" + c + "'"


class Store:
    def __init__(self, compaction_window=1000, log=None):
        self.lock = threading.RLock()
        self.rv = 0
        self.compaction_window = compaction_window
        self.objects = collections.defaultdict(dict)   # store_key -> {(ns, name): obj}
        self.uids = {}                                  # uid -> (store_key, ns, name)
        self.history = collections.deque()              # (rv, store_key, type, obj, old)
        self.compacted_rv = 0
        self.watchers = set()
        self.types = {}                                  # store_key -> ResourceType (any)
        self.log = log or (lambda msg: None)
        self.on_change = []                              # callbacks(rt, etype, obj, old)
        self.background_gc = False       # True: sim_gc collects dependents, not _delete_locked
        self.orphaned_uids = set()       # owners deleted with propagationPolicy=Orphan

    # -- basics ---------------------------------------------------------------------------
    def register(self, rt):
        self.types.setdefault(rt.store_key, rt)

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _commit(self, rt, etype, obj, old):
        ev = (self.rv, rt.store_key, etype, copy.deepcopy(obj), copy.deepcopy(old))
        self.history.append(ev)
        while len(self.history) > self.compaction_window:
            dropped = self.history.popleft()
            self.compacted_rv = dropped[0]
        for w in list(self.watchers):
            if w.store_key == rt.store_key:
                w.q.put(ev)
        for cb in self.on_change:
            try:
                cb(rt, etype, obj, old)
            except Exception as e:  # noqa: BLE001 - a test hook must not break the store
                self.log(f"on_change hook failed: {e!r}")

    def compact(self):
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv

    def current_rv(self):
        with self.lock:
            return self.rv

    def get(self, rt, ns, name):
        with self.lock:
            obj = self.objects[rt.store_key].get((ns or "", name))
            if obj is None:
                raise E.not_found(rt, name)
            return copy.deepcopy(obj)

    def peek(self, store_key, ns, name):
        with self.lock:
            obj = self.objects[store_key].get((ns or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def _sort_key(self, k):
        return (k[0], k[1])

    def snapshot(self, store_key, rv):
        """Objects of one kind as they were at resourceVersion rv (history must cover it)."""
        state = {k: copy.deepcopy(v) for k, v in self.objects[store_key].items()}
        for ev in reversed(self.history):
            erv, skey, etype, obj, old = ev
            if erv <= rv:
                break
            if skey != store_key:
                continue
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if etype == "ADDED":
                state.pop(key, None)
            else:
                state[key] = copy.deepcopy(old)
        return state

    # -- list -----------------------------------------------------------------------------
    @staticmethod
    def validate_list_options(params, watch=False):
        """ListOptions rules for resourceVersionMatch (422 like the real server)."""
        rvm = params.get("resourceVersionMatch", "")
        if not rvm:
            return
        rv = params.get("resourceVersion", "")
        errs = []
        if not rv and not (watch and params.get("sendInitialEvents") is not None):
            errs.append(E.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden "
                                                            "unless resourceVersion is provided"))
        if params.get("continue"):
            errs.append(E.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden "
                                                            "when continue is provided"))
        if rvm not in ("Exact", "NotOlderThan"):
            errs.append(E.not_supported("resourceVersionMatch", rvm, ["Exact", "NotOlderThan"]))
        if rvm == "Exact" and rv == "0":
            errs.append(E.forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is '
                                                            'forbidden for resourceVersion "0"'))
        if errs:
            raise E.invalid_exception("ListOptions", "meta.k8s.io", "", errs)

    def list(self, rt, ns, params):
        """Returns (items, list_metadata). params: dict of query strings."""
        label = LabelSelector.parse(params.get("labelSelector", ""))
        field = FieldSelector.parse(params.get("fieldSelector", ""), rt)
        self.validate_list_options(params)
        rv_param = params.get("resourceVersion", "")
        match = params.get("resourceVersionMatch", "")
        try:
            limit = max(0, int(params.get("limit") or 0))
        except ValueError:
            raise E.bad_request(f'invalid limit: "{params.get("limit")}"') from None
        cont = params.get("continue", "")
        with self.lock:
            cur = self.rv
            list_rv = cur
            start_after = None
            if cont:
                list_rv, start_after = self._decode_continue(cont)
                if list_rv < self.compacted_rv:
                    raise E.ApiException(410, E.status_body(
                        410, "Expired", "The provided continue parameter is too old to display "
                        "a consistent list result. You can start a new list without the continue "
                        "parameter, or use the continue value from the response of a newer "
                        "request."))
            elif rv_param not in ("", "0"):
                try:
                    want = int(rv_param)
                except ValueError:
                    raise E.bad_request(f'invalid resource version: "{rv_param}"') from None
                if want > cur:
                    raise E.ApiException(504, E.status_body(
                        504, "Timeout", f"Timeout: Too large resource version: {want}, "
                        f"current: {cur}",
                        {"causes": [{"reason": "ResourceVersionTooLarge",
                                     "message": "Too large resource version"}],
                         "retryAfterSeconds": 1}), {"Retry-After": "1"})
                if match == "Exact":
                    if want < self.compacted_rv:
                        raise E.ApiException(410, E.status_body(
                            410, "Expired", "The resourceVersion for the provided list is too "
                            "old."))
                    list_rv = want
            if rv_param == "0" and not cont:
                limit = 0
            if list_rv != cur:
                state = self.snapshot(rt.store_key, list_rv)
            else:
                state = self.objects[rt.store_key]
            keys = sorted(state, key=self._sort_key)
            items = []
            for k in keys:
                if rt.namespaced and ns and k[0] != ns:
                    continue
                ckey = self._cont_key(rt, ns, k)
                if start_after is not None and ckey <= start_after:
                    continue
                o = state[k]
                if not label.matches(o["metadata"].get("labels")):
                    continue
                if not field.matches(o, rt):
                    continue
                items.append((ckey, copy.deepcopy(o)))
            md = {"resourceVersion": str(list_rv)}
            if limit and len(items) > limit:
                last = items[limit - 1][0]
                md["continue"] = self._encode_continue(list_rv, last)
                if label.empty() and not field.terms:
                    md["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            return [o for _, o in items], md

    def _cont_key(self, rt, ns, k):
        if rt.namespaced and not ns:
            return f"{k[0]}/{k[1]}"
        return k[1]

    @staticmethod
    def _encode_continue(rv, last_key):
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": "/" + last_key + "\u0000"},
                         separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token):
        prefix = "invalid continue token: continue key is not valid: "
        try:
            data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, base64.binascii.Error):
            raise E.bad_request("invalid continue token: illegal base64 data at input byte "
                                f"{len(token)}") from None
        stripped = data.lstrip(b" \t\r\n")
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            first = stripped[0] if stripped else None
            if first is None:
                msg = "unexpected end of JSON input"
            elif first in b'{["-0123456789tfn':
                msg = "invalid JSON"
            else:
                msg = f"invalid character {_go_quote_char(first)} looking for beginning of value"
            raise E.bad_request(prefix + msg) from None
        if not isinstance(doc, dict) or doc.get("v") != "meta.k8s.io/v1":
            raise E.bad_request(prefix + "incorrect encoded start resourceVersion (version "
                                         "meta.k8s.io/v1)")
        rv = doc.get("rv")
        start = doc.get("start", "")
        if not isinstance(rv, int) or rv <= 0:
            raise E.bad_request(prefix + "incorrect encoded start resourceVersion (version "
                                         "meta.k8s.io/v1)")
        if not isinstance(start, str) or not start.startswith("/"):
            raise E.bad_request(prefix + "continue key is not valid")
        return rv, start[1:].rstrip("\u0000")

    # -- watch ----------------------------------------------------------------------------
    def open_watch(self, rt, from_rv, initial):
        """Registers a watcher. Returns (initial_objects or None, backlog events, watcher, rv).
        from_rv None = start now; initial = also return current objects as the start state."""
        with self.lock:
            w = Watcher(rt.store_key)
            init = None
            backlog = []
            if initial:
                init = [copy.deepcopy(self.objects[rt.store_key][k])
                        for k in sorted(self.objects[rt.store_key], key=self._sort_key)]
            elif from_rv is not None:
                if from_rv < self.compacted_rv:
                    raise Expired(from_rv, self.compacted_rv)
                backlog = [ev for ev in self.history
                           if ev[0] > from_rv and ev[1] == rt.store_key]
            self.watchers.add(w)
            return init, backlog, w, self.rv

    def close_watch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def close_all_watches(self, reset=False):
        with self.lock:
            ws = list(self.watchers)
            self.watchers.clear()
        for w in ws:
            w.close(reset)

    # -- writes ---------------------------------------------------------------------------
    def _stamp_managed(self, obj, body, manager, operation, api_version, subresource=None):
        if not manager:
            return
        entry = {"manager": manager, "operation": operation, "apiVersion": api_version,
                 "time": now_rfc3339(), "fieldsType": "FieldsV1"}
        fv = {k: v for k, v in (body or {}).items()
              if k not in ("kind", "apiVersion", "metadata")}
        md = {k: v for k, v in ((body or {}).get("metadata") or {}).items()
              if k in ("labels", "annotations", "finalizers", "ownerReferences", "generateName")}
        if md:
            fv["metadata"] = md
        entry["fieldsV1"] = fields_v1(fv)
        if subresource:
            entry["subresource"] = subresource
        mf = [m for m in obj["metadata"].get("managedFields") or []
              if not (m.get("manager") == manager and m.get("operation") == operation and
                      m.get("subresource") == subresource)]
        mf.append(entry)
        obj["metadata"]["managedFields"] = mf

    def create(self, rt, ns, body, manager=None, api_version=None, check_ns=True, dry_run=False):
        if not isinstance(body, dict):
            raise E.bad_request("the object provided is unrecognized")
        obj = copy.deepcopy(body)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise E.bad_request("metadata must be an object")
        if rt.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise E.bad_request("the namespace of the provided object does not match the "
                                    "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"):
            md.pop(k, None)
        with self.lock:
            if not md.get("name") and md.get("generateName"):
                for _ in range(20):
                    cand = md["generateName"][:58] + "".join(
                        random.choice(_NAME_CHARS) for _ in range(5))
                    if (ns or "", cand) not in self.objects[rt.store_key]:
                        md["name"] = cand
                        break
            val.decode_metadata(rt.kind, rt.versions[0], obj)
            if rt.decode:
                rt.decode(obj)
            if "status" in rt.subresources or rt.initial_status is not None:
                if rt.initial_status is not None:
                    obj["status"] = copy.deepcopy(rt.initial_status)
                elif not (rt.group == "" and rt.plural in ("namespaces", "nodes")):
                    obj.pop("status", None)
            if rt.default:
                rt.default(obj)
            if rt.normalize:
                rt.normalize(obj)
            if check_ns and rt.namespaced and ns and ("", ns) not in self.objects["/namespaces"]:
                raise E.ApiException(404, E.status_body(
                    404, "NotFound", f'namespaces "{ns}" not found',
                    {"name": ns, "kind": "namespaces"}))
            errs = rt.validate_create(obj) if rt.validate_create else []
            errs += val.validate_metadata(md)
            if errs:
                raise E.invalid_exception(rt.kind, rt.group, md.get("name", ""), errs)
            key = (ns or "", md["name"]) if rt.namespaced else ("", md["name"])
            if key in self.objects[rt.store_key]:
                raise E.already_exists(rt, md["name"])
            md["uid"] = str(uuid.uuid4())
            if rt.generation:
                md["generation"] = 1
            md["creationTimestamp"] = now_rfc3339()
            if dry_run:
                obj["metadata"] = self._order_metadata(md)
                return copy.deepcopy(obj)
            md["resourceVersion"] = str(self._next_rv())
            obj["metadata"] = self._order_metadata(md)
            self._stamp_managed(obj, body, manager, "Update", api_version)
            self.objects[rt.store_key][key] = obj
            self.uids[md["uid"]] = (rt.store_key, key[0], key[1])
            self._commit(rt, "ADDED", obj, None)
            return copy.deepcopy(obj)

    @staticmethod
    def _order_metadata(md):
        order = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation",
                 "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                 "annotations", "ownerReferences", "finalizers", "managedFields"]
        out = {k: md[k] for k in order if k in md}
        out.update({k: v for k, v in md.items() if k not in out})
        return out

    def update(self, rt, ns, name, body, subresource=None, manager=None, api_version=None,
               operation="Update", check_rv=True, dry_run=False):
        if not isinstance(body, dict):
            raise E.bad_request("the object provided is unrecognized")
        with self.lock:
            key = (ns or "", name)
            old = self.objects[rt.store_key].get(key)
            if old is None:
                raise E.not_found(rt, name)
            new = copy.deepcopy(body)
            new.pop("kind", None)
            new.pop("apiVersion", None)
            md = new.setdefault("metadata", {})
            if md.get("name") and md["name"] != name:
                raise E.bad_request(f"the name of the object ({md['name']}) does not match the "
                                    f"name on the URL ({name})")
            if rt.namespaced and md.get("namespace") and md["namespace"] != ns:
                raise E.bad_request("the namespace of the provided object does not match the "
                                    "namespace sent on the request")
            if check_rv and md.get("resourceVersion") and \
                    md["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise E.conflict(rt, name)
            val.decode_metadata(rt.kind, rt.versions[0], new)
            if rt.decode:
                rt.decode(new)
            return self._update_locked(rt, key, old, new, subresource, body, manager,
                                       api_version, operation, dry_run)

    def _update_locked(self, rt, key, old, new, subresource, body, manager, api_version,
                       operation, dry_run=False):
        name = key[1]
        omd = old["metadata"]
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        else:
            md = new["metadata"]
            for k in ("name", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "managedFields"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            if rt.namespaced:
                md["namespace"] = omd.get("namespace")
            if "status" in rt.subresources:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        new["metadata"]["resourceVersion"] = omd["resourceVersion"]
        if rt.default:
            rt.default(new)
        if rt.normalize:
            rt.normalize(new)
        if subresource == "status":
            errs = rt.validate_status(old, new) if rt.validate_status else []
        else:
            errs = rt.validate_update(old, new) if rt.validate_update else []
            errs += val.validate_metadata(new["metadata"])
        if errs:
            raise E.invalid_exception(rt.kind, rt.group, name, errs)
        new["metadata"] = self._order_metadata(new["metadata"])
        if self._same(old, new):
            return copy.deepcopy(old)
        if rt.generation and self._spec_changed(rt, old, new):
            new["metadata"]["generation"] = (omd.get("generation") or 1) + 1
        if dry_run:
            return copy.deepcopy(new)
        new_md = new["metadata"]
        if new_md.get("deletionTimestamp") and not new_md.get("finalizers") and \
                not (rt.plural == "pods" and rt.group == "" and
                     (new_md.get("deletionGracePeriodSeconds") or 0) > 0):
            new_md.pop("finalizers", None)
            self._stamp_managed(new, body, manager, operation, api_version, subresource)
            last = self._delete_locked(rt, key, new)
            # The real server answers with the previous resourceVersion here; the DELETED
            # watch event carries the new one.
            last["metadata"]["resourceVersion"] = omd["resourceVersion"]
            return last
        new_md["resourceVersion"] = str(self._next_rv())
        self._stamp_managed(new, body, manager, operation, api_version, subresource)
        self.objects[rt.store_key][key] = new
        self._commit(rt, "MODIFIED", new, old)
        return copy.deepcopy(new)

    @staticmethod
    def _strip_volatile(o):
        o = copy.deepcopy(o)
        o["metadata"].pop("resourceVersion", None)
        o["metadata"].pop("managedFields", None)
        return o

    def _same(self, a, b):
        return self._strip_volatile(a) == self._strip_volatile(b)

    @staticmethod
    def _spec_changed(rt, old, new):
        skip = {"metadata"} | ({"status"} if "status" in rt.subresources else set())
        a = {k: v for k, v in old.items() if k not in skip}
        b = {k: v for k, v in new.items() if k not in skip}
        return a != b

    def patch(self, rt, ns, name, patch_type, patch, subresource=None, manager=None,
              api_version=None, to_version=None, from_version=None, dry_run=False):
        """to_version/from_version: convert stored <-> the request's version around the patch."""
        with self.lock:
            key = (ns or "", name)
            old = self.objects[rt.store_key].get(key)
            if old is None:
                if patch_type == "apply":
                    body = copy.deepcopy(patch)
                    if from_version:
                        body = from_version(body)
                    return self.create(rt, ns, body, manager=manager, api_version=api_version,
                                       dry_run=dry_run), True
                raise E.not_found(rt, name)
            view = to_version(old) if to_version else copy.deepcopy(old)
            if patch_type == "json":
                result = sim_patch.json_patch(view, patch)
            elif patch_type == "strategic":
                if not isinstance(patch, dict):
                    raise E.bad_request("json: cannot unmarshal array into Go value of type "
                                        "map[string]interface {}")
                result = sim_patch.strategic_merge_patch(view, patch)
            else:
                if not isinstance(patch, dict):
                    raise E.bad_request("json: cannot unmarshal array into Go value of type "
                                        "map[string]interface {}")
                result = sim_patch.merge_patch(view, patch)
            if not isinstance(result, dict):
                raise E.bad_request("patched object is not a JSON object")
            if from_version:
                result = from_version(result)
            md = result.setdefault("metadata", {})
            if md.get("resourceVersion") and \
                    md["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise E.conflict(rt, name)
            if md.get("name", name) != name:
                raise E.bad_request(f"the name of the object ({md['name']}) does not match the "
                                    f"name on the URL ({name})")
            val.decode_metadata(rt.kind, rt.versions[0], result)
            if rt.decode:
                rt.decode(result)
            op = "Apply" if patch_type == "apply" else "Update"
            return self._update_locked(rt, key, old, result, subresource,
                                       patch if isinstance(patch, dict) else None, manager,
                                       api_version, op, dry_run), False

    def delete(self, rt, ns, name, options=None, gc=True, dry_run=False):
        """Returns (object as returned to the client, fully_deleted)."""
        options = options or {}
        with self.lock:
            key = (ns or "", name)
            old = self.objects[rt.store_key].get(key)
            if old is None:
                raise E.not_found(rt, name)
            if dry_run:
                return copy.deepcopy(old), False
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise E.conflict(rt, name, f"Precondition failed: UID in precondition: "
                                           f"{pre['uid']}, UID in object meta: "
                                           f"{old['metadata']['uid']}")
            if pre.get("resourceVersion") and \
                    pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise E.conflict(rt, name, f"Precondition failed: ResourceVersion in "
                                           f"precondition: {pre['resourceVersion']}, "
                                           f"ResourceVersion in object meta: "
                                           f"{old['metadata']['resourceVersion']}")
            md = old["metadata"]
            grace = options.get("gracePeriodSeconds")
            is_pod = rt.group == "" and rt.plural == "pods"
            if is_pod and (old.get("spec") or {}).get("nodeName") and \
                    (old.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                if grace is None:
                    grace = (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                if grace > 0 or md.get("finalizers"):
                    if md.get("deletionTimestamp"):
                        return copy.deepcopy(old), False
                    new = copy.deepcopy(old)
                    new["metadata"]["deletionTimestamp"] = _time_plus(grace)
                    new["metadata"]["deletionGracePeriodSeconds"] = grace
                    new["metadata"] = self._order_metadata(new["metadata"])
                    new["metadata"]["resourceVersion"] = str(self._next_rv())
                    self.objects[rt.store_key][key] = new
                    self._commit(rt, "MODIFIED", new, old)
                    return copy.deepcopy(new), False
            if md.get("finalizers"):
                if md.get("deletionTimestamp"):
                    return copy.deepcopy(old), False
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                new["metadata"] = self._order_metadata(new["metadata"])
                new["metadata"]["resourceVersion"] = str(self._next_rv())
                self.objects[rt.store_key][key] = new
                self._commit(rt, "MODIFIED", new, old)
                return copy.deepcopy(new), False
            orphan = options.get("propagationPolicy") == "Orphan"
            if orphan and self.background_gc:
                self.orphaned_uids.add(md["uid"])
            return self._delete_locked(rt, key, copy.deepcopy(old), gc=gc and not orphan), True

    def _delete_locked(self, rt, key, last, gc=True):
        old = self.objects[rt.store_key].pop(key)
        self.uids.pop(old["metadata"]["uid"], None)
        last["metadata"]["resourceVersion"] = str(self._next_rv())
        self._commit(rt, "DELETED", last, old)
        if gc:
            if not self.background_gc:
                self._collect_garbage(old["metadata"]["uid"])
            if rt.group == "" and rt.plural == "namespaces":
                self._delete_namespace_contents(key[1])
        return copy.deepcopy(last)

    def _collect_garbage(self, owner_uid):
        for skey, objs in list(self.objects.items()):
            rt = self.types.get(skey)
            if rt is None:
                continue
            for key, o in list(objs.items()):
                refs = o["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                if any(r.get("uid") in self.uids for r in refs):
                    continue
                if key not in objs:
                    continue
                try:
                    self.delete(rt, key[0], key[1], {"gracePeriodSeconds": 0})
                except E.ApiException:
                    pass

    def _delete_namespace_contents(self, ns):
        for skey, objs in list(self.objects.items()):
            rt = self.types.get(skey)
            if rt is None or not rt.namespaced:
                continue
            for key in [k for k in objs if k[0] == ns]:
                if key in objs:
                    self._delete_locked(rt, key, copy.deepcopy(objs[key]))

    def delete_collection(self, rt, ns, params, options=None, dry_run=False):
        with self.lock:
            items, md = self.list(rt, ns, {k: v for k, v in params.items()
                                           if k in ("labelSelector", "fieldSelector")})
            out = []
            for o in items:
                key_ns = o["metadata"].get("namespace", "")
                try:
                    obj, _ = self.delete(rt, key_ns, o["metadata"]["name"], options,
                                         dry_run=dry_run)
                    out.append(obj)
                except E.ApiException:
                    pass
            md = {"resourceVersion": str(self.rv)}
            return out, md

    def delete_store_key(self, store_key):
        """Drops every object of a kind (CRD removal)."""
        with self.lock:
            rt = self.types.get(store_key)
            for key in list(self.objects.get(store_key, {})):
                self._delete_locked(rt, key, copy.deepcopy(self.objects[store_key][key]),
                                    gc=False)
