#!/usr/bin/python3
"""Reads benchmark rows (JSON lines, see bench/benchlib.py) on stdin or from files and prints
one table: figure, min/median/max over the runs, target, pass/fail, baseline ratio. Lines that
are not rows are passed through under the table. Markdown with --markdown."""
import json
import math
import statistics
import sys


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def render(rows, markdown):
    head = ["figure", "unit", "runs", "min", "median", "max", "target", "result", "baseline",
            "ratio"]
    out = []
    for r in rows:
        vals = [v for v in r["values"] if v is not None and not math.isnan(v)]
        med = statistics.median(vals) if vals else float("nan")
        tv, goal = r.get("target_value"), r.get("goal")
        target = result = "-"
        if tv is not None and goal:
            target = ("<= " if goal == "le" else ">= ") + fmt(tv)
            ok = (med <= tv) if goal == "le" else (med >= tv)
            result = "pass" if ok else "FAIL"
        base = r.get("baseline")
        bmed = statistics.median(base) if base else None
        ratio = fmt(med / bmed) if bmed else "-"
        out.append([r["figure"], r.get("unit") or "", str(len(vals)), fmt(min(vals) if vals else None),
                    fmt(med), fmt(max(vals) if vals else None), target, result, fmt(bmed), ratio])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in out]
        return "\n".join(lines)
    widths = [max(len(head[i]), *(len(row[i]) for row in out)) if out else len(head[i])
              for i in range(len(head))]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(head))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)) for row in out]
    return "\n".join(lines)


def main():
    markdown = "--markdown" in sys.argv[1:]
    files = [a for a in sys.argv[1:] if not a.startswith("--")]
    text = "".join(open(f).read() for f in files) if files else sys.stdin.read()
    rows, other, notes = [], [], []
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            r = None
        if isinstance(r, dict) and "figure" in r and "values" in r:
            rows.append(r)
            if r.get("note"):
                notes.append("%s: %s" % (r["figure"].strip(), r["note"]))
        elif line.strip():
            other.append(line)
    print(render(rows, markdown))
    if notes:
        print("\nnotes:" if not markdown else "\nNotes:\n")
        for n in notes:
            print(("- " if markdown else "  ") + n)
    if other:
        print("\nother output:")
        for line in other:
            print("  " + line)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
