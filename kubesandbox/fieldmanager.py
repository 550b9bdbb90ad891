"""Field ownership (``metadata.managedFields``) and server-side apply.

A field set is a Python set of paths; a path is a tuple of fieldsV1 elements:
``f:name`` for a map field, ``k:{"name":"app"}`` for an item of a keyed list,
``v:"x"`` for an item of a set, and a trailing ``.`` meaning the list item itself.
The rules follow kube-apiserver's structured-merge-diff:

- apply: a field another manager owns, whose value the applier would change, is
  a conflict unless ``force``; with ``force`` the ownership moves;
- fields the applier applied before and no longer applies, that nobody else
  owns, are removed from the object;
- any other write (update, patch) makes its manager the owner of what it changed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gitopsctl.kube.fields import SERVER_SET_METADATA, from_fields_v1, key_element, to_fields_v1

from .errors import ApiError
from .registry import ResourceType
from .structure import ATOMIC, SET, key_of, list_keys

Path = tuple[str, ...]
_IDENTITY_METADATA = SERVER_SET_METADATA | {"name", "namespace"}
_MISSING = object()


def fields_of(rt: ResourceType | None, obj: dict[str, Any]) -> set[Path]:
    """Every leaf field an object sets, as fieldsV1 paths."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _IDENTITY_METADATA}
            if not value:
                continue
        _collect(rt, value, (key,), ("f:" + key,), paths)
    return paths


def _collect(rt, value: Any, names: tuple[str, ...], prefix: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _collect(rt, sub, names + (key,), prefix + ("f:" + key,), out)
    elif isinstance(value, list) and value:
        keys = list_keys(rt, names)
        if keys == ATOMIC or (keys != SET and not all(isinstance(i, dict) for i in value)):
            out.add(prefix)
        elif keys == SET:
            for item in value:
                out.add(prefix + ("v:" + json.dumps(item, separators=(",", ":")),))
        else:
            for item in value:
                item_prefix = prefix + (key_element(item, keys),)
                out.add(item_prefix + (".",))
                for sub_key, sub in item.items():
                    _collect(rt, sub, names + (sub_key,), item_prefix + ("f:" + sub_key,), out)
    else:
        out.add(prefix)


def _find_item(items: list[Any], element: str) -> int | None:
    if element.startswith("k:"):
        wanted = json.loads(element[2:])
        keys = tuple(wanted)
        target = tuple(wanted[k] for k in keys)
        for index, item in enumerate(items):
            if key_of(item, keys) == target:
                return index
    elif element.startswith("v:"):
        wanted = json.loads(element[2:])
        for index, item in enumerate(items):
            if item == wanted:
                return index
    return None


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        if element == ".":
            return node
        if element.startswith("f:"):
            if not isinstance(node, dict) or element[2:] not in node:
                return _MISSING
            node = node[element[2:]]
        else:
            if not isinstance(node, list):
                return _MISSING
            index = _find_item(node, element)
            if index is None:
                return _MISSING
            node = node[index]
    return node


def _remove(obj: dict[str, Any], path: Path) -> None:
    """Remove the field (or list item, for a path ending in ``.``); prune maps left empty."""
    if path and path[-1] == ".":
        path = path[:-1]
    parents: list[tuple[Any, str]] = []
    node: Any = obj
    for element in path[:-1]:
        parents.append((node, element))
        if element.startswith("f:"):
            if not isinstance(node, dict) or element[2:] not in node:
                return
            node = node[element[2:]]
        else:
            index = _find_item(node, element) if isinstance(node, list) else None
            if index is None:
                return
            node = node[index]
    last = path[-1]
    if last.startswith("f:"):
        if isinstance(node, dict):
            node.pop(last[2:], None)
    elif isinstance(node, list):
        index = _find_item(node, last)
        if index is not None:
            node.pop(index)
    # prune containers that became empty, but never top-level sections
    for parent, element in reversed(parents):
        if len(parents) <= 1:
            break
        child = value_at(parent, (element,))
        if child in ({}, []) and element.startswith("f:") and parent is not obj:
            parent.pop(element[2:], None)
        else:
            break


def merge_applied(rt: ResourceType | None, live: Any, applied: Any, names: tuple[str, ...] = ()) -> Any:
    """Merge an applied configuration into the live object, structurally."""
    if isinstance(applied, dict) and isinstance(live, dict):
        result = dict(live)
        for key, value in applied.items():
            result[key] = merge_applied(rt, live.get(key), value, names + (key,))
        return result
    if isinstance(applied, list) and isinstance(live, list):
        keys = list_keys(rt, names)
        if keys == SET:
            return live + [v for v in applied if v not in live]
        if keys != ATOMIC and all(isinstance(i, dict) for i in applied + live):
            result = list(live)
            for item in applied:
                identity = key_of(item, keys)
                index = next((i for i, old in enumerate(result) if key_of(old, keys) == identity), None)
                if index is None:
                    result.append(copy.deepcopy(item))
                else:
                    result[index] = merge_applied(rt, result[index], item, names)
            return result
    return copy.deepcopy(applied)


def format_path(path: Path) -> str:
    """``.spec.template.spec.containers[name="app"].image``, as conflict messages show it."""
    out = []
    for element in path:
        if element == ".":
            continue
        if element.startswith("f:"):
            out.append("." + element[2:])
        elif element.startswith("k:"):
            wanted = json.loads(element[2:])
            out.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in wanted.items()) + "]")
        else:
            out.append(f"[={element[2:]}]")
    return "".join(out)


def _entry(
    manager: str, operation: str, api_version: str, now: str, paths: set[Path], subresource: str
) -> dict[str, Any]:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def apply(
    rt: ResourceType,
    live: dict[str, Any],
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    now: str,
) -> dict[str, Any]:
    """Server-side apply ``applied`` onto ``live``; returns the new object with managedFields."""
    applied_fields = fields_of(rt, applied)
    entries = (live.get("metadata") or {}).get("managedFields") or []
    previous: set[Path] = set()
    previous_entry: dict[str, Any] | None = None
    others: list[tuple[dict[str, Any], set[Path]]] = []
    for entry in entries:
        paths = from_fields_v1(entry.get("fieldsV1") or {})
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            previous, previous_entry = paths, entry
        else:
            others.append((entry, paths))

    conflicts: list[tuple[dict[str, Any], Path]] = []
    for entry, paths in others:
        if entry.get("subresource"):
            continue
        for path in applied_fields & paths:
            if path[-1] != "." and value_at(live, path) != value_at(applied, path):
                conflicts.append((entry, path))
    if conflicts and not force:
        raise _conflict_error(conflicts, rt, live)
    for entry, path in conflicts:
        for other_entry, paths in others:
            if other_entry is entry:
                paths.discard(path)

    owned_by_others: set[Path] = set().union(*(paths for _, paths in others)) if others else set()
    obj = copy.deepcopy(live)
    for path in sorted(previous - applied_fields, key=len, reverse=True):
        if path in owned_by_others:
            continue
        if path[-1] == ".":
            item = path[:-1]
            if any(p[: len(item)] == item for p in owned_by_others | applied_fields):
                continue
        _remove(obj, path)
    body = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
    metadata = {k: v for k, v in (body.pop("metadata", None) or {}).items() if k not in _IDENTITY_METADATA}
    obj = merge_applied(rt, obj, body)
    obj["metadata"] = merge_applied(rt, obj.get("metadata") or {}, metadata, ("metadata",))

    new_entries = []
    for entry, paths in others:
        if paths:
            original = from_fields_v1(entry.get("fieldsV1") or {})
            new_entries.append(entry if paths == original else {**entry, "fieldsV1": to_fields_v1(paths)})
    if applied_fields:
        if previous_entry is not None and previous == applied_fields and obj == live:
            new_entries.append(previous_entry)
        else:
            new_entries.append(_entry(manager, "Apply", rt.api_version, now, applied_fields, ""))
    obj["metadata"]["managedFields"] = new_entries
    return obj


def _conflict_error(conflicts, rt: ResourceType, live: dict[str, Any]) -> ApiError:
    by_manager: dict[str, list[str]] = {}
    for entry, path in conflicts:
        by_manager.setdefault(entry.get("manager", ""), []).append(format_path(path))
    parts = []
    causes = []
    for manager, fields in by_manager.items():
        fields.sort()
        if len(fields) == 1:
            parts.append(f'conflict with "{manager}" using {rt.api_version}: {fields[0]}')
        else:
            parts.append(f'conflicts with "{manager}" using {rt.api_version}:\n- ' + "\n- ".join(fields))
        causes += [
            {
                "reason": "FieldManagerConflict",
                "message": f'conflict with "{manager}" using {rt.api_version}',
                "field": f,
            }
            for f in fields
        ]
    count = len(conflicts)
    message = f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(parts)
    name = live.get("metadata", {}).get("name", "")
    return ApiError(
        409, "Conflict", message, details={"name": name, "group": rt.group, "kind": rt.plural, "causes": causes}
    )


def record_update(
    rt: ResourceType,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    subresource: str,
    now: str,
) -> None:
    """Give ``manager`` (operation Update) the fields this write changed; in place on ``new``."""
    old = old or {}
    entries = (old.get("metadata") or {}).get("managedFields") or []
    old_fields, new_fields = fields_of(rt, old), fields_of(rt, new)
    changed = {p for p in new_fields if p not in old_fields or value_at(old, p) != value_at(new, p)}
    removed = old_fields - new_fields
    if not changed and not removed:
        new.setdefault("metadata", {})["managedFields"] = entries
        return
    result = []
    mine: set[Path] = set()
    for entry in entries:
        paths = from_fields_v1(entry.get("fieldsV1") or {})
        if (entry.get("manager"), entry.get("operation"), entry.get("subresource", "")) == (
            manager,
            "Update",
            subresource,
        ):
            mine = paths
            continue
        remaining = paths - changed - removed
        if remaining == paths:
            result.append(entry)
        elif remaining:
            result.append({**entry, "fieldsV1": to_fields_v1(remaining)})
    mine = (mine | changed) - removed
    if mine:
        result.append(_entry(manager, "Update", rt.api_version, now, mine, subresource))
    new.setdefault("metadata", {})["managedFields"] = result
