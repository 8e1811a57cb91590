"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the part of strategic merge patch
that status and metadata updates use (lists of objects merged by their Kubernetes merge key)."""

import copy

from sim_errors import ApiException, bad_request, status_body

# field name -> merge key for strategic merge of lists of objects
SMP_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "containerStatuses": "name", "initContainerStatuses": "name", "env": "name",
    "ports": "containerPort", "volumes": "name", "volumeMounts": "mountPath",
    "conditions": "type", "ownerReferences": "uid", "resourceClaims": "name",
    "resourceClaimStatuses": "name", "reservedFor": "uid", "tolerations": None,
    "claims": "name", "addresses": "type", "taints": None, "podIPs": "ip", "hostIPs": "ip",
}
SMP_SET_LISTS = {"finalizers"}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target)
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            out[name] = [x for x in out.get(name) or [] if x not in v]
            continue
        if k.startswith("$setElementOrder/") or k == "$retainKeys" or k == "$patch":
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in SMP_SET_LISTS:
            cur = list(out.get(k) or [])
            for x in v:
                if x not in cur:
                    cur.append(x)
            out[k] = cur
        elif isinstance(v, list) and SMP_MERGE_KEYS.get(k) and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, SMP_MERGE_KEYS[k])
        elif isinstance(v, dict):
            out[k] = strategic_merge_patch(out.get(k), v, k)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(cur, patch, key):
    out = [copy.deepcopy(x) for x in cur]
    for el in patch:
        if not isinstance(el, dict) or key not in el:
            out.append(copy.deepcopy(el))
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == el[key]),
                   None)
        if el.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:  # a null in a new element deletes nothing: it is just not set
            out.append({k: v for k, v in copy.deepcopy(el).items()
                        if k != "$patch" and v is not None})
        else:
            out[idx] = strategic_merge_patch(out[idx], el)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("the server rejected our request due to an error in our request")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _patch_failed(msg):
    return ApiException(422, status_body(422, "Invalid", msg))


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise _patch_failed(f"jsonpatch: path not found: {p}")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise _patch_failed(f"jsonpatch: invalid index {p}")
        else:
            raise _patch_failed(f"jsonpatch: path not found: {p}")
    return cur


def _add(doc, parts, value, replace=False):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _patch_failed(f"jsonpatch replace operation does not apply: doc is missing key: "
                                f"/{'/'.join(parts)}: missing value")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise _patch_failed(f"jsonpatch: invalid index {last}")
            if replace:
                if i >= len(parent):
                    raise _patch_failed("jsonpatch replace operation does not apply: index out of range")
                parent[i] = value
            else:
                if i > len(parent):
                    raise _patch_failed("jsonpatch add operation does not apply: index out of range")
                parent.insert(i, value)
    else:
        raise _patch_failed(f"jsonpatch add operation does not apply: doc is missing path: "
                            f"/{'/'.join(parts)}")
    return doc


def _remove(doc, parts):
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _patch_failed(f"jsonpatch remove operation does not apply: doc is missing path: "
                                f"\"/{'/'.join(parts)}\"")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise _patch_failed("jsonpatch remove operation does not apply: index out of range")
    raise _patch_failed("jsonpatch remove operation does not apply")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "replace":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "move":
            v = _remove(doc, _pointer(op.get("from", "")))
            doc = _add(doc, parts, v)
        elif kind == "copy":
            v = copy.deepcopy(_walk(doc, _pointer(op.get("from", ""))))
            doc = _add(doc, parts, v)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise _patch_failed("the server rejected our request due to an error in our "
                                    "request")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc
