"""API server simulator: watch streams (events, resume, bookmarks, timeouts, 410)."""

import json
import os
import sys
import threading
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from apiserver import ApiServer  # noqa: E402
from kclient import ApiError, KubeClient  # noqa: E402
from sim_capture import Capture, ndjson, strip_volatile  # noqa: E402

SLICES = "/apis/resource.k8s.io/v1/resourceslices"


def slice_body(name, labels=None, node="127.0.0.1"):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"driver": "test.example.com", "nodeName": node,
                     "pool": {"name": "pool-" + name, "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": "d0", "attributes": {"model": {"string": "T1"}}}]}}


def rv_of(kube):
    return kube.list(SLICES)["metadata"]["resourceVersion"]


def collect(kube, params, path=SLICES):
    """Runs a watch to its end; returns [(seconds since start, event)]."""
    out = []
    t0 = time.monotonic()
    for ev in kube.watch(path, params):
        out.append((round(time.monotonic() - t0, 2), ev))
    return out


def watch_with_actions(kube, params, actions, path=SLICES):
    result = []

    def run():
        for ev in kube.watch(path, params):
            result.append((time.monotonic(), ev))

    th = threading.Thread(target=run)
    t0 = time.monotonic()
    th.start()
    time.sleep(0.2)
    actions()
    th.join(float(params.get("timeoutSeconds", 10)) + 5)
    assert not th.is_alive()
    return [(round(t - t0, 2), e) for t, e in result]


def types(events):
    return [e["type"] for _, e in events]


def test_create_put_delete_like_capture(kube):
    start = rv_of(kube)
    cr = Capture("06-watch-action-1-create.http")
    put = Capture("06-watch-action-2-put.http")

    def actions():
        kube.request("POST", SLICES, cr.body)
        body = put.request_json
        body["metadata"]["resourceVersion"] = kube.get(SLICES + "/ref-watched")[
            "metadata"]["resourceVersion"]
        body["metadata"]["uid"] = kube.get(SLICES + "/ref-watched")["metadata"]["uid"]
        kube.update(SLICES + "/ref-watched", body)
        kube.delete(SLICES + "/ref-watched")

    evs = watch_with_actions(kube, {"resourceVersion": start, "timeoutSeconds": 1}, actions)
    real = ndjson("06-watch-slices-no-bookmarks-20s.ndjson")
    assert types(evs) == [e["type"] for e in real] == ["ADDED", "MODIFIED", "DELETED"]
    for (_, ours), theirs in zip(evs, real):
        assert strip_volatile(ours) == strip_volatile(theirs)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for _, e in evs]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert evs[1][1]["object"]["metadata"]["generation"] == 2


def test_label_selector_watch_sends_deleted_with_old_object(kube):
    start = rv_of(kube)
    cr = Capture("06-watch-action-1-create.http")

    def actions():
        kube.request("POST", SLICES, cr.body)
        obj = kube.get(SLICES + "/ref-watched")
        obj["metadata"]["labels"]["slice-set"] = "w2"
        obj["spec"]["pool"]["generation"] = 2
        kube.update(SLICES + "/ref-watched", obj)
        kube.delete(SLICES + "/ref-watched")

    evs = watch_with_actions(kube, {"resourceVersion": start, "timeoutSeconds": 1,
                                    "labelSelector": "slice-set=w"}, actions)
    real = ndjson("06-watch-slices-labelselector-w.ndjson")
    assert types(evs) == ["ADDED", "DELETED"] == [e["type"] for e in real][:2]
    gone = evs[1][1]["object"]
    assert gone["metadata"]["labels"]["slice-set"] == "w"          # old object ...
    assert gone["metadata"]["generation"] == 1
    cur = kube.list(SLICES)["metadata"]["resourceVersion"]
    assert int(gone["metadata"]["resourceVersion"]) == int(cur) - 1  # ... with the new RV


def test_initial_events_and_end_bookmark(kube):
    for n in ("a", "b"):
        kube.create(SLICES, slice_body(n, node="127.0.0.1" if n == "a" else "other"))
    cur = rv_of(kube)
    evs = collect(kube, {"resourceVersion": "0", "allowWatchBookmarks": "true",
                         "timeoutSeconds": 0.3})
    assert types(evs) == ["ADDED", "ADDED", "BOOKMARK"]
    bm = evs[2][1]["object"]
    real = ndjson("06-watch-slices-rv0-initial-added.ndjson")[-1]["object"]
    real["metadata"]["resourceVersion"] = cur
    assert bm == real
    assert types(collect(kube, {"timeoutSeconds": 0.3, "allowWatchBookmarks": "true"})) == \
        ["ADDED", "ADDED", "BOOKMARK"]
    assert types(collect(kube, {"resourceVersion": "0", "timeoutSeconds": 0.3})) == \
        ["ADDED", "ADDED"]
    wl = collect(kube, {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                        "allowWatchBookmarks": "true", "fieldSelector": "spec.nodeName=127.0.0.1",
                        "timeoutSeconds": 0.3})
    assert types(wl) == ["ADDED", "BOOKMARK"]
    assert wl[1][1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert types(collect(kube, {"sendInitialEvents": "true",
                                "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": 0.3})) \
        == ["ADDED", "ADDED"]
    assert collect(kube, {"sendInitialEvents": "false", "resourceVersionMatch": "NotOlderThan",
                          "allowWatchBookmarks": "true", "timeoutSeconds": 0.3}) == []


def test_watch_headers_and_timeout_closes(kube):
    status, hdrs, raw = kube.request_raw(
        "GET", SLICES + "?watch=1&timeoutSeconds=1", timeout=5)
    assert status == 200
    assert hdrs["content-type"] == "application/json"
    assert hdrs["transfer-encoding"] == "chunked"
    t0 = time.monotonic()
    assert collect(kube, {"resourceVersion": rv_of(kube), "timeoutSeconds": 1}) == []
    assert 0.9 <= time.monotonic() - t0 < 2.5


def test_too_old_resource_version_gives_410_event(kube, apiserver):
    kube.create(SLICES, slice_body("a"))
    apiserver.compact()
    for params in ({"resourceVersion": "1", "allowWatchBookmarks": "true",
                    "timeoutSeconds": 20},
                   {"resourceVersion": "1", "timeoutSeconds": 20}):
        t0 = time.monotonic()
        evs = collect(kube, params)
        assert time.monotonic() - t0 < 1.0
        assert len(evs) == 1
        real = ndjson("06-watch-slices-rv1-too-old.ndjson")[0]
        ours = evs[0][1]
        assert ours["type"] == "ERROR"
        oldest = apiserver.store.compacted_rv
        real["object"]["message"] = f"too old resource version: 1 ({oldest})"
        assert ours == real
    # A list with resourceVersionMatch=Exact at that version is a real HTTP 410.
    status, obj = kube.request("GET", SLICES, params={"resourceVersion": "1",
                                                      "resourceVersionMatch": "Exact"})
    assert status == 410 and obj["reason"] == "Expired"


def test_compaction_window(tmp_path):
    srv = ApiServer(str(tmp_path / "api"), compaction_window=5)
    with srv:
        kube = KubeClient(srv.url, token=srv.token, ca_path=srv.ca_path)
        start = rv_of(kube)
        for i in range(3):
            kube.create(SLICES, slice_body(f"s{i}"))
        assert types(collect(kube, {"resourceVersion": start, "timeoutSeconds": 0.3})) == \
            ["ADDED"] * 3
        for i in range(3, 8):
            kube.create(SLICES, slice_body(f"s{i}"))
        evs = collect(kube, {"resourceVersion": start, "timeoutSeconds": 1})
        assert types(evs) == ["ERROR"] and evs[0][1]["object"]["code"] == 410
        recent = str(int(rv_of(kube)) - 2)
        assert types(collect(kube, {"resourceVersion": recent, "timeoutSeconds": 0.3})) == \
            ["ADDED"] * 2


def test_resume_from_resource_version(kube):
    kube.create(SLICES, slice_body("a"))
    seen = collect(kube, {"resourceVersion": "0", "timeoutSeconds": 0.3})
    last = seen[-1][1]["object"]["metadata"]["resourceVersion"]
    kube.create(SLICES, slice_body("b"))
    kube.patch(SLICES + "/a", {"metadata": {"labels": {"x": "1"}}})
    kube.delete(SLICES + "/b")
    evs = collect(kube, {"resourceVersion": last, "timeoutSeconds": 0.3})
    assert [(e["type"], e["object"]["metadata"]["name"]) for _, e in evs] == [
        ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


def test_future_resource_version_is_silent(kube):
    kube.create(SLICES, slice_body("a"))
    future = str(int(rv_of(kube)) + 100000)
    t0 = time.monotonic()
    assert collect(kube, {"resourceVersion": future, "timeoutSeconds": 1}) == []
    assert time.monotonic() - t0 >= 0.9


def test_periodic_and_pre_deadline_bookmarks(tmp_path):
    srv = ApiServer(str(tmp_path / "api"), bookmark_interval=0.5, bookmark_min_timeout=2)
    with srv:
        kube = KubeClient(srv.url, token=srv.token, ca_path=srv.ca_path)
        start = rv_of(kube)
        # Bookmarks move forward with the global RV even without events of this kind.
        kube.create("/api/v1/nodes", {"metadata": {"name": "n"}})
        evs = collect(kube, {"resourceVersion": start, "allowWatchBookmarks": "true",
                             "timeoutSeconds": 3})
        times = [t for t, e in evs]
        assert types(evs) and set(types(evs)) == {"BOOKMARK"}
        assert len(evs) >= 6                      # 0.5 s period + 2 before the deadline
        assert any(t >= 1.6 for t in times) and max(times) < 3.0
        assert evs[0][1]["object"]["metadata"]["resourceVersion"] == rv_of(kube)
        no_bm = collect(kube, {"resourceVersion": start, "timeoutSeconds": 1})
        assert no_bm == []


def test_default_bookmarks_before_deadline(kube, apiserver):
    apiserver.bookmark_min_timeout = 3
    apiserver.bookmark_before_deadline = (1.0, 0.5)
    evs = collect(kube, {"resourceVersion": rv_of(kube), "allowWatchBookmarks": "true",
                         "timeoutSeconds": 3})
    assert types(evs) == ["BOOKMARK", "BOOKMARK"]
    assert 1.7 <= evs[0][0] <= 2.5 and 2.2 <= evs[1][0] <= 3.0


def test_claim_watch_by_name_in_namespace(kube):
    claims = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"
    kube.request("POST", claims, Capture("02-create-resourceclaim.http").body)
    kube.create(claims, {"metadata": {"name": "other"}, "spec": {"devices": {"requests": [
        {"name": "r", "exactly": {"deviceClassName": "x"}}]}}})
    start = kube.list(claims)["metadata"]["resourceVersion"]

    def actions():
        kube.patch(claims + "/other", {"metadata": {"labels": {"a": "b"}}})
        kube.patch(claims + "/ref-claim", {"metadata": {"labels": {"a": "b"}}})

    evs = watch_with_actions(kube, {"resourceVersion": start, "timeoutSeconds": 1,
                                    "fieldSelector": "metadata.name=ref-claim"}, actions,
                             path=claims)
    assert [(e["type"], e["object"]["metadata"]["name"]) for _, e in evs] == [
        ("MODIFIED", "ref-claim")]
    assert evs[0][1]["object"]["kind"] == "ResourceClaim"


def test_watch_errors_before_stream(kube):
    with pytest.raises(ApiError) as ei:
        list(kube.watch(SLICES, {"fieldSelector": "spec.pool.name=x"}))
    assert ei.value.status == 400
    with pytest.raises(ApiError) as ei:
        list(kube.watch(SLICES, {"sendInitialEvents": "true", "timeoutSeconds": 1}))
    assert ei.value.status == 422


def test_stop_ends_open_watches(tmp_path):
    srv = ApiServer(str(tmp_path / "api"))
    srv.start()
    kube = KubeClient(srv.url, token=srv.token, ca_path=srv.ca_path)
    done = threading.Event()

    def run():
        list(kube.watch(SLICES, {"timeoutSeconds": 60}))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.3)
    srv.stop()
    assert done.wait(3)
    assert json.loads(json.dumps(srv.request_log()[-1]))["verb"] == "watch"
