"""Patches as kube-apiserver applies them: JSON merge, JSON patch, strategic merge."""

from __future__ import annotations

from typing import Any

from gitopsctl.kube.lists import ATOMIC, SET, key_of
from gitopsctl.kube.lists import list_keys as kube_list_keys

from .registry import ResourceType

__all__ = ["ATOMIC", "SET", "key_of", "list_keys", "merge_patch", "json_patch", "strategic_merge_patch", "PatchError"]


def list_keys(rt: ResourceType | None, path: tuple[str, ...]) -> tuple[str, ...] | str:
    """Merge keys for the list at ``path`` in an object of type ``rt``, or ATOMIC / SET."""
    schema = None if rt is None or rt.builtin else (rt.schema or {})
    return kube_list_keys(path, schema)


# --------------------------------------------------------------------- patches


class PatchError(ValueError):
    """A patch that cannot be applied; the API answers 422 or 400 with its message."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'invalid JSON pointer "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"path not found: /{'/'.join(parts)}")
            doc = doc[part]
        elif isinstance(doc, list):
            try:
                doc = doc[int(part)]
            except (ValueError, IndexError) as e:
                raise PatchError(f"index out of range: /{'/'.join(parts)}") from e
        else:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
    return doc


def json_patch(doc: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch on a deep copy; all-or-nothing."""
    import copy

    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("every JSON patch operation needs 'op' and 'path'")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"testing value {op['path']} failed")
            continue
        if kind in ("move", "copy"):
            src_parts = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src_parts))
            if kind == "move":
                doc = _remove(doc, src_parts)
            doc = _add(doc, parts, value)
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        else:
            raise PatchError(f'unknown JSON patch operation "{kind}"')
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                index = int(last)
            except ValueError as e:
                raise PatchError(f"invalid list index {last!r}") from e
            if index > len(parent) or index < 0:
                raise PatchError("index out of range")
            parent.insert(index, value)
    else:
        raise PatchError(f"cannot add to /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, list):
            del parent[int(last)]
        else:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
    except (KeyError, ValueError, IndexError) as e:
        raise PatchError(f"unable to remove nonexistent key: /{'/'.join(parts)}") from e
    return doc


def strategic_merge_patch(rt: ResourceType | None, target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Strategic merge patch: keyed lists merged item by item, ``$patch`` directives honoured."""
    if not isinstance(patch, dict):
        return patch
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field_name = key.split("/", 1)[1]
            result[field_name] = [v for v in result.get(field_name) or [] if v not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub_path = path + (key,)
        current = result.get(key)
        if isinstance(value, list):
            keys = list_keys(rt, sub_path)
            if keys == SET:
                merged = list(current or [])
                merged += [v for v in value if v not in merged]
                result[key] = merged
            elif keys == ATOMIC or not isinstance(current, list):
                result[key] = [
                    {k: v for k, v in item.items() if k != "$patch"} if isinstance(item, dict) else item
                    for item in value
                    if not (isinstance(item, dict) and item.get("$patch") == "delete")
                ]
            else:
                result[key] = _merge_keyed_list(rt, current, value, keys[:1], sub_path)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(rt, current, value, sub_path)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    return result


def _merge_keyed_list(rt, current: list, patch: list, keys: tuple[str, ...], path: tuple[str, ...]) -> list:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [item for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    merged = list(current)
    for item in patch:
        identity = key_of(item, keys)
        index = next((i for i, old in enumerate(merged) if key_of(old, keys) == identity), None)
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
            continue
        if index is None:
            merged.append(strategic_merge_patch(rt, {}, item, path))
        else:
            merged[index] = strategic_merge_patch(rt, merged[index], item, path)
    return merged
