"""RBAC for the simulated API server (opt-in with ApiServer(rbac=True)).

Evaluates the stored rbac.authorization.k8s.io/v1 Roles, ClusterRoles and their bindings for
every request of a user that is not in system:masters, like the real RBAC authorizer (no
aggregation rules, no escalation checks). Simplifications: the node authorizer is replaced by
"group system:nodes may do anything"; every authenticated user may read discovery and
/version, /healthz, /livez, /readyz (the bootstrap system:discovery/system:basic-user roles).
"""

RBAC_GROUP = "rbac.authorization.k8s.io"
PUBLIC_NONRESOURCE = ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi")


def _subject_matches(subj, user, groups):
    kind = subj.get("kind")
    name = subj.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == f"system:serviceaccount:{subj.get('namespace', '')}:{name}"
    return False


def _match_list(values, wanted):
    return "*" in values or wanted in values


def _rule_allows(rule, attrs):
    verb = attrs["verb"]
    if attrs.get("resource") is None:
        urls = rule.get("nonResourceURLs") or []
        path = attrs["path"]
        if not _match_list(rule.get("verbs") or [], verb):
            return False
        return any(u == path or u == "*" or (u.endswith("*") and path.startswith(u[:-1]))
                   for u in urls)
    if not _match_list(rule.get("verbs") or [], verb):
        return False
    if not _match_list(rule.get("apiGroups") or [], attrs.get("apiGroup") or ""):
        return False
    res = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    resources = rule.get("resources") or []
    if not ("*" in resources or res in resources or
            (attrs.get("subresource") and f"*/{attrs['subresource']}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    if names and attrs.get("name") not in names:
        return False
    return True


class RbacAuthorizer:
    def __init__(self, store):
        self.store = store

    def _objects(self, plural):
        with self.store.lock:
            return [dict(o) for o in self.store.objects.get(f"{RBAC_GROUP}/{plural}", {}).values()]

    def _role_rules(self, ref, namespace):
        kind, name = ref.get("kind"), ref.get("name")
        if kind == "ClusterRole":
            obj = self.store.peek(f"{RBAC_GROUP}/clusterroles", "", name)
        elif kind == "Role" and namespace:
            obj = self.store.peek(f"{RBAC_GROUP}/roles", namespace, name)
        else:
            obj = None
        return (obj or {}).get("rules") or []

    def allowed(self, attrs):
        user = attrs.get("user") or ""
        groups = set(attrs.get("groups") or ())
        if "system:masters" in groups or "system:nodes" in groups:
            return True
        if attrs.get("resource") is None and attrs["verb"] == "get" and \
                "system:authenticated" in groups and \
                any(attrs["path"] == p or attrs["path"].startswith(p + "/")
                    for p in PUBLIC_NONRESOURCE):
            return True
        for b in self._objects("clusterrolebindings"):
            if any(_subject_matches(s, user, groups) for s in b.get("subjects") or []):
                if any(_rule_allows(r, attrs) for r in self._role_rules(b.get("roleRef") or {},
                                                                         None)):
                    return True
        ns = attrs.get("namespace")
        if ns and attrs.get("resource") is not None:
            for b in self._objects("rolebindings"):
                if b["metadata"].get("namespace") != ns:
                    continue
                if any(_subject_matches(s, user, groups) for s in b.get("subjects") or []):
                    if any(_rule_allows(r, attrs) for r in self._role_rules(
                            b.get("roleRef") or {}, ns)):
                        return True
        return False

    __call__ = allowed
