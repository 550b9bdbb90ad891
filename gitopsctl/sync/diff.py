"""What Git declares against what is live, field by field, for the fields Git sets.

Normalization, so only real differences count: server-set metadata and status
are ignored; quantities compare by value (``500m`` == ``0.5``); keyed lists
compare item by item by their merge keys, so a container added by hand is drift;
empty values match absent ones; Secret ``stringData`` is compared as the
``data`` the API stores; ``ignore_differences`` JSON pointers and Helm's
bookkeeping labels and annotations are skipped.
Secret values never leave this module unmasked.
"""

from __future__ import annotations

import base64
import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..kube.fields import SERVER_SET_METADATA, key_element, owners
from ..kube.fields import Path as FieldsPath
from ..kube.lists import ATOMIC, SET, key_of, list_keys
from ..kube.quantity import parse_quantity
from ..source.manifests import ObjectRef

MASK = "***"
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
SERVER_METADATA = SERVER_SET_METADATA | {"ownerReferences"}
_QUANTITY_CONTEXT = frozenset({"resources", "limits", "requests", "capacity", "allocatable", "hard"})
_QUANTITY_FIELDS = frozenset({"storage", "cpu", "memory", "ephemeral-storage"})


@dataclass(frozen=True)
class FieldChange:
    path: str  # for people: spec.template.spec.containers[name=app].image
    pointer: str  # JSON pointer with Git's list indices, as ignore_differences writes it
    desired: Any
    live: Any
    fields_v1: FieldsPath = ()

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "desired": _jsonable(self.desired), "live": _jsonable(self.live)}


@dataclass
class ResourceDiff:
    ref: ObjectRef
    state: str  # changed | missing | extra | refused (outside the app's boundary, or another app's)
    fields: list[FieldChange] = field(default_factory=list)
    changed_by: str | None = None
    desired: dict[str, Any] | None = None
    live: dict[str, Any] | None = None
    reason: str | None = None  # why a refused object is refused

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "state": self.state,
            "fields": [f.as_dict() for f in self.fields],
            "changed_by": self.changed_by,
            **({"reason": self.reason} if self.reason else {}),
        }


def _jsonable(value: Any) -> Any:
    return None if value is MISSING else value


def normalize_desired(obj: dict[str, Any]) -> dict[str, Any]:
    """Desired state as the API would store it (Secret stringData becomes base64 data)."""
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "Secret" and obj.get("stringData"):
        data = dict(obj.get("data") or {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    return obj


def mask_secret(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy with every Secret value replaced by ***."""
    if obj is None or obj.get("kind") != "Secret":
        return obj
    masked = copy.deepcopy(obj)
    for key in ("data", "stringData"):
        if isinstance(masked.get(key), dict):
            masked[key] = {k: MASK for k in masked[key]}
    annotations = (masked.get("metadata") or {}).get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return masked


def _helm_bookkeeping(names: tuple[str, ...], key: str, value: Any) -> bool:
    """Helm's record, on an object's own metadata, of which chart and release rendered it: where the object came
    from, not how it runs, so adopting a release installed by hand, or a chart version bump that changes nothing
    else, is not a difference. A pod template's labels are always compared: Services select pods by them."""
    if names == ("metadata", "labels"):
        return key == "helm.sh/chart" or (key == "app.kubernetes.io/managed-by" and value == "Helm")
    return names == ("metadata", "annotations") and key.startswith("meta.helm.sh/")


def _ignored(pointer: str, ignore: tuple[str, ...]) -> bool:
    return any(pointer == p or pointer.startswith(p + "/") for p in ignore)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _is_quantity_field(names: tuple[str, ...]) -> bool:
    return bool(names) and (names[-1] in _QUANTITY_FIELDS or any(n in _QUANTITY_CONTEXT for n in names[:-1]))


def _equal(desired: Any, live: Any, names: tuple[str, ...]) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if (
        isinstance(desired, int | float)
        and isinstance(live, int | float)
        and not isinstance(desired, bool)
        and not isinstance(live, bool)
    ):
        return desired == live
    if _is_quantity_field(names):
        a, b = parse_quantity(desired), parse_quantity(live)
        return a is not None and a == b
    return False


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or value == {} or value == [] or value == ""


class _Comparer:
    def __init__(self, ignore: tuple[str, ...], secret: bool) -> None:
        self.ignore = ignore
        self.secret = secret
        self.changes: list[FieldChange] = []

    def add(self, dotted: str, pointer: str, fpath: FieldsPath, desired: Any, live: Any) -> None:
        if self.secret and (dotted.startswith("data") or dotted.startswith("stringData")):
            desired = MASK if desired is not MISSING else desired
            live = MASK if live not in (MISSING, None) else live
        self.changes.append(FieldChange(dotted, pointer, desired, live, fpath))

    def compare(
        self, desired: Any, live: Any, names: tuple[str, ...], dotted: str, pointer: str, fpath: FieldsPath
    ) -> None:
        if pointer and _ignored(pointer, self.ignore):
            return
        if isinstance(desired, dict):
            if not isinstance(live, dict):
                if not (_empty(desired) and _empty(live)):
                    self.add(dotted, pointer, fpath, desired, live)
                return
            for key, value in desired.items():
                if not names and key in ("status", "apiVersion", "kind"):
                    continue
                if names == ("metadata",) and key in SERVER_METADATA | {"name", "namespace"}:
                    continue
                if _helm_bookkeeping(names, key, value):
                    continue
                sub = f"{dotted}.{key}" if dotted else key
                self.compare(
                    value,
                    live.get(key, MISSING),
                    names + (key,),
                    sub,
                    f"{pointer}/{_escape(key)}",
                    fpath + (f"f:{key}",),
                )
        elif isinstance(desired, list):
            if not isinstance(live, list):
                if not (_empty(desired) and _empty(live)):
                    self.add(dotted, pointer, fpath, desired, live)
                return
            self._compare_list(desired, live, names, dotted, pointer, fpath)
        elif live is MISSING:
            if desired is not None:
                self.add(dotted, pointer, fpath, desired, MISSING)
        elif not _equal(desired, live, names):
            self.add(dotted, pointer, fpath, desired, live)

    def _compare_list(self, desired: list, live: list, names, dotted, pointer, fpath) -> None:
        keys = list_keys(names)
        if keys == SET:
            missing = [item for item in desired if item not in live]
            if missing:
                self.add(dotted, pointer, fpath, desired, live)
            return
        if keys == ATOMIC or not all(isinstance(i, dict) for i in desired + live):
            if not self._atomic_equal(desired, live, names):
                self.add(dotted, pointer, fpath, desired, live)
            return
        live_by_key = {key_of(item, keys): item for item in live}
        desired_keys = set()
        for index, item in enumerate(desired):
            identity = key_of(item, keys)
            desired_keys.add(identity)
            label = _label(keys, identity)
            sub, item_ptr, item_path = f"{dotted}[{label}]", f"{pointer}/{index}", fpath + (key_element(item, keys),)
            if identity not in live_by_key:
                if not _ignored(item_ptr, self.ignore):
                    self.add(sub, item_ptr, item_path, item, MISSING)
            else:
                self.compare(item, live_by_key[identity], names, sub, item_ptr, item_path)
        for item in live:
            identity = key_of(item, keys)
            if identity not in desired_keys:
                self.add(
                    f"{dotted}[{_label(keys, identity)}]",
                    f"{pointer}/-",
                    fpath + (key_element(item, keys),),
                    MISSING,
                    item,
                )

    def _atomic_equal(self, desired: Any, live: Any, names: tuple[str, ...]) -> bool:
        if isinstance(desired, dict) and isinstance(live, dict):
            return desired.keys() == live.keys() and all(
                self._atomic_equal(desired[k], live[k], names + (k,)) for k in desired
            )
        if isinstance(desired, list) and isinstance(live, list):
            return len(desired) == len(live) and all(
                self._atomic_equal(a, b, names) for a, b in zip(desired, live, strict=True)
            )
        return _equal(desired, live, names)


def _label(keys: tuple[str, ...], identity: tuple[Any, ...] | None) -> str:
    values = identity or ()
    parts = [f"{k}={v}" for k, v in zip(keys, values, strict=False) if not (k == "protocol" and v == "TCP")]
    return ",".join(parts)


def compare(desired: dict[str, Any], live: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[FieldChange]:
    """Differences in the fields ``desired`` sets (desired already normalized)."""
    comparer = _Comparer(ignore, desired.get("kind") == "Secret")
    comparer.compare(desired, live, (), "", "", ())
    return comparer.changes


def changed_by(live: dict[str, Any], changes: list[FieldChange], own_manager: str) -> str | None:
    """Who last wrote the drifted fields, from managedFields (e.g. ``kubectl-edit``)."""
    managers: list[str] = []
    for change in changes:
        for entry in owners(live, change.fields_v1):
            name = entry.get("manager") or ""
            if name and name != own_manager and name not in managers:
                managers.append(name)
    return ", ".join(managers) or None


def other_writers(live: dict[str, Any], own_manager: str) -> str | None:
    """Managers other than gitopsctl that wrote any part of an object."""
    names = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        name = entry.get("manager") or ""
        if name and name != own_manager and name not in names:
            names.append(name)
    return ", ".join(names) or None


def project(live: dict[str, Any] | None, desired: dict[str, Any]) -> Any:
    """The live object cut down to the fields desired sets (extra keyed-list items kept), for a readable diff."""

    def cut(want: Any, have: Any, names: tuple[str, ...]) -> Any:
        if isinstance(want, dict) and isinstance(have, dict):
            out = {}
            for key, value in want.items():
                if (not names and key == "status") or (names == ("metadata",) and key in SERVER_METADATA):
                    continue
                if key in have:
                    out[key] = cut(value, have[key], names + (key,))
            return out
        if isinstance(want, list) and isinstance(have, list):
            keys = list_keys(names)
            if isinstance(keys, tuple) and all(isinstance(i, dict) for i in want + have):
                wanted = {key_of(i, keys): i for i in want}
                return [cut(wanted[key_of(i, keys)], i, names) if key_of(i, keys) in wanted else i for i in have]
        return have

    return None if live is None else cut(desired, live, ())


def unified(desired: dict[str, Any] | None, live: dict[str, Any] | None, label: str) -> str:
    """A unified YAML diff of one object, Secret values masked."""
    left = (
        yaml.safe_dump(mask_secret(project(live, desired) if desired and live else live), sort_keys=True)
        if live
        else ""
    )
    right = yaml.safe_dump(mask_secret(desired), sort_keys=True) if desired else ""
    lines = difflib.unified_diff(left.splitlines(True), right.splitlines(True), f"live/{label}", f"git/{label}")
    return "".join(lines)


def describe(resource: ResourceDiff) -> str:
    """One object's difference as plain text: a header line, then the unified diff indented (Secrets masked)."""
    ref = resource.ref
    label = f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"
    who = f" (changed by {resource.changed_by})" if resource.changed_by else ""
    header = {
        "missing": f"+ {label}: in Git, missing from the cluster",
        "extra": f"- {label}: in the cluster, no longer in Git{who}",
        "refused": f"! refused: {resource.reason}",
    }.get(resource.state, f"~ {label}{who}")
    body = unified(resource.desired, resource.live, label.replace(" ", "/"))
    return "\n".join([header, *(f"    {line}" for line in body.splitlines())])
