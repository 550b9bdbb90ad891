"""Changing an app's image tag in its manifests, keeping the files' formatting and comments.

ruamel.yaml finds where the value is (line and column); only that scalar is
rewritten on its line, so a reviewer's diff is exactly one line. Kustomize
apps change ``images[].newTag`` in their kustomization; plain apps change the
container's ``image`` in the workload that runs it; an app with a version path
(a Helm chart) changes that key of that values file.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import YAMLError

from ..config.model import VersionPath
from ..errors import ManifestError
from .manifests import WORKLOAD_KINDS, image_tag
from .manifests import image_repository as repository_of
from .safety import check_inside, write_inside

VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Edit:
    path: Path
    old: str
    new: str


def check_version(version: str) -> str:
    if not VERSION.match(version or ""):
        raise ManifestError(
            f"{version!r} is not a valid version: an image tag is letters, digits, '_', '.' and '-', "
            "starting with a letter, digit or '_', at most 128 characters"
        )
    return version


def yaml_lines(text: str) -> list[str]:
    """Lines with their own endings (``\r\n`` kept), split only where YAML breaks lines."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def replace_scalar(text: str, line: int, column: int, value: str, *, flow: bool = False) -> str:
    """Replace the scalar starting at (line, column) with ``value``, keeping its quoting and any comment.

    In a flow mapping (``image: {tag: v1, pull: Always}``) a plain scalar also ends at ``,``, ``}`` or ``]``.
    A quoted scalar ends at its closing quote (escapes skipped); one that goes on to the next line is refused.
    """
    lines = yaml_lines(text)
    if line == 0 and text.startswith("\ufeff"):
        column += 1  # the YAML reader does not count a byte order mark as a column
    current = lines[line]
    rest = current[column:]
    quote = rest[:1] if rest[:1] in ("'", '"') else ""
    if quote:
        end = _closing_quote(rest)
        if end is None:
            raise ManifestError(f"the value on line {line + 1} goes on over several lines; change it by hand")
    else:
        match = re.search(r"\s*[,}\]]|\s+#|\s*$" if flow else r"\s+#|\s*$", rest)
        end = match.start() if match else len(rest.rstrip("\r\n"))
    lines[line] = current[:column] + f"{quote}{value}{quote}" + rest[end:]
    return "".join(lines)


def _closing_quote(rest: str) -> int | None:
    """Where the quoted scalar at the start of ``rest`` ends (after its closing quote), or None on a later line."""
    quote, i = rest[0], 1
    while i < len(rest):
        if quote == '"' and rest[i] == "\\":
            i += 2
            continue
        if rest[i] == quote:
            if quote == "'" and rest[i + 1 : i + 2] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return None


def round_trip() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    return rt


def _read(path: Path) -> str:
    """The file as it is, line endings included (a CRLF file stays CRLF)."""
    return path.read_bytes().decode("utf-8")


def _load_all(path: Path, text: str | None = None) -> list[Any]:
    try:
        return list(round_trip().load_all(_read(path) if text is None else text))
    except (YAMLError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path.name} is not valid YAML: {e}") from e


def _containers(doc: Any) -> list[CommentedMap]:
    if not isinstance(doc, CommentedMap) or doc.get("kind") not in WORKLOAD_KINDS:
        return []
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        pod = spec
    elif doc.get("kind") == "CronJob":
        pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    else:
        pod = (spec.get("template") or {}).get("spec") or {}
    return [c for c in pod.get("containers") or [] if isinstance(c, CommentedMap)]


def set_version(
    app_dir: Path,
    container: str,
    version: str,
    image_repository: str | None,
    *,
    root: Path | None = None,
    version_path: VersionPath | None = None,
) -> Edit:
    """Set the app's version in ``app_dir``; returns what changed. ``image_repository`` is needed for kustomize apps.

    Every file written must lie inside ``root`` (the working clone) through real directories: a symlinked
    kustomization or parent directory is refused before anything is written. Without ``root``, no part of the
    file's absolute path may be a symlink.
    """
    check_version(version)
    root = Path(root) if root is not None else Path(Path(app_dir).absolute().anchor)
    if version_path is not None:
        return _set_value(root, check_inside(root, app_dir / version_path.file), version_path, version)
    if (app_dir / "Chart.yaml").is_file():  # its templates hold image lines that are Go templates, not values
        raise ManifestError(
            f"{app_dir.name} is a Helm chart: set apps.APP.version_path to the values file and key its image tag "
            'comes from (such as "values-{env}.yaml:image.tag") so a deploy can write the version there (docs/helm.md)'
        )
    for name in KUSTOMIZATIONS:
        candidate = app_dir / name
        if candidate.is_symlink() or candidate.is_file():
            if not image_repository:
                raise ManifestError(f"cannot tell which image of {app_dir.name} to change in its kustomization")
            return _set_kustomize_tag(root, check_inside(root, candidate), image_repository, version)
    for path in sorted(
        p for p in app_dir.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and not p.is_symlink()
    ):
        for doc in _load_all(path):
            for c in _containers(doc):
                if c.get("name") == container and c.get("image"):
                    old = str(c["image"])
                    new = f"{repository_of(old)}:{version}"
                    line, column = c.lc.value("image")
                    text = _read(path)
                    _write(root, path, replace_scalar(text, line, column, new, flow=c.fa.flow_style()))
                    return Edit(path, image_tag(old), version)
    raise ManifestError(
        f"no workload in {app_dir.name} has a container named {container!r}; check the app's container in the configuration"
    )


def _set_kustomize_tag(root: Path, path: Path, repository: str, version: str) -> Edit:
    text = _read(path)
    (doc,) = _load_all(path, text)[:1] or [None]
    if not isinstance(doc, CommentedMap):
        raise ManifestError(f"{path.name} is not a kustomization")
    images = doc.get("images")
    for entry in images or []:
        if isinstance(entry, CommentedMap) and entry.get("name") == repository:
            old = str(entry.get("newTag", "latest"))
            if "newTag" in entry:
                line, column = entry.lc.value("newTag")
                _write(root, path, replace_scalar(text, line, column, version, flow=entry.fa.flow_style()))
            else:
                entry["newTag"] = version
                _dump(root, path, doc)
            return Edit(path, old, version)
    if images is None:
        doc["images"] = images = CommentedSeq()
    images.append(CommentedMap([("name", repository), ("newTag", version)]))
    _dump(root, path, doc)
    return Edit(path, "", version)


def read_value(content: bytes, where: VersionPath) -> str | None:
    """The version a values file holds at ``where``, as Git has it; None when the key is not there."""
    try:
        node: Any = yaml.safe_load(content.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise ManifestError(f"{where.file} is not valid YAML: {e}") from e
    for key in where.keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return None if node is None or isinstance(node, dict | list) else str(node)


def _set_value(root: Path, path: Path, where: VersionPath, version: str) -> Edit:
    """One line of a values file: the scalar at ``where.keys``, which must already be there."""
    if not path.is_file():
        raise ManifestError(f"{where.file} does not exist in the app's path; it holds the version ({where})")
    text, old = edit_value(_read(path), where, version)
    _write(root, path, text)
    return Edit(path, old, version)


# YAML 1.1 (what helm reads values as) takes these, and numbers, for other than strings
_NOT_STRINGS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def edit_value(text: str, where: VersionPath, version: str) -> tuple[str, str]:
    """``text`` with the scalar at ``where.keys`` set to ``version`` on its own line, and the value it had.

    Refused, with nothing changed, when one line cannot say it: the key missing, empty, reached through a merge
    key, shared through an anchor, tagged, or over several lines; and checked after the edit: the file must read
    as before but for that one value.
    """
    check_version(version)
    try:
        docs = list(round_trip().load_all(text))
        expected = yaml.safe_load(text) if len(docs) == 1 else None
    except (YAMLError, yaml.YAMLError) as e:
        raise ManifestError(f"{where.file} is not valid YAML: {e}") from e
    node: Any = docs[0] if len(docs) == 1 else None
    for depth, key in enumerate(where.keys):
        if not isinstance(node, CommentedMap) or key not in node:
            found = ".".join(where.keys[:depth]) or "its top"
            raise ManifestError(
                f"{where.file} has no {'.'.join(where.keys)} (nothing at {key!r} under {found}); add it once by hand, "
                "then gitopsctl can change it"
            )
        if node.anchor.value or key not in (node.lc.data or {}):
            how = f"the anchor &{node.anchor.value}" if node.anchor.value else "a merge key (<<)"
            raise ManifestError(f"{where} is shared through {how}; a deploy would change every place using it")
        value = node[key]
        if depth < len(where.keys) - 1:
            node = value
            continue
        if value is None or isinstance(value, CommentedMap | CommentedSeq | TaggedScalar) or "\n" in str(value):
            raise ManifestError(f"{where} is not a one-line value, so it cannot hold a version; set one by hand")
        if getattr(getattr(value, "anchor", None), "value", None):
            raise ManifestError(f"{where} is shared through the anchor &{value.anchor.value}; change it by hand")
        line, column = node.lc.value(key)
        quoted = yaml_lines(text)[line].lstrip("\ufeff")[column : column + 1] in ("'", '"')
        plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", version) and version.lower() not in _NOT_STRINGS
        edited = replace_scalar(
            text, line, column, version if quoted or plain else f'"{version}"', flow=node.fa.flow_style()
        )
        parent = expected
        for k in where.keys[:-1]:
            parent = parent[k]
        parent[where.keys[-1]] = version
        try:
            after = yaml.safe_load(edited)
        except yaml.YAMLError:
            after = None
        if after != expected:
            raise ManifestError(f"{where} cannot be changed on its one line without changing more; change it by hand")
        return edited, str(value)
    raise AssertionError("version paths have at least one key")


def _dump(root: Path, path: Path, doc: Any) -> None:
    out = io.StringIO()
    rt = round_trip()
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.dump(doc, out)
    _write(root, path, out.getvalue())


def _write(root: Path, path: Path, text: str) -> None:
    write_inside(root, path, text.encode("utf-8"))
