"""Built-in kinds served only so that kubectl can apply the project's manifests (deploy/,
crds/) against the simulator: ServiceAccount, ConfigMap, Secret, Service, Deployment, DaemonSet,
PodDisruptionBudget, PriorityClass and the ValidatingAdmissionPolicy pair. They are stored and watched like everything else, with
generation/status-subresource semantics and discovery entries as in the 1.36 captures, but no
controller acts on them (no pods are created for a Deployment or DaemonSet, no policy is
enforced)."""

import sim_validation as val
from sim_types import ResourceType


def _name_ok(o):
    return val.validate_object_name(o["metadata"].get("name"))


def _name_ok_update(_old, new):
    return val.validate_object_name(new["metadata"].get("name"))


def _workload_defaults(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    tmpl = (spec.get("template") or {}).get("spec") or {}
    for c in tmpl.get("containers") or []:
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    if tmpl:
        tmpl.setdefault("restartPolicy", "Always")
        tmpl.setdefault("dnsPolicy", "ClusterFirst")
        tmpl.setdefault("schedulerName", "default-scheduler")
        tmpl.setdefault("terminationGracePeriodSeconds", 30)
        tmpl.setdefault("securityContext", {})


def _deployment_defaults(obj):
    _workload_defaults(obj)
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})


def _daemonset_defaults(obj):
    _workload_defaults(obj)
    obj["spec"].setdefault("updateStrategy", {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})


def _workload_validate(obj):
    errs = _name_ok(obj)
    spec = obj.get("spec") or {}
    if not (spec.get("selector") or {}):
        errs.append(val.required("spec.selector"))
    if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
        errs.append(val.required("spec.template.spec.containers"))
    return errs


def extra_types():
    common = dict(delete_returns_status=True, validate_create=_name_ok,
                  validate_update=_name_ok_update)
    return [
        ResourceType("", "serviceaccounts", "ServiceAccount", True, short_names=["sa"],
                     bookmark_extra={}, **common),
        ResourceType("", "configmaps", "ConfigMap", True, short_names=["cm"],
                     bookmark_extra={}, **common),
        ResourceType("", "secrets", "Secret", True, bookmark_extra={}, **common),
        ResourceType("", "services", "Service", True, subresources=("status",),
                     short_names=["svc"], categories=["all"], initial_status={"loadBalancer": {}},
                     default=lambda o: o.setdefault("spec", {}).setdefault("type", "ClusterIP"),
                     bookmark_extra={"spec": {}, "status": {"loadBalancer": {}}}, **common),
        ResourceType("policy", "poddisruptionbudgets", "PodDisruptionBudget", True,
                     subresources=("status",), generation=True, short_names=["pdb"],
                     initial_status={"disruptionsAllowed": 0, "currentHealthy": 0,
                                     "desiredHealthy": 0, "expectedPods": 0},
                     bookmark_extra={"spec": {}, "status": {
                         "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                         "expectedPods": 0}}, **common),
        ResourceType("scheduling.k8s.io", "priorityclasses", "PriorityClass", False,
                     short_names=["pc"], bookmark_extra={"value": 0}, **common),
        ResourceType("apps", "deployments", "Deployment", True, subresources=("status",),
                     generation=True, short_names=["deploy"], categories=["all"],
                     default=_deployment_defaults, initial_status={},
                     bookmark_extra={"spec": {"selector": None, "template": {
                         "metadata": {}, "spec": {"containers": None}}, "strategy": {}},
                         "status": {}},
                     delete_returns_status=True, validate_create=_workload_validate,
                     validate_update=lambda o, n: _workload_validate(n)),
        ResourceType("apps", "daemonsets", "DaemonSet", True, subresources=("status",),
                     generation=True, short_names=["ds"], categories=["all"],
                     default=_daemonset_defaults, initial_status={
                         "currentNumberScheduled": 0, "numberMisscheduled": 0,
                         "desiredNumberScheduled": 0, "numberReady": 0},
                     bookmark_extra={"spec": {"selector": None, "template": {
                         "metadata": {}, "spec": {"containers": None}},
                         "updateStrategy": {}}, "status": {
                         "currentNumberScheduled": 0, "numberMisscheduled": 0,
                         "desiredNumberScheduled": 0, "numberReady": 0}},
                     delete_returns_status=True, validate_create=_workload_validate,
                     validate_update=lambda o, n: _workload_validate(n)),
        ResourceType("admissionregistration.k8s.io", "validatingadmissionpolicies",
                     "ValidatingAdmissionPolicy", False, subresources=("status",),
                     generation=True, categories=["api-extensions"], initial_status={},
                     bookmark_extra={"spec": {}, "status": {}}, **common),
        ResourceType("admissionregistration.k8s.io", "validatingadmissionpolicybindings",
                     "ValidatingAdmissionPolicyBinding", False, generation=True,
                     categories=["api-extensions"], bookmark_extra={"spec": {}}, **common),
    ]
