"""The kinds the simulated API server serves: one ResourceType per (group, plural).

Adding a kind = one ResourceType(...) entry: scope, subresources, generation, field
selectors, hooks for defaulting/validation/conversion.
"""

import sim_convert as conv
import sim_crd
import sim_validation as val

RESOURCE_GROUP = "resource.k8s.io"
VERSION_ORDER = ("v1", "v1beta2", "v1beta1")   # newest first: preferred = first served


def _get_path(obj, dotted):
    cur = obj
    for p in dotted.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class ResourceType:
    def __init__(self, group, plural, kind, namespaced, versions=("v1",), singular=None,
                 subresources=(), generation=False, fields=(), field_style="known",
                 delete_returns_status=False, short_names=(), categories=(), storage_hash="",
                 default=None, validate_create=None, validate_update=None, validate_status=None,
                 decode=None, normalize=None, to_version=None, from_version=None,
                 bookmark_extra=None, store_key=None, field_map=None, crd_uid=None,
                 list_kind=None, initial_status=None, verbs=None):
        self.group = group
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.versions = tuple(versions)
        self.singular = singular or kind.lower()
        self.subresources = set(subresources)
        self.generation = generation
        self.fields = tuple(fields)
        self.field_style = field_style
        self.delete_returns_status = delete_returns_status
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.storage_hash = storage_hash
        self.default = default
        self.validate_create = validate_create
        self.validate_update = validate_update
        self.validate_status = validate_status
        self.decode = decode
        self.normalize = normalize
        self.to_version = to_version
        self.from_version = from_version
        self.bookmark_extra = bookmark_extra or {}
        self.store_key = store_key or f"{group}/{plural}"
        self.field_map = field_map or {}
        self.crd_uid = crd_uid
        self.list_kind = list_kind or kind + "List"
        self.initial_status = initial_status
        self.crd = None            # the CustomResourceDefinition object of a custom resource
        self.verbs = verbs or ["create", "delete", "deletecollection", "get", "list", "patch",
                               "update", "watch"]

    @property
    def key(self):
        return (self.group, self.plural)

    def api_version(self, version):
        return f"{self.group}/{version}" if self.group else version

    def field_names(self):
        base = ["metadata.name"] + (["metadata.namespace"] if self.namespaced else [])
        return base + list(self.fields)

    def field_selector_error(self, f):
        if self.field_style == "label":
            gv = f"{self.group}/{self.versions[0]}" if self.group else f"/{self.versions[0]}"
            return f"field label not supported for {gv}, Kind={self.kind}: {f}"
        known = ", ".join(f'"{n}"' for n in self.field_names())
        return f'"{f}" is not a known field selector: only {known}'

    def field_value(self, obj, f):
        return _get_path(obj, self.field_map.get(f, f))

    def render(self, obj, version, with_kind=True):
        """Stored object -> served version (kind/apiVersion first, like the real server)."""
        body = self.to_version(version, obj) if self.to_version else obj
        if not with_kind:
            return {k: v for k, v in body.items() if k not in ("kind", "apiVersion")}
        out = {"kind": self.kind, "apiVersion": self.api_version(version)}
        for k, v in body.items():
            if k not in ("kind", "apiVersion"):
                out[k] = v
        return out

    def bookmark(self, version, rv, annotations=None):
        md = {"resourceVersion": str(rv)}
        if annotations:
            md["annotations"] = annotations
        out = {"kind": self.kind, "apiVersion": self.api_version(version), "metadata": md}
        out.update(self.bookmark_extra)
        return out


def _resource_hooks(kind):
    return dict(to_version=lambda v, o: conv.resource_to_version(kind, v, o),
                from_version=lambda v, o: conv.resource_from_version(kind, v, o))


def _lease_decode(obj):
    val.decode_lease(obj)


def builtin_types(resource_versions):
    rv = tuple(v for v in VERSION_ORDER if v in resource_versions)
    core_events_fields = ["involvedObject.kind", "involvedObject.namespace",
                          "involvedObject.name", "involvedObject.uid",
                          "involvedObject.apiVersion", "involvedObject.resourceVersion",
                          "involvedObject.fieldPath", "reason", "reportingComponent", "source",
                          "type"]
    ev_map = {"regarding.kind": "involvedObject.kind", "regarding.namespace":
              "involvedObject.namespace", "regarding.name": "involvedObject.name",
              "regarding.uid": "involvedObject.uid", "regarding.apiVersion":
              "involvedObject.apiVersion", "regarding.resourceVersion":
              "involvedObject.resourceVersion", "regarding.fieldPath": "involvedObject.fieldPath",
              "reportingController": "reportingComponent", "source": "source.component"}
    types = [
        ResourceType("", "namespaces", "Namespace", False, subresources=("status", "finalize"),
                     fields=["status.phase"], field_style="label", short_names=["ns"],
                     storage_hash="Q3oi5N2YM8M=", default=val.default_namespace,
                     validate_create=val.validate_namespace,
                     validate_update=lambda o, n: val.validate_namespace(n),
                     verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
                     bookmark_extra={"spec": {}, "status": {}}),
        ResourceType("", "nodes", "Node", False, subresources=("status",),
                     fields=["spec.unschedulable"], field_style="label", short_names=["no"],
                     delete_returns_status=True, storage_hash="XwShjMxG9Fs=",
                     validate_create=lambda o: val.validate_object_name(o["metadata"].get("name")),
                     bookmark_extra={"spec": {}, "status": {}}),
        ResourceType("", "pods", "Pod", True, subresources=("status", "binding", "log"),
                     generation=True,
                     fields=["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                             "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                             "status.podIP", "status.nominatedNodeName"],
                     field_style="label", short_names=["po"], categories=["all"],
                     storage_hash="xPOwRZ+Yhw8=", default=val.default_pod,
                     validate_create=val.validate_pod, validate_update=val.validate_pod_update,
                     bookmark_extra={"spec": {"containers": None}, "status": {}}),
        ResourceType("", "events", "Event", True, fields=core_events_fields, field_style="label",
                     short_names=["ev"], delete_returns_status=True, storage_hash="r2yiGXH7wu8=",
                     store_key="core/events", default=conv.event_core_defaults,
                     field_map={"source": "source.component"},
                     bookmark_extra={"involvedObject": {}, "source": {}, "firstTimestamp": None,
                                     "lastTimestamp": None, "eventTime": None,
                                     "reportingComponent": "", "reportingInstance": ""}),
        ResourceType("events.k8s.io", "events", "Event", True, fields=list(ev_map) + [
                     "reason", "type"], field_style="label", short_names=["ev"],
                     delete_returns_status=True, storage_hash="r2yiGXH7wu8=",
                     store_key="core/events", field_map=ev_map,
                     to_version=lambda v, o: conv.event_to_eventsv1(o),
                     from_version=lambda v, o: conv.event_from_eventsv1(o),
                     default=conv.event_core_defaults,
                     bookmark_extra={"eventTime": None, "regarding": {}, "deprecatedSource": {},
                                     "deprecatedFirstTimestamp": None,
                                     "deprecatedLastTimestamp": None}),
        ResourceType("coordination.k8s.io", "leases", "Lease", True, delete_returns_status=True,
                     storage_hash="gqkMMb/YqFM=", decode=_lease_decode,
                     validate_create=val.validate_lease,
                     validate_update=lambda o, n: val.validate_lease(n),
                     bookmark_extra={"spec": {}}),
        ResourceType(RESOURCE_GROUP, "deviceclasses", "DeviceClass", False, versions=rv,
                     generation=True, storage_hash="Yk2PTc1Ybxk=",
                     validate_create=val.validate_deviceclass,
                     validate_update=lambda o, n: val.validate_deviceclass(n),
                     bookmark_extra={"spec": {}}, **_resource_hooks("DeviceClass")),
        ResourceType(RESOURCE_GROUP, "resourceclaims", "ResourceClaim", True, versions=rv,
                     subresources=("status",), storage_hash="wgAZaHcZxUg=",
                     default=val.default_resourceclaim,
                     validate_create=val.validate_resourceclaim_create,
                     validate_update=val.validate_resourceclaim_update,
                     validate_status=val.validate_resourceclaim_status, initial_status={},
                     normalize=val.normalize_claim,
                     bookmark_extra={"spec": {"devices": {}}, "status": {}},
                     **_resource_hooks("ResourceClaim")),
        ResourceType(RESOURCE_GROUP, "resourceclaimtemplates", "ResourceClaimTemplate", True,
                     versions=rv, storage_hash="TuzjC49aUfM=",
                     default=val.default_resourceclaimtemplate,
                     normalize=val.normalize_claim_template,
                     validate_create=val.validate_resourceclaimtemplate,
                     validate_update=val.validate_resourceclaimtemplate_update,
                     bookmark_extra={"spec": {"spec": {"devices": {}}}},
                     **_resource_hooks("ResourceClaimTemplate")),
        ResourceType(RESOURCE_GROUP, "resourceslices", "ResourceSlice", False, versions=rv,
                     generation=True, fields=["spec.nodeName", "spec.driver"], field_style="label",
                     storage_hash="KsC072WgaEY=", decode=val.drop_disabled_slice_fields,
                     normalize=val.normalize_slice, validate_create=val.validate_resourceslice,
                     validate_update=val.validate_resourceslice_update,
                     bookmark_extra={"spec": {"driver": "", "pool": {"name": "", "generation": 0,
                                                                      "resourceSliceCount": 0}}},
                     **_resource_hooks("ResourceSlice")),
        ResourceType("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", False,
                     storage_hash="bYE5ZWDrJ44=", delete_returns_status=True,
                     validate_create=lambda o: val.validate_object_name(
                         o["metadata"].get("name"), rbac=True),
                     bookmark_extra={"rules": None}),
        ResourceType("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding",
                     False, storage_hash="48tpQ8gZHFc=", delete_returns_status=True,
                     validate_create=lambda o: val.validate_object_name(
                         o["metadata"].get("name"), rbac=True),
                     bookmark_extra={"roleRef": {"apiGroup": "", "kind": "", "name": ""}}),
        ResourceType("rbac.authorization.k8s.io", "roles", "Role", True,
                     storage_hash="7FuwZcIIItM=", delete_returns_status=True,
                     validate_create=lambda o: val.validate_object_name(
                         o["metadata"].get("name"), rbac=True),
                     bookmark_extra={"rules": None}),
        ResourceType("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", True,
                     storage_hash="eGsCzGH6b1g=", delete_returns_status=True,
                     validate_create=lambda o: val.validate_object_name(
                         o["metadata"].get("name"), rbac=True),
                     bookmark_extra={"roleRef": {"apiGroup": "", "kind": "", "name": ""}}),
        ResourceType("apiextensions.k8s.io", "customresourcedefinitions",
                     "CustomResourceDefinition", False, subresources=("status",),
                     generation=True, short_names=["crd", "crds"], categories=["api-extensions"],
                     storage_hash="jfWCUB31mvA=",
                     validate_create=lambda o: val.validate_crd(o) + sim_crd.crd_problems(o),
                     validate_update=lambda o, n: val.validate_crd(n) + sim_crd.crd_problems(n),
                     bookmark_extra={"spec": {"group": "", "names": {"plural": "", "kind": ""},
                                              "scope": "", "versions": None},
                                     "status": {"conditions": None,
                                                "acceptedNames": {"plural": "", "kind": ""},
                                                "storedVersions": None}}),
    ]
    return types


def crd_types(crd):
    """ResourceTypes for a CustomResourceDefinition object (one per served version set)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v["name"] for v in spec.get("versions") or [] if v.get("served", True)]
    has_status = any(((v.get("subresources") or {}).get("status") is not None)
                     for v in spec.get("versions") or [])
    selectable = []
    for v in spec.get("versions") or []:
        for sf in v.get("selectableFields") or []:
            p = sf.get("jsonPath", "").lstrip(".")
            if p and p not in selectable:
                selectable.append(p)
    hooks = sim_crd.CustomResourceHooks(crd)
    rt = ResourceType(spec.get("group"), names.get("plural"), names.get("kind"),
                      spec.get("scope") == "Namespaced", versions=versions,
                      singular=names.get("singular") or names.get("kind", "").lower(),
                      subresources=("status",) if has_status else (), generation=True,
                      fields=selectable, short_names=names.get("shortNames") or [],
                      categories=names.get("categories") or [],
                      crd_uid=crd["metadata"]["uid"],
                      list_kind=names.get("listKind") or names.get("kind", "") + "List",
                      decode=hooks.decode, validate_create=hooks.validate_create,
                      validate_update=hooks.validate_update,
                      validate_status=hooks.validate_status)
    rt.crd = hooks.crd
    return rt
