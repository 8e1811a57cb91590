"""Custom resources of the simulated API server: what a real apiextensions-apiserver does with
a CustomResourceDefinition's openAPIV3Schema (pruning of unknown fields, defaults, structural
validation with 422 causes), the fieldValidation query parameter (Strict -> 400, Warn ->
Warning headers) and the server-side Table built from additionalPrinterColumns.

Only the schema keywords a CRD author commonly uses are checked: type, nullable, required,
enum, minimum/maximum (+exclusive), minLength/maxLength, minItems/maxItems, pattern,
minProperties/maxProperties, properties, additionalProperties, items, default,
x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string and
x-kubernetes-embedded-resource (kept as is). CEL rules (x-kubernetes-validations), format and
the list-type uniqueness checks are not evaluated.
"""

import copy
import json
import re
import threading

import sim_errors as E
from sim_table import human_duration

_ctx = threading.local()

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CREATION_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    "#metadata")


# -- per-request field validation mode ----------------------------------------------------------

def begin_request(field_validation, method="GET"):
    """Called by the HTTP layer before every request: '' (= Warn) / Warn / Strict / Ignore."""
    _ctx.method = method
    mode = field_validation or "Warn"
    if mode not in ("Ignore", "Warn", "Strict"):
        raise E.bad_request(f'fieldValidation must be one of "Ignore", "Warn", or "Strict", '
                            f'got "{field_validation}"')
    _ctx.mode = mode
    _ctx.warnings = []


def take_warnings():
    w = getattr(_ctx, "warnings", None) or []
    _ctx.warnings = []
    return w


def _report_unknown(paths, kind, version):
    if not paths:
        return
    mode = getattr(_ctx, "mode", "Ignore")
    if mode == "Strict":
        msg = "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths)
        if getattr(_ctx, "method", "") in ("POST", "PUT"):
            # create and update report decode errors with the kind (a patch does not)
            msg = f'{kind} in version "{version}" cannot be handled as a {kind}: {msg}'
        raise E.bad_request(msg)
    if mode == "Warn":
        _ctx.warnings.extend(f'unknown field "{p}"' for p in paths)


# -- schema helpers -----------------------------------------------------------------------------

def version_entry(crd, version):
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return v
    return {}


def version_schema(crd, version):
    return ((version_entry(crd, version).get("schema") or {}).get("openAPIV3Schema")) or {}


def _join(path, key):
    return f"{path}.{key}" if path else key


def prune(value, schema, path, out, root=False):
    """Drops fields the schema does not know (in place); records their paths in out."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            return value
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for k in list(value):
            if root and k in ("apiVersion", "kind", "metadata"):
                continue
            if k in props:
                value[k] = prune(value[k], props[k], _join(path, k), out)
            elif isinstance(addl, dict):
                value[k] = prune(value[k], addl, _join(path, k), out)
            elif addl is True or preserve:
                continue
            else:
                out.append(_join(path, k))
                del value[k]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            value[i] = prune(item, schema["items"], f"{path}[{i}]", out)
    return value


def apply_defaults(value, schema):
    """Sets `default` of absent properties of present objects (in place), like the server."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        for k, sub in (schema.get("properties") or {}).items():
            if k not in value and isinstance(sub, dict) and "default" in sub:
                value[k] = copy.deepcopy(sub["default"])
            if k in value:
                apply_defaults(value[k], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for k in value:
                if k not in (schema.get("properties") or {}):
                    apply_defaults(value[k], addl)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])


def _type_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _type_ok(want, v):
    got = _type_of(v)
    if want == got:
        return True
    return want == "number" and got == "integer"


def _type_error(path, want, v):
    got = _type_of(v)
    return E.FieldError("FieldValueTypeInvalid", path,
                        f'Invalid value: "{got}": {path} in body must be of type {want}: '
                        f'"{got}"')


def validate(value, schema, path, errs):
    """Appends sim_errors.FieldError for every violation of the subset of keywords above."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-embedded-resource"):
        return
    if value is None:
        if schema.get("nullable") or not schema.get("type"):
            return
        errs.append(_type_error(path, schema["type"], value))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
            errs.append(E.FieldError("FieldValueTypeInvalid", path,
                                     f'Invalid value: "{_type_of(value)}": {path} in body must '
                                     f'be of type integer,string: "{_type_of(value)}"'))
        return
    want = schema.get("type")
    if want and not _type_ok(want, value):
        errs.append(_type_error(path, want, value))
        return
    if "enum" in schema and value not in schema["enum"]:
        errs.append(E.not_supported(path, value, schema["enum"]))
    _validate_scalar(value, schema, path, errs)
    if isinstance(value, dict):
        _validate_object(value, schema, path, errs)
    elif isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(E.too_many(path, len(value), schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append(E.invalid(path, len(value), f"{path} in body should have at least "
                                                    f"{schema['minItems']} items"))
        for i, item in enumerate(value):
            validate(item, schema.get("items"), f"{path}[{i}]", errs)


def _validate_scalar(value, schema, path, errs):
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(E.FieldError("FieldValueTooLong", path,
                                     f"Too long: may not be more than {schema['maxLength']} "
                                     f"bytes"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append(E.invalid(path, value, f"{path} in body should be at least "
                                               f"{schema['minLength']} chars long"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(E.invalid(path, value, f"{path} in body should match "
                                               f"'{schema['pattern']}'"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and (value < lo or (schema.get("exclusiveMinimum") and value == lo)):
            rel = "greater than" if schema.get("exclusiveMinimum") else \
                "greater than or equal to"
            errs.append(E.invalid(path, value, f"{path} in body should be {rel} {lo}"))
        if hi is not None and (value > hi or (schema.get("exclusiveMaximum") and value == hi)):
            rel = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
            errs.append(E.invalid(path, value, f"{path} in body should be {rel} {hi}"))


def _validate_object(value, schema, path, errs):
    for r in schema.get("required") or []:
        if r not in value:
            errs.append(E.required(_join(path, r)))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errs.append(E.too_many(path, len(value), schema["maxProperties"]))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errs.append(E.invalid(path, len(value), f"{path} in body should have at least "
                                                f"{schema['minProperties']} properties"))
    props = schema.get("properties") or {}
    addl = schema.get("additionalProperties")
    for k, v in value.items():
        if not path and k in ("apiVersion", "kind", "metadata"):
            continue
        if k in props:
            validate(v, props[k], _join(path, k), errs)
        elif isinstance(addl, dict):
            validate(v, addl, _join(path, k), errs)


# -- the ResourceType hooks ---------------------------------------------------------------------

class CustomResourceHooks:
    """decode/validate hooks bound to one CRD object (the storage version's schema)."""

    def __init__(self, crd):
        self.crd = copy.deepcopy(crd)
        spec = crd.get("spec") or {}
        self.storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")),
                            None)
        self.schema = version_schema(crd, self.storage) if self.storage else {}

    def decode(self, obj):
        pruned = []
        if self.schema:
            prune(obj, self.schema, "", pruned, root=True)
            apply_defaults(obj, self.schema)
        _report_unknown(pruned, ((self.crd.get("spec") or {}).get("names") or {}).get("kind"),
                        self.storage)

    def _errors(self, obj):
        import sim_validation as val
        errs = val.validate_object_name(obj["metadata"].get("name"))
        if self.schema:
            validate(obj, self.schema, "", errs)
        return errs

    def validate_create(self, obj):
        return self._errors(obj)

    def validate_update(self, old, new):
        return self._errors(new)

    def validate_status(self, old, new):
        return self._errors(new)


def crd_problems(crd):
    """Schema problems a real server rejects a CRD for (beyond sim_validation.validate_crd)."""
    errs = []
    for i, v in enumerate((crd.get("spec") or {}).get("versions") or []):
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            errs.append(E.required(f"spec.versions[{i}].schema.openAPIV3Schema",
                                   "schemas are required"))
            continue
        if schema.get("type") != "object":
            errs.append(E.FieldError(
                "FieldValueRequired" if "type" not in schema else "FieldValueInvalid",
                f"spec.versions[{i}].schema.openAPIV3Schema.type",
                "Required value: must be object at the root" if "type" not in schema else
                f'Invalid value: "{schema["type"]}": must be object at the root'))
        for j, col in enumerate(v.get("additionalPrinterColumns") or []):
            base = f"spec.versions[{i}].additionalPrinterColumns[{j}]"
            if col.get("type") not in ("integer", "number", "string", "boolean", "date"):
                errs.append(E.not_supported(base + ".type", col.get("type", ""),
                                            ["boolean", "date", "integer", "number", "string"]))
            if not str(col.get("jsonPath", "")).startswith("."):
                errs.append(E.invalid(base + ".jsonPath", col.get("jsonPath", ""),
                                      "must be a simple json path starting with ."))
    return errs


# -- Table (additionalPrinterColumns) -----------------------------------------------------------

def printer_columns(crd, version):
    cols = version_entry(crd, version).get("additionalPrinterColumns")
    if not cols:
        cols = [{"name": "Age", "type": "date", "description": CREATION_DESCRIPTION,
                 "jsonPath": ".metadata.creationTimestamp"}]
    return cols


def _json_path(obj, path):
    """Simple JSONPath (.a.b, .a[0].b, .a['x.y']) -> (found, value)."""
    cur = obj
    toks = re.findall(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]", path)
    for name, idx, q1, q2 in toks:
        if idx:
            if not isinstance(cur, list) or int(idx) >= len(cur):
                return False, None
            cur = cur[int(idx)]
        else:
            key = name or q1 or q2
            if not isinstance(cur, dict) or key not in cur:
                return False, None
            cur = cur[key]
    return True, cur


def _age_of(ts):
    import calendar
    import time
    try:
        t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return "<invalid>"
    return human_duration(time.time() - t)


def _cell(ctype, value):
    if value is None:
        return None
    if ctype == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) \
            else str(value)
    if ctype == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None
    if ctype == "number":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None
    if ctype == "boolean":
        return value if isinstance(value, bool) else None
    if ctype == "date":
        return _age_of(value) if isinstance(value, str) else None
    return None


def table(crd, version, items, list_md):
    cols = printer_columns(crd, version)
    defs = [{"name": "Name", "type": "string", "format": "name",
             "description": NAME_DESCRIPTION, "priority": 0}]
    for c in cols:
        defs.append({"name": c.get("name", ""), "type": c.get("type", "string"),
                     "format": c.get("format", ""),
                     "description": c.get("description") or
                     f"Custom resource definition column (in JSONPath format): "
                     f"{c.get('jsonPath', '')}",
                     "priority": c.get("priority", 0)})
    rows = []
    for o in items:
        cells = [o["metadata"]["name"]]
        for c in cols:
            found, v = _json_path(o, c.get("jsonPath", ""))
            cells.append(_cell(c.get("type", "string"), v) if found else None)
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                                                "apiVersion": "meta.k8s.io/v1",
                                                "metadata": o["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_md,
            "columnDefinitions": defs, "rows": rows}
