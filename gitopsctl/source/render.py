"""Rendering an app's manifests at a revision: plain YAML or kustomize.

A directory with a ``kustomization.yaml`` is built with kustomize (``kustomize``
or ``kubectl kustomize``) from an export of just the directories it refers to;
remote bases are refused (no network, and Git stays the only source). Any other
directory is read as every ``*.yaml``/``*.yml`` below it.

Results are cached by the Git tree ids of everything the render read, so an app
whose files did not change between two revisions is not rendered again; the
cache is also kept on disk beside the clone (tree ids name content, so an entry
never goes stale), and a new process starts warm.
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from .manifests import check_duplicates, load_yaml_documents, objects_from_documents
from .repo import GitRepository

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REFERENCE_KEYS = ("resources", "bases", "components")
CACHE_ENTRIES = 1024


@dataclass(frozen=True)
class Rendered:
    revision: str
    path: str
    exists: bool
    objects: tuple[dict[str, Any], ...]
    cache_key: tuple[str, ...]


class Renderer:
    def __init__(self, repo: GitRepository, *, max_bytes: int) -> None:
        self.repo = repo
        self.max_bytes = max_bytes
        self._disk = repo.path.with_name(repo.path.name.removesuffix(".git") + "-renders")
        self._cache: OrderedDict[tuple[str, ...], tuple[dict[str, Any], ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many renders actually ran (cache misses)

    def render(self, revision_sha: str, path: str) -> Rendered:
        path = posixpath.normpath(path).strip("/")
        tree = self.repo.tree_id(revision_sha, path)
        if tree is None:
            return Rendered(revision_sha, path, False, (), ())
        kustomization = self._kustomization(revision_sha, path)
        if kustomization is None:
            key: tuple[str, ...] = ("plain", tree)
            producer = lambda: self._plain(revision_sha, path)  # noqa: E731
        else:
            dirs = self._kustomize_dirs(revision_sha, path, set())
            key = ("kustomize", path, *(f"{d}={self.repo.tree_id(revision_sha, d)}" for d in sorted(dirs)))
            producer = lambda: self._kustomize(revision_sha, path, sorted(dirs))  # noqa: E731
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            cached = self._from_disk(key)
        if cached is None:
            cached = tuple(producer())
            check_duplicates(list(cached), path)
            self._to_disk(key, cached)
            with self._lock:
                self.renders += 1
                self._cache[key] = cached
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return Rendered(revision_sha, path, True, tuple(copy.deepcopy(list(cached))), key)

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

    def _plain(self, sha: str, path: str) -> list[dict[str, Any]]:
        objects = []
        for f in self.repo.read_files(sha, path, max_bytes=self.max_bytes, suffixes=(".yaml", ".yml")):
            text = _decode(f.data, f.path)
            objects.extend(objects_from_documents(load_yaml_documents(text, f.path), f.path))
        return objects

    # ------------------------------------------------------------ kustomize

    def _kustomization(self, sha: str, path: str) -> dict[str, Any] | None:
        for name in KUSTOMIZATION_FILES:
            data = self.repo.read_file(sha, f"{path}/{name}")
            if data is not None:
                docs = load_yaml_documents(_decode(data, f"{path}/{name}"), f"{path}/{name}")
                doc = docs[0] if docs else {}
                if not isinstance(doc, dict):
                    raise ManifestError(f"{path}/{name}: not a kustomization")
                return doc
        return None

    def _kustomize_dirs(self, sha: str, path: str, seen: set[str]) -> set[str]:
        """Directories a kustomization reads, following resources/bases/components that are directories."""
        seen.add(path)
        kustomization = self._kustomization(sha, path) or {}
        for key in _REFERENCE_KEYS:
            for entry in kustomization.get(key) or []:
                if not isinstance(entry, str):
                    continue
                if "://" in entry or entry.startswith(("git@", "github.com/", "gitlab.com/")) or "?ref=" in entry:
                    raise ManifestError(
                        f"{path}: the remote kustomize base {entry!r} is not allowed; vendor it into the repository"
                    )
                target = posixpath.normpath(posixpath.join(path, entry))
                if target.startswith("../") or target == ".." or posixpath.isabs(entry):
                    raise ManifestError(f"{path}: {entry!r} points outside the repository")
                if target not in seen and self.repo.tree_id(sha, target) is not None:
                    self._kustomize_dirs(sha, target, seen)
        return seen

    def _kustomize(self, sha: str, path: str, dirs: list[str]) -> list[dict[str, Any]]:
        command = _kustomize_command()
        with tempfile.TemporaryDirectory(prefix="gitopsctl-render-") as tmp:
            root = Path(tmp)
            for directory in dirs:
                for f in self.repo.read_files(sha, directory, max_bytes=self.max_bytes):
                    target = root / f.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(f.data)
            output = _run_bounded([*command, str(root / path)], self.max_bytes, path)
        return objects_from_documents(load_yaml_documents(output, f"{path} (kustomize output)"), path)


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path} is not UTF-8 text") from e


def _kustomize_command() -> list[str]:
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build", "--load-restrictor", "LoadRestrictionsRootOnly"]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    raise ManifestError(
        "this app has a kustomization.yaml but neither kustomize nor kubectl is installed; install one of them"
    )


def _run_bounded(command: list[str], max_bytes: int, path: str) -> str:
    """Run kustomize, refusing output over ``max_bytes`` without holding more than that in memory."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        chunks, size = [], 0
        assert proc.stdout is not None and proc.stderr is not None
        while chunk := proc.stdout.read(65536):
            size += len(chunk)
            if size > max_bytes:
                proc.kill()
                raise ManifestError(
                    f"{path} renders to more than the {max_bytes / 1e6:.0f} MB limit (git.max_render_mb); refusing it"
                )
            chunks.append(chunk)
        stderr = proc.stderr.read(65536).decode("utf-8", "replace")
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            raise ManifestError(f"kustomize did not finish rendering {path} within 120 s") from e
    if proc.returncode != 0:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {proc.returncode}"
        raise ManifestError(f"kustomize could not render {path}: {reason}")
    return _decode(b"".join(chunks), f"{path} (kustomize output)")
