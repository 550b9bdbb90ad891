"""How lists in a Kubernetes object are keyed.

Kubernetes merges some lists item by item (``containers`` by ``name``, container
``ports`` by ``containerPort``) and treats others as atomic values. Built-in
kinds carry that in their Go struct tags; CRDs in ``x-kubernetes-list-type`` and
``x-kubernetes-list-map-keys`` in their schema. Strategic merge patch, server-side
apply and gitopsctl's diff all ask :func:`list_keys`.
"""

from __future__ import annotations

from typing import Any

ATOMIC = "atomic"
SET = "set"

# Field name -> merge keys for built-in kinds (server-side apply keys; strategic
# merge uses the first key only, as patchMergeKey does).
_BUILTIN_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
}
_BUILTIN_SETS = frozenset({"finalizers"})
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})


def list_keys(path: tuple[str, ...], schema: dict[str, Any] | None = None) -> tuple[str, ...] | str:
    """Merge keys for the list at ``path`` (field names, list indices omitted), or ATOMIC / SET.

    ``schema`` is a CRD's openAPIV3Schema; without one the built-in kinds' rules apply.
    """
    if not path:
        return ATOMIC
    name = path[-1]
    if schema is None or path[0] == "metadata":
        if name == "ports":
            if any(p in _CONTAINER_LISTS for p in path[:-1]):
                return ("containerPort", "protocol")
            return ("port", "protocol")
        if name in _BUILTIN_SETS:
            return SET
        return _BUILTIN_KEYS.get(name, ATOMIC)
    return _schema_list_keys(schema, path)


def _schema_list_keys(schema: dict[str, Any], path: tuple[str, ...]) -> tuple[str, ...] | str:
    node: Any = schema
    for part in path:
        if not isinstance(node, dict):
            return ATOMIC
        while node.get("type") == "array":
            node = node.get("items") or {}
        props = node.get("properties") or {}
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return ATOMIC
    if not isinstance(node, dict):
        return ATOMIC
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "map":
        return tuple(node.get("x-kubernetes-list-map-keys") or ()) or ATOMIC
    if list_type == "set":
        return SET
    return ATOMIC


def key_of(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    """An item's identity in a keyed list; ``protocol`` defaults to TCP as the API defaults it."""
    if not isinstance(item, dict):
        return None
    values = []
    for key in keys:
        value = item.get(key)
        if value is None and key == "protocol":
            value = "TCP"
        values.append(value)
    return tuple(values)
