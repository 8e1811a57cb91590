"""Shared pieces of the benchmarks: result rows, Prometheus histogram diffs, process memory and
threads. A benchmark prints one JSON object per line for each figure (see row()); bench/table.py
turns those lines into the one table bench/run.sh prints.

Row fields: figure (name), unit, values (one per run), target (text such as "<= 2" or null),
goal ("le" or "ge": how the median compares to target_value), target_value, baseline (values
of the same figure measured against a do-nothing baseline in the same run, or null), note.
"""
import json
import os
import re
import statistics
import sys
import urllib.request


def row(figure, unit, values, target_value=None, goal=None, baseline=None, note=None, out=None):
    rec = {"figure": figure, "unit": unit, "values": [round(v, 4) for v in values],
           "target_value": target_value, "goal": goal,
           "baseline": [round(v, 4) for v in baseline] if baseline else None, "note": note}
    print(json.dumps(rec), file=out or sys.stdout, flush=True)
    return rec


def scrape(port):
    """Histograms on /metrics: {(name, labels-without-le): [(le, count), ...]}."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read()
    hist = {}
    for line in text.decode().splitlines():
        m = re.match(r'^(\w+)_bucket\{(.*),le="([^"]+)"\} (\d+)$', line)
        if m:
            le = float("inf") if m.group(3) == "+Inf" else float(m.group(3))
            hist.setdefault((m.group(1), m.group(2)), []).append((le, int(m.group(4))))
    return hist


def hist_diff(after, before, key):
    a = after.get(key, [])
    b = dict(before.get(key, []))
    return [(le, c - b.get(le, 0)) for le, c in a]


def quantile(buckets, q):
    """histogram_quantile(): linear interpolation inside the bucket holding rank q."""
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            span = c - prev_c
            return prev_le + (le - prev_le) * ((rank - prev_c) / span if span else 1.0)
        prev_le, prev_c = le, c
    return prev_le


def share_le(buckets, bound):
    """Fraction of observations <= BOUND (which must be a bucket bound)."""
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    for le, c in buckets:
        if abs(le - bound) < 1e-12:
            return c / buckets[-1][1]
    return float("nan")


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def cpu_ms(pid):
    """User + system CPU time PID has used, in ms (clock-tick resolution): unlike wall time,
    what other processes on a shared machine do does not change it much."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def threads(pid):
    names = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def median(values):
    return statistics.median(values) if values else float("nan")


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]
