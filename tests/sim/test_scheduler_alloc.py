"""Pure allocation logic of the simulated scheduler (no API server needed)."""

import pytest

import cel
from scheduler import Unschedulable, allocate, allocated_keys, normalize_claim, normalize_slice

DRV = "hostdev.example.com"
NODE = {"metadata": {"name": "node-a", "labels": {"zone": "z1"}}}


def dev(name, **attrs):
    a = {}
    for k, v in attrs.items():
        if isinstance(v, bool):
            a[k] = {"bool": v}
        elif isinstance(v, int):
            a[k] = {"int": v}
        elif isinstance(v, str) and v.startswith("v:"):
            a[k] = {"version": v[2:]}
        else:
            a[k] = {"string": v}
    return {"name": name, "attributes": a}


def slice_(devices, driver=DRV, pool="node-a", gen=1, count=1, node="node-a", name=None):
    spec = {"driver": driver, "pool": {"name": pool, "generation": gen, "resourceSliceCount": count},
            "devices": devices}
    if node:
        spec["nodeName"] = node
    else:
        spec["allNodes"] = True
    return {"metadata": {"name": name or f"{pool}-{driver}-{gen}-{len(devices)}"}, "spec": spec}


def cls(name="hostdev", expr=f'device.driver == "{DRV}"', config=None):
    spec = {"selectors": [{"cel": {"expression": expr}}]} if expr else {}
    if config:
        spec["config"] = config
    return {"metadata": {"name": name}, "spec": spec}


def claim(*requests, config=None, uid="c1"):
    dev_ = {"requests": list(requests)}
    if config:
        dev_["config"] = config
    return {"metadata": {"name": "c", "namespace": "default", "uid": uid}, "spec": {"devices": dev_}}


def req(name="main", cls_name="hostdev", selectors=(), count=None, mode=None, tolerations=None):
    ex = {"deviceClassName": cls_name}
    if selectors:
        ex["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    if count is not None:
        ex["count"] = count
    if mode:
        ex["allocationMode"] = mode
    if tolerations:
        ex["tolerations"] = tolerations
    return {"name": name, "exactly": ex}


GPUS = slice_([dev("d0", index=0, model="T1", healthy=True, ver="v:1.2.0"),
               dev("d1", index=1, model="T2", healthy=False, ver="v:1.10.0"),
               dev("d2", index=2, model="T2", healthy=True, ver="v:2.0.0-rc.1"),
               dev("d3", index=3, model="T3", healthy=True, ver="v:2.0.0")])
CLASSES = {"hostdev": cls()}


def names(alloc):
    return [r["device"] for r in alloc["devices"]["results"]]


def run(c, slices=(GPUS,), classes=CLASSES, in_use=()):
    a, used = allocate(c, NODE, list(slices), classes, set(in_use))
    return a


@pytest.mark.parametrize("expr,want", [
    (f'device.attributes["{DRV}"].model == "T2"', ["d1", "d2"]),
    (f'device.attributes["{DRV}"].model != "T2"', ["d0", "d3"]),
    (f'device.attributes["{DRV}"].index < 2', ["d0", "d1"]),
    (f'device.attributes["{DRV}"].index > 1', ["d2", "d3"]),
    (f'device.attributes["{DRV}"].index >= 3', ["d3"]),
    (f'device.attributes["{DRV}"].model < "T2"', ["d0"]),
    (f'device.attributes["{DRV}"].healthy == true', ["d0", "d2", "d3"]),
    (f'device.attributes["{DRV}"].healthy != true', ["d1"]),
    (f'device.attributes["{DRV}"].ver > semver("1.2.0")', ["d1", "d2", "d3"]),
    (f'device.attributes["{DRV}"].ver < semver("2.0.0")', ["d0", "d1", "d2"]),
    (f'device.attributes["{DRV}"].ver.isGreaterThan(semver("1.9.9"))', ["d1", "d2", "d3"]),
    (f'device.attributes["{DRV}"].model == "T2" && device.attributes["{DRV}"].healthy', ["d2"]),
    (f'device.attributes["{DRV}"].index == 0 || device.attributes["{DRV}"].index == 3', ["d0", "d3"]),
    (f'(device.attributes["{DRV}"].index == 0 || device.attributes["{DRV}"].index == 3) && '
     f'device.attributes["{DRV}"].model == "T3"', ["d3"]),
    (f"device.attributes['{DRV}']['model'] == 'T1'", ["d0"]),
    (f'device.driver == "{DRV}"', ["d0", "d1", "d2", "d3"]),
    (f'!(device.attributes["{DRV}"].index > 0)', ["d0"]),
])
def test_selector_forms_all_mode(expr, want):
    a = run(claim(req(selectors=[expr], mode="All")))
    assert names(a) == want
    assert all(r["request"] == "main" and r["driver"] == DRV and r["pool"] == "node-a"
               for r in a["devices"]["results"])


def test_driver_mismatch_declines():
    c = claim(req(cls_name="other"))
    with pytest.raises(Unschedulable, match="0 free|0 match"):
        run(c, classes={"other": cls("other", 'device.driver == "other.example.com"')})


def test_count_and_not_enough():
    assert names(run(claim(req(count=3)))) == ["d0", "d1", "d2"]
    with pytest.raises(Unschedulable, match="cannot allocate 5"):
        run(claim(req(count=5)))
    expr = f'device.attributes["{DRV}"].model == "T2"'
    with pytest.raises(Unschedulable, match="2 match"):
        run(claim(req(selectors=[expr], count=3)))


def test_allocated_elsewhere_and_all_mode_conflict():
    in_use = {(DRV, "node-a", "d0"), (DRV, "node-a", "d1")}
    assert names(run(claim(req(count=2)), in_use=in_use)) == ["d2", "d3"]
    with pytest.raises(Unschedulable, match="free"):
        run(claim(req(count=3)), in_use=in_use)
    with pytest.raises(Unschedulable, match="already allocated"):
        run(claim(req(mode="All")), in_use=in_use)


def test_shared_claim_counts_once():
    shared = {"metadata": {"uid": "s"}, "status": {"allocation": {"devices": {"results": [
        {"request": "main", "driver": DRV, "pool": "node-a", "device": "d0"}]}},
        "reservedFor": [{"resource": "pods", "name": "p1", "uid": "u1"},
                        {"resource": "pods", "name": "p2", "uid": "u2"}]}}
    assert allocated_keys([shared, shared]) == {(DRV, "node-a", "d0")}
    assert allocated_keys([shared], exclude_uid="s") == set()


def test_first_available():
    r = {"name": "main", "firstAvailable": [
        {"name": "big", "deviceClassName": "hostdev", "count": 9},
        {"name": "t3", "deviceClassName": "hostdev",
         "selectors": [{"cel": {"expression": f'device.attributes["{DRV}"].model == "T3"'}}]},
        {"name": "any", "deviceClassName": "hostdev"}]}
    a = run(claim(r))
    assert a["devices"]["results"] == [{"request": "main/t3", "driver": DRV, "pool": "node-a",
                                        "device": "d3"}]
    a = run(claim(r), in_use={(DRV, "node-a", "d3")})
    assert a["devices"]["results"][0]["request"] == "main/any"
    assert a["devices"]["results"][0]["device"] == "d0"


def test_tainted_device_skipped_unless_tolerated():
    s = slice_([dict(dev("t0"), taints=[{"key": "broken", "effect": "NoSchedule"}]),
                dict(dev("t1"), taints=[{"key": "note", "effect": "None"}]), dev("t2")])
    assert names(run(claim(req(mode="All")), slices=[s])) == ["t1", "t2"]
    tol = [{"key": "broken", "operator": "Exists", "effect": "NoSchedule"}]
    assert names(run(claim(req(mode="All", tolerations=tol)), slices=[s])) == ["t0", "t1", "t2"]


def test_incomplete_pool_and_old_generation_ignored():
    old = slice_([dev("old0"), dev("old1")], gen=1, name="s-old")
    new = slice_([dev("new0")], gen=2, name="s-new")
    assert names(run(claim(req(mode="All")), slices=[old, new])) == ["new0"]
    part = slice_([dev("p0")], pool="pool-b", count=2, name="s-part")
    with pytest.raises(Unschedulable, match="incomplete"):
        run(claim(req(mode="All")), slices=[part])
    part2 = slice_([dev("p1")], pool="pool-b", count=2, name="s-part2")
    assert names(run(claim(req(mode="All")), slices=[part, part2])) == ["p0", "p1"]


def test_other_node_slices_not_used_and_all_nodes_used():
    other = slice_([dev("x0")], pool="node-b", node="node-b")
    with pytest.raises(Unschedulable):
        run(claim(req()), slices=[other])
    net = slice_([dev("n0")], pool="net", node=None)
    a = run(claim(req()), slices=[other, net])
    assert names(a) == ["n0"] and "nodeSelector" not in a


def test_unknown_cel_is_unschedulable_with_reason():
    for expr in ['device.attributes["x"].name.startsWith("a")', 'size(device.attributes) > 1',
                 'device.attributes["x"].a in [1, 2]']:
        with pytest.raises(Unschedulable, match="unsupported CEL"):
            run(claim(req(selectors=[expr])))
    with pytest.raises(Unschedulable, match="unsupported CEL"):
        run(claim(req()), classes={"hostdev": cls(expr="device.foo(1)")})


def test_missing_attribute_and_type_mismatch_do_not_match():
    with pytest.raises(Unschedulable, match="no such key"):
        run(claim(req(selectors=[f'device.attributes["{DRV}"].nope == 1'])))
    with pytest.raises(Unschedulable, match="no such overload"):
        run(claim(req(selectors=[f'device.attributes["{DRV}"].index == "1"'])))
    # an error on one side of || does not hide a match on the other
    a = run(claim(req(selectors=[f'device.attributes["{DRV}"].nope == 1 || '
                                 f'device.attributes["{DRV}"].index == 2'])))
    assert names(a) == ["d2"]


def test_qualified_attribute_other_domain():
    s = slice_([{"name": "q0", "attributes": {"other.io/kind": {"string": "a"}}},
                {"name": "q1", "attributes": {"other.io/kind": {"string": "b"}}}])
    a = run(claim(req(selectors=['device.attributes["other.io"].kind == "b"'])), slices=[s])
    assert names(a) == ["q1"]


def test_config_from_class_then_claim_and_node_selector():
    ccfg = [{"opaque": {"driver": DRV, "parameters": {"x": 1}}}]
    classes = {"hostdev": cls(config=ccfg)}
    clcfg = [{"requests": ["main"], "opaque": {"driver": DRV, "parameters": {"x": 2}}}]
    a = run(claim(req(), config=clcfg), classes=classes)
    assert a["devices"]["config"] == [
        {"source": "FromClass", "requests": ["main"], "opaque": {"driver": DRV, "parameters": {"x": 1}}},
        {"source": "FromClaim", "requests": ["main"], "opaque": {"driver": DRV, "parameters": {"x": 2}}}]
    assert a["nodeSelector"] == {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["node-a"]}]}]}
    assert a["allocationTimestamp"].endswith("Z") and "." not in a["allocationTimestamp"]


def test_missing_class():
    with pytest.raises(Unschedulable, match="does not exist"):
        run(claim(req(cls_name="nope")))


def test_v1beta1_normalisation():
    s = {"metadata": {"name": "b"}, "spec": {"driver": DRV, "nodeName": "node-a",
         "pool": {"name": "node-a", "generation": 1, "resourceSliceCount": 1},
         "devices": [{"name": "b0", "basic": {"attributes": {"model": {"string": "T9"}}}}]}}
    c = {"metadata": {"name": "c", "uid": "u"}, "spec": {"devices": {"requests": [
        {"name": "main", "deviceClassName": "hostdev", "allocationMode": "ExactCount", "count": 1,
         "selectors": [{"cel": {"expression": f'device.attributes["{DRV}"].model == "T9"'}}]}]}}}
    a = run(normalize_claim(c, "v1beta1"), slices=[normalize_slice(s, "v1beta1")])
    assert names(a) == ["b0"]


def test_semver_ordering():
    v = cel.Version
    assert v("1.0.0-alpha").cmp(v("1.0.0")) < 0
    assert v("1.0.0-alpha.1").cmp(v("1.0.0-alpha.beta")) < 0
    assert v("1.10.0").cmp(v("1.9.0")) > 0
    assert v("1.0.0+build").cmp(v("1.0.0")) == 0


def test_admin_access_needs_the_label_gets_busy_devices_and_holds_none():
    admin = req(count=2)
    admin["exactly"]["adminAccess"] = True
    with pytest.raises(Unschedulable, match="admin-access"):
        run(claim(admin), in_use={(DRV, "node-a", "d0")})
    busy = {(DRV, "node-a", d) for d in ("d0", "d1", "d2", "d3")}
    a, used = allocate(claim(admin), NODE, [GPUS], CLASSES, busy, admin_ok=True)
    assert names(a) == ["d0", "d1"] and used == set()
    assert all(r["adminAccess"] is True for r in a["devices"]["results"])
    # an admin result holds nothing for others; a normal one does
    held = {"metadata": {"uid": "a"}, "status": {"allocation": a}}
    assert allocated_keys([held]) == set()
    normal = run(claim(req(count=1)), in_use=allocated_keys([held]))
    assert names(normal) == ["d0"]
    # All mode with adminAccess ignores devices in use too
    all_admin = req(mode="All")
    all_admin["exactly"]["adminAccess"] = True
    a, _ = allocate(claim(all_admin), NODE, [GPUS], CLASSES, busy, admin_ok=True)
    assert names(a) == ["d0", "d1", "d2", "d3"]
