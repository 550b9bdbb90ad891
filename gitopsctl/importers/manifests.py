"""Reading the manifests an import is given: hostile files, so size-limited and loaded with ``yaml.safe_load_all`` only.

A 1 MiB file can still hold aliases that expand to billions of nodes once
followed ("billion laughs"); the converters follow them, so a document whose
expanded size passes a budget is refused before anything reads it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import yaml

from ..errors import UsageError

MAX_FILE_BYTES = 1024 * 1024
MAX_EXPANDED_NODES = 200_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]+")  # and bidi overrides
_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_line(text: str) -> str:
    """Text that quotes a manifest, on one line: a newline could end a TOML comment, an escape drive a terminal."""
    return _CONTROL.sub(" ", text)


def one_sentence(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """A refusal from ``function`` is one line, whatever the names and values it quotes hold."""

    @functools.wraps(function)
    def refusing(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except UsageError as e:
            raise UsageError(one_line(str(e))) from e

    return refusing


@dataclass(frozen=True)
class Manifest:
    """One document of one file, with where it came from for every sentence about it."""

    file: str
    index: int  # 1-based, as people count documents
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        namespace = self.body["metadata"].get("namespace")
        return namespace if isinstance(namespace, str) and namespace else None

    @property
    def where(self) -> str:
        return f"{self.file} document {self.index}"

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.name} ({self.where})"


@one_sentence
def load_manifests(paths: Sequence[str], kinds: Mapping[str, str], command: str) -> list[Manifest]:
    """Every document of ``paths``; ``kinds`` maps each accepted kind to its API group, anything else is refused."""
    manifests = []
    for path in paths:
        for index, document in enumerate(_documents(path), start=1):
            if document is None:  # an empty document, such as after a leading ---
                continue
            manifests.append(_manifest(path, index, document, kinds, command))
    if not manifests:
        raise UsageError(f"{', '.join(paths)} hold no manifests to import")
    return manifests


def _documents(path: str) -> list[Any]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{path} is larger than 1 MiB; an import reads manifests, refusing it")
    try:
        documents = list(yaml.safe_load_all(data.decode("utf-8")))
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}{where} is not valid YAML: {getattr(e, 'problem', None) or e}") from e
    except RecursionError as e:
        raise UsageError(f"{path} nests deeper than any manifest does; refusing it") from e
    for index, document in enumerate(documents, start=1):
        try:
            size = _expanded_size(document, {}, set())
        except RecursionError as e:
            raise UsageError(f"{path} document {index} nests deeper than any manifest does; refusing it") from e
        if size > MAX_EXPANDED_NODES:
            raise UsageError(
                f"{path} document {index} expands to more than {MAX_EXPANDED_NODES:,} values through YAML aliases; "
                "refusing it"
            )
    return documents


def _expanded_size(value: Any, memo: dict[int, int], active: set[int]) -> int:
    """How many values ``value`` holds with aliases followed; shared objects are counted once per use, cheaply."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in memo:
        return memo[key]
    if key in active:
        raise UsageError("a YAML document refers to itself through an alias; refusing it")
    active.add(key)
    size = 1
    for child in value.values() if isinstance(value, dict) else value:
        size += _expanded_size(child, memo, active)
        if size > MAX_EXPANDED_NODES:
            break
    active.discard(key)
    memo[key] = size
    return size


def _manifest(path: str, index: int, document: Any, kinds: Mapping[str, str], command: str) -> Manifest:
    where = f"{path} document {index}"
    if not isinstance(document, dict):
        raise UsageError(f"{where} is not a Kubernetes object (a mapping with apiVersion, kind and metadata)")
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind not in kinds:
        raise UsageError(
            f"{where} is a {kind if isinstance(kind, str) else 'document without a kind'}, which "
            f"`gitopsctl import {command}` does not import (it takes {', '.join(kinds)})"
        )
    group = kinds[kind]
    if not isinstance(api_version, str) or api_version.rpartition("/")[0] != group:
        raise UsageError(f"{where} is a {kind} with apiVersion {api_version!r}; expected {group}/...")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise UsageError(f"{where} ({kind}) has no metadata.name")
    return Manifest(path, index, document)
