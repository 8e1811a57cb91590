"""OpenAPI documents of the simulated API server: /openapi/v3 (the index), /openapi/v3/<gv>
(one OpenAPI 3.0 document per group/version) and /openapi/v2 (Swagger 2.0, JSON only), built
from the registered resource types so a CRD's group shows up once it is established.

What kubectl 1.3x reads from them, and so what is kept exact:
- every PATCH operation carries x-kubernetes-group-version-kind and lists its query
  parameters, fieldValidation and dryRun among them: kubectl's query-parameter verifier looks for
  exactly that before it sends fieldValidation=Strict (server-side validation) instead of
  validating on the client (the "failed to download openapi" error on a server without them);
- every kind has a component schema with x-kubernetes-group-version-kind;
- the PATCH requestBody lists the patch media types the simulator accepts.

Simplifications (see docs/simulator-apiserver.md): a built-in kind's schema lists only
apiVersion/kind/metadata (its spec/status are open objects), so its PATCH operation does not
advertise application/strategic-merge-patch+json and kubectl builds strategic merge patches from
its compiled-in types instead of from this document (same result: the real document carries the
same patch metadata). A custom resource's schema is the CRD's openAPIV3Schema. /openapi/v2 is
served as JSON; a protobuf request gets 406.
"""

import copy
import hashlib
import json

from sim_discovery import VERSION_INFO

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_API_PKG = {"": "io.k8s.api.core", "apiextensions.k8s.io":
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"}
_PATCH_TYPES_CR = ["application/json-patch+json", "application/merge-patch+json",
                   "application/apply-patch+yaml"]
_PARAM_DOC = {
    "dryRun": "When present, indicates that modifications should not be persisted.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making "
                    "these changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the "
                       "request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid "
                       "values are: Ignore, Warn (default), Strict.",
    "force": "Force is going to \"force\" Apply requests.",
    "pretty": "If 'true', then the output is pretty printed.",
}
_LIST_PARAMS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents",
                "timeoutSeconds", "watch"]


def gv_key(group, version):
    """The index key of a group/version: api/v1 or apis/<group>/<version>."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def schema_name(rt, version):
    if rt.crd is not None:
        return ".".join(reversed(rt.group.split("."))) + f".{version}.{rt.kind}"
    pkg = _API_PKG.get(rt.group, "io.k8s.api." + rt.group.split(".")[0])
    return f"{pkg}.{version}.{rt.kind}"


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _gvk(rt, version):
    return {"group": rt.group, "version": version, "kind": rt.kind}


def _param(name, typ="string", where="query", required=False):
    p = {"name": name, "in": where, "schema": {"type": typ, "uniqueItems": True}}
    if name in _PARAM_DOC:
        p["description"] = _PARAM_DOC[name]
    if required:
        p["required"] = True
    return p


def _kind_schema(rt, version):
    if rt.crd is not None:
        import sim_crd
        s = copy.deepcopy(sim_crd.version_schema(rt.crd, version)) or {"type": "object"}
        props = s.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"allOf": [_ref(_META + "ObjectMeta")], "default": {}}
    else:
        s = {"description": f"{rt.kind} (simulated: spec and status are not described)",
             "type": "object",
             "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "metadata": {"allOf": [_ref(_META + "ObjectMeta")], "default": {}}},
             "x-kubernetes-preserve-unknown-fields": True}
    s["x-kubernetes-group-version-kind"] = [_gvk(rt, version)]
    return s


def _list_schema(rt, version):
    return {"type": "object", "required": ["items"],
            "properties": {"apiVersion": {"type": "string"},
                           "items": {"type": "array", "items": _ref(schema_name(rt, version))},
                           "kind": {"type": "string"},
                           "metadata": {"allOf": [_ref(_META + "ListMeta")], "default": {}}},
            "x-kubernetes-group-version-kind": [{"group": rt.group, "version": version,
                                                 "kind": rt.list_kind}]}


def _meta_schemas():
    obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    names = ["ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "WatchEvent",
             "APIResourceList"]
    out = {_META + n: dict(obj) for n in names}
    out[_META + "ObjectMeta"] = {
        "type": "object",
        "properties": {k: {"type": "string"} for k in (
            "name", "generateName", "namespace", "uid", "resourceVersion",
            "creationTimestamp", "deletionTimestamp")},
        "x-kubernetes-preserve-unknown-fields": True}
    return out


def _op(rt, version, action, op_id, params, body_types=None, code="200", ref=None):
    op = {"tags": [gv_key(rt.group, version).replace("/", "_")], "operationId": op_id,
          "parameters": params,
          "responses": {code: {"description": "OK", "content": {
              "application/json": {"schema": _ref(ref or schema_name(rt, version))},
              "application/yaml": {"schema": _ref(ref or schema_name(rt, version))}}},
              "401": {"description": "Unauthorized"}},
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": _gvk(rt, version)}
    if body_types:
        op["requestBody"] = {"content": {t: {"schema": _ref(
            _META + "Patch" if action == "patch" else schema_name(rt, version))}
            for t in body_types}, "required": True}
    return op


def _patch_types(rt):
    # Custom resources take no strategic merge patch; for built-in kinds it is left out on
    # purpose (see the module docstring), although the simulator accepts it.
    return list(_PATCH_TYPES_CR)


def _paths_for(rt, version):
    base = f"/apis/{rt.group}/{version}" if rt.group else f"/api/{version}"
    coll = (f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced
            else f"{base}/{rt.plural}")
    common = [_param("namespace", where="path", required=True)] if rt.namespaced else []
    write_q = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    suffix = rt.kind + ("Namespaced" if rt.namespaced else "")
    vcap = version[0].upper() + version[1:]
    gcap = "".join(p[:1].upper() + p[1:] for p in rt.group.split(".")[0].split("-")) or "Core"
    oid = f"{gcap}{vcap}"
    paths = {}
    paths[coll] = {
        "get": _op(rt, version, "list", f"list{oid}{suffix}",
                   [_param(p) for p in _LIST_PARAMS], ref=schema_name(rt, version) + "List"),
        "post": _op(rt, version, "post", f"create{oid}{suffix}", write_q,
                    ["*/*"], code="201"),
        "delete": _op(rt, version, "deletecollection", f"deletecollection{oid}{suffix}",
                      [_param(p) for p in _LIST_PARAMS if p != "watch"] + [_param("dryRun")],
                      ref=_META + "Status"),
        "parameters": common + [_param("pretty")]}
    item = coll + "/{name}"
    item_common = [_param("name", where="path", required=True)] + common + [_param("pretty")]
    patch_q = write_q + [_param("force", typ="boolean")]
    paths[item] = {
        "get": _op(rt, version, "get", f"read{oid}{suffix}", []),
        "put": _op(rt, version, "put", f"replace{oid}{suffix}", write_q, ["*/*"]),
        "patch": _op(rt, version, "patch", f"patch{oid}{suffix}", patch_q, _patch_types(rt)),
        "delete": _op(rt, version, "delete", f"delete{oid}{suffix}", [_param("dryRun")],
                      ["*/*"], ref=_META + "Status"),
        "parameters": item_common}
    if "status" in rt.subresources:
        paths[item + "/status"] = {
            "get": _op(rt, version, "get", f"read{oid}{suffix}Status", []),
            "put": _op(rt, version, "put", f"replace{oid}{suffix}Status", write_q, ["*/*"]),
            "patch": _op(rt, version, "patch", f"patch{oid}{suffix}Status", patch_q,
                         _patch_types(rt)),
            "parameters": item_common}
    if rt.namespaced:
        paths[f"{base}/{rt.plural}"] = {
            "get": _op(rt, version, "list", f"list{oid}{rt.kind}ForAllNamespaces",
                       [_param(p) for p in _LIST_PARAMS], ref=schema_name(rt, version) + "List"),
            "parameters": [_param("pretty")]}
    return paths


def _types_of(types, group, version):
    seen, out = set(), []
    for rt in sorted(types, key=lambda t: t.plural):
        if rt.group == group and version in rt.versions and rt.plural not in seen:
            seen.add(rt.plural)
            out.append(rt)
    return out


def group_versions(types):
    gvs = []
    for rt in types:
        for v in rt.versions:
            if (rt.group, v) not in gvs:
                gvs.append((rt.group, v))
    return sorted(gvs, key=lambda gv: gv_key(*gv))


def v3_document(types, group, version):
    """The OpenAPI 3.0 document of one group/version, or None when it is not served."""
    rts = _types_of(types, group, version)
    if not rts:
        return None
    paths, schemas = {}, _meta_schemas()
    for rt in rts:
        paths.update(_paths_for(rt, version))
        schemas[schema_name(rt, version)] = _kind_schema(rt, version)
        schemas[schema_name(rt, version) + "List"] = _list_schema(rt, version)
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


def doc_hash(doc):
    text = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(text).hexdigest().upper()


def v3_index(types):
    paths = {}
    for g, v in group_versions(types):
        key = gv_key(g, v)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash="
                                           f"{doc_hash(v3_document(types, g, v))}"}
    return {"paths": paths}


def _v2_op(op3):
    op = {k: v for k, v in op3.items() if k not in ("requestBody", "responses", "parameters")}
    params = []
    for p in op3.get("parameters") or []:
        q = {k: v for k, v in p.items() if k != "schema"}
        q.update(p.get("schema") or {})
        params.append(q)
    if "requestBody" in op3:
        ct = list(op3["requestBody"]["content"])
        op["consumes"] = ct
        sch = next(iter(op3["requestBody"]["content"].values()))["schema"]
        params.append({"name": "body", "in": "body", "required": True, "schema": {
            "$ref": sch["$ref"].replace("#/components/schemas/", "#/definitions/")}})
    op["parameters"] = params
    op["produces"] = ["application/json", "application/yaml"]
    op["schemes"] = ["https"]
    op["responses"] = {c: {"description": r["description"]}
                       for c, r in op3["responses"].items()}
    return op


def _v2_fix_refs(value):
    if isinstance(value, dict):
        return {k: (v.replace("#/components/schemas/", "#/definitions/")
                    if k == "$ref" and isinstance(v, str) else _v2_fix_refs(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_v2_fix_refs(v) for v in value]
    return value


def v2_document(types):
    paths, defs = {}, {}
    for g, v in group_versions(types):
        doc = v3_document(types, g, v)
        defs.update(_v2_fix_refs(doc["components"]["schemas"]))
        for p, item in doc["paths"].items():
            out = {}
            for meth, op in item.items():
                if meth == "parameters":
                    out[meth] = [dict({k: x for k, x in q.items() if k != "schema"},
                                      **q.get("schema", {})) for q in op]
                else:
                    out[meth] = _v2_op(op)
            paths[p] = out
    return {"swagger": "2.0",
            "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths, "definitions": defs,
            "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization",
                                                    "in": "header"}},
            "security": [{"BearerToken": []}]}


def handle(sim, req, path):
    """Answers GET /openapi/v2, /openapi/v3 and /openapi/v3/<gv>; returns False otherwise."""
    import sim_errors as E
    types = list(sim.types.values())
    accept = req.h.headers.get("Accept", "")
    if path == "/openapi/v2":
        if "protobuf" in accept and "json" not in accept:
            raise E.ApiException(406, E.status_body(
                406, "NotAcceptable", "only the following media types are accepted: "
                "application/json (the simulator does not encode OpenAPI v2 as protobuf)"))
        sim.send_json(req, 200, v2_document(types))
        return True
    if path == "/openapi/v3":
        sim.send_json(req, 200, v3_index(types))
        return True
    if path.startswith("/openapi/v3/"):
        parts = path[len("/openapi/v3/"):].strip("/").split("/")
        if len(parts) == 2 and parts[0] == "api":
            doc = v3_document(types, "", parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = v3_document(types, parts[1], parts[2])
        else:
            doc = None
        if doc is None:
            raise E.resource_not_found()
        sim.send_json(req, 200, doc, {"Etag": '"' + doc_hash(doc) + '"'})
        return True
    return False
