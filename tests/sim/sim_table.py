"""meta.k8s.io/v1 Table answers (Accept: ...;as=Table): the columns kubectl prints."""

import calendar
import time


def human_duration(seconds):
    """Age the way kubectl shows it (e.g. 62s, 5m3s, 25m, 3h4m, 5h, 2d3h, 9d)."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def _age(obj):
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    return human_duration(time.time() - t)


def _claim_state(o):
    st = o.get("status") or {}
    states = ["deleted"] if o["metadata"].get("deletionTimestamp") else []
    if st.get("allocation"):
        states.append("allocated")
        if st.get("reservedFor"):
            states.append("reserved")
    elif not states:
        states.append("pending")
    return ",".join(states)


def _col(name, fmt="", desc=""):
    return {"name": name, "type": "string", "format": fmt, "description": desc, "priority": 0}


_NAME = _col("Name", "name", "Name of the object.")
_AGE = _col("Age", "", "Time since the object was created.")

# plural -> [(column, cell function)]
_EXTRA = {
    "resourceslices": [
        (_col("Node", "", "spec.nodeName"), lambda o: (o.get("spec") or {}).get("nodeName", "")),
        (_col("Driver", "", "spec.driver"), lambda o: (o.get("spec") or {}).get("driver", "")),
        (_col("Pool", "", "spec.pool.name"),
         lambda o: ((o.get("spec") or {}).get("pool") or {}).get("name", "")),
    ],
    # kubectl's printer for ResourceClaims: deleted / pending / allocated[,reserved].
    "resourceclaims": [
        (_col("State", "", "The claim's allocation state."), lambda o: _claim_state(o)),
    ],
    "pods": [
        (_col("Status", "", "status.phase"), lambda o: (o.get("status") or {}).get("phase", "")),
        (_col("Node", "", "spec.nodeName"), lambda o: (o.get("spec") or {}).get("nodeName", "")),
    ],
}


def table(rt, items, list_md):
    extra = _EXTRA.get(rt.plural, [])
    cols = [_NAME] + [c for c, _ in extra] + [_AGE]
    rows = []
    for o in items:
        cells = [o["metadata"]["name"]] + [f(o) for _, f in extra] + [_age(o)]
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                                                "apiVersion": "meta.k8s.io/v1",
                                                "metadata": o["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_md,
            "columnDefinitions": cols, "rows": rows}
