"""Rendering an app's manifests at a revision: plain YAML, kustomize or a Helm chart.

A directory with a ``kustomization.yaml`` is built with kustomize (``kustomize``
or ``kubectl kustomize``) from an export of just what it reads: every field
kustomize resolves to a path is followed (directories into their own
kustomizations), and symlinks stay links to the same place in the repository,
so kustomize reads the export as it would read a checkout. Everything in Git is
hostile input: a kustomization may only name relative paths that exist in the
revision's tree (no remote bases, no plugins but kustomize's builtin ones, no
Helm), no symlink may lead out of the repository, every export write stays
inside the export directory, and kustomize runs in an environment with no git,
no way to download and no plugins, under one timeout with bounded output. Any
directory with a ``Chart.yaml`` is a Helm chart, exported whole (with the
directories its symlinks lead to) and rendered as the app's release in the
environment (:mod:`.helm`). Any other directory is read as every
``*.yaml``/``*.yml`` below it. The app's path may be the repository's root
(``.``).

Results are cached by the Git ids of every tree and file the render read, so an
app whose files did not change between two revisions is not rendered again; the
cache is also kept on disk beside the clone (ids name content, so an entry never
goes stale), and a new process starts warm.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import posixpath
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from .helm import CHART_FILE, Release, chart_dirs, template
from .kustomization import (
    DIRECTORY_FIELDS,
    PLUGIN_CONFIG_FIELDS,
    PLUGIN_FIELDS,
    below,
    check_plugins,
    inline_documents,
    join,
    outermost,
    reference_target,
    references,
)
from .kustomize import decode, kustomize_command, kustomize_env, kustomize_message, run_bounded, unexported
from .manifests import check_duplicates, load_yaml_documents, objects_from_documents
from .repo import SYMLINK_MODE, Entry, GitRepository
from .safety import check_tree_path, link_inside, write_inside

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CACHE_ENTRIES = 1024
RENDER_TIMEOUT = 120.0  # seconds for one kustomize run, start to finish


@dataclass(frozen=True)
class Rendered:
    revision: str
    path: str
    exists: bool
    objects: tuple[dict[str, Any], ...]
    cache_key: tuple[str, ...]


@dataclass
class _Reads:
    """What a kustomization reads, found by following every field kustomize resolves to a path."""

    dirs: set[str] = field(default_factory=set)  # real directories, each exported whole
    files: set[str] = field(default_factory=set)  # files named, as named (a symlink's own path)
    seen: set[tuple[str, bool]] = field(default_factory=set)  # (directory, read as plugin configuration)


@dataclass(frozen=True)
class _Export:
    """The scratch copy kustomize builds from, and the cache key naming everything in it."""

    files: tuple[tuple[str, str], ...]  # (path, blob id)
    links: tuple[tuple[str, str], ...]  # (path, relative target): symlinks, pointing where they point in Git
    dirs: tuple[str, ...]
    key: tuple[str, ...]


class Renderer:
    def __init__(self, repo: GitRepository, *, max_bytes: int, timeout: float = RENDER_TIMEOUT) -> None:
        self.repo = repo
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._disk = repo.path.with_name(repo.path.name.removesuffix(".git") + "-renders")
        self._cache: OrderedDict[tuple[str, ...], tuple[dict[str, Any], ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many renders actually ran (cache misses)

    def render(self, revision_sha: str, path: str, release: Release | None = None, *, shared: bool = False) -> Rendered:
        """``path`` "." (or "") is the repository's root, and a symlink to a directory is read where it points.

        ``release`` is what a Helm chart at ``path`` renders as (the app, the environment's namespace, its values
        files); other apps ignore it. ``shared``: the cached objects themselves, for a caller that only reads them
        or copies them anyway (a copy of 600 renders cost a fleet read a quarter of a second).
        """
        shown = posixpath.normpath(path.strip("/") or ".")
        real = self.repo.real_path(revision_sha, "" if shown == "." else shown)
        tree = self.repo.tree_id(revision_sha, real) if real is not None else None
        if real is None or tree is None:
            return Rendered(revision_sha, shown, False, (), ())
        path = real
        if self.repo.kind(revision_sha, join(path, CHART_FILE)) == "blob":
            if release is None:
                raise ManifestError(f"{shown} is a Helm chart: it renders only as an app's release in an environment")
            dirs = chart_dirs(self.repo, revision_sha, path)
            key: tuple[str, ...] = ("helm", shown, release.key(), *self._export(revision_sha, dirs, set()).key)
            producer = lambda: self._helm(revision_sha, path, dirs, release)  # noqa: E731
        elif self._kustomization(revision_sha, path) is None:
            key = ("plain", tree)
            producer = lambda: self._plain(revision_sha, path)  # noqa: E731
        else:
            reads = _Reads()
            self._follow(revision_sha, path, reads, plugin_configs=False)
            dirs, named = sorted(reads.dirs), reads.files
            key = ("kustomize", shown, *self._export(revision_sha, dirs, named).key)
            producer = lambda: self._kustomize(revision_sha, path, dirs, named)  # noqa: E731
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            cached = self._from_disk(key)
        if cached is None:
            cached = tuple(producer())
            check_duplicates(list(cached), shown)
            self._to_disk(key, cached)
            with self._lock:
                self.renders += 1
                self._cache[key] = cached
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return Rendered(revision_sha, shown, True, cached if shared else tuple(copy.deepcopy(list(cached))), key)

    # ---------------------------------------------------------------- the disk cache

    def _file(self, key: tuple[str, ...]) -> Path:
        return self._disk / (hashlib.sha256("\0".join(key).encode()).hexdigest() + ".json")

    def _from_disk(self, key: tuple[str, ...]) -> tuple[dict[str, Any], ...] | None:
        try:
            objects = json.loads(self._file(key).read_text())
        except (OSError, ValueError):
            return None
        return tuple(objects) if isinstance(objects, list) else None

    def _to_disk(self, key: tuple[str, ...], objects: tuple[dict[str, Any], ...]) -> None:
        """Written to a temporary file and renamed, so a reader never sees half of it; failures only cost speed."""
        target = self._file(key)
        temporary = target.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            text = json.dumps(list(objects))
        except (TypeError, ValueError):
            return  # YAML types JSON cannot hold (dates, bytes): such an app is rendered afresh each process
        try:
            self._disk.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text)
            temporary.replace(target)
        except OSError:
            pass

    # ---------------------------------------------------------------- plain

    def _plain(self, sha: str, path: str, edits: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
        objects = []
        for f in self.repo.read_files(sha, path, max_bytes=self.max_bytes, suffixes=(".yaml", ".yml")):
            text = decode((edits or {}).get(f.path, f.data), f.path)
            objects.extend(_applicable(load_yaml_documents(text, f.path), f.path))
        return objects

    # ------------------------------------------------------------ kustomize

    def _kustomization(self, sha: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """(file name, content) of the kustomization in ``path``, or None when it has none.

        The file may be a symlink to one elsewhere in the repository (kustomize reads through it); one leading
        out of the repository is refused by :meth:`GitRepository.real_path`.
        """
        for name in KUSTOMIZATION_FILES:
            file = join(path, name)
            if self.repo.entry(sha, file) is None:
                continue
            real = self.repo.real_path(sha, file)
            data = self.repo.read_file(sha, real) if real is not None else None
            if data is None:
                continue
            docs = load_yaml_documents(decode(data, file), file)
            doc = docs[0] if docs else {}
            if not isinstance(doc, dict):
                raise ManifestError(f"{file}: not a kustomization")
            return file, doc
        return None

    def _follow(self, sha: str, path: str, reads: _Reads, *, plugin_configs: bool) -> None:
        """Record what the kustomization in the real directory ``path`` reads, following directories into theirs.

        Every entry is checked against the allow-list first (see :func:`references`), so kustomize is only given
        paths that exist in this revision's tree. ``plugin_configs`` marks a directory reached through
        ``generators``/``transformers``/``validators``: the files it lists are plugin configurations, checked by
        :func:`check_plugins` like inline ones.
        """
        if (path, plugin_configs) in reads.seen:
            return
        reads.seen.add((path, plugin_configs))
        reads.dirs.add(path)
        found = self._kustomization(sha, path)
        if found is None:
            return
        name, kustomization = found
        for field_name, entry in references(name, kustomization):
            configures_plugins = field_name in PLUGIN_FIELDS or (plugin_configs and field_name in PLUGIN_CONFIG_FIELDS)
            inline = inline_documents(entry) if field_name in (*PLUGIN_FIELDS, "patchesStrategicMerge") else None
            if inline is not None:
                if field_name in PLUGIN_FIELDS:
                    check_plugins(inline, f"{name}: an inline {field_name} entry")
                continue
            target = reference_target(name, path, field_name, entry)
            real = self.repo.real_path(sha, target)
            kind = self.repo.kind(sha, real) if real is not None else None
            if real is None or kind is None:
                raise ManifestError(
                    f"{name}: {field_name} entry {entry!r} does not exist in this revision of the repository"
                )
            if kind == "tree":
                if field_name in DIRECTORY_FIELDS:
                    self._follow(sha, real, reads, plugin_configs=configures_plugins)
                continue
            reads.files.add(target)
            if configures_plugins:
                data = self.repo.read_file(sha, real) or b""
                check_plugins(
                    load_yaml_documents(decode(data, target), target), f"{name}: {field_name} entry {entry!r}"
                )

    def _export(self, sha: str, dirs: list[str], named: set[str]) -> _Export:
        """Which files and links to export for a kustomization reading ``dirs`` and the ``named`` files, and the
        cache key naming their content.

        Directories are exported whole, and a named file outside all of them on its own. A symlink stays a link to
        the same real path, so kustomize resolves it, and applies its own rules to it, as on a checkout; the file
        it points to is exported (and keyed) when no exported directory holds it; one leading nowhere is left out,
        as kustomize would find nothing there either. Every key part is ``path=object id`` of a real path.
        """
        dirs = outermost(dirs)
        files: dict[str, str] = {}  # path -> blob id
        links: dict[str, str] = {}  # path -> relative target
        key = [f"{directory or '.'}={self.repo.tree_id(sha, directory)}" for directory in dirs]

        def exported(path: str) -> bool:
            return any(below(path, directory) for directory in dirs)

        def add(name: str, entry: Entry) -> None:
            if entry.mode != SYMLINK_MODE:
                files[name] = entry.object_id
                return
            real = self.repo.real_path(sha, name)
            target = self.repo.entry(sha, real) if real is not None else None
            if real is None or target is None or target.kind not in ("tree", "blob"):
                return
            links[name] = posixpath.relpath(real or ".", posixpath.dirname(name) or ".")
            if target.kind == "blob" and not exported(real):
                files[real] = target.object_id
                key.append(f"{real}={target.object_id}")

        for directory in dirs:
            for name, entry in self.repo.entries_below(sha, directory):
                add(name, entry)
        for name in sorted(named):
            entry = self.repo.entry(sha, name)
            parent = posixpath.dirname(name)
            if entry is not None and not exported(name) and self.repo.real_path(sha, parent) == parent:
                add(name, entry)
                key.append(f"{name}={entry.object_id}")
        return _Export(tuple(sorted(files.items())), tuple(sorted(links.items())), tuple(dirs), tuple(sorted(set(key))))

    def _kustomize(
        self, sha: str, path: str, dirs: list[str], named: set[str] | None = None, edits: dict[str, bytes] | None = None
    ) -> list[dict[str, Any]]:
        """Export just what the kustomization reads and build ``path`` there, with no way to reach git or a network."""
        command = kustomize_command()
        export = self._export(sha, dirs, named or set())
        exported = {name for name, _ in export.files}
        with self._scratch(path, export, {k: v for k, v in (edits or {}).items() if k in exported}) as scratch:
            root = scratch / "export"
            returncode, output, stderr = run_bounded(
                [*command, str(root / path)],
                env=kustomize_env(scratch),
                cwd=root,
                max_bytes=self.max_bytes,
                timeout=self.timeout,
                path=path or ".",
            )
            if returncode != 0:
                message = kustomize_message(stderr, returncode, root)
                hint = unexported(self.repo, sha, message, export.dirs)
                raise ManifestError(f"kustomize could not render {path or '.'}: {message}{hint}")
        source = f"{path or '.'} (kustomize output)"
        return _applicable(load_yaml_documents(output, source), source)

    @contextlib.contextmanager
    def _scratch(self, path: str, export: _Export, edits: dict[str, bytes] | None = None) -> Iterator[Path]:
        """A scratch directory holding the export written out in ``export/`` (every write checked to stay inside
        it; ``edits`` replace the content of exported files) and the empty ``home``, ``plugins`` and ``bin`` a
        renderer's environment points at; removed after."""
        blobs = self.repo.read_blobs([b for _, b in export.files], max_bytes=self.max_bytes, what=path or ".")
        with tempfile.TemporaryDirectory(prefix="gitopsctl-render-") as tmp:
            scratch = Path(tmp)
            root = scratch / "export"
            for empty in ("export", "home", "plugins", "bin"):
                (scratch / empty).mkdir()
            for name, blob in export.files:
                write_inside(root, root / check_tree_path(name), blobs[blob], new=True)
            for name, target in export.links:
                link_inside(root, root / check_tree_path(name), target)
            exported = {name for name, _ in export.files}
            for name, data in (edits or {}).items():
                if name not in exported:
                    raise ManifestError(f"{name} is not a file of {path or '.'} in Git (a symlink is not edited)")
                write_inside(root, root / check_tree_path(name), data)
            yield scratch

    # ------------------------------------------------------------ edits, before they are committed

    def sources(self, sha: str, path: str) -> tuple[str, ...]:
        """The regular YAML files (repository paths) a plain or kustomize app at ``path`` renders from."""
        real = self.repo.real_path(sha, path.strip("/") or "")
        if real is None or self.repo.kind(sha, join(real, CHART_FILE)) == "blob":
            raise ManifestError(f"{path or '.'} is a Helm chart or missing: its objects come from templates")
        if self._kustomization(sha, real) is None:
            entries = self.repo.entries_below(sha, real)
        else:
            reads = _Reads()
            self._follow(sha, real, reads, plugin_configs=False)
            export = self._export(sha, sorted(reads.dirs), reads.files)
            entries = [(name, self.repo.entry(sha, name)) for name, _ in export.files]
        yaml_names = (".yaml", ".yml", "/Kustomization")
        return tuple(n for n, e in entries if e and e.mode != SYMLINK_MODE and ("/" + n).endswith(yaml_names))

    def render_with(self, sha: str, path: str, edits: dict[str, bytes]) -> tuple[dict[str, Any], ...]:
        """A plain or kustomize app at ``path`` with some files' content replaced (``edits`` by repository path;
        files it does not read are ignored): what committing the edits would render. Never cached."""
        real = self.repo.real_path(sha, path.strip("/") or "")
        if real is None or self.repo.kind(sha, join(real, CHART_FILE)) == "blob":
            raise ManifestError(f"{path or '.'} is a Helm chart or missing: its objects come from templates")
        if self._kustomization(sha, real) is None:
            return tuple(self._plain(sha, real, edits))
        reads = _Reads()
        self._follow(sha, real, reads, plugin_configs=False)
        return tuple(self._kustomize(sha, real, sorted(reads.dirs), reads.files, edits))

    # ------------------------------------------------------------ helm

    def render_edited(self, sha: str, path: str, release: Release, edits: dict[str, bytes]) -> tuple[dict, ...]:
        """The chart at ``path`` as ``release`` with some of its files' content replaced (``edits`` by paths
        relative to the chart): what a deploy's edit would deploy, known before it is committed. Never cached."""
        real = self.repo.real_path(sha, path.strip("/"))
        if real is None or self.repo.kind(sha, join(real, CHART_FILE)) != "blob":
            raise ManifestError(f"{path or '.'} is not a Helm chart at {sha[:12]}")
        inside = {join(real, check_tree_path(name)): data for name, data in edits.items()}
        return tuple(self._helm(sha, real, chart_dirs(self.repo, sha, real), release, inside))

    def _helm(
        self, sha: str, path: str, dirs: list[str], release: Release, edits: dict[str, bytes] | None = None
    ) -> list[dict[str, Any]]:
        """Export the chart and template it as ``release``, with no way to reach a network, a cluster or a plugin."""
        with self._scratch(path, self._export(sha, dirs, set()), edits) as scratch:
            output = template(scratch, path, release, max_bytes=self.max_bytes, timeout=self.timeout)
        source = f"{path or '.'} (helm output)"
        return _applicable(load_yaml_documents(output, source), source)


def _applicable(documents: list[Any], source: str) -> list[dict[str, Any]]:
    """Kubernetes objects from rendered documents; one a cluster could not take is refused, saying why.

    kustomize happily renders toy objects with no ``apiVersion`` or name (its examples and tests are full of
    them); gitopsctl applies what it renders, and the API server needs both to know what an object is.
    """
    try:
        return objects_from_documents(documents, source)
    except ManifestError as e:
        raise ManifestError(
            f"{e}, and gitopsctl applies every rendered object to a cluster, which needs its apiVersion, kind "
            "and metadata.name to know what it is; add them to the manifests"
        ) from e
