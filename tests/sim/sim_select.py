"""Label and field selectors: parsing (with the real server's error wording) and matching."""

from sim_errors import bad_request

_SPECIAL = set("=!(),")


def _lex(text):
    """Tokens: ('id', s) | ('op', s) | ('(',) ... following the apimachinery lexer."""
    toks = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            toks.append((c, c))
            i += 1
            continue
        if c == "=":
            if i + 1 < n and text[i + 1] == "=":
                toks.append(("op", "=="))
                i += 2
            else:
                toks.append(("op", "="))
                i += 1
            continue
        if c == "!":
            if i + 1 < n and text[i + 1] == "=":
                toks.append(("op", "!="))
                i += 2
            else:
                toks.append(("!", "!"))
                i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
            j += 1
        word = text[i:j]
        if word in ("in", "notin"):
            toks.append(("op", word))
        else:
            toks.append(("id", word))
        i = j
    return toks


class LabelSelector:
    """Requirements: list of (key, op, values); op in =, !=, in, notin, exists, !exists."""

    def __init__(self, reqs):
        self.reqs = reqs

    @classmethod
    def parse(cls, text):
        if not text:
            return cls([])
        toks = _lex(text)
        reqs = []
        pos = 0

        def err(found, expected):
            raise bad_request(f"unable to parse requirement: found '{found}', expected: {expected}")

        while pos < len(toks):
            neg = False
            if toks[pos][0] == "!":
                neg = True
                pos += 1
            if pos >= len(toks) or toks[pos][0] != "id":
                err(toks[pos][1] if pos < len(toks) else "", "identifier")
            key = toks[pos][1]
            pos += 1
            if neg:
                reqs.append((key, "!exists", ()))
            elif pos >= len(toks) or toks[pos][0] == ",":
                reqs.append((key, "exists", ()))
            elif toks[pos][0] == "op":
                op = toks[pos][1]
                pos += 1
                if op in ("in", "notin"):
                    if pos >= len(toks) or toks[pos][0] != "(":
                        err(toks[pos][1] if pos < len(toks) else "", "'('")
                    pos += 1
                    vals = []
                    while pos < len(toks) and toks[pos][0] != ")":
                        if toks[pos][0] == "id":
                            vals.append(toks[pos][1])
                        elif toks[pos][0] != ",":
                            err(toks[pos][1], "identifier")
                        pos += 1
                    if pos >= len(toks):
                        err("", "')'")
                    pos += 1
                    reqs.append((key, op, tuple(vals)))
                else:
                    if pos < len(toks) and toks[pos][0] == "id":
                        val = toks[pos][1]
                        pos += 1
                    elif pos >= len(toks) or toks[pos][0] == ",":
                        val = ""
                    else:
                        err(toks[pos][1], "identifier")
                    reqs.append((key, "!=" if op == "!=" else "=", (val,)))
            else:
                err(toks[pos][1], "'=', '!=', '==', 'in', notin'")
            if pos < len(toks):
                if toks[pos][0] != ",":
                    err(toks[pos][1], "','")
                pos += 1
        return cls(reqs)

    def matches(self, labels):
        labels = labels or {}
        for key, op, vals in self.reqs:
            has = key in labels
            v = labels.get(key)
            if op == "exists" and not has:
                return False
            if op == "!exists" and has:
                return False
            if op == "=" and (not has or v != vals[0]):
                return False
            if op == "!=" and has and v == vals[0]:
                return False
            if op == "in" and (not has or v not in vals):
                return False
            if op == "notin" and has and v in vals:
                return False
        return True

    def empty(self):
        return not self.reqs


class FieldSelector:
    """Terms: list of (field, op, value); op '=' or '!='."""

    def __init__(self, terms):
        self.terms = terms

    @classmethod
    def parse(cls, text, rt):
        terms = []
        if text:
            for part in _split_fields(text):
                if not part:
                    continue
                if "!=" in part:
                    f, v = part.split("!=", 1)
                    op = "!="
                elif "==" in part:
                    f, v = part.split("==", 1)
                    op = "="
                elif "=" in part:
                    f, v = part.split("=", 1)
                    op = "="
                else:
                    raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
                f = f.strip()
                if f not in rt.field_names():
                    raise bad_request(rt.field_selector_error(f))
                terms.append((f, op, v.strip()))
        return cls(terms)

    def matches(self, obj, rt):
        for f, op, v in self.terms:
            got = rt.field_value(obj, f)
            if (got == v) != (op == "="):
                return False
        return True

    def get(self, field):
        for f, op, v in self.terms:
            if f == field and op == "=":
                return v
        return None


def _split_fields(text):
    parts, cur, esc = [], "", False
    for ch in text:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts
