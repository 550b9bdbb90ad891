"""Kubernetes protobuf request bodies, decoded into the dicts their JSON form would give.

kubectl (client-go) sends built-in kinds as ``application/vnd.kubernetes.protobuf``
and, unlike CBOR, never retries as JSON on a 415, so the sandbox must read it.
A body is ``k8s\\x00`` then a ``runtime.Unknown`` whose ``raw`` is the object's
message. The messages are read with Kubernetes' own ``generated.proto`` files
(vendored in ``proto/``, parsed on first use): their field names are the JSON
names, and a few messages stand for a JSON scalar (``Time``, ``IntOrString``,
``Quantity``...). What the .proto files leave out of the Go structs comes from
``proto/go_fields.txt``: Go writes every scalar, zero or not, except an unset
pointer, so a zero is dropped (as JSON's omitempty would) unless the field is a
pointer or has no omitempty; and an embedded struct's fields are its parent's.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import ApiError, bad_request

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
PROTO_DIR = Path(__file__).with_name("proto")

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
GROUP_PACKAGES = {  # API group -> the vendored k8s.io/api package that holds its messages
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "rbac.authorization.k8s.io": "rbac",
    "networking.k8s.io": "networking",
    "policy": "policy",
    "autoscaling": "autoscaling",
    "coordination.k8s.io": "coordination",
    "scheduling.k8s.io": "scheduling",
    "authentication.k8s.io": "authentication",
    "authorization.k8s.io": "authorization",
}
META_BODY_KINDS = frozenset({"DeleteOptions"})  # registered in every group version, defined once in meta/v1

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def _signed(bits: int) -> Callable[[int], int]:
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    return lambda value: ((value & mask) ^ sign) - sign


def _fixed(fmt: str) -> Callable[[memoryview], Any]:
    return lambda data: struct.unpack(fmt, data)[0]


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


SCALARS: dict[str, tuple[int, Callable[[Any], Any]]] = {
    "bool": (VARINT, bool),
    "int32": (VARINT, _signed(32)),
    "int64": (VARINT, _signed(64)),
    "uint32": (VARINT, lambda value: value & 0xFFFFFFFF),
    "uint64": (VARINT, int),
    "sint32": (VARINT, _zigzag),
    "sint64": (VARINT, _zigzag),
    "fixed64": (I64, _fixed("<Q")),
    "sfixed64": (I64, _fixed("<q")),
    "double": (I64, _fixed("<d")),
    "fixed32": (I32, _fixed("<I")),
    "sfixed32": (I32, _fixed("<i")),
    "float": (I32, _fixed("<f")),
    # Go does not check UTF-8 here, and its JSON encoder writes U+FFFD for bad bytes
    "string": (LEN, lambda data: bytes(data).decode("utf-8", "replace")),
    "bytes": (LEN, bytes),
}
ZERO_ON_WIRE = {VARINT: 0, I64: bytes(8), I32: bytes(4), LEN: b""}


class _Malformed(Exception):
    """The bytes are not a valid message; the sentence says where."""


@dataclass(frozen=True)
class _Field:
    name: str
    type: str  # a scalar's name or a message's full name; for a map, its values' type
    repeated: bool = False
    map_key: str | None = None
    omit_zero: bool = False  # a non-pointer Go scalar with omitempty: its zero is not in the JSON
    inline: bool = False  # an embedded Go struct: its fields are its parent's in JSON


@dataclass
class _Message:
    is_slice: bool  # "+protobuf.nullable=true": a Go slice type wrapped in a message; its JSON is the list
    fields: dict[int, _Field] = field(default_factory=dict)


MESSAGE_LINE = re.compile(r"^message (\w+) \{")
FIELD_LINE = re.compile(r"^\s+(optional|repeated|required) ([\w.]+) (\w+) = (\d+)")
MAP_LINE = re.compile(r"^\s+map<([\w.]+), ?([\w.]+)> (\w+) = (\d+)")
PACKAGE_LINE = re.compile(r"^package ([\w.]+);")


def _qualified(type_name: str, package: str) -> str:
    if type_name in SCALARS:
        return type_name
    return type_name[1:] if type_name.startswith(".") else f"{package}.{type_name}"


def _parse_proto(text: str, go_fields: dict[str, str], messages: dict[str, _Message]) -> None:
    """Adds the messages of one generated.proto: flat messages, no enums or oneofs, as Kubernetes writes them."""
    package, message, name, comments = "", None, "", []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comments.append(stripped)
            continue
        if match := PACKAGE_LINE.match(line):
            package = match.group(1)
        elif match := MESSAGE_LINE.match(line):
            name = f"{package}.{match.group(1)}"
            message = messages[name] = _Message(is_slice=any("+protobuf.nullable=true" in c for c in comments))
        elif message and (match := MAP_LINE.match(line)):
            key, value, field_name, number = match.groups()
            message.fields[int(number)] = _Field(
                field_name, _qualified(value, package), map_key=_qualified(key, package)
            )
        elif message and (match := FIELD_LINE.match(line)):
            label, type_name, field_name, number = match.groups()
            type_name = _qualified(type_name, package)
            singular_scalar = label != "repeated" and type_name in SCALARS and type_name != "bytes"
            message.fields[int(number)] = _Field(
                field_name,
                type_name,
                repeated=label == "repeated",
                omit_zero=singular_scalar and go_fields.get(f"{name}.{field_name}") not in ("pointer", "always"),
                inline=go_fields.get(f"{name}.{field_name}") == "inline",
            )
        elif stripped == "}":
            message = None
        comments = []


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
        shift += 7
        if shift >= 64:
            raise _Malformed("a varint is longer than 10 bytes")
    raise _Malformed("it ends inside a varint")


def _wire_fields(data: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) in wire order; a value is an int (varint) or a slice of ``data``."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("a field has number 0")
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire in (I64, LEN, I32):
            size, pos = _varint(data, pos) if wire == LEN else (8 if wire == I64 else 4, pos)
            if size > len(data) - pos:
                raise _Malformed(f"field {number} runs past the end of its message")
            value, pos = data[pos : pos + size], pos + size
        else:
            raise _Malformed(f"field {number} has wire type {wire}, which Kubernetes never writes")
        yield number, wire, value


def _scalar(type_name: str, wire: int, value: Any) -> Any:
    expected, convert = SCALARS[type_name]
    if wire != expected:
        raise _Malformed(f"a {type_name} field has wire type {wire}")
    return convert(value)


def _packed(type_name: str, data: memoryview) -> list[Any]:
    """A packed repeated scalar: the values back to back in one length-delimited field."""
    wire = SCALARS[type_name][0]
    if wire == VARINT:
        values, pos = [], 0
        while pos < len(data):
            value, pos = _varint(data, pos)
            values.append(value)
    else:
        size = 8 if wire == I64 else 4
        if len(data) % size:
            raise _Malformed(f"a packed {type_name} field is not a whole number of values")
        values = [data[i : i + size] for i in range(0, len(data), size)]
    return [_scalar(type_name, wire, value) for value in values]


def _base64(value: Any) -> Any:
    """JSON's form of Go ``[]byte``, also inside a repeated field or a map."""
    if isinstance(value, list):
        return [_base64(item) for item in value]
    if isinstance(value, dict):
        return {key: _base64(item) for key, item in value.items()}
    return base64.b64encode(value).decode()


def _timestamp(values: dict[str, Any], empty: bool, timespec: str) -> str | None:
    """meta/v1 Time and MicroTime; Go writes the zero time as an empty message, and JSON as null."""
    if empty:
        return None
    seconds, nanos = divmod(values.get("seconds", 0) * 10**9 + values.get("nanos", 0), 10**9)
    try:
        moment = datetime(1970, 1, 1) + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as e:
        raise _Malformed("a timestamp is out of range") from e
    return moment.isoformat(timespec=timespec) + "Z"


def _fraction(value: int, digits: int) -> str:
    whole, fraction = divmod(value, 10**digits)
    return f"{whole}.{fraction:0{digits}d}".rstrip("0") if fraction else str(whole)


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String``: ``1m30s``, ``1h0m0s``, ``1.5s``, ``500ms``, ``0s``."""
    sign, ns = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if ns == 0:
        return "0s"
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 10**6:
        return f"{sign}{_fraction(ns, 3)}µs"
    if ns < 10**9:
        return f"{sign}{_fraction(ns, 6)}ms"
    minutes, rest = divmod(ns, 60 * 10**9)
    hours, minutes = divmod(minutes, 60)
    text = f"{_fraction(rest, 9)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{sign}{hours}h{text}" if hours else f"{sign}{text}"


def _int_or_string(values: dict[str, Any], empty: bool) -> int | str:
    kind = values.get("type", 0)
    if kind not in (0, 1):
        raise _Malformed(f"an IntOrString has type {kind}")
    return values.get("strVal", "") if kind == 1 else values.get("intVal", 0)


def _embedded_json(key: str) -> Callable[[dict[str, Any], bool], Any]:
    """RawExtension and FieldsV1 carry JSON bytes, which their JSON form inlines."""

    def convert(values: dict[str, Any], empty: bool) -> Any:
        if not values.get(key):
            return None
        try:
            return json.loads(values[key])
        except (ValueError, RecursionError) as e:
            raise _Malformed("an embedded object is not JSON") from e

    return convert


SPECIAL: dict[str, Callable[[dict[str, Any], bool], Any]] = {
    f"{META}.Time": lambda values, empty: _timestamp(values, empty, "seconds"),
    f"{META}.MicroTime": lambda values, empty: _timestamp(values, empty, "microseconds"),
    f"{META}.Duration": lambda values, empty: go_duration(values.get("duration", 0)),
    f"{META}.FieldsV1": _embedded_json("Raw"),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda values, empty: values.get("string", "0"),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": _embedded_json("raw"),
    UNKNOWN: lambda values, empty: values,  # the envelope: its raw bytes are decoded next
}


class _Schema:
    def __init__(self, messages: dict[str, _Message]) -> None:
        self.messages = messages

    def message_for(self, api_version: str, kind: str) -> str | None:
        group, _, version = api_version.rpartition("/")
        package = GROUP_PACKAGES.get(group)
        if package is None:
            return None
        candidates = [f"k8s.io.api.{package}.{version}.{kind}"]
        if kind in META_BODY_KINDS:
            candidates.append(f"{META}.{kind}")
        return next((name for name in candidates if name in self.messages), None)

    def decode(self, name: str, data: memoryview) -> Any:
        """No vendored message contains itself, so no body nests deeper than the schema (15 messages)."""
        message = self.messages[name]
        values: dict[_Field, Any] = {}
        for number, wire, value in _wire_fields(data):
            spec = message.fields.get(number)
            if spec is None or (spec.type not in SCALARS and spec.type not in self.messages):
                continue  # a field this schema does not know, as Go skips it
            if spec.map_key:
                key, item = self._map_entry(spec, value, wire)
                values.setdefault(spec, {})[key] = item
            elif spec.repeated and wire == LEN and spec.type in SCALARS and SCALARS[spec.type][0] != LEN:
                values.setdefault(spec, []).extend(_packed(spec.type, value))
            elif spec.repeated:
                values.setdefault(spec, []).append(self._value(spec.type, wire, value))
            else:
                values[spec] = self._value(spec.type, wire, value)  # the last one wins, as in Go
        special = SPECIAL.get(name)
        fields: dict[str, Any] = {}
        for spec, value in values.items():
            if spec.inline:
                fields.update(value)
            elif not (spec.omit_zero and value in (0, "")):
                fields[spec.name] = _base64(value) if spec.type == "bytes" and special is None else value
        if special:
            return special(fields, not data)
        return fields.get("items", []) if message.is_slice else fields

    def _value(self, type_name: str, wire: int, value: Any) -> Any:
        if type_name in SCALARS:
            return _scalar(type_name, wire, value)
        if wire != LEN:
            raise _Malformed(f"a {type_name.rpartition('.')[2]} field has wire type {wire}")
        return self.decode(type_name, value)

    def _map_entry(self, spec: _Field, data: Any, wire: int) -> tuple[Any, Any]:
        """A map entry is a message of key = 1 and value = 2; Go fills in a missing one with its zero."""
        if wire != LEN:
            raise _Malformed(f"map {spec.name} has an entry with wire type {wire}")
        entry = {}
        for number, entry_wire, value in _wire_fields(data):
            if number in (1, 2):
                entry[number] = (entry_wire, value)
        key = self._value(spec.map_key, *entry.get(1, self._zero(spec.map_key)))
        item = self._value(spec.type, *entry.get(2, self._zero(spec.type)))
        return key, item

    @staticmethod
    def _zero(type_name: str) -> tuple[int, Any]:
        wire = SCALARS[type_name][0] if type_name in SCALARS else LEN
        return wire, ZERO_ON_WIRE[wire]


@functools.cache
def schema() -> _Schema:
    """Every vendored generated.proto, parsed once, on the first protobuf body."""
    lines = (PROTO_DIR / "go_fields.txt").read_text().splitlines()
    go_fields = {name: how for how, name in (line.split() for line in lines)}
    messages: dict[str, _Message] = {}
    for path in sorted(PROTO_DIR.rglob("generated.proto")):
        _parse_proto(path.read_text(), go_fields, messages)
    return _Schema(messages)


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """The object in a Kubernetes protobuf body, as the dict its JSON encoding would decode to.

    An undecodable body is a 400, as kube-apiserver answers; a kind without a
    vendored schema is a 415, so the client knows to send JSON instead.
    """
    if not body.startswith(MAGIC):
        raise bad_request("the body of the request is not Kubernetes protobuf: it does not start with k8s\\x00")
    messages = schema()
    try:
        envelope = messages.decode(UNKNOWN, memoryview(body)[len(MAGIC) :])
        api_version, kind = envelope.get("apiVersion", ""), envelope.get("kind", "")  # its typeMeta is inline
        if not kind:
            raise bad_request("the protobuf body of the request does not name its kind")
        if envelope.get("contentEncoding"):
            raise bad_request(f'the protobuf body of the request has content encoding "{envelope["contentEncoding"]}"')
        name = messages.message_for(api_version, kind)
        if name is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f'the sandbox cannot decode {kind} in "{api_version}" from protobuf; send it as application/json',
            )
        obj = messages.decode(name, memoryview(envelope.get("raw", b"")))
    except _Malformed as e:
        raise bad_request(f"the body of the request could not be decoded as Kubernetes protobuf: {e}") from e
    if not isinstance(obj, dict):
        raise bad_request(f"{kind} is not a kind of object")
    return {"apiVersion": api_version, "kind": kind, **obj}
