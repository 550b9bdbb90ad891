"""The configuration an import builds, checked as `gitopsctl config check` would, and written as commented TOML.

Converters fill a ``ConfigDraft`` with plain values (what ``tomllib`` would read
back) and notes; ``finish`` refuses a draft the parser would refuse, so an
import never prints a configuration that does not load, then renders it with
each note as a comment in the table it concerns.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.items import Item, Table

from .. import config
from ..errors import ConfigError, UsageError
from .fields import Note
from .manifests import one_line

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def dns_label(name: str) -> str:
    """``name`` as gitopsctl names apps, environments and templates: a DNS label."""
    label = _NOT_DNS.sub("-", name.lower()).strip("-")[:63].strip("-")
    return label or "imported"


@dataclass(frozen=True)
class Imported:
    """An import's result: the configuration as plain values, what was not imported or converted, and the TOML."""

    config: dict[str, Any]
    notes: tuple[Note, ...]
    toml: str

    @property
    def not_imported(self) -> list[Note]:
        return [n for n in self.notes if not n.converted]

    @property
    def converted(self) -> list[Note]:
        return [n for n in self.notes if n.converted]


@dataclass
class ConfigDraft:
    """What the converters fill in, table by table, in the order the file shows them."""

    git: dict[str, Any] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    prometheus: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    app_environments: dict[str, list[str]] = field(default_factory=dict)  # written only when there are several
    notes: list[Note] = field(default_factory=list)

    def note(
        self, subject: str, field_path: str, why: str, *, converted: bool = False, table: tuple[str, ...] = ()
    ) -> None:
        self.notes.append(Note(subject, field_path, why, converted, table))

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {"git": self.git, "environments": self.environments}
        if self.prometheus:
            out["prometheus"] = self.prometheus
        if self.templates:
            out["analysis"] = {"templates": self.templates}
        out["apps"] = {name: self._app(name, app) for name, app in self.apps.items()}
        return out

    def _app(self, name: str, app: dict[str, Any]) -> dict[str, Any]:
        if len(self.environments) < 2 or name not in self.app_environments:
            return app
        keys = list(app)  # environments right after path, as config.example.toml shows them
        out = {k: app[k] for k in keys[:1]} | {"environments": self.app_environments[name]}
        return out | {k: app[k] for k in keys[1:]}

    def finish(self, header: Sequence[str]) -> Imported:
        """The checked, rendered result; a draft gitopsctl would refuse is one sentence naming every problem."""
        if not self.apps:
            reasons = "; ".join(f"{n.subject}: {n.line()}" for n in self.notes if not n.converted)
            raise UsageError(
                "the files give no app to import, and a configuration needs one: pass the Rollout or the Application"
                + (f" ({one_line(reasons)})" if reasons else "")
            )
        values = self.values()
        try:
            config.parse(values)
        except ConfigError as e:
            raise UsageError(
                "the imported configuration would not pass `gitopsctl config check`: " + "; ".join(e.problems)
            ) from e
        return Imported(values, tuple(self.notes), render(values, self.notes, header))


def render(values: dict[str, Any], notes: Sequence[Note], header: Sequence[str]) -> str:
    """TOML with ``header`` on top and each note as a comment in its table, grouped by the manifest it is about."""
    tables = set(_tables(values, ()))
    notes = [n if n.table in tables else dataclasses.replace(n, table=()) for n in notes]
    doc = tomlkit.document()
    for line in [*header, *_comments(notes, ())]:
        doc.add(tomlkit.comment(one_line(line)))
    for key, value in values.items():
        doc.add(key, _table(value, (key,), notes))
    return tomlkit.dumps(doc)


def _tables(values: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The path of every table in ``values``: a note about a table that is not there goes to the top."""
    yield path
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _tables(value, (*path, key))


def _comments(notes: Sequence[Note], table: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    subjects = dict.fromkeys(n.subject for n in notes if n.table == table)
    for subject in subjects:
        lines.append(one_line(f"from {subject}:"))
        lines.extend(n.line() for n in notes if n.table == table and n.subject == subject)
    return lines


def _table(values: dict[str, Any], path: tuple[str, ...], notes: Sequence[Note]) -> Table:
    comments = _comments(notes, path)
    table = tomlkit.table(
        is_super_table=bool(values) and not comments and all(isinstance(v, dict) for v in values.values())
    )
    for line in comments:
        table.add(tomlkit.comment(line))
    for key, value in values.items():
        table.add(key, _table(value, (*path, key), notes) if isinstance(value, dict) else _item(value))
    return table


def _item(value: Any) -> Item:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        array = tomlkit.array()
        for element in value:
            array.append(_inline(element) if isinstance(element, dict) else _item(element))
        if any(isinstance(e, dict) for e in value) or len(value) > 4:
            array.multiline(True)
        return array
    return tomlkit.item(value)


def _inline(values: dict[str, Any]) -> Item:
    table = tomlkit.inline_table()
    for key, value in values.items():
        table.append(key, _inline(value) if isinstance(value, dict) else _item(value))
    return table


def _string(value: str) -> Item:
    """Queries read best unescaped: literal strings when TOML allows them, multi-line ones for multi-line text."""
    controls = any(ord(c) < 32 and c not in "\t\n" or ord(c) == 127 for c in value)
    if controls or "'''" in value or value.endswith("'"):
        return tomlkit.string(value)
    if "\n" in value:
        return tomlkit.string(value, literal=True, multiline=True)
    if '"' in value or "\\" in value:
        return tomlkit.string(value, literal="'" not in value)
    return tomlkit.string(value)
