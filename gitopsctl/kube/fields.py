"""fieldsV1 paths, the format of ``metadata.managedFields``.

A path is a tuple of elements: ``f:name`` for a map field, ``k:{"name":"app"}``
for an item of a keyed list, ``v:"x"`` for an item of a set, and a trailing
``.`` for the list item itself.
"""

from __future__ import annotations

import json
from typing import Any

from .lists import key_of

Path = tuple[str, ...]

# metadata the API server sets; never part of what a client declares
SERVER_SET_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    }
)


def key_element(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    values = key_of(item, keys) or ()
    return "k:" + json.dumps(dict(sorted(zip(keys, values, strict=True))), separators=(",", ":"))


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for element, sub in (tree or {}).items():
        if element == ".":
            paths.add(prefix + (".",))
        elif sub:
            paths |= from_fields_v1(sub, prefix + (element,))
        else:
            paths.add(prefix + (element,))
    return paths


def owners(obj: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """managedFields entries that own ``path``, a parent of it (atomic values), or anything below it."""
    found = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        owned = from_fields_v1(entry.get("fieldsV1") or {})
        if any(p[: len(path)] == path or path[: len(p)] == p for p in owned):
            found.append(entry)
    return found
