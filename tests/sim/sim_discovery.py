"""Discovery documents (/api, /apis, /apis/<g>, /apis/<g>/<v>, aggregated v2), built from the
registered resource types so CRDs show up once created."""

VERSION_INFO = {
    "major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "35", "gitVersion": "v1.36.2",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-11-22T00:00:00Z", "goVersion": "go1.26.11", "compiler": "gc",
    "platform": "linux/amd64",
}

# Order of built-in groups in /apis (subset of the real server's order); CRD groups follow.
BUILTIN_GROUP_ORDER = ["apps", "events.k8s.io", "policy", "rbac.authorization.k8s.io",
                       "admissionregistration.k8s.io", "apiextensions.k8s.io",
                       "scheduling.k8s.io", "coordination.k8s.io", "resource.k8s.io"]

_SUB_VERBS = {"status": ["get", "patch", "update"], "binding": ["create"],
              "finalize": ["update"], "log": ["get"]}
_SUB_KIND = {"binding": "Binding"}


def _group_order(types):
    groups = []
    for g in BUILTIN_GROUP_ORDER:
        if any(rt.group == g for rt in types):
            groups.append(g)
    for rt in types:
        if rt.group and rt.group not in groups:
            groups.append(rt.group)
    return groups


def _versions_of(types, group):
    from sim_types import VERSION_ORDER
    vs = []
    for rt in types:
        if rt.group == group:
            for v in rt.versions:
                if v not in vs:
                    vs.append(v)
    known = [v for v in VERSION_ORDER if v in vs]
    return known + [v for v in vs if v not in known]


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(types, group):
    vs = _versions_of(types, group)
    if not vs:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in vs],
            "preferredVersion": {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]}}


def api_group_list(types):
    groups = []
    for g in _group_order(types):
        d = api_group(types, g)
        if d:
            d = {k: v for k, v in d.items() if k not in ("kind", "apiVersion")}
            groups.append(d)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_entries(types, group, version):
    out = []
    seen = set()
    for rt in sorted((t for t in types if t.group == group and version in t.versions),
                     key=lambda t: t.plural):
        if rt.plural in seen:
            continue
        seen.add(rt.plural)
        e = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
             "kind": rt.kind, "verbs": list(rt.verbs)}
        if rt.short_names:
            e["shortNames"] = list(rt.short_names)
        if rt.categories:
            e["categories"] = list(rt.categories)
        if rt.storage_hash:
            e["storageVersionHash"] = rt.storage_hash
        out.append(e)
        for sub in sorted(rt.subresources):
            out.append({"name": f"{rt.plural}/{sub}", "singularName": "",
                        "namespaced": rt.namespaced, "kind": _SUB_KIND.get(sub, rt.kind),
                        "verbs": list(_SUB_VERBS.get(sub, ["get"]))})
    return out


def api_resource_list(types, group, version):
    entries = _resource_entries(types, group, version)
    if not entries:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": entries}


def _aggregated_group(types, group):
    versions = []
    for v in (_versions_of(types, group) if group else ["v1"]):
        res = []
        for rt in sorted((t for t in types if t.group == group and v in t.versions),
                         key=lambda t: t.plural):
            if any(r["resource"] == rt.plural for r in res):
                continue
            e = {"resource": rt.plural,
                 "responseKind": {"group": "", "version": "", "kind": rt.kind},
                 "scope": "Namespaced" if rt.namespaced else "Cluster",
                 "singularResource": rt.singular, "verbs": list(rt.verbs)}
            if rt.short_names:
                e["shortNames"] = list(rt.short_names)
            if rt.categories:
                e["categories"] = list(rt.categories)
            subs = [{"subresource": s,
                     "responseKind": {"group": "", "version": "",
                                      "kind": _SUB_KIND.get(s, rt.kind)},
                     "verbs": list(_SUB_VERBS.get(s, ["get"]))} for s in sorted(rt.subresources)]
            if subs:
                e["subresources"] = subs
            res.append(e)
        versions.append({"version": v, "resources": res, "freshness": "Current"})
    md = {"name": group} if group else {}
    return {"metadata": md, "versions": versions}


def aggregated(types, core):
    if core:
        items = [_aggregated_group(types, "")]
    else:
        items = [_aggregated_group(types, g) for g in _group_order(types)]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}
