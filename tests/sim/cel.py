"""A small subset of CEL, enough for DRA device selectors in the simulated scheduler.

Supported (anything else raises CelUnsupported, which makes the claim unschedulable with a
clear reason, never a silent match):

    device.driver
    device.attributes["<domain>"].<name>        int / string / bool / version values
    device.attributes["<domain>"]["<name>"]
    device.capacity["<domain>"].<name>          compared as strings only (quantities unparsed)
    literals: integers, "strings" / 'strings', true, false, semver("1.2.3")
    operators: == != < <= > >=, &&, ||, !, parentheses
    methods on versions: .isGreaterThan(v), .isLessThan(v), .compareTo(v)

Typing follows CEL: comparing values of different types is a runtime error ("no such
overload"), a missing attribute is a runtime error ("no such key"); both raise CelError, which
the scheduler treats as "this device does not match" and reports in its reason text.
"""

import re

__all__ = ["CelError", "CelUnsupported", "Version", "compile_expr", "evaluate"]


class CelError(Exception):
    """Runtime evaluation error (type mismatch, missing key)."""


class CelUnsupported(Exception):
    """The expression uses CEL outside the subset this simulator understands."""


_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


class Version:
    """A semantic version with SemVer 2.0.0 precedence (build metadata ignored)."""

    def __init__(self, text):
        m = _SEMVER.match(text or "")
        if not m:
            raise CelError(f"invalid semver {text!r}")
        self.text = text
        self.core = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        self.pre = m.group(4).split(".") if m.group(4) else []

    def _key(self):
        pre = []
        for p in self.pre:
            pre.append((0, int(p), "") if p.isdigit() else (1, 0, p))
        # a release (no pre-release) sorts after every pre-release of the same core
        return (self.core, 1 if not self.pre else 0, pre)

    def cmp(self, other):
        a, b = self._key(), other._key()
        return (a > b) - (a < b)

    def __repr__(self):
        return f"semver({self.text!r})"


# ---------------------------------------------------------------------------------------------
# tokenizer

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\],])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


def _tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise CelUnsupported(f"unsupported character {text[pos]!r} at offset {pos}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        val = m.group(kind)
        if kind == "str":
            body = val[1:-1]
            val = re.sub(r"\\(.)", lambda mm: {"n": "\n", "t": "\t"}.get(mm.group(1), mm.group(1)),
                         body)
        elif kind == "num":
            val = int(val)
        out.append((kind, val))
    out.append(("end", None))
    return out


# ---------------------------------------------------------------------------------------------
# parser -> tiny AST of tuples

class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind=None, val=None):
        t = self.toks[self.i]
        if (kind and t[0] != kind) or (val is not None and t[1] != val):
            want = val if val is not None else kind
            raise CelUnsupported(f"expected {want!r} but found {t[1]!r} in {self.text!r}")
        self.i += 1
        return t

    def accept(self, val):
        t = self.toks[self.i]
        if t[0] == "op" and t[1] == val:
            self.i += 1
            return True
        return False

    def parse(self):
        e = self.or_expr()
        if self.peek()[0] != "end":
            raise CelUnsupported(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return e

    def or_expr(self):
        e = self.and_expr()
        while self.accept("||"):
            e = ("or", e, self.and_expr())
        return e

    def and_expr(self):
        e = self.unary()
        while self.accept("&&"):
            e = ("and", e, self.unary())
        return e

    def unary(self):
        if self.accept("!"):
            return ("not", self.unary())
        return self.cmp()

    def cmp(self):
        left = self.postfix()
        t = self.peek()
        if t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            right = self.postfix()
            return ("cmp", t[1], left, right)
        return left

    def postfix(self):
        e = self.primary()
        while True:
            if self.accept("."):
                name = self.take("ident")[1]
                if self.accept("("):
                    args = self.args()
                    if name not in ("isGreaterThan", "isLessThan", "compareTo"):
                        raise CelUnsupported(f"unsupported method {name}() in {self.text!r}")
                    e = ("method", name, e, args)
                else:
                    e = ("field", e, name)
            elif self.accept("["):
                key = self.or_expr()
                self.take("op", "]")
                e = ("index", e, key)
            else:
                return e

    def args(self):
        out = []
        if self.accept(")"):
            return out
        while True:
            out.append(self.or_expr())
            if self.accept(")"):
                return out
            self.take("op", ",")

    def primary(self):
        kind, val = self.take()
        if kind == "num":
            return ("lit", val)
        if kind == "str":
            return ("lit", val)
        if kind == "op" and val == "(":
            e = self.or_expr()
            self.take("op", ")")
            return e
        if kind == "ident":
            if val == "true":
                return ("lit", True)
            if val == "false":
                return ("lit", False)
            if val == "device":
                return ("device",)
            if val == "semver" and self.accept("("):
                args = self.args()
                if len(args) != 1 or args[0][0] != "lit" or not isinstance(args[0][1], str):
                    raise CelUnsupported("semver() takes one string literal")
                try:
                    return ("lit", Version(args[0][1]))
                except CelError as e:
                    raise CelUnsupported(str(e))
            raise CelUnsupported(f"unsupported identifier or function {val!r} in {self.text!r}")
        raise CelUnsupported(f"unexpected {val!r} in {self.text!r}")


_cache = {}


def compile_expr(text):
    """Parse once; raises CelUnsupported for anything outside the subset."""
    ast = _cache.get(text)
    if ast is None:
        ast = _Parser(text).parse()
        _cache[text] = ast
    return ast


# ---------------------------------------------------------------------------------------------
# evaluation

class _Map:
    """A CEL map value: device.attributes or device.attributes[domain]."""

    def __init__(self, what, getter):
        self.what = what
        self.getter = getter

    def get(self, key):
        return self.getter(key)


def _typename(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Version):
        return "version"
    return "map"


def _attr_value(a):
    """A ResourceSlice attribute object -> Python value."""
    if not isinstance(a, dict):
        raise CelError("malformed attribute")
    if "int" in a:
        return int(a["int"])
    if "bool" in a:
        return bool(a["bool"])
    if "string" in a:
        return a["string"]
    if "version" in a:
        return Version(a["version"])
    raise CelError("attribute without a supported value")


def _domain_map(device, driver, field, domain):
    src = device.get(field) or {}

    def get(name):
        for key in (f"{domain}/{name}",) + ((name,) if domain == driver else ()):
            if key in src:
                v = src[key]
                if field == "capacity":
                    return str(v.get("value") if isinstance(v, dict) else v)
                return _attr_value(v)
        raise CelError(f"no such key: {name}")
    return _Map(f"{field}[{domain}]", get)


def _eval(node, device, driver):
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "device":
        return ("device",)
    if op == "field":
        base = _eval(node[1], device, driver)
        name = node[2]
        if base == ("device",):
            if name == "driver":
                return driver
            if name in ("attributes", "capacity"):
                return _Map(name, lambda dom, f=name: _domain_map(device, driver, f, dom))
            raise CelUnsupported(f"unsupported field device.{name}")
        if isinstance(base, _Map):
            return base.get(name)
        raise CelError(f"no such field {name!r} on {_typename(base)}")
    if op == "index":
        base = _eval(node[1], device, driver)
        key = _eval(node[2], device, driver)
        if not isinstance(base, _Map) or not isinstance(key, str):
            raise CelError("index on a non-map or with a non-string key")
        return base.get(key)
    if op == "not":
        v = _eval(node[1], device, driver)
        if not isinstance(v, bool):
            raise CelError(f"no such overload: !{_typename(v)}")
        return not v
    if op in ("and", "or"):
        # CEL's commutative error absorption: false && error == false, true || error == true
        err = None
        vals = []
        for sub in node[1:]:
            try:
                v = _eval(sub, device, driver)
                if not isinstance(v, bool):
                    raise CelError(f"no such overload: {op} on {_typename(v)}")
            except CelError as e:
                err = e
                continue
            if op == "and" and v is False:
                return False
            if op == "or" and v is True:
                return True
            vals.append(v)
        if err:
            raise err
        return op == "and"
    if op == "method":
        name, recv, args = node[1], _eval(node[2], device, driver), \
            [_eval(a, device, driver) for a in node[3]]
        if not isinstance(recv, Version) or len(args) != 1 or not isinstance(args[0], Version):
            raise CelError(f"no such overload: {name} on {_typename(recv)}")
        c = recv.cmp(args[0])
        return {"isGreaterThan": c > 0, "isLessThan": c < 0, "compareTo": c}[name]
    if op == "cmp":
        o, a, b = node[1], _eval(node[2], device, driver), _eval(node[3], device, driver)
        ta, tb = _typename(a), _typename(b)
        if ta != tb or ta == "map":
            raise CelError(f"no such overload: {ta} {o} {tb}")
        if ta == "version":
            c = a.cmp(b)
        elif ta == "bool" and o not in ("==", "!="):
            raise CelError(f"no such overload: bool {o} bool")
        else:
            c = (a > b) - (a < b)
        return {"==": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0,
                ">": c > 0, ">=": c >= 0}[o]
    raise CelUnsupported(f"unsupported node {op}")


def evaluate(expr, device, driver):
    """Evaluate a selector against one device (v1 shape: name/attributes/capacity).

    Returns a bool; raises CelUnsupported (bad/unsupported syntax) or CelError (runtime)."""
    ast = compile_expr(expr)
    v = _eval(ast, device, driver)
    if not isinstance(v, bool):
        raise CelError(f"selector must evaluate to bool, got {_typename(v)}")
    return v
