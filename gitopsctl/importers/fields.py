"""Reading a manifest field by field, so every field that was not read can be reported: nothing is dropped silently.

A converter reads what it maps; whatever it never read is, at the end, one
"not imported" note per field, with the reason from a table of known fields
(or "no equivalent in gitopsctl"). Bad values are one sentence naming the file,
the document and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .manifests import Manifest, one_line

NO_EQUIVALENT = "no equivalent in gitopsctl"
# an object's own bookkeeping, and labels that stay on it in Git: nothing to import, nothing to say
OBJECT_METADATA = (
    "name",
    "namespace",
    "labels",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
)


@dataclass(frozen=True)
class Note:
    """One field that was not imported, or was imported differently (``converted``); ``why`` says why or how."""

    subject: str  # the manifest it is about, e.g. "Rollout trade-service (rollout.yaml document 1)"
    field: str
    why: str
    converted: bool = False
    table: tuple[str, ...] = ()  # the TOML table the comment goes into; () for the top of the file

    def line(self) -> str:
        """One line, whatever the manifest held: control characters (a newline could end a comment) are spaces."""
        return one_line(f"{'converted' if self.converted else 'not imported'}: {self.field} ({self.why})")


class Fields:
    """One mapping of a manifest at ``path``; reads mark keys, ``report_unread`` notes the keys never read."""

    def __init__(self, data: Any, path: str, manifest: Manifest, notes: list[Note], table: tuple[str, ...]) -> None:
        self.data = data if isinstance(data, dict) else {}
        self.path = path
        self.manifest = manifest
        self.notes = notes
        self.table = table
        self._read: set[str] = set()
        self._children: list[Fields] = []

    @classmethod
    def of(cls, manifest: Manifest, notes: list[Note], table: tuple[str, ...]) -> Fields:
        return cls(manifest.body, "", manifest, notes, table)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str) -> Any:
        self._read.add(key)
        return self.data.get(key)

    def skip(self, *keys: str) -> None:
        """Fields that carry nothing to import (an object's own bookkeeping): read without a note."""
        self._read.update(keys)

    def sub(self, key: str) -> Fields:
        """The mapping at ``key`` (empty when absent), whose own fields are tracked one by one."""
        value = self.get(key)
        if value is not None and not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping (got {type_name(value)})")
        return self._child(value, self.at(key))

    def items(self, key: str) -> list[Fields]:
        """The mappings listed at ``key``, each tracked one by one."""
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list (got {type_name(value)})")
        path = self.at(key)
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise UsageError(f"{self._where()}: {path}[{i}] must be a mapping (got {type_name(item)})")
            out.append(self._child(item, f"{path}[{i}]"))
        return out

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, "is required" if value is None else f"must be a string (got {type_name(value)})")
        return value

    def drop(self, key: str, why: str) -> None:
        """``key``, when present, is not imported, for ``why``."""
        if self.has(key):
            self.get(key)
            self.note(key, why)

    def drop_all(self, why: str) -> None:
        """This whole mapping is not imported, for ``why``: one note, not one per field."""
        self._read.update(self.data)
        self._children = []
        self.notes.append(Note(self.manifest.subject, self.path, why, False, self.table))

    def note(self, key: str, why: str, *, converted: bool = False) -> None:
        self.note_about(self.at(key), why, converted=converted)

    def note_about(self, what: str, why: str, *, converted: bool = False) -> None:
        """A note about something that is not one field, such as an argument used across the manifest."""
        self.notes.append(Note(self.manifest.subject, what, why, converted, self.table))

    def fail(self, key: str, message: str) -> UsageError:
        return UsageError(f"{self._where()}: {self.at(key)} {message}")

    def report_unread(self, reasons: Mapping[str, str]) -> None:
        """A note for every field never read, with its reason from ``reasons`` (paths with ``[]`` for any index,
        ``.*`` for any key)."""
        for path in self._unread():
            pattern = re.sub(r"\[\d+\]", "[]", path)
            why = reasons.get(pattern) or reasons.get(f"{pattern.rpartition('.')[0]}.*", NO_EQUIVALENT)
            self.notes.append(Note(self.manifest.subject, path, why, False, self.table))

    def _unread(self) -> Iterator[str]:
        for key in self.data:
            if key not in self._read:
                yield self.at(key)
        for child in self._children:
            yield from child._unread()

    def _child(self, data: Any, path: str) -> Fields:
        child = Fields(data, path, self.manifest, self.notes, self.table)
        self._children.append(child)
        return child

    def _where(self) -> str:
        return f"{self.manifest.where} ({self.manifest.kind} {self.manifest.name})"


def type_name(value: Any) -> str:
    """How a sentence names a value's type."""
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), "nothing" if value is None else type(value).__name__)
