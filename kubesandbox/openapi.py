"""OpenAPI v3 documents generated from the registry.

kubectl reads ``/openapi/v3`` to learn whether the server validates fields
itself (a ``fieldValidation`` query parameter on each kind's PATCH operation;
when it does, kubectl leaves validation to the server) and to answer ``kubectl
explain``. A built-in kind's schema is built from the vendored Kubernetes
``generated.proto`` files (see protobuf.py): every field with its type and the
documentation comment upstream generates its own OpenAPI from, and the
``+patchStrategy``/``+listType`` markers as the ``x-kubernetes-*`` extensions.
A custom kind's is its CRD's ``openAPIV3Schema``; without one it stays open.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from .protobuf import META, PROTO_DIR, schema
from .registry import Registry, ResourceType

_SCALARS: dict[str, dict[str, Any]] = {
    "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "string": {"type": "string"},
    "bytes": {"type": "string", "format": "byte"},
}
_SPECIAL: dict[str, dict[str, Any]] = {  # messages whose JSON is not an object of their fields
    f"{META}.Time": {"type": "string", "format": "date-time"},
    f"{META}.MicroTime": {"type": "string", "format": "date-time"},
    f"{META}.Duration": {"type": "string"},
    f"{META}.FieldsV1": {"type": "object"},
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": {"x-kubernetes-int-or-string": True},
    "k8s.io.apimachinery.pkg.api.resource.Quantity": {"x-kubernetes-int-or-string": True},
    "k8s.io.apimachinery.pkg.runtime.RawExtension": {"type": "object"},
}
_MARKERS = {
    "patchStrategy": "x-kubernetes-patch-strategy",
    "patchMergeKey": "x-kubernetes-patch-merge-key",
    "listType": "x-kubernetes-list-type",
    "listMapKey": "x-kubernetes-list-map-keys",
}
_DECLARATION = re.compile(
    r"^(?:message (\w+) \{|\s+(?:optional|repeated|required) [\w.]+ (\w+) =|\s+map<[^>]+> (\w+) =)"
)
_PACKAGE = re.compile(r"^package ([\w.]+);")
_TYPE_META = {
    "apiVersion": {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    },
    "kind": {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    },
}

_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


def _params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for n in names]


def _path_for(rt: ResourceType, named: bool) -> str:
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    middle = "/namespaces/{namespace}" if rt.namespaced else ""
    return f"{prefix}{middle}/{rt.plural}" + ("/{name}" if named else "")


def _operation(rt: ResourceType, action: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    return {
        "operationId": f"{action}{rt.kind}",
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }


@functools.cache
def _comments() -> dict[str, tuple[str, dict[str, Any]]]:
    """Message or ``message.field`` -> (its documentation, its markers as x-kubernetes extensions)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(PROTO_DIR.rglob("generated.proto")):
        package, message, text, markers = "", "", [], {}
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("//"):
                body = stripped[2:].strip()
                if body.startswith("+"):
                    key, _, value = body[1:].partition("=")
                    if key in _MARKERS:
                        markers[_MARKERS[key]] = value.split(",") if key == "listMapKey" else value
                elif not body.startswith("TODO"):
                    text.append(body)
                continue
            if match := _PACKAGE.match(line):
                package = match.group(1)
            elif match := _DECLARATION.match(line):
                if match.group(1):
                    message = f"{package}.{match.group(1)}"
                    found[message] = (" ".join(text).strip(), {})
                else:
                    found[f"{message}.{match.group(2) or match.group(3)}"] = (" ".join(text).strip(), markers)
            if "x-kubernetes-list-map-keys" in markers and isinstance(markers["x-kubernetes-list-map-keys"], str):
                markers["x-kubernetes-list-map-keys"] = [markers["x-kubernetes-list-map-keys"]]
            text, markers = [], {}
    return found


def component_name(message: str) -> str:
    """Upstream's schema names: ``io.k8s.api.apps.v1.Deployment`` for ``k8s.io.api.apps.v1.Deployment``."""
    return "io.k8s." + message.removeprefix("k8s.io.")


def _type_of(type_name: str, components: dict[str, Any]) -> dict[str, Any]:
    if type_name in _SCALARS:
        return dict(_SCALARS[type_name])
    if type_name in _SPECIAL:
        return dict(_SPECIAL[type_name])
    _add_message(type_name, components)
    return {"allOf": [{"$ref": f"#/components/schemas/{component_name(type_name)}"}]}


def _properties(name: str, components: dict[str, Any]) -> dict[str, Any]:
    messages, comments = schema().messages, _comments()
    properties: dict[str, Any] = {}
    for spec in messages[name].fields.values():
        if spec.type not in _SCALARS and spec.type not in messages:
            continue  # a type of a group the sandbox does not vendor
        if spec.inline:
            properties.update(_properties(spec.type, components))
            continue
        value = _type_of(spec.type, components)
        if spec.map_key:
            value = {"type": "object", "additionalProperties": value}
        elif spec.repeated:
            value = {"type": "array", "items": value}
        description, markers = comments.get(f"{name}.{spec.name}", ("", {}))
        properties[spec.name] = {**value, **markers, **({"description": description} if description else {})}
    return properties


def _add_message(name: str, components: dict[str, Any]) -> None:
    key = component_name(name)
    if key in components:
        return
    components[key] = {}  # a placeholder first: messages refer to each other
    message = schema().messages[name]
    description = _comments().get(name, ("", {}))[0]
    if message.is_slice:  # a Go slice wrapped for protobuf: its JSON is the list itself
        item = next(iter(message.fields.values()))
        components[key] = {"type": "array", "items": _type_of(item.type, components)}
        return
    components[key] = {
        "type": "object",
        **({"description": description} if description else {}),
        "properties": _properties(name, components),
    }


def _kind_schema(rt: ResourceType, components: dict[str, Any]) -> dict[str, Any]:
    gvk = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
    if not rt.builtin:
        if rt.schema and not rt.schema.get("x-kubernetes-preserve-unknown-fields"):
            return {**rt.schema, "x-kubernetes-group-version-kind": gvk}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "x-kubernetes-group-version-kind": gvk}
    message = schema().message_for(rt.api_version, rt.kind)
    if message is None:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "x-kubernetes-group-version-kind": gvk}
    _add_message(message, components)
    built = components.pop(component_name(message))
    built["properties"] = {**_TYPE_META, **built["properties"]}
    return {**built, "x-kubernetes-group-version-kind": gvk}


def group_version_key(rt: ResourceType) -> str:
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


def document(types: list[ResourceType]) -> dict[str, Any]:
    return json.loads(_document_text(_key(types)))


def _key(types: list[ResourceType]) -> tuple[tuple[ResourceType, str], ...]:
    """Types with their CRD schemas (which ResourceType equality leaves out), so a changed CRD is a new key."""
    return tuple((rt, json.dumps(rt.schema, sort_keys=True)) for rt in types)


@functools.lru_cache(maxsize=64)
def _document_text(key: tuple[tuple[ResourceType, str], ...]) -> str:
    """A group version's document, built once per set of types (building apps/v1 walks the whole PodSpec)."""
    return json.dumps(_build([rt for rt, _ in key]), sort_keys=True)


def _build(types: list[ResourceType]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        collection = {
            "get": (
                "list",
                _operation(
                    rt, "list", _params("labelSelector", "fieldSelector", "watch", "resourceVersion", "timeoutSeconds")
                ),
            ),
            "post": ("create", _operation(rt, "post", _params(*_WRITE_PARAMS))),
            "delete": (
                "deletecollection",
                _operation(rt, "deletecollection", _params("labelSelector", "fieldSelector", "dryRun")),
            ),
        }
        named = {
            "get": ("get", _operation(rt, "get", [])),
            "put": ("update", _operation(rt, "put", _params(*_WRITE_PARAMS))),
            "patch": ("patch", _operation(rt, "patch", _params(*_WRITE_PARAMS, "force"))),
            "delete": ("delete", _operation(rt, "delete", _params("dryRun", "propagationPolicy"))),
        }
        for path, operations in ((_path_for(rt, False), collection), (_path_for(rt, True), named)):
            served = {method: op for method, (verb, op) in operations.items() if verb in rt.verbs}
            if served:
                paths[path] = served
        message = schema().message_for(rt.api_version, rt.kind) if rt.builtin else None
        name = component_name(message) if message else f"{rt.group or 'core'}.{rt.version}.{rt.kind}"
        schemas[name] = _kind_schema(rt, schemas)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-gitopsctl-sandbox"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(registry: Registry) -> dict[str, Any]:
    by_gv: dict[str, list[ResourceType]] = {}
    for rt in registry.all():
        by_gv.setdefault(group_version_key(rt), []).append(rt)
    paths = {}
    for key, types in sorted(by_gv.items()):
        digest = hashlib.sha256(_document_text(_key(types)).encode()).hexdigest()[:32].upper()
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def for_group_version(registry: Registry, key: str) -> dict[str, Any] | None:
    types = [rt for rt in registry.all() if group_version_key(rt) == key]
    return document(types) if types else None
