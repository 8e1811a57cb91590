"""API server simulator: validation answers replayed from the real-server captures."""

import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")]

import pytest  # noqa: E402

from sim_capture import Capture, strip_volatile  # noqa: E402

SLICES = "/apis/resource.k8s.io/v1/resourceslices"
CLAIMS = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims"

INVALID_SLICES = [f"03-invalid-slice-{n}.http" for n in (
    "01-129-devices", "02-string-attr-65-chars", "03-version-attr-not-semver",
    "04-attr-name-not-c-identifier", "05-attr-two-values", "06-attr-no-value",
    "07-duplicate-device-names", "08-device-name-not-dns-label", "09-driver-name-64-chars",
    "10-nodename-and-allnodes", "11-no-node-selection", "12-33-attributes",
    "13-32-attributes-plus-1-capacity", "14-attr-name-33-chars", "15-attr-domain-not-dns",
    "16-pool-missing-generation-zero-count", "17-pool-name-invalid")] + [
    "03-slice-19-list-typed-attributes.http"]


def replay(kube, cap):
    return kube.request(cap.method, cap.target, body=cap.body, content_type=cap.content_type)


@pytest.mark.parametrize("name", INVALID_SLICES)
def test_invalid_slice_is_rejected_exactly_like_the_real_server(kube, apiserver, name):
    cap = Capture(name)
    status, obj = replay(kube, cap)
    assert status == cap.status == 422
    assert obj == cap.response
    assert apiserver.list_objects("resourceslices") == []


def test_negative_capacity_is_accepted(kube):
    cap = Capture("03-slice-18-negative-capacity-accepted.http")
    status, obj = replay(kube, cap)
    assert status == cap.status == 201
    assert strip_volatile(obj) == strip_volatile(cap.response)


def test_generatename_slice_create_and_stored_form(kube):
    cap = Capture("02-create-resourceslice-generatename.http")
    status, obj = replay(kube, cap)
    assert status == 201
    name = obj["metadata"]["name"]
    assert name.startswith("127.0.0.1-test.example.com-") and len(name) == len(
        "127.0.0.1-test.example.com-") + 5
    exp = strip_volatile(cap.response)
    got = strip_volatile(obj)
    exp["metadata"].pop("name")
    got["metadata"].pop("name")
    assert got == exp
    assert list(obj["spec"]["devices"][0]["attributes"]) == sorted(
        obj["spec"]["devices"][0]["attributes"])
    stored = kube.get(f"{SLICES}/{name}")
    assert strip_volatile(stored) == strip_volatile(obj)
    assert obj["metadata"]["generation"] == 1


def test_device_limit_is_64_with_taints_or_counters(kube):
    def slice_with(n, extra):
        devs = [dict({"name": f"d{i}"}, **extra) for i in range(n)]
        return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                "metadata": {"name": "lim"},
                "spec": {"driver": "d.example.com", "nodeName": "n",
                         "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
                         "devices": devs}}
    status, obj = kube.request("POST", SLICES, slice_with(65, {"taints": [
        {"key": "k", "value": "v", "effect": "NoSchedule"}]}))
    assert status == 422
    assert obj["details"]["causes"] == [{"reason": "FieldValueTooMany",
                                         "message": "Too many: 65: must have at most 64 items",
                                         "field": "spec.devices"}]
    status, _ = kube.request("POST", SLICES, slice_with(128, {}))
    assert status == 201


@pytest.mark.parametrize("name", [
    "04-error-400-malformed-json.http", "04-error-400-post-v1beta1-body-to-v1.http",
    "04-error-400-bad-labelselector.http", "04-error-400-unsupported-fieldselector.http",
    "04-error-400-unsupported-fieldselector-resourceclaims.http",
    "05-list-slices-fieldselector-poolname.http", "05-error-400-list-bad-continue-token.http",
    "06-error-watchlist-without-resourceversionmatch.http",
    "04-error-404-get-missing-claim.http", "04-error-404-delete-missing-claim.http",
    "04-error-404-get-missing-slice-cluster-scoped.http", "08-lease-get-missing-404.http",
    "08-lease-create-400-microtime-without-fraction.http",
    "08-lease-create-422-invalid-duration.http"])
def test_request_errors_match_capture(kube, name):
    cap = Capture(name)
    status, obj = replay(kube, cap)
    assert status == cap.status
    assert obj == cap.response


def test_claim_defaults_and_no_generation(kube):
    for name in ("02-create-resourceclaim.http", "02-create-resourceclaim-minimal-defaults.http",
                 "02-create-resourceclaimtemplate.http", "02-create-deviceclass.http"):
        cap = Capture(name)
        status, obj = replay(kube, cap)
        assert status == cap.status == 201, name
        assert strip_volatile(obj) == strip_volatile(cap.response), name


def test_claim_spec_immutable_prints_go_struct(kube):
    replay(kube, Capture("02-create-resourceclaim.http"))
    cap = Capture("04-error-422-put-claim-spec-immutable.http")
    body = cap.request_json
    cur = kube.get(CLAIMS + "/ref-claim")
    body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    body["metadata"]["uid"] = cur["metadata"]["uid"]
    status, obj = kube.request("PUT", cap.target, body)
    assert status == 422
    assert obj == cap.response


def _allocated_claim(kube):
    replay(kube, Capture("02-create-resourceclaim.http"))
    cap = Capture("04-patch-status-set-allocation.http")
    status, obj = replay(kube, cap)
    assert status == 200
    return obj


def test_status_rules_match_captures(kube):
    replay(kube, Capture("02-create-resourceclaim-minimal-defaults.http"))
    cap = Capture("04-patch-status-reservedfor-without-allocation.http")
    status, obj = replay(kube, cap)
    assert (status, obj) == (cap.status, cap.response)
    replay(kube, Capture("02-create-resourceclaim.http"))
    cap = Capture("04-patch-status-devices-unallocated-claim.http")
    status, obj = replay(kube, cap)
    assert (status, obj) == (cap.status, cap.response)
    cap = Capture("04-patch-status-set-allocation.http")
    status, obj = replay(kube, cap)
    assert status == 200
    assert strip_volatile(obj["status"]) == strip_volatile(cap.response["status"])
    for name in ("04-patch-status-change-allocation-immutable.http",
                 "04-patch-status-devices-not-allocated-device.http"):
        cap = Capture(name)
        status, obj = replay(kube, cap)
        assert (status, obj) == (cap.status, cap.response), name
    cap = Capture("04-patch-status-devices-allocated-claim.http")
    status, obj = replay(kube, cap)
    assert status == 200
    assert obj["status"]["devices"] == cap.response["status"]["devices"]
    cap = Capture("04-patch-status-reservedfor-ok.http")
    status, obj = replay(kube, cap)
    assert status == 200
    assert obj["status"]["reservedFor"] == [{"resource": "pods", "name": "some-pod",
                                             "uid": "00000000-0000-0000-0000-000000000001"}]


def test_crd_name_must_match(kube):
    status, obj = kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "metadata": {"name": "wrong.hostdev.example.com"},
        "spec": {"group": "hostdev.example.com", "scope": "Cluster",
                 "names": {"plural": "ledgers", "kind": "Ledger"},
                 "versions": [{"name": "v1alpha1", "served": True, "storage": True}]}})
    assert status == 422
    assert obj["details"]["causes"][0]["field"] == "metadata.name"


def test_label_and_attribute_type_errors(kube):
    body = Capture("03-slice-18-negative-capacity-accepted.http").request_json
    body["metadata"]["labels"] = {"bad key": "v"}
    status, obj = kube.request("POST", SLICES, body)
    assert status == 422
    assert obj["details"]["causes"][0]["field"] == "metadata.labels"
    assert obj["details"]["causes"][0]["message"].startswith(
        'Invalid value: "bad key": name part must consist of alphanumeric characters')
    body["metadata"]["labels"] = {"example.com/ok": "not ok!"}
    status, obj = kube.request("POST", SLICES, body)
    assert status == 422 and "a valid label must be an empty string" in obj["message"]
    body["metadata"]["labels"] = {"n": 1}
    status, obj = kube.request("POST", SLICES, body)
    assert status == 400 and "cannot unmarshal number" in obj["message"]
    body["metadata"]["labels"] = {}
    body["spec"]["devices"][0]["attributes"]["index"] = {"int": "0"}
    status, obj = kube.request("POST", SLICES, body)
    assert status == 400
    assert obj["message"].endswith("cannot unmarshal string into Go struct field "
                                   "DeviceAttribute.spec.devices.attributes.int of type int64")
