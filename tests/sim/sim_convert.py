"""Conversions between the stored (internal) form and what each served version shows.

resource.k8s.io: stored as v1. v1beta2 has the same shapes for everything we model. v1beta1
nests device fields under `devices[].basic` in slices and puts the exact-request fields
directly on `spec.devices.requests[]` of claims and claim templates (no `exactly`).

Events: stored as core v1 Event; events.k8s.io/v1 renames fields.
"""

import copy

_EXACT_FIELDS = ("deviceClassName", "selectors", "allocationMode", "count", "adminAccess",
                 "tolerations", "capacity")


def _requests_to_v1beta1(devices):
    for req in (devices or {}).get("requests") or []:
        ex = req.pop("exactly", None)
        if isinstance(ex, dict):
            rest = {k: req[k] for k in list(req) if k != "name"}
            for k in list(req):
                if k != "name":
                    del req[k]
            req.update(ex)
            req.update(rest)


def _requests_from_v1beta1(devices):
    for req in (devices or {}).get("requests") or []:
        if "exactly" in req:
            continue
        ex = {k: req.pop(k) for k in _EXACT_FIELDS if k in req}
        if req.get("firstAvailable"):
            continue
        name = req.pop("name", None)
        rest = dict(req)
        req.clear()
        if name is not None:
            req["name"] = name
        req["exactly"] = ex
        req.update(rest)


def _slice_to_v1beta1(obj):
    spec = obj.get("spec") or {}
    devs = []
    for d in spec.get("devices") or []:
        basic = {k: v for k, v in d.items() if k != "name"}
        nd = {"name": d.get("name")}
        nd["basic"] = basic
        devs.append(nd)
    if "devices" in spec:
        spec["devices"] = devs


def _slice_from_v1beta1(obj):
    spec = obj.get("spec") or {}
    devs = []
    for d in spec.get("devices") or []:
        nd = {"name": d.get("name")}
        basic = d.get("basic")
        if isinstance(basic, dict):
            nd.update(basic)
        for k, v in d.items():
            if k not in ("name", "basic"):
                nd[k] = v
        devs.append(nd)
    if "devices" in spec:
        spec["devices"] = devs


def resource_to_version(kind, version, obj):
    """Stored (v1) -> served version. Returns a new dict."""
    obj = copy.deepcopy(obj)
    if version != "v1beta1":
        return obj
    if kind == "ResourceSlice":
        _slice_to_v1beta1(obj)
    elif kind == "ResourceClaim":
        _requests_to_v1beta1((obj.get("spec") or {}).get("devices"))
    elif kind == "ResourceClaimTemplate":
        _requests_to_v1beta1(((obj.get("spec") or {}).get("spec") or {}).get("devices"))
    return obj


def resource_from_version(kind, version, obj):
    """Served version body -> stored (v1) form. Modifies and returns obj."""
    if version != "v1beta1":
        return obj
    if kind == "ResourceSlice":
        _slice_from_v1beta1(obj)
    elif kind == "ResourceClaim":
        _requests_from_v1beta1((obj.get("spec") or {}).get("devices"))
    elif kind == "ResourceClaimTemplate":
        _requests_from_v1beta1(((obj.get("spec") or {}).get("spec") or {}).get("devices"))
    return obj


# -- events -----------------------------------------------------------------------------------

# (core v1 field, events.k8s.io/v1 field)
_EVENT_RENAMES = [("involvedObject", "regarding"), ("message", "note"),
                  ("reportingComponent", "reportingController"),
                  ("firstTimestamp", "deprecatedFirstTimestamp"),
                  ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
                  ("source", "deprecatedSource")]


def event_to_eventsv1(obj):
    obj = copy.deepcopy(obj)
    out = {}
    for k, v in obj.items():
        for core, new in _EVENT_RENAMES:
            if k == core:
                k = new
                break
        out[k] = v
    out.setdefault("deprecatedSource", {})
    out.setdefault("deprecatedFirstTimestamp", None)
    out.setdefault("deprecatedLastTimestamp", None)
    if "eventTime" not in out:
        out["eventTime"] = None
    return out


def event_from_eventsv1(obj):
    out = {}
    for k, v in obj.items():
        for core, new in _EVENT_RENAMES:
            if k == new:
                k = core
                break
        out[k] = v
    if not out.get("source"):
        out["source"] = {}
    out.setdefault("firstTimestamp", None)
    out.setdefault("lastTimestamp", None)
    return out


def event_core_defaults(obj):
    obj.setdefault("source", {})
    obj.setdefault("firstTimestamp", None)
    obj.setdefault("lastTimestamp", None)
    obj.setdefault("reportingComponent", (obj.get("source") or {}).get("component", ""))
    obj.setdefault("reportingInstance", (obj.get("source") or {}).get("host", ""))
