"""Kubernetes Status bodies and field errors, shaped like the 1.36 API server's answers."""

import json


class ApiException(Exception):
    """Raised anywhere in request handling; the HTTP layer turns it into a Status answer."""

    def __init__(self, code, body, headers=None):
        super().__init__(body.get("message", ""))
        self.code = code
        self.body = body
        self.headers = headers or {}


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    if message is not None:
        body["message"] = message
    body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _details(rt, name=None, kind=None):
    d = {}
    if name:
        d["name"] = name
    if rt.group:
        d["group"] = rt.group
    d["kind"] = kind or rt.plural
    return d


def qualified(rt):
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt, name):
    return ApiException(404, status_body(404, "NotFound", f'{qualified(rt)} "{name}" not found',
                                         _details(rt, name)))


def already_exists(rt, name):
    return ApiException(409, status_body(409, "AlreadyExists",
                                         f'{qualified(rt)} "{name}" already exists',
                                         _details(rt, name)))


def conflict(rt, name, msg="the object has been modified; please apply your changes to the "
                           "latest version and try again"):
    return ApiException(409, status_body(
        409, "Conflict", f'Operation cannot be fulfilled on {qualified(rt)} "{name}": {msg}',
        _details(rt, name)))


def bad_request(message):
    return ApiException(400, status_body(400, "BadRequest", message))


def resource_not_found():
    return ApiException(404, status_body(404, "NotFound",
                                         "the server could not find the requested resource", {}))


def method_not_allowed(method):
    return ApiException(405, status_body(405, "MethodNotAllowed",
                                         "the server does not allow this method on the requested "
                                         "resource",
                                         {}))


def unsupported_media_type(ct):
    return ApiException(415, status_body(415, "UnsupportedMediaType",
                                         'the body of the request was in an unknown format - '
                                         'accepted media types include: application/json-patch+json, '
                                         'application/merge-patch+json, '
                                         'application/apply-patch+yaml, '
                                         'application/strategic-merge-patch+json'))


# -- field errors ---------------------------------------------------------------------------

def go_json(value):
    """json.Marshal-like compact text (Go escapes <, > and &)."""
    s = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_value(value):
    """How field.Invalid prints a value: strings quoted, numbers bare, structs as JSON."""
    if isinstance(value, GoRaw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return go_json(value)


class GoRaw:
    """Pre-formatted value text (e.g. a Go struct printed by sim_gostruct)."""

    def __init__(self, text):
        self.text = text


class FieldError:
    def __init__(self, reason, field, message):
        self.reason = reason
        self.field = field
        self.message = message

    def text(self):
        return f"{self.field}: {self.message}" if self.field else self.message


def invalid(field, value, detail):
    return FieldError("FieldValueInvalid", field, f"Invalid value: {go_value(value)}: {detail}")


def required(field, detail=""):
    return FieldError("FieldValueRequired", field,
                      f"Required value: {detail}" if detail else "Required value")


def too_long(field, limit):
    return FieldError("FieldValueTooLong", field, f"Too long: may not be more than {limit} bytes")


def too_many(field, actual, limit):
    return FieldError("FieldValueTooMany", field,
                      f"Too many: {actual}: must have at most {limit} items")


def duplicate(field, value):
    return FieldError("FieldValueDuplicate", field, f"Duplicate value: {go_value(value)}")


def forbidden(field, detail):
    return FieldError("FieldValueForbidden", field, f"Forbidden: {detail}")


def not_supported(field, value, supported):
    sup = ", ".join(json.dumps(s) for s in supported)
    return FieldError("FieldValueNotSupported", field,
                      f"Unsupported value: {go_value(value)}: supported values: {sup}")


def invalid_exception(kind, group, name, errors):
    """422 Invalid with one cause per error; the message lists each distinct error once."""
    texts = []
    for e in errors:
        t = e.text()
        if t not in texts:
            texts.append(t)
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qual = f"{kind}.{group}" if group else kind
    msg = f'{qual} "{name}" is invalid: {agg}'
    details = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": e.reason, "message": e.message, "field": e.field}
                         for e in errors]
    return ApiException(422, status_body(422, "Invalid", msg, details))
