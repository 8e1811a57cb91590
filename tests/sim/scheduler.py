"""Simulated kube-scheduler (DRA structured parameters) plus the resourceclaim part of
kube-controller-manager, driving real objects on the API server simulator.

Pure part (no server needed):
    allocate(claim, node, slices, classes, in_use) -> (allocation, used_device_keys)
        raises Unschedulable(message). Objects in v1 shape (see normalize_* for v1beta1).

Running part:
    Scheduler(client, resource_version=None, interval=0.1, log_path=None)
        .start() / .stop() / .sync_once()
    Each pass: (1) claim controller: ResourceClaimTemplate -> generated claim
    `<pod>-<podClaimName>-<5 random>` (generateName, annotation resource.kubernetes.io/pod-claim-name,
    controller ownerReference to the pod) and pod status.resourceClaimStatuses; reservedFor entries of
    gone/finished pods dropped, unreserved claims deallocated (allocation + reservedFor cleared in one
    status write), finalizer removed, generated claims of gone pods deleted; (2) scheduling of pending
    pods: first node (by name) on which every claim can be allocated and extended resources fit;
    finalizer `resource.kubernetes.io/delete-protection`, then allocation + reservedFor in one /status
    write, then the binding; unschedulable -> PodScheduled=False (reason Unschedulable, message) and a
    Warning FailedScheduling event.
"""

import copy
import threading

import cel
from kclient import ApiError
from kubelet_events import EventRecorder, make_logger, now_rfc3339

FINALIZER = "resource.kubernetes.io/delete-protection"
POD_CLAIM_ANNOTATION = "resource.kubernetes.io/pod-claim-name"
DEFAULT_SCHEDULER = "default-scheduler"


class Unschedulable(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# version normalisation (v1beta1 -> v1 shapes; v1beta2 already has the v1 shape)

def normalize_slice(s, version="v1"):
    if version != "v1beta1":
        return s
    s = copy.deepcopy(s)
    devs = []
    for d in s.get("spec", {}).get("devices") or []:
        nd = {"name": d.get("name")}
        nd.update(d.get("basic") or {})
        devs.append(nd)
    s.setdefault("spec", {})["devices"] = devs
    return s


_EXACT_FIELDS = ("deviceClassName", "selectors", "allocationMode", "count", "adminAccess",
                 "tolerations", "capacity")


def normalize_claim(c, version="v1"):
    if version != "v1beta1":
        return c
    c = copy.deepcopy(c)
    reqs = []
    for r in (c.get("spec", {}).get("devices") or {}).get("requests") or []:
        if r.get("firstAvailable"):
            reqs.append({"name": r["name"], "firstAvailable": r["firstAvailable"]})
        else:
            reqs.append({"name": r["name"],
                         "exactly": {k: r[k] for k in _EXACT_FIELDS if k in r}})
    if reqs:
        c["spec"]["devices"]["requests"] = reqs
    return c


# ---------------------------------------------------------------------------------------------
# pure allocation

def _node_selector_matches(sel, node):
    """NodeSelector (terms ORed; expressions/fields ANDed) against a Node object."""
    md = node.get("metadata", {})
    labels = md.get("labels") or {}
    fields = {"metadata.name": md.get("name")}
    for term in sel.get("nodeSelectorTerms") or []:
        ok = True
        for src, reqs in ((labels, term.get("matchExpressions") or []),
                          (fields, term.get("matchFields") or [])):
            for r in reqs:
                key, op, vals = r.get("key"), r.get("operator"), r.get("values") or []
                have = key in src
                v = src.get(key)
                if op == "In":
                    ok = ok and have and v in vals
                elif op == "NotIn":
                    ok = ok and not (have and v in vals)
                elif op == "Exists":
                    ok = ok and have
                elif op == "DoesNotExist":
                    ok = ok and not have
                else:
                    ok = False
        if ok:
            return True
    return False


def candidate_devices(slices, node):
    """Devices usable on `node`: newest generation of complete pools only.

    Returns (candidates, notes). candidate = dict(driver, pool, device, slice_node_local,
    node_selector, dev)."""
    node_name = node["metadata"]["name"]
    pools = {}
    for s in slices:
        sp = s.get("spec", {})
        pool = sp.get("pool") or {}
        pools.setdefault((sp.get("driver"), pool.get("name")), []).append(s)
    out, notes = [], []
    for (driver, pname), group in sorted(pools.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        gen = max(int(s["spec"]["pool"].get("generation") or 0) for s in group)
        cur = [s for s in group if int(s["spec"]["pool"].get("generation") or 0) == gen]
        want = max(int(s["spec"]["pool"].get("resourceSliceCount") or 1) for s in cur)
        if len(cur) < want:
            notes.append(f"pool {driver}/{pname} is incomplete ({len(cur)} of {want} slices "
                         f"of generation {gen})")
            continue
        for s in sorted(cur, key=lambda x: x["metadata"].get("name", "")):
            sp = s["spec"]
            if sp.get("nodeName"):
                if sp["nodeName"] != node_name:
                    continue
                local, nsel = True, None
            elif sp.get("allNodes"):
                local, nsel = False, None
            elif sp.get("nodeSelector"):
                if not _node_selector_matches(sp["nodeSelector"], node):
                    continue
                local, nsel = False, sp["nodeSelector"]
            elif sp.get("perDeviceNodeSelection"):
                local, nsel = None, None
            else:
                continue
            for d in sp.get("devices") or []:
                dl, dsel = local, nsel
                if local is None:  # per-device node selection
                    if d.get("nodeName"):
                        if d["nodeName"] != node_name:
                            continue
                        dl = True
                    elif d.get("allNodes"):
                        dl = False
                    elif d.get("nodeSelector") and _node_selector_matches(d["nodeSelector"], node):
                        dl, dsel = False, d["nodeSelector"]
                    else:
                        continue
                out.append({"driver": driver, "pool": pname, "device": d.get("name"),
                            "local": dl, "node_selector": dsel, "dev": d})
    return out, notes


def _tolerated(taint, tolerations):
    for t in tolerations or []:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        if op == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _blocked_by_taint(dev, tolerations):
    for taint in dev.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, tolerations):
            return taint
    return None


def key_of(c):
    return (c["driver"], c["pool"], c["device"])


ADMIN_ACCESS_LABEL = "resource.kubernetes.io/admin-access"


def allocate(claim, node, slices, classes, in_use, now=None, admin_ok=False):
    """Allocate every request of `claim` on `node`.

    claim/slices/classes in v1 shape; classes: name -> DeviceClass; in_use: set of
    (driver, pool, device) allocated to other claims. Returns (allocation, set of keys).
    A request with adminAccess needs admin_ok (its namespace carries the label
    resource.kubernetes.io/admin-access=true); it may get devices in use and takes none."""
    cands, notes = candidate_devices(slices, node)
    spec = (claim.get("spec") or {}).get("devices") or {}
    requests = spec.get("requests") or []
    if spec.get("constraints"):
        raise Unschedulable("claim constraints (matchAttribute/distinctAttribute) are not "
                            "supported by the scheduler simulator")
    node_name = node["metadata"]["name"]

    def matching(req_name, r):
        cls_name = r.get("deviceClassName")
        cls = classes.get(cls_name)
        if cls is None:
            raise Unschedulable(f"request {req_name}: device class {cls_name} does not exist")
        exprs = [s["cel"]["expression"] for s in (cls.get("spec", {}).get("selectors") or [])
                 if "cel" in s]
        exprs += [s["cel"]["expression"] for s in (r.get("selectors") or []) if "cel" in s]
        if len([s for s in (cls.get("spec", {}).get("selectors") or []) + (r.get("selectors") or [])
                if "cel" not in s]):
            raise Unschedulable(f"request {req_name}: only CEL selectors are supported")
        for e in exprs:
            try:
                cel.compile_expr(e)
            except cel.CelUnsupported as ex:
                raise Unschedulable(f"request {req_name}: unsupported CEL expression {e!r}: {ex}")
        out, errors = [], []
        for c in cands:
            if _blocked_by_taint(c["dev"], r.get("tolerations")):
                continue
            ok = True
            for e in exprs:
                try:
                    if not cel.evaluate(e, c["dev"], c["driver"]):
                        ok = False
                        break
                except cel.CelError as ex:
                    errors.append(f"{c['device']}: {ex}")
                    ok = False
                    break
            if ok:
                out.append(c)
        return out, errors

    def pick(req_name, r, used):
        mode = r.get("allocationMode") or "ExactCount"
        admin = bool(r.get("adminAccess"))
        if admin and not admin_ok:
            raise Unschedulable(f"request {req_name}: adminAccess needs the namespace label "
                                f"{ADMIN_ACCESS_LABEL}=true")
        match, errors = matching(req_name, r)
        detail = ""
        if errors:
            detail = "; CEL runtime errors: " + ", ".join(errors[:3])
        if notes:
            detail += "; " + "; ".join(notes)
        if mode == "All":
            if not match:
                raise Unschedulable(f"request {req_name}: allocationMode All found no matching "
                                    f"device on node {node_name}{detail}")
            busy = [] if admin else [c["device"] for c in match if key_of(c) in used]
            if busy:
                raise Unschedulable(f"request {req_name}: allocationMode All but device(s) "
                                    f"{', '.join(busy)} already allocated")
            return [(req_name, c) for c in match]
        if mode != "ExactCount":
            raise Unschedulable(f"request {req_name}: unknown allocationMode {mode}")
        count = int(r.get("count") or 1)
        free = match if admin else [c for c in match if key_of(c) not in used]
        if len(free) < count:
            raise Unschedulable(f"request {req_name}: cannot allocate {count} device(s) on node "
                                f"{node_name}: {len(match)} match, {len(free)} free{detail}")
        return [(req_name, c) for c in free[:count]]

    def solve(i, used):
        if i == len(requests):
            return []
        req = requests[i]
        if req.get("firstAvailable"):
            alts = [(f"{req['name']}/{sub['name']}", sub) for sub in req["firstAvailable"]]
        elif "exactly" in req:
            alts = [(req["name"], req["exactly"])]
        else:
            raise Unschedulable(f"request {req.get('name')}: neither exactly nor firstAvailable")
        last = None
        for name, r in alts:
            try:
                picks = pick(name, r, used)
                taken = set() if r.get("adminAccess") else {key_of(c) for _, c in picks}
                rest = solve(i + 1, used | taken)
                return [(name, r, c) for name, c in picks] + rest
            except Unschedulable as e:
                if "unsupported CEL" in str(e) or "does not exist" in str(e):
                    raise
                last = e
        raise last

    picks = solve(0, set(in_use))
    results, used, cfg_reqs = [], set(), []
    for name, r, c in picks:
        res = {"request": name, "driver": c["driver"], "pool": c["pool"], "device": c["device"]}
        if r.get("adminAccess"):
            res["adminAccess"] = True
        results.append(res)
        if not r.get("adminAccess"):
            used.add(key_of(c))
        if (name, r.get("deviceClassName")) not in cfg_reqs:
            cfg_reqs.append((name, r.get("deviceClassName")))
    config = []
    for name, cls_name in cfg_reqs:
        for cc in (classes[cls_name].get("spec", {}).get("config") or []):
            e = {"source": "FromClass", "requests": [name]}
            e.update({k: v for k, v in cc.items() if k != "requests"})
            config.append(e)
    for cc in spec.get("config") or []:
        e = {"source": "FromClaim"}
        e.update(cc)
        config.append(e)
    alloc = {"devices": {"results": results}}
    if config:
        alloc["devices"]["config"] = config
    chosen = [c for _, _, c in picks]
    if any(c["local"] for c in chosen):
        alloc["nodeSelector"] = {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    else:
        sel = next((c["node_selector"] for c in chosen if c["node_selector"]), None)
        if sel:
            alloc["nodeSelector"] = copy.deepcopy(sel)
    alloc["allocationTimestamp"] = now or now_rfc3339()
    return alloc, used


def allocated_keys(claims, exclude_uid=None):
    """(driver, pool, device) of every allocated claim (a shared claim counts once); results
    with adminAccess hold nothing."""
    out = set()
    for c in claims:
        if c["metadata"].get("uid") == exclude_uid:
            continue
        for r in (((c.get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []:
            if r.get("adminAccess"):
                continue
            out.add((r.get("driver"), r.get("pool"), r.get("device")))
    return out


def _quantity(v):
    s = str(v)
    mult = {"k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3}
    for suf, m in mult.items():
        if s.endswith(suf):
            return int(float(s[:-len(suf)]) * m)
    return int(float(s))


def extended_requests(pod):
    """{resource: count} of non-native (domain-qualified) resources over all containers."""
    out = {}
    for ctr in (pod.get("spec", {}).get("containers") or []):
        lim = (ctr.get("resources") or {}).get("limits") or {}
        for k, v in lim.items():
            if "/" in k and not k.startswith("kubernetes.io/"):
                out[k] = out.get(k, 0) + _quantity(v)
    return out


# ---------------------------------------------------------------------------------------------
# the running scheduler + claim controller

def pod_terminal(pod):
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_claim_name(pod, pc):
    """Name of the ResourceClaim behind pod.spec.resourceClaims[] entry pc, or None."""
    if pc.get("resourceClaimName"):
        return pc["resourceClaimName"]
    for st in (pod.get("status") or {}).get("resourceClaimStatuses") or []:
        if st.get("name") == pc.get("name"):
            return st.get("resourceClaimName")
    return None


class Scheduler:
    def __init__(self, client, resource_version=None, interval=0.1, log_path=None,
                 scheduler_name=DEFAULT_SCHEDULER, controller=True, schedule=True):
        self.client = client
        self.version = resource_version
        self.interval = interval
        self.name = scheduler_name
        self.log = make_logger("scheduler", log_path)
        self.events = EventRecorder(client, DEFAULT_SCHEDULER, log=self.log)
        self.controller = controller
        self.schedule = schedule
        self._stop = threading.Event()
        self._thread = None
        self._last_reason = {}  # pod uid -> message already reported
        self.passes = 0

    # -- API helpers -----------------------------------------------------------------------
    @property
    def rbase(self):
        if not self.version:
            try:
                g = self.client.get("/apis/resource.k8s.io")
                self.version = g["preferredVersion"]["version"]
            except Exception:
                self.version = "v1"
        return f"/apis/resource.k8s.io/{self.version}"

    def _list(self, path, params=None):
        return self.client.list(path, params).get("items") or []

    def start(self):
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _run(self):
        self.log.info("scheduler started (resource.k8s.io %s)", self.version or "auto")
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as e:
                self.log.exception("sync failed: %s", e)
            self._stop.wait(self.interval)
        self.log.info("scheduler stopped")

    def sync_once(self):
        rb = self.rbase
        pods = self._list("/api/v1/pods")
        claims = [normalize_claim(c, self.version) for c in self._list(f"{rb}/resourceclaims")]
        if self.controller:
            if self._claim_controller(pods, claims):
                claims = [normalize_claim(c, self.version)
                          for c in self._list(f"{rb}/resourceclaims")]
                pods = self._list("/api/v1/pods")
        if self.schedule:
            pending = [p for p in pods if not p["spec"].get("nodeName")
                       and not p["metadata"].get("deletionTimestamp") and not pod_terminal(p)
                       and (p["spec"].get("schedulerName") or DEFAULT_SCHEDULER) == self.name]
            if pending:
                nodes = sorted(self._list("/api/v1/nodes"), key=lambda n: n["metadata"]["name"])
                slices = [normalize_slice(s, self.version) for s in self._list(f"{rb}/resourceslices")]
                classes = {c["metadata"]["name"]: c for c in self._list(f"{rb}/deviceclasses")}
                for pod in sorted(pending, key=lambda p: p["metadata"].get("creationTimestamp", "")):
                    try:
                        self._schedule_pod(pod, pods, nodes, slices, classes, claims)
                    except ApiError as e:
                        self.log.warning("pod %s/%s: API error, retrying: %s",
                                         pod["metadata"]["namespace"], pod["metadata"]["name"], e)
                    claims = [normalize_claim(c, self.version)
                              for c in self._list(f"{rb}/resourceclaims")]
                    pods = self._list("/api/v1/pods")
        self.passes += 1

    # -- resourceclaim controller ------------------------------------------------------------
    def _claim_controller(self, pods, claims):
        rb = self.rbase
        changed = False
        live = {p["metadata"]["uid"]: p for p in pods}
        for pod in pods:
            md = pod["metadata"]
            if md.get("deletionTimestamp") or pod_terminal(pod):
                continue
            statuses = list((pod.get("status") or {}).get("resourceClaimStatuses") or [])
            known = {s.get("name") for s in statuses}
            added = False
            for pc in pod["spec"].get("resourceClaims") or []:
                tmpl = pc.get("resourceClaimTemplateName")
                if not tmpl or pc["name"] in known:
                    continue
                # an earlier pass may have created the claim but failed to record it
                mine = [c for c in claims if c["metadata"].get("namespace") == md["namespace"]
                        and c["metadata"].get("annotations", {}).get(POD_CLAIM_ANNOTATION) == pc["name"]
                        and any(o.get("uid") == md["uid"] for o in c["metadata"].get("ownerReferences") or [])]
                if mine:
                    cname = mine[0]["metadata"]["name"]
                else:
                    try:
                        t = self.client.get(f"{rb}/namespaces/{md['namespace']}/resourceclaimtemplates/{tmpl}")
                    except ApiError as e:
                        self._unschedulable(pod, f"resource claim template {tmpl}: {e}")
                        continue
                    tspec = t.get("spec") or {}
                    tmeta = tspec.get("metadata") or {}
                    body = {
                        "apiVersion": f"resource.k8s.io/{self.version}", "kind": "ResourceClaim",
                        "metadata": {
                            "generateName": f"{md['name']}-{pc['name']}-",
                            "namespace": md["namespace"],
                            "labels": dict(tmeta.get("labels") or {}),
                            "annotations": dict(tmeta.get("annotations") or {},
                                                **{POD_CLAIM_ANNOTATION: pc["name"]}),
                            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod",
                                                 "name": md["name"], "uid": md["uid"],
                                                 "controller": True}],
                        },
                        "spec": copy.deepcopy(tspec.get("spec") or {}),
                    }
                    if not body["metadata"]["labels"]:
                        del body["metadata"]["labels"]
                    c = self.client.create(f"{rb}/namespaces/{md['namespace']}/resourceclaims", body)
                    cname = c["metadata"]["name"]
                    self.log.info("pod %s/%s: created claim %s from template %s", md["namespace"],
                                  md["name"], cname, tmpl)
                statuses.append({"name": pc["name"], "resourceClaimName": cname})
                added = True
            if added:
                self.client.patch(f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/status",
                                  {"status": {"resourceClaimStatuses": statuses}})
                changed = True
        # teardown: reservations of gone / finished pods
        for c in claims:
            cm = c["metadata"]
            st = c.get("status") or {}
            res = st.get("reservedFor") or []
            keep = [r for r in res if r.get("uid") in live and not pod_terminal(live[r["uid"]])]
            owner = next((o for o in cm.get("ownerReferences") or []
                          if o.get("kind") == "Pod" and o.get("controller")), None)
            owner_gone = owner is not None and (owner.get("uid") not in live
                                                or pod_terminal(live[owner["uid"]]))
            path = f"{rb}/namespaces/{cm['namespace']}/resourceclaims/{cm['name']}"
            try:
                if len(keep) != len(res) or (not keep and st.get("allocation") and owner_gone):
                    new = copy.deepcopy(c)
                    new["status"] = dict(st)
                    if keep:
                        new["status"]["reservedFor"] = keep
                    else:
                        new["status"].pop("reservedFor", None)
                        new["status"].pop("allocation", None)
                        new["status"].pop("devices", None)
                    self._write_status(path, new)
                    self.log.info("claim %s/%s: reservedFor %d -> %d%s", cm["namespace"],
                                  cm["name"], len(res), len(keep),
                                  "" if keep else ", deallocated")
                    changed = True
                    c = self.client.get(path)
                    st = c.get("status") or {}
                    cm = c["metadata"]
                if not st.get("reservedFor") and not st.get("allocation") \
                        and FINALIZER in (cm.get("finalizers") or []):
                    fin = [f for f in cm["finalizers"] if f != FINALIZER]
                    self.client.patch(path, {"metadata": {"finalizers": fin or None,
                                                          "resourceVersion": cm["resourceVersion"]}})
                    changed = True
                if owner_gone and not st.get("reservedFor") and owner.get("uid") not in live:
                    self.client.delete(path)
                    self.log.info("claim %s/%s: deleted (owner pod gone)", cm["namespace"], cm["name"])
                    changed = True
            except ApiError as e:
                if e.status not in (404, 409):
                    raise
        return changed

    def _write_status(self, path, obj):
        """PUT .../status with the whole object (optimistic concurrency on resourceVersion)."""
        body = copy.deepcopy(obj)
        if self.version == "v1beta1":  # write back in the server's shape
            cur = self.client.get(path)
            cur["status"] = body.get("status") or {}
            body = cur
        body.setdefault("apiVersion", f"resource.k8s.io/{self.version}")
        body.setdefault("kind", "ResourceClaim")
        return self.client.update(path + "/status", body)

    # -- scheduling --------------------------------------------------------------------------
    def _unschedulable(self, pod, message):
        md = pod["metadata"]
        if self._last_reason.get(md["uid"]) == message:
            return
        self._last_reason[md["uid"]] = message
        self.log.info("pod %s/%s unschedulable: %s", md["namespace"], md["name"], message)
        # Only PodScheduled, merged by type: the kubelet's conditions stay as they are.
        conds = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                  "message": message, "lastProbeTime": None,
                  "lastTransitionTime": now_rfc3339()}]
        try:
            self.client.patch(f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/status",
                              {"status": {"phase": "Pending", "conditions": conds}},
                              patch_type="strategic")
        except ApiError as e:
            self.log.warning("pod %s/%s: status update failed: %s", md["namespace"], md["name"], e)
        self.events.event(dict(pod, kind="Pod", apiVersion="v1"), "Warning", "FailedScheduling",
                          message)

    def _schedule_pod(self, pod, pods, nodes, slices, classes, claims):
        md = pod["metadata"]
        ns = md["namespace"]
        by_name = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in claims}
        pod_claims = []
        for pc in pod["spec"].get("resourceClaims") or []:
            cname = pod_claim_name(pod, pc)
            if not cname:
                return  # waiting for the claim controller
            c = by_name.get((ns, cname))
            if c is None:
                self._unschedulable(pod, f'resourceclaim "{cname}" not found')
                return
            if pc.get("resourceClaimTemplateName") and not any(
                    o.get("uid") == md["uid"] for o in c["metadata"].get("ownerReferences") or []):
                self._unschedulable(pod, f"resourceclaim {cname} was not created for this pod")
                return
            if c["metadata"].get("deletionTimestamp"):
                self._unschedulable(pod, f"resourceclaim {cname} is being deleted")
                return
            pod_claims.append(c)
        if not nodes:
            self._unschedulable(pod, "0/0 nodes are available: no nodes registered")
            return
        want_ext = extended_requests(pod)
        admin_ok = False
        try:
            ns_obj = self.client.get(f"/api/v1/namespaces/{ns}")
            admin_ok = ((ns_obj.get("metadata") or {}).get("labels") or {}).get(
                ADMIN_ACCESS_LABEL) == "true"
        except ApiError:
            pass
        reasons = []
        for node in nodes:
            nname = node["metadata"]["name"]
            if node.get("spec", {}).get("unschedulable"):
                reasons.append(f"{nname}: node is unschedulable")
                continue
            # extended resources (device plugins)
            alloc = (node.get("status") or {}).get("allocatable") or {}
            short = None
            for res, n in want_ext.items():
                used = sum(extended_requests(p).get(res, 0) for p in pods
                           if p["spec"].get("nodeName") == nname and not pod_terminal(p))
                if _quantity(alloc.get(res, 0)) - used < n:
                    short = f"Insufficient {res}"
                    break
            if short:
                reasons.append(f"{nname}: {short}")
                continue
            # claims
            in_use = allocated_keys(claims)
            plan, ok = [], True
            for c in pod_claims:
                st = c.get("status") or {}
                if st.get("allocation"):
                    sel = st["allocation"].get("nodeSelector")
                    if sel and not _node_selector_matches(sel, node):
                        reasons.append(f"{nname}: claim {c['metadata']['name']} is allocated on "
                                       f"another node")
                        ok = False
                        break
                    plan.append((c, None))
                    continue
                try:
                    a, used = allocate(c, node, slices, classes, in_use, admin_ok=admin_ok)
                except Unschedulable as e:
                    reasons.append(f"{nname}: claim {c['metadata']['name']}: {e}")
                    ok = False
                    break
                in_use |= used
                plan.append((c, a))
            if ok:
                self._commit(pod, node, plan)
                return
        self._unschedulable(pod, f"0/{len(nodes)} nodes are available: " + "; ".join(reasons))

    def _commit(self, pod, node, plan):
        rb = self.rbase
        md = pod["metadata"]
        ns = md["namespace"]
        nname = node["metadata"]["name"]
        ref = {"resource": "pods", "name": md["name"], "uid": md["uid"]}
        for c, alloc in plan:
            cm = c["metadata"]
            path = f"{rb}/namespaces/{ns}/resourceclaims/{cm['name']}"
            if FINALIZER not in (cm.get("finalizers") or []):
                self.client.patch(path, {"metadata": {
                    "finalizers": (cm.get("finalizers") or []) + [FINALIZER],
                    "resourceVersion": cm["resourceVersion"]}})
            cur = normalize_claim(self.client.get(path), self.version)
            st = cur.setdefault("status", {}) or {}
            cur["status"] = st
            if alloc is not None:
                if st.get("allocation"):
                    raise ApiError(409, {"message": "claim got allocated concurrently"})
                st["allocation"] = alloc
            res = st.get("reservedFor") or []
            if not any(r.get("uid") == md["uid"] for r in res):
                st["reservedFor"] = res + [ref]
            self._write_status(path, cur)
            self.log.info("claim %s/%s: %s reservedFor pod %s on %s", ns, cm["name"],
                          "allocated " + ", ".join(r["request"] + "=" + r["device"] for r in
                                                   alloc["devices"]["results"])
                          if alloc else "already allocated,", md["name"], nname)
        self._bind(pod, nname)
        self._last_reason.pop(md["uid"], None)
        self.log.info("pod %s/%s bound to %s", ns, md["name"], nname)
        self.events.event(dict(pod, kind="Pod", apiVersion="v1"), "Normal", "Scheduled",
                          f"Successfully assigned {ns}/{md['name']} to {nname}")

    def _bind(self, pod, nname):
        md = pod["metadata"]
        base = f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}"
        st, obj = self.client.request("POST", base + "/binding", {
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": nname}})
        if st // 100 != 2:
            if st not in (404, 405):
                raise ApiError(st, obj)
            self.client.patch(base, {"spec": {"nodeName": nname}})
        # Only PodScheduled, merged by type: a kubelet that already saw the binding may have
        # written its own conditions meanwhile.
        conds = [{"type": "PodScheduled", "status": "True", "reason": None, "message": None,
                  "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}]
        try:
            self.client.patch(base + "/status", {"status": {"conditions": conds}},
                              patch_type="strategic")
        except ApiError as e:
            self.log.warning("pod %s: condition update failed: %s", md["name"], e)
