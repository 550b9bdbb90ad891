"""OpenAPI v3 documents generated from the registry.

kubectl reads ``/openapi/v3`` to learn whether the server validates fields
itself (a ``fieldValidation`` query parameter on each kind's PATCH operation);
when it does, kubectl leaves validation to the server. The documents describe
the operations the sandbox serves; object schemas are left open, as the
sandbox does not prune unknown fields.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .registry import Registry, ResourceType

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


def group_version_key(rt: ResourceType) -> str:
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


def document(types: list[ResourceType]) -> dict[str, Any]:
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
        name = f"{rt.group or 'core'}.{rt.version}.{rt.kind}"
        schemas[name] = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [{"group": rt.group, "version": rt.version, "kind": rt.kind}],
        }
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
        digest = hashlib.sha256(json.dumps(document(types), sort_keys=True).encode()).hexdigest()[:32].upper()
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def for_group_version(registry: Registry, key: str) -> dict[str, Any] | None:
    types = [rt for rt in registry.all() if group_version_key(rt) == key]
    return document(types) if types else None
