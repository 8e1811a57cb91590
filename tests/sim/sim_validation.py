"""Defaulting and validation of the kinds the simulator stores (internal = v1 shapes).

Each validate_* returns a list of sim_errors.FieldError; the caller turns a non-empty list into
one 422 Status. Messages and field paths follow the real 1.36 server (see the 03-/04-/08-
captures); rules the captures do not cover are kept to what our binaries can trip over.
"""

import re

from sim_errors import (GoRaw, bad_request, duplicate, forbidden, invalid, required, too_long,
                        too_many)
from sim_gostruct import go_struct

DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                     "characters or '-', and must start and end with an alphanumeric character "
                     "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                         "characters, '-' or '.', and must start and end with an alphanumeric "
                         "character (e.g. 'example.com', regex used for validation is "
                         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
C_IDENT_MSG = ("a valid C identifier must start with alphabetic character or '_', followed by a "
               "string of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or "
               "'MyName', regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')")
SEMVER_MSG = "must be a string compatible with semver.org spec 2.0.0"

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_C_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
_MICROTIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

MAX_DEVICES = 128
MAX_DEVICES_WITH_TAINTS_OR_COUNTERS = 64
MAX_ATTRS_AND_CAPACITY = 32
MAX_ID_LEN = 32
MAX_DOMAIN_LEN = 63
MAX_VALUE_LEN = 64
MAX_DRIVER_LEN = 63


def is_dns_label(s):
    return len(s) <= 63 and bool(_LABEL_RE.match(s))


def is_dns_subdomain(s):
    return len(s) <= 253 and bool(_SUBDOMAIN_RE.match(s))


def dns_subdomain_errors(field, value, max_len=253):
    errs = []
    if len(value) > max_len:
        errs.append(too_long(field, max_len))
    if not _SUBDOMAIN_RE.match(value):
        errs.append(invalid(field, value, DNS1123_SUBDOMAIN_MSG))
    return errs


# -- generic object metadata ------------------------------------------------------------------

def validate_object_name(name, dns_label=False, rbac=False):
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    if name in (".", "..") or "/" in name or "%" in name:
        return [invalid("metadata.name", name, "may not contain '/' or '%'" if name not in
                        (".", "..") else f"may not be '{name}'")]
    if rbac:
        return []
    if dns_label:
        if not is_dns_label(name):
            return [invalid("metadata.name", name, DNS1123_LABEL_MSG)]
        return []
    if not is_dns_subdomain(name):
        return [invalid("metadata.name", name, DNS1123_SUBDOMAIN_MSG)]
    return []


_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                  "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                  "or '123-abc', regex used for validation is "
                  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def _qualified_name_errors(field, key):
    errs = []
    prefix, _, name = key.rpartition("/")
    if "/" in key:
        if not prefix:
            errs.append(invalid(field, key, "prefix part must be non-empty"))
        elif not is_dns_subdomain(prefix):
            errs.append(invalid(field, key, "prefix part " + DNS1123_SUBDOMAIN_MSG))
    if not name:
        errs.append(invalid(field, key, "name part must be non-empty"))
    else:
        if len(name) > 63:
            errs.append(invalid(field, key, "name part must be no more than 63 characters"))
        if not _LABEL_NAME_RE.match(name):
            errs.append(invalid(field, key, _NAME_PART_MSG))
    return errs


def validate_metadata(md):
    """Label keys/values and annotation keys, for every kind."""
    errs = []
    labels = md.get("labels") or {}
    for k in sorted(labels):
        errs += _qualified_name_errors("metadata.labels", k)
        v = labels[k]
        if len(v) > 63:
            errs.append(invalid("metadata.labels", v, "must be no more than 63 characters"))
        if not _LABEL_VALUE_RE.match(v):
            errs.append(invalid("metadata.labels", v, _LABEL_VALUE_MSG))
    for k in sorted(md.get("annotations") or {}):
        errs += [invalid("metadata.annotations", k, e.message.split(": ", 2)[-1])
                 for e in _qualified_name_errors("metadata.annotations", k.lower())]
    return errs


def decode_metadata(kind, version, obj):
    """Type errors the Go decoder would reject (400) in metadata maps."""
    md = obj.get("metadata") or {}
    for f in ("labels", "annotations"):
        m = md.get(f)
        if m is None:
            continue
        if not isinstance(m, dict):
            raise bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: '
                              f'json: cannot unmarshal {_json_type(m)} into Go struct field '
                              f'ObjectMeta.metadata.{f} of type map[string]string')
        for v in m.values():
            if not isinstance(v, str):
                raise bad_request(f'{kind} in version "{version}" cannot be handled as a '
                                  f'{kind}: json: cannot unmarshal {_json_type(v)} into Go '
                                  f'struct field ObjectMeta.metadata.{f} of type string')


def _json_type(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if v is None:
        return "null"
    return "object"


# -- ResourceSlice ----------------------------------------------------------------------------

def _validate_qualified_name(field, name):
    errs = []
    if "/" in name:
        domain, ident = name.split("/", 1)
        errs += dns_subdomain_errors(field, domain, MAX_DOMAIN_LEN)
    else:
        ident = name
    if len(ident) > MAX_ID_LEN:
        errs.append(too_long(field, MAX_ID_LEN))
    if not _C_IDENT_RE.match(ident):
        errs.append(invalid(field, ident, C_IDENT_MSG))
    return errs


def _validate_attribute(path, attr):
    errs = []
    attr = attr if isinstance(attr, dict) else {}
    scalar = [k for k in ("int", "bool", "string", "version") if attr.get(k) is not None]
    if len(scalar) != 1:
        if not scalar:
            value = ""
        else:
            value = GoRaw(go_struct("DeviceAttribute", attr))
        return [invalid(path, value, "exactly one value must be specified")]
    k = scalar[0]
    v = attr[k]
    if k == "string":
        if len(str(v).encode()) > MAX_VALUE_LEN:
            errs.append(too_long(path + ".string", MAX_VALUE_LEN))
    elif k == "version":
        if len(str(v).encode()) > MAX_VALUE_LEN:
            errs.append(too_long(path + ".version", MAX_VALUE_LEN))
        if not _SEMVER_RE.match(str(v)):
            errs.append(invalid(path + ".version", v, SEMVER_MSG))
    return errs


_ATTR_TYPES = {"int": ("number", int, "int64"), "bool": ("bool", bool, "bool"),
               "string": ("string", str, "string"), "version": ("string", str, "string")}


def drop_disabled_slice_fields(slice_obj):
    """Decoder behaviour: JSON type errors in attributes are 400s; list-typed attributes need a
    feature gate that is off in 1.36, so the decoder drops them."""
    for dev in (slice_obj.get("spec") or {}).get("devices") or []:
        for attr in (dev.get("attributes") or {}).values():
            if isinstance(attr, dict):
                for k in ("ints", "bools", "strings", "versions"):
                    attr.pop(k, None)
                for k, (_, pytype, gotype) in _ATTR_TYPES.items():
                    v = attr.get(k)
                    if v is None:
                        continue
                    ok = isinstance(v, pytype) and not (pytype is int and isinstance(v, bool))
                    if pytype is int and isinstance(v, float) and v.is_integer():
                        ok = True
                    if not ok:
                        raise bad_request(
                            'ResourceSlice in version "v1" cannot be handled as a ResourceSlice: '
                            f'json: cannot unmarshal {_json_type(v)} into Go struct field '
                            f'DeviceAttribute.spec.devices.attributes.{k} of type {gotype}')


def _ordered(d, order):
    if not isinstance(d, dict):
        return d
    out = {k: d[k] for k in order if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    return out


_SLICE_SPEC = ("driver", "pool", "nodeName", "nodeSelector", "allNodes", "perDeviceNodeSelection",
               "devices", "sharedCounters")
_DEVICE = ("name", "attributes", "capacity", "consumesCounters", "nodeName", "nodeSelector",
           "allNodes", "taints", "bindsToNode", "bindingConditions", "bindingFailureConditions",
           "allowMultipleAllocations")
_REQUEST = ("name", "exactly", "firstAvailable")
_EXACT = ("name", "deviceClassName", "selectors", "allocationMode", "count", "adminAccess",
          "tolerations", "capacity")
_CLAIM_DEVICES = ("requests", "constraints", "config")
_CLAIM_STATUS = ("allocation", "reservedFor", "devices")
_ALLOCATION = ("devices", "nodeSelector", "allocationTimestamp")
_RESULT = ("request", "driver", "pool", "device", "adminAccess", "tolerations",
           "bindingConditions", "bindingFailureConditions", "shareID", "consumedCapacity")


def normalize_slice(slice_obj):
    """Stored form: Go field order, attribute and capacity maps key-sorted (as the real server
    returns them)."""
    spec = slice_obj.get("spec")
    if not isinstance(spec, dict):
        return
    devs = []
    for dev in spec.get("devices") or []:
        if isinstance(dev, dict):
            for k in ("attributes", "capacity"):
                if isinstance(dev.get(k), dict):
                    dev[k] = dict(sorted(dev[k].items()))
            dev = _ordered(dev, _DEVICE)
        devs.append(dev)
    if "devices" in spec:
        spec["devices"] = devs
    slice_obj["spec"] = _ordered(spec, _SLICE_SPEC)


def _normalize_claim_spec(spec):
    devices = (spec or {}).get("devices")
    if not isinstance(devices, dict):
        return
    reqs = []
    for r in devices.get("requests") or []:
        if isinstance(r, dict):
            if isinstance(r.get("exactly"), dict):
                r["exactly"] = _ordered(r["exactly"], _EXACT)
            if isinstance(r.get("firstAvailable"), list):
                r["firstAvailable"] = [_ordered(x, _EXACT) for x in r["firstAvailable"]]
            r = _ordered(r, _REQUEST)
        reqs.append(r)
    if "requests" in devices:
        devices["requests"] = reqs
    spec["devices"] = _ordered(devices, _CLAIM_DEVICES)


def normalize_claim(obj):
    _normalize_claim_spec(obj.get("spec"))
    st = obj.get("status")
    if isinstance(st, dict):
        alloc = st.get("allocation")
        if isinstance(alloc, dict):
            devs = alloc.get("devices")
            if isinstance(devs, dict) and isinstance(devs.get("results"), list):
                devs["results"] = [_ordered(x, _RESULT) for x in devs["results"]]
            st["allocation"] = _ordered(alloc, _ALLOCATION)
        obj["status"] = _ordered(st, _CLAIM_STATUS)


def normalize_claim_template(obj):
    _normalize_claim_spec((obj.get("spec") or {}).get("spec"))
    if isinstance(obj.get("spec"), dict):
        obj["spec"] = _ordered(obj["spec"], ("metadata", "spec"))


def validate_resourceslice(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    spec = obj.get("spec") or {}
    driver = spec.get("driver") or ""
    if not driver:
        errs.append(required("spec.driver"))
    else:
        errs += dns_subdomain_errors("spec.driver", driver, MAX_DRIVER_LEN)
    pool = spec.get("pool") or {}
    pname = pool.get("name") or ""
    if not pname:
        errs.append(required("spec.pool.name"))
    else:
        if len(pname) > 253:
            errs.append(too_long("spec.pool.name", 253))
        for seg in pname.split("/"):
            if not _SUBDOMAIN_RE.match(seg):
                errs.append(invalid("spec.pool.name", seg, DNS1123_SUBDOMAIN_MSG))
    gen = pool.get("generation") or 0
    if gen < 0:
        errs.append(invalid("spec.pool.generation", gen, "must be greater than or equal to zero"))
    cnt = pool.get("resourceSliceCount") or 0
    if cnt <= 0:
        errs.append(invalid("spec.pool.resourceSliceCount", cnt, "must be greater than zero"))
    sel = [("nodeName", bool(spec.get("nodeName"))),
           ("nodeSelector", spec.get("nodeSelector") is not None),
           ("allNodes", bool(spec.get("allNodes"))),
           ("perDeviceNodeSelection", bool(spec.get("perDeviceNodeSelection")))]
    setf = [n for n, on in sel if on]
    one_of = "`nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection`"
    if not setf:
        errs.append(required("spec", f"exactly one of {one_of} is required"))
    elif len(setf) > 1:
        shown = "{" + ", ".join(f"`{n}`" for n in setf) + "}"
        errs.append(invalid("spec", shown,
                            f"exactly one of {one_of} is required, but multiple fields are set"))
    if spec.get("nodeName"):
        for e in validate_object_name(spec["nodeName"]):
            errs.append(invalid("spec.nodeName", spec["nodeName"], DNS1123_SUBDOMAIN_MSG))
    devices = spec.get("devices") or []
    limit = MAX_DEVICES
    if any(d.get("taints") or d.get("consumesCounters") for d in devices if isinstance(d, dict)):
        limit = MAX_DEVICES_WITH_TAINTS_OR_COUNTERS
    if len(devices) > limit:
        errs.append(too_many("spec.devices", len(devices), limit))
        return errs
    seen = set()
    for i, dev in enumerate(devices):
        p = f"spec.devices[{i}]"
        name = dev.get("name") or ""
        if not name:
            errs.append(required(p + ".name"))
        elif not is_dns_label(name):
            errs.append(invalid(p + ".name", name, DNS1123_LABEL_MSG))
        if name in seen:
            errs.append(duplicate(p, name))
        seen.add(name)
        attrs = dev.get("attributes") or {}
        caps = dev.get("capacity") or {}
        total = len(attrs) + len(caps)
        for key in sorted(attrs):
            errs += _validate_qualified_name(p + ".attributes", key)
            errs += _validate_attribute(f"{p}.attributes[{key}]", attrs[key])
        for key in sorted(caps):
            errs += _validate_qualified_name(p + ".capacity", key)
            c = caps[key]
            if not isinstance(c, dict) or c.get("value") is None:
                errs.append(required(f"{p}.capacity[{key}].value"))
        if total > MAX_ATTRS_AND_CAPACITY:
            errs.append(invalid(p, total, "the total number of attributes and capacities must "
                                          f"not exceed {MAX_ATTRS_AND_CAPACITY}"))
        for t_i, taint in enumerate(dev.get("taints") or []):
            eff = taint.get("effect")
            if eff not in ("NoSchedule", "NoExecute"):
                from sim_errors import not_supported
                errs.append(not_supported(f"{p}.taints[{t_i}].effect", eff or "",
                                          ["NoExecute", "NoSchedule"]))
    return errs


def validate_resourceslice_update(old, new):
    errs = validate_resourceslice(new)
    o, n = old.get("spec") or {}, new.get("spec") or {}
    for f in ("driver", "nodeName"):
        if o.get(f) != n.get(f):
            errs.append(invalid(f"spec.{f}", n.get(f) or "", "field is immutable"))
    return errs


# -- ResourceClaim / ResourceClaimTemplate -----------------------------------------------------

def default_claim_spec(spec):
    devices = (spec or {}).get("devices") or {}
    for req in devices.get("requests") or []:
        ex = req.get("exactly")
        if isinstance(ex, dict):
            ex.setdefault("allocationMode", "ExactCount")
            if ex["allocationMode"] == "ExactCount":
                ex.setdefault("count", 1)
        for sub in req.get("firstAvailable") or []:
            sub.setdefault("allocationMode", "ExactCount")
            if sub["allocationMode"] == "ExactCount":
                sub.setdefault("count", 1)


def default_resourceclaim(obj):
    obj.setdefault("spec", {}).setdefault("devices", {})
    default_claim_spec(obj["spec"])


def default_resourceclaimtemplate(obj):
    obj.setdefault("spec", {}).setdefault("metadata", {})
    inner = obj["spec"].setdefault("spec", {})
    inner.setdefault("devices", {})
    default_claim_spec(inner)


def validate_claim_spec(prefix, spec):
    errs = []
    devices = (spec or {}).get("devices") or {}
    names = set()
    for i, req in enumerate(devices.get("requests") or []):
        p = f"{prefix}.devices.requests[{i}]"
        name = req.get("name") or ""
        if not name:
            errs.append(required(p + ".name"))
        elif not is_dns_label(name):
            errs.append(invalid(p + ".name", name, DNS1123_LABEL_MSG))
        elif name in names:
            errs.append(duplicate(p + ".name", name))
        names.add(name)
        ex = req.get("exactly")
        fa = req.get("firstAvailable")
        if ex is None and not fa:
            errs.append(required(p, "exactly one of `exactly` or `firstAvailable` is required"))
        elif ex is not None and fa:
            errs.append(invalid(p, "{`exactly`, `firstAvailable`}",
                                "exactly one of `exactly` or `firstAvailable` is required, but "
                                "multiple fields are set"))
        subs = [(p + ".exactly", ex)] if ex is not None else []
        subs += [(f"{p}.firstAvailable[{j}]", s) for j, s in enumerate(fa or [])]
        for sp, sub in subs:
            if not sub.get("deviceClassName"):
                errs.append(required(sp + ".deviceClassName"))
            mode = sub.get("allocationMode")
            if mode not in ("ExactCount", "All"):
                from sim_errors import not_supported
                errs.append(not_supported(sp + ".allocationMode", mode or "", ["All", "ExactCount"]))
            elif mode == "ExactCount" and (sub.get("count") or 0) <= 0:
                errs.append(invalid(sp + ".count", sub.get("count") or 0, "must be greater than zero"))
    return errs


def validate_resourceclaim_create(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    return errs + validate_claim_spec("spec", obj.get("spec"))


def validate_resourceclaim_update(old, new):
    errs = validate_object_name(new["metadata"].get("name", ""))
    if old.get("spec") != new.get("spec"):
        errs.append(invalid("spec", GoRaw(go_struct("ResourceClaimSpec", new.get("spec"))),
                            "field is immutable"))
    return errs


def validate_resourceclaim_status(old, new):
    errs = []
    ost = old.get("status") or {}
    nst = new.get("status") or {}
    oa, na = ost.get("allocation"), nst.get("allocation")
    if oa is not None and na is not None and oa != na:
        errs.append(invalid("status.allocation", GoRaw(go_struct("AllocationResult", na)),
                            "field is immutable"))
    if nst.get("reservedFor") and na is None:
        errs.append(forbidden("status.reservedFor",
                              "may not be specified when `allocated` is not set"))
    if len(nst.get("reservedFor") or []) > 256:
        errs.append(too_many("status.reservedFor", len(nst["reservedFor"]), 256))
    allocated = set()
    for r in ((na or {}).get("devices") or {}).get("results") or []:
        allocated.add((r.get("driver"), r.get("pool"), r.get("device"), r.get("shareID") or ""))
    for i, d in enumerate(nst.get("devices") or []):
        key = (d.get("driver"), d.get("pool"), d.get("device"), d.get("shareID") or "")
        if key not in allocated:
            errs.append(invalid(f"status.devices[{i}]", GoRaw(go_struct("SharedDeviceID", d)),
                                "must be an allocated device in the claim"))
    return errs


def validate_resourceclaimtemplate(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    return errs + validate_claim_spec("spec.spec", (obj.get("spec") or {}).get("spec"))


def validate_resourceclaimtemplate_update(old, new):
    errs = validate_resourceclaimtemplate(new)
    if old.get("spec") != new.get("spec"):
        errs.append(invalid("spec", new.get("spec"), "field is immutable"))
    return errs


def validate_deviceclass(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    for i, s in enumerate((obj.get("spec") or {}).get("selectors") or []):
        if not ((s or {}).get("cel") or {}).get("expression"):
            errs.append(required(f"spec.selectors[{i}].cel.expression"))
    return errs


# -- Lease ------------------------------------------------------------------------------------

def decode_lease(obj):
    """MicroTime needs six fractional digits; anything else is a decode error (400)."""
    spec = obj.get("spec") or {}
    for k in ("acquireTime", "renewTime"):
        v = spec.get(k)
        if v is not None and not _MICROTIME_RE.match(str(v)):
            tail = str(v)[19:] if len(str(v)) >= 19 else str(v)
            raise bad_request(
                f'Lease in version "v1" cannot be handled as a Lease: parsing time "{v}" as '
                f'"2006-01-02T15:04:05.000000Z07:00": cannot parse "{tail}" as ".000000"')


def validate_lease(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    spec = obj.get("spec") or {}
    if spec.get("leaseDurationSeconds") is not None and spec["leaseDurationSeconds"] <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", spec["leaseDurationSeconds"],
                            "must be greater than 0"))
    if spec.get("leaseTransitions") is not None and spec["leaseTransitions"] < 0:
        errs.append(invalid("spec.leaseTransitions", spec["leaseTransitions"],
                            "must be greater than or equal to 0"))
    return errs


# -- core -------------------------------------------------------------------------------------

def default_pod(obj):
    spec = obj.setdefault("spec", {})
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy",
                     "Always" if str(c.get("image", "")).endswith(":latest") or ":" not in
                     str(c.get("image", "")).rsplit("/", 1)[-1] else "IfNotPresent")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    tols = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "")
                   for t in tols):
            tols.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300})
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    st = obj.setdefault("status", {})
    st.setdefault("phase", "Pending")
    st.setdefault("qosClass", "BestEffort")
    # The Go struct always serializes its two times (null when unset), also after a strategic
    # merge patch whose null removed them.
    for c in st.get("conditions") or []:
        if isinstance(c, dict):
            c.setdefault("lastProbeTime", None)
            c.setdefault("lastTransitionTime", None)


def validate_pod(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    ctrs = (obj.get("spec") or {}).get("containers") or []
    if not ctrs:
        errs.append(required("spec.containers"))
    for i, c in enumerate(ctrs):
        if not c.get("name"):
            errs.append(required(f"spec.containers[{i}].name"))
        if not c.get("image"):
            errs.append(required(f"spec.containers[{i}].image"))
    return errs


def validate_pod_update(old, new):
    errs = validate_object_name(new["metadata"].get("name", ""))
    o, n = old.get("spec") or {}, new.get("spec") or {}
    if o.get("nodeName") and o.get("nodeName") != n.get("nodeName"):
        errs.append(forbidden("spec", "pod updates may not change fields other than "
                                      "`spec.containers[*].image`, "
                                      "`spec.initContainers[*].image`, "
                                      "`spec.activeDeadlineSeconds`, `spec.tolerations` "
                                      "(only additions to existing tolerations), "
                                      "`spec.terminationGracePeriodSeconds` (allow it to be set "
                                      "to 1 if it was previously negative)"))
    return errs


def validate_namespace(obj):
    return validate_object_name(obj["metadata"].get("name", ""), dns_label=True)


def default_namespace(obj):
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def validate_crd(obj):
    errs = validate_object_name(obj["metadata"].get("name", ""))
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    if not group:
        errs.append(required("spec.group"))
    if not plural:
        errs.append(required("spec.names.plural"))
    if not names.get("kind"):
        errs.append(required("spec.names.kind"))
    if group and plural and obj["metadata"].get("name") != f"{plural}.{group}":
        errs.append(invalid("metadata.name", obj["metadata"].get("name", ""),
                            "must be spec.names.plural+\".\"+spec.group"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        from sim_errors import not_supported
        errs.append(not_supported("spec.scope", spec.get("scope") or "", ["Cluster", "Namespaced"]))
    vers = spec.get("versions") or []
    if not vers:
        errs.append(required("spec.versions", "must have exactly one version marked as storage "
                                              "version"))
    elif sum(1 for v in vers if v.get("storage")) != 1:
        errs.append(invalid("spec.versions", GoRaw("null"),
                            "must have exactly one version marked as storage version"))
    return errs
