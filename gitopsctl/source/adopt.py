"""Where a rendered field is written in an app's YAML, and its one-line edit: what adopting drift into Git writes.

A field is found by its managedFields path (``f:spec``, ``f:replicas``, ``k:{"name":"app"}``) in a document of
the same kind and name, or, for ``spec.replicas``, in a kustomization's ``replicas`` list. Only a scalar on one
line is changed, keeping the file's quoting, comments and formatting (the same edit a deploy's version makes);
whether that line is what renders the field, and nothing else, is for the caller to check by rendering.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import YAMLError

from ..errors import ManifestError
from .images import replace_scalar, round_trip, yaml_lines

REPLICAS = ("f:spec", "f:replicas")
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:@-]*")


@dataclass(frozen=True)
class Spot:
    """A scalar on one line of a file: where a field's value is written."""

    file: str
    line: int  # from 0
    column: int
    value: Any
    flow: bool

    def shown(self) -> str:
        return f"{self.file} line {self.line + 1}"


def scalar(value: Any) -> bool:
    """A value one line of YAML can hold as itself: a string without line breaks, a number or a boolean."""
    return isinstance(value, bool | int | float) or (isinstance(value, str) and "\n" not in value and value != "")


def find(file: str, text: str, kind: str, name: str, path: tuple[str, ...]) -> list[Spot]:
    """Every one-line scalar in ``text`` that writes ``path`` of the object ``kind``/``name`` (by its name in this
    file: a name prefix or suffix added by kustomize hides it). A file that is not YAML holds none."""
    try:
        docs = list(round_trip().load_all(text))
    except (YAMLError, UnicodeDecodeError):
        return []
    spots = []
    for doc in docs:
        if not isinstance(doc, CommentedMap):
            continue
        metadata = doc.get("metadata")
        if doc.get("kind") == kind and isinstance(metadata, CommentedMap) and metadata.get("name") == name:
            spot = _walk(file, text, doc, path)
        elif path == REPLICAS and "replicas" in doc and doc.get("kind") in (None, "Kustomization"):
            entries = [e for e in doc.get("replicas") or [] if isinstance(e, CommentedMap) and e.get("name") == name]
            spot = _walk(file, text, entries[0], ("f:count",)) if entries else None
        else:
            continue
        if spot is not None:
            spots.append(spot)
    return spots


def _walk(file: str, text: str, node: Any, path: tuple[str, ...]) -> Spot | None:
    parent: Any = None
    key: Any = None
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f" and isinstance(node, CommentedMap) and rest in node:
            if node.anchor.value or rest not in (node.lc.data or {}):
                return None  # shared through an anchor or a merge key: one line would change more
            parent, key, node = node, rest, node[rest]
        elif kind == "k" and isinstance(node, CommentedSeq):
            wanted = json.loads(rest)
            items = [i for i in node if isinstance(i, CommentedMap) and all(i.get(k) == v for k, v in wanted.items())]
            if len(items) != 1:
                return None
            node = items[0]
            parent = None
        else:
            return None
    if not isinstance(parent, CommentedMap) or isinstance(node, CommentedMap | CommentedSeq | TaggedScalar):
        return None
    if node is None or "\n" in str(node) or getattr(getattr(node, "anchor", None), "value", None):
        return None
    line, column = parent.lc.value(key)
    if yaml_lines(text)[line].lstrip("\ufeff")[column : column + 1] in ("|", ">", "&", "*", "!"):
        return None
    return Spot(file, line, column, node, parent.fa.flow_style())


def written(value: Any) -> str:
    """``value`` as YAML reads it back as the same type: a string that would read as a number, a boolean or null
    is quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    plain = _PLAIN.fullmatch(value) and yaml.safe_load(value) == value
    return value if plain else json.dumps(value)


def edit(text: str, spot: Spot, value: Any) -> str:
    """``text`` with the scalar at ``spot`` set to ``value``: one line changed. A quoted scalar is written again
    in double quotes when the new value needs escapes its quotes do not allow."""
    if not scalar(value):
        raise ManifestError(f"{spot.shown()}: {value!r} cannot be written on one line")
    line = yaml_lines(text)[spot.line]
    offset = 1 if spot.line == 0 and text.startswith("\ufeff") else 0
    quote = line[spot.column + offset : spot.column + offset + 1]
    new = written(value)
    if quote in ("'", '"'):
        if isinstance(value, str) and new == value and quote not in value and "\\" not in value:
            return replace_scalar(text, spot.line, spot.column, value, flow=spot.flow)
        return _replace_quoted(text, spot, json.dumps(value) if isinstance(value, str) else new)
    return replace_scalar(text, spot.line, spot.column, new, flow=spot.flow)


def _replace_quoted(text: str, spot: Spot, new: str) -> str:
    """The quoted scalar at ``spot`` replaced, quotes included, by ``new`` (written whole)."""
    stripped = replace_scalar(text, spot.line, spot.column, "", flow=spot.flow)  # keeps the two quotes
    lines = yaml_lines(stripped)
    offset = 1 if spot.line == 0 and stripped.startswith("\ufeff") else 0
    at = spot.column + offset
    lines[spot.line] = lines[spot.line][:at] + new + lines[spot.line][at + 2 :]
    return "".join(lines)
