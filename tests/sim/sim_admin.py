"""Admin endpoint of the simulated API server (/_sim/...), for tests that run the simulator as
a separate process. Admin-only (group system:masters). See docs/simulator-apiserver.md."""

import json

import sim_errors as E

MASTERS = "system:masters"


def handle_admin(sim, req):
    if MASTERS not in req.groups:
        raise E.ApiException(403, E.status_body(
            403, "Forbidden", f'forbidden: User "{req.user}" cannot {req.method.lower()} '
                              f'path "{req.path}"', {}))
    raw = req.read_body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise E.bad_request("admin body must be JSON") from None
    op = req.path[len("/_sim/"):].strip("/")
    m = req.method
    result = {"ok": True}
    if op == "latency" and m == "POST":
        sim.inject_latency(body.get("seconds", 0))
    elif op == "fail" and m == "POST":
        sim.fail_next(body.get("n", 1), body.get("code", 500), body.get("retry_after"),
                       body.get("match"), body.get("method"))
    elif op == "reset" and m == "POST":
        sim.reset_next(body.get("n", 1), body.get("match"), body.get("method"))
    elif op == "close-watches" and m == "POST":
        sim.close_watches(bool(body.get("reset")))
    elif op == "force-410" and m == "POST":
        sim.force_410_next_watch(body.get("n", 1))
    elif op == "compact" and m == "POST":
        sim.compact()
    elif op == "clear-faults" and m == "POST":
        sim.clear_faults()
    elif op == "requests" and m == "GET":
        result = {"items": sim.request_log()}
    elif op == "requests" and m == "DELETE":
        sim.clear_request_log()
    elif op == "rotate-token" and m == "POST":
        result = {"token": sim.rotate_token()}
    elif op == "rotate-incluster-token" and m == "POST":
        result = {"token": sim.rotate_incluster_token()}
    elif op == "tokens" and m == "POST":
        sim.add_token(body["token"], body["user"], body.get("groups", ()))
    elif op == "state" and m == "GET":
        result = {"resourceVersion": sim.store.current_rv(),
                  "compactedResourceVersion": sim.store.compacted_rv,
                  "openWatches": len(sim.store.watchers)}
    else:
        raise E.resource_not_found()
    return sim.send_json(req, 200, result)
