"""Custom resources checked against their CRD version's openAPIV3Schema, as kube-apiserver checks them.

Without this a custom resource was stored as sent, so a route a real mesh refuses (a VirtualService
weight of ``"50"``, an HTTPRoute backendRef without a name) passed against the sandbox and failed on a
real cluster. Each step follows apiextensions-apiserver and the kube-openapi validator it uses, down to
their messages and field paths:

- fields the schema does not declare are pruned (``pruning/algorithm.go``); ``fieldValidation``
  decides whether that is silent (Ignore), a ``Warning`` (Warn, the default) or a 400 (Strict);
  a server-side apply naming such a field fails as structured-merge-diff fails it (a 500);
- nulls of non-nullable fields are dropped (``PruneNonNullableNullsWithoutDefaults``);
- the rest is validated (``validate/*.go``; causes rendered as ``field.Error`` renders them),
  then ``x-kubernetes-list-type`` set/map uniqueness (``listtype/validation.go``).

A version without a schema keeps accepting anything. Not modelled: defaults, CEL rules
(``x-kubernetes-validations``), validation ratcheting on update, allOf/anyOf/oneOf/not.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from .errors import ApiError, bad_request, invalid
from .registry import ResourceType

DIRECTIVES = ("Ignore", "Strict", "Warn")
_META = frozenset({"apiVersion", "kind", "metadata"})
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# apiextensions' supported formats, named without dashes as go-openapi names them
# fmt: off
_STRING_FORMATS = frozenset((
    "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3", "uuid4", "uuid5",
    "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor", "byte", "password", "date", "duration",
    "datetime", "k8sshortname", "k8slongname",
))
# fmt: on
_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")

Cause = tuple[str, str, str]  # (reason, message, field), as errors.invalid takes them


def directive(value: str | None, options_kind: str) -> str:
    """The ``fieldValidation`` directive of a write: Warn when unset, as kube-apiserver defaults it."""
    if not value:
        return "Warn"
    if value not in DIRECTIVES:
        supported = ", ".join(_go(v) for v in ("", *DIRECTIVES))
        message = f"Unsupported value: {_go(value)}: supported values: {supported}"
        raise invalid(options_kind, "meta.k8s.io", "", [("FieldValueNotSupported", message, "fieldValidation")])
    return value


def check_applied(rt: ResourceType, applied: dict[str, Any]) -> None:
    """A server-side apply naming an undeclared field fails before anything merges, whatever
    ``fieldValidation`` says: structured-merge-diff cannot type it, and kube-apiserver answers 500."""
    if rt.schema is None:
        return
    unknown: list[str] = []
    _prune(copy.deepcopy(applied), rt.schema, "", unknown, root=True)
    if not unknown:
        return
    problems = [f".{path}: field not declared in schema" for path in sorted(unknown)]
    detail = problems[0] if len(problems) == 1 else "errors:\n" + "\n".join(f"  {p}" for p in problems)
    meta = applied.get("metadata") or {}
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {rt.group}/{rt.version}, Kind={rt.kind}"
    raise ApiError(500, "", f"failed to create typed patch object ({where}): {detail}")


def conform(
    rt: ResourceType,
    obj: dict[str, Any],
    *,
    field_validation: str,
    warnings: list[str] | None,
    verb: str,
    subresource: str = "",
) -> None:
    """Prune ``obj`` in place and validate it, raising what kube-apiserver answers for ``verb``.

    Unknown fields are what its decoder reports; Warn adds them to ``warnings``. A status write is
    validated against the schema's ``status`` alone, its paths reported under ``status``.
    """
    schema = rt.schema
    if schema is None:
        return
    patched = json.dumps(obj, separators=(",", ":")) if verb == "patch" and field_validation == "Strict" else ""
    unknown: list[str] = []
    _prune(obj, schema, "", unknown, root=True)
    if unknown and field_validation != "Ignore":
        found = [f'unknown field "{path}"' for path in sorted(unknown)]
        if field_validation == "Warn":
            if warnings is not None:
                warnings.extend(found)
        elif verb == "patch":
            message = f"Invalid value: {_go(patched)}: strict decoding error: {', '.join(found)}"
            raise invalid("", "", "", [("FieldValueInvalid", message, "patch")])
        else:
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {', '.join(found)}"
            )
    causes: list[Cause] = []
    if subresource == "status":
        if "status" in obj:
            status_schema = (schema.get("properties") or {}).get("status") or {}
            _check(obj["status"], status_schema, "", causes)
            causes = [(r, m, "status" if f in ("", "<nil>") else f"status.{f}") for r, m, f in causes]
    else:
        _check(obj, schema, "", causes)
    _lists(obj, schema, "", causes)
    if causes:
        raise invalid(rt.kind, rt.group, (obj.get("metadata") or {}).get("name", ""), causes)


# ---------------------------------------------------------------- pruning


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune(x: Any, s: dict[str, Any] | None, path: str, unknown: list[str], *, root=False, keep=False) -> None:
    """Drop undeclared fields (recording their paths) and non-nullable nulls; ``keep`` is
    x-kubernetes-preserve-unknown-fields in force, which a list passes on to its items."""
    s = s or {}
    keep = keep or bool(s.get("x-kubernetes-preserve-unknown-fields"))
    if isinstance(x, dict):
        embedded = root or s.get("x-kubernetes-embedded-resource")
        props, extra = s.get("properties") or {}, s.get("additionalProperties")
        for key in list(x):
            if embedded and key in _META:
                continue
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                if x[key] is None and not sub.get("nullable") and "default" not in sub:
                    del x[key]
                else:
                    _prune(x[key], sub, _child(path, key), unknown)
            elif not keep and extra is not True:
                unknown.append(_child(path, key))
                del x[key]
    elif isinstance(x, list):
        for i, item in enumerate(x):
            _prune(item, s.get("items"), f"{path}[{i}]", unknown, keep=keep)


# ------------------------------------------------------------- validation


def _go(value: Any) -> str:
    """A bad value as ``field.Error`` prints it: strings quoted, numbers bare, the rest as JSON."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _number(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _number(n: float) -> str:
    """Go's %v of a JSON number: 50 for 50.0, 1.5, 1e+21."""
    if isinstance(n, float) and n.is_integer() and abs(n) < 1e21:
        return str(int(n))
    return repr(n)


def _json_type(x: Any) -> str:
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(x), "null")


def _format(s: dict[str, Any]) -> str:
    """The format kube-apiserver keeps; it strips those it does not support for the type."""
    fmt, kind = s.get("format") or "", s.get("type") or ""
    if kind == "integer":
        return fmt if fmt in ("int32", "int64") else ""
    if kind == "number":
        return fmt if fmt in ("float", "double") else ""
    fmt = fmt.replace("-", "")
    return fmt if kind in ("", "string") and fmt in _STRING_FORMATS else ""


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "datetime":
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        elif fmt == "date":
            date.fromisoformat(value)
        elif fmt == "byte":
            base64.b64decode(value, validate=True)
        elif fmt in ("ipv4", "ipv6"):
            return ipaddress.ip_address(value).version == int(fmt[-1])
        elif fmt == "cidr":
            ipaddress.ip_network(value, strict=False)
        elif fmt.startswith("uuid"):
            return bool(_UUID.match(value))
    except (ValueError, binascii.Error):
        return False
    return True


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _check(x: Any, s: dict[str, Any], path: str, causes: list[Cause]) -> None:
    """kube-openapi's schema validator at one node, in its order: type, string, format, number,
    array, enum, object. ``path`` names the node in messages and, as apiextensions does, in fields."""
    types = ["integer", "string"] if s.get("x-kubernetes-int-or-string") else [s["type"]] if s.get("type") else []
    fmt = _format(s)
    if x is None:
        if types and not s.get("nullable"):
            detail = f'{path} in body must be of type {",".join(types)}: "null"'
            causes.append(("FieldValueTypeInvalid", f'Invalid value: "null": {detail}', path))
        return
    actual = _json_type(x)
    whole = actual == "integer" or (actual == "number" and x.is_integer())
    if types and not (
        actual in types
        or (actual == "number" and whole and "integer" in types)
        or (actual == "integer" and "number" in types)
    ):
        expected, got = ",".join(types), actual
        if fmt and not isinstance(x, str | list):  # a formatted type names the format: int32, not integer
            expected, got = s["format"], {"integer": "int64", "number": "float64"}.get(actual, "")
        detail = f"{path} in body must be of type {expected}: {_go(got)}"
        causes.append(("FieldValueTypeInvalid", f"Invalid value: {_go(got)}: {detail}", path))
    if isinstance(x, str):
        _check_string(x, s, fmt, path, causes)
    elif actual in ("integer", "number"):
        _check_number(x, s, types, fmt, whole, path, causes)
    elif isinstance(x, list):
        for i, item in enumerate(x):
            _check(item, s.get("items") or {}, f"{path}[{i}]", causes)
        if s.get("minItems") is not None and len(x) < s["minItems"]:
            detail = f"{path} in body should have at least {s['minItems']} items"
            causes.append(("FieldValueInvalid", f"Invalid value: {len(x)}: {detail}", path))
        if s.get("maxItems") is not None and len(x) > s["maxItems"]:
            items = "item" if s["maxItems"] == 1 else "items"
            causes.append(("FieldValueTooMany", f"Too many: {len(x)}: must have at most {s['maxItems']} {items}", path))
        if s.get("uniqueItems") and len({json.dumps(i, sort_keys=True) for i in x}) < len(x):
            causes.append(
                ("FieldValueInvalid", f'Invalid value: "": {path} in body shouldn\'t contain duplicates', path)
            )
    if s.get("enum") and not any(_same(x, e) for e in s["enum"]):
        supported = ", ".join(json.dumps(e if isinstance(e, str) else _go(e)) for e in s["enum"])
        causes.append(("FieldValueNotSupported", f"Unsupported value: {_go(x)}: supported values: {supported}", path))
    if isinstance(x, dict):
        props, extra = s.get("properties") or {}, s.get("additionalProperties")
        for key, value in x.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                _check(value, sub, _child(path, key), causes)
        for key in s.get("required") or ():
            if key not in x:
                causes.append(("FieldValueRequired", "Required value", _child(path, key)))


def _check_string(x: str, s: dict[str, Any], fmt: str, path: str, causes: list[Cause]) -> None:
    if s.get("maxLength") is not None and len(x) > s["maxLength"]:
        unit = "byte" if s["maxLength"] == 1 else "bytes"
        causes.append(("FieldValueTooLong", f"Too long: may not be more than {s['maxLength']} {unit}", path))
    elif s.get("minLength") is not None and len(x) < s["minLength"]:
        detail = f"{path} in body should be at least {s['minLength']} chars long"
        causes.append(("FieldValueInvalid", f"Invalid value: {_go(x)}: {detail}", path))
    elif s.get("pattern"):
        compiled = _regex(s["pattern"])
        if compiled is None or not compiled.search(x):
            detail = f"{path} in body should match '{s['pattern']}'"
            causes.append(("FieldValueInvalid", f"Invalid value: {_go(x)}: {detail}", path))
    if fmt and not _format_ok(fmt, x):
        detail = f"{path} in body must be of type {s['format']}: {_go(x)}"
        causes.append(("FieldValueTypeInvalid", f"Invalid value: {_go(x)}: {detail}", path))


def _check_number(x: float, s, types: list[str], fmt: str, whole: bool, path: str, causes: list[Cause]) -> None:
    if types == ["integer"]:
        low, high = _INT32 if fmt == "int32" else _INT64
        if not whole or not low <= x <= high:  # no field: apiextensions reports it under a nil path
            kind = f"with format {fmt}" if fmt else "(default format)"
            detail = f"Checked value must be of type integer {kind} in {path}"
            causes.append(("FieldValueInvalid", f'Invalid value: "": {detail}', "<nil>"))
    for bound, exclusive, fails, words in (
        ("maximum", "exclusiveMaximum", lambda b, e: x >= b if e else x > b, ("less than", "less than or equal to")),
        (
            "minimum",
            "exclusiveMinimum",
            lambda b, e: x <= b if e else x < b,
            ("greater than", "greater than or equal to"),
        ),
    ):
        if s.get(bound) is not None and fails(s[bound], bool(s.get(exclusive))):
            relation = words[0] if s.get(exclusive) else words[1]
            detail = f"{path} in body should be {relation} {_number(s[bound])}"
            causes.append(("FieldValueInvalid", f"Invalid value: {_go(x)}: {detail}", path))


def _lists(x: Any, s: dict[str, Any] | None, path: str, causes: list[Cause]) -> None:
    """x-kubernetes-list-type: a set's items, and a map's keys, must be unique."""
    s = s or {}
    if isinstance(x, dict):
        props, extra = s.get("properties") or {}, s.get("additionalProperties")
        for key, value in x.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                _lists(value, sub, _child(path, key), causes)
    elif isinstance(x, list):
        list_type, keys = s.get("x-kubernetes-list-type"), s.get("x-kubernetes-list-map-keys") or []
        if list_type in ("set", "map"):
            seen: dict[str, int] = {}
            for i, item in enumerate(x):
                if list_type == "map" and not isinstance(item, dict):
                    message = f"Invalid value: {_go(item)}: must be an object for an array of list-type map"
                    causes.append(("FieldValueInvalid", message, f"{path}[{i}]"))
                    return
                value = {k: item[k] for k in keys if k in item} if list_type == "map" else item
                text = json.dumps(value, sort_keys=True)
                seen[text] = seen.get(text, 0) + 1
                if seen[text] == 2:  # each duplicated value once, at its second place
                    causes.append(("FieldValueDuplicate", f"Duplicate value: {_go(value)}", f"{path}[{i}]"))
        for i, item in enumerate(x):
            _lists(item, s.get("items"), f"{path}[{i}]", causes)
