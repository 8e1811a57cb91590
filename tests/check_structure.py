#!/usr/bin/python3
"""Structure checks on the production C sources (ctest lint.structure).

1. No function body is longer than MAX_LINES lines unless it is listed in EXCEPTIONS with the
   reason it is kept whole.
2. No two source files call into each other: if a.c calls a function defined in b.c, b.c calls
   nothing defined in a.c.

The sources are clang-formatted in Linux style (checked by lint.format), so a function
definition is a header ending at a line that is exactly "{" and its body ends at the next line
that is exactly "}". That is all this script relies on.
"""
import os
import re
import subprocess
import sys

MAX_LINES = 80
FOLDERS = ("base", "rpc", "cdi", "kube", "devmodel", "kubeletplugin", "controller", "cmd")
# "file:function": reason the function stays longer than MAX_LINES.
EXCEPTIONS = {}

IDENT_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "__attribute__",
            "_Static_assert", "typeof", "__typeof__", "alignof", "_Alignof", "offsetof"}


def strip_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def functions(path):
    """Yield (name, is_static, first_line, body_lines, body_text) for each definition."""
    lines = strip_comments_and_strings(open(path, encoding="utf-8").read()).split("\n")
    i = 0
    while i < len(lines):
        if lines[i] != "{":
            i += 1
            continue
        j = i - 1
        while j > 0 and lines[j - 1].strip() and not lines[j - 1].startswith(("}", "#")) \
                and not lines[j - 1].rstrip().endswith((";", "*/")):
            j -= 1
        header = " ".join(lines[j:i])
        k = i + 1
        while k < len(lines) and lines[k] != "}":
            k += 1
        # A line that is exactly "{" only opens a function body in Linux style.
        m = re.search(r"(\w+)\s*\(", header)
        if m:
            yield (m.group(1), bool(re.match(r"\s*(static|inline)\b", header)), j + 1, k - i - 1,
                   "\n".join(lines[i + 1:k]))
        i = k + 1


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    files = subprocess.run(["git", "ls-files", "--"] + ["%s/*.c" % f for f in FOLDERS],
                           capture_output=True, text=True, check=True).stdout.split()
    if not files:
        print("no sources found (not a git checkout?)")
        return 1
    fail = 0
    defined_in = {}
    calls = {}
    for f in files:
        called = set()
        for name, is_static, line, n, body in functions(f):
            key = "%s:%s" % (f, name)
            if n > MAX_LINES and key not in EXCEPTIONS:
                print("%s:%d: function %s() has %d lines (limit %d); split it or list it in "
                      "EXCEPTIONS with the reason" % (f, line, name, n, MAX_LINES))
                fail = 1
            if not is_static:
                defined_in.setdefault(name, f)
            called.update(c for c in IDENT_CALL.findall(body) if c not in KEYWORDS)
        calls[f] = called
    for key in EXCEPTIONS:
        f, name = key.split(":")
        if not any(n == name and cnt > MAX_LINES for n, _s, _l, cnt, _b in functions(f)):
            print("EXCEPTIONS lists %s, which is gone or short now: remove it" % key)
            fail = 1
    edges = {}
    for f, called in calls.items():
        for c in called:
            g = defined_in.get(c)
            if g and g != f:
                edges.setdefault((f, g), c)
    for (a, b), via in sorted(edges.items()):
        if a < b and (b, a) in edges:
            print("file cycle: %s calls %s() in %s, and %s calls %s() in %s" %
                  (a, via, b, b, edges[(b, a)], a))
            fail = 1
    if not fail:
        print("structure ok: %d files, functions <= %d lines, no file cycles" % (len(files), MAX_LINES))
    return fail


if __name__ == "__main__":
    sys.exit(main())
