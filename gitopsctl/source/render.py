"""Rendering an app's manifests at a revision: plain YAML or kustomize.

A directory with a ``kustomization.yaml`` is built with kustomize (``kustomize``
or ``kubectl kustomize``) from an export of just the directories it refers to.
Everything in Git is hostile input: a kustomization may only name relative
paths that exist in the revision's tree (no remote bases, plugins or Helm),
every export write stays inside the export directory, and kustomize runs in an
environment with no git, network configuration or plugins, under one timeout
with bounded output. Any other directory is read as every ``*.yaml``/``*.yml``
below it.

Results are cached by the Git tree ids of everything the render read, so an app
whose files did not change between two revisions is not rendered again; the
cache is also kept on disk beside the clone (tree ids name content, so an entry
never goes stale), and a new process starts warm.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import posixpath
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ManifestError
from .manifests import check_duplicates, load_yaml_documents, objects_from_documents
from .repo import GitRepository
from .safety import check_tree_path, write_inside

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CACHE_ENTRIES = 1024
RENDER_TIMEOUT = 120.0  # seconds for one kustomize run, start to finish
MAX_STDERR_BYTES = 1024 * 1024

_BASE_FIELDS = ("resources", "bases", "components")
# Kustomization fields that name no file and run nothing.
_PLAIN_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "namePrefix",
        "nameSuffix",
        "namespace",
        "commonLabels",
        "labels",
        "commonAnnotations",
        "images",
        "replicas",
        "vars",
        "sortOptions",
        "generatorOptions",
        "buildMetadata",
    }
)
_REFUSED_FIELDS = frozenset(
    {"generators", "transformers", "validators", "helmCharts", "helmGlobals", "helmChartInflationGenerator"}
)
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9._/-]+$")
_REMOTE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org"})


@dataclass(frozen=True)
class Rendered:
    revision: str
    path: str
    exists: bool
    objects: tuple[dict[str, Any], ...]
    cache_key: tuple[str, ...]


class Renderer:
    def __init__(self, repo: GitRepository, *, max_bytes: int, timeout: float = RENDER_TIMEOUT) -> None:
        self.repo = repo
        self.max_bytes = max_bytes
        self.timeout = timeout
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

    def _kustomization(self, sha: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """(file name, content) of the kustomization in ``path``, or None when it has none."""
        for name in KUSTOMIZATION_FILES:
            data = self.repo.read_file(sha, f"{path}/{name}")
            if data is not None:
                docs = load_yaml_documents(_decode(data, f"{path}/{name}"), f"{path}/{name}")
                doc = docs[0] if docs else {}
                if not isinstance(doc, dict):
                    raise ManifestError(f"{path}/{name}: not a kustomization")
                return f"{path}/{name}", doc
        return None

    def _kustomize_dirs(self, sha: str, path: str, seen: set[str]) -> set[str]:
        """Directories a kustomization reads, following resources/bases/components that are directories.

        Every file or directory a kustomization names is checked against the allow-list first (see
        :func:`_references`), so kustomize is only ever given paths that exist in this revision's tree.
        """
        seen.add(path)
        found = self._kustomization(sha, path)
        if found is None:
            return seen
        name, kustomization = found
        for field, entry in _references(name, kustomization):
            target = _reference_target(name, path, field, entry)
            kind = self.repo.kind(sha, target)
            if kind is None:
                raise ManifestError(
                    f"{name}: {field} entry {entry!r} does not exist in this revision of the repository"
                )
            if field in _BASE_FIELDS and kind == "tree" and target not in seen:
                self._kustomize_dirs(sha, target, seen)
        return seen

    def _kustomize(self, sha: str, path: str, dirs: list[str]) -> list[dict[str, Any]]:
        """Export just ``dirs`` and build ``path`` there, in an environment that cannot reach git or the network."""
        command = _kustomize_command()
        with tempfile.TemporaryDirectory(prefix="gitopsctl-render-") as tmp:
            scratch = Path(tmp)
            root = scratch / "export"
            for empty in ("export", "home", "plugins", "bin"):
                (scratch / empty).mkdir()
            for directory in _outermost(dirs):
                for f in self.repo.read_files(sha, directory, max_bytes=self.max_bytes):
                    write_inside(root, root / check_tree_path(f.path), f.data, new=True)
            output = _run_bounded(
                [*command, str(root / path)],
                env=_kustomize_env(scratch),
                cwd=root,
                max_bytes=self.max_bytes,
                timeout=self.timeout,
                path=path,
            )
        return objects_from_documents(load_yaml_documents(output, f"{path} (kustomize output)"), path)


def _outermost(dirs: list[str]) -> list[str]:
    """``dirs`` without those inside another of them (already exported with it)."""
    return [d for d in dirs if not any(d.startswith(other + "/") for other in dirs)]


def _references(name: str, kustomization: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, entry) for every file or directory ``kustomization`` names; refuses fields that run or fetch.

    An allow-list: fields that name no file pass, fields that name files yield their entries for checking, and
    plugins (``generators``, ``transformers``, ``validators``: exec, container functions) and Helm (which
    runs ``helm`` and pulls charts) are refused outright rather than restricted to in-repo files, because even an
    in-repo plugin config or chart makes kustomize run a program; any other field is refused as unknown.
    """
    references: list[tuple[str, Any]] = []
    for key, value in kustomization.items():
        if key in _PLAIN_FIELDS:
            continue
        if key in _REFUSED_FIELDS:
            raise ManifestError(
                f"{name}: {key} is not allowed, as it runs plugins, programs or Helm during a render; "
                "use patches, replacements or configMapGenerator, or commit the rendered manifests"
            )
        items = [] if value is None else value if isinstance(value, list) else [value]
        if key in (*_BASE_FIELDS, "crds", "configurations"):
            references += [(key, item) for item in items]
        elif key == "patchesStrategicMerge":
            references += [(key, item) for item in items if not _inline_patch(item)]
        elif key in ("patches", "patchesJson6902", "replacements", "openapi"):
            references += [(f"{key} path", i["path"]) for i in items if isinstance(i, dict) and "path" in i]
        elif key in ("configMapGenerator", "secretGenerator"):
            for generator in (g for g in items if isinstance(g, dict)):
                files = generator.get("files") or []
                references += [(f"{key} files", f.split("=", 1)[-1] if isinstance(f, str) else f) for f in files]
                references += [(f"{key} envs", e) for e in generator.get("envs") or []]
                references += [(f"{key} env", generator["env"])] if generator.get("env") else []
        else:
            raise ManifestError(f"{name}: {key!r} is not a kustomization field gitopsctl can check; remove it")
    return references


def _inline_patch(entry: Any) -> bool:
    """An inline strategic-merge patch (a YAML mapping) rather than a file name; it names no file."""
    try:
        return isinstance(entry, str) and isinstance(yaml.safe_load(entry), dict)
    except yaml.YAMLError:
        return False


def _reference_target(name: str, path: str, field: str, entry: Any) -> str:
    """The repository path ``entry`` names, if it is a plain relative path that stays inside the repository.

    kustomize treats ``host:path``, ``user@host``, ``github.com/...``, ``git::`` and ``?ref=`` as Git remotes
    and ``http(s)://`` files as downloads; only letters, digits, ``.``, ``_``, ``-`` and ``/`` pass, so none can.
    """
    if (
        not isinstance(entry, str)
        or not _PLAIN_PATH.match(entry)
        or entry.startswith("/")
        or entry.split("/")[0].lower() in _REMOTE_HOSTS
    ):
        raise ManifestError(
            f"{name}: {field} entry {entry!r} is refused: only relative paths inside the repository are allowed, "
            "never a remote kustomize base (URL, host:path, git::, ?ref=); vendor it into the repository"
        )
    target = posixpath.normpath(posixpath.join(path, entry))
    if target in ("..", ".") or target.startswith("../"):
        raise ManifestError(f"{name}: {field} entry {entry!r} points outside the repository or at its root")
    return target


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path} is not UTF-8 text") from e


def _kustomize_command() -> list[str]:
    """kustomize or ``kubectl kustomize``, with every flag that could run a program or load from outside off."""
    flags = ["--load-restrictor", "LoadRestrictionsRootOnly", "--enable-alpha-plugins=false", "--enable-helm=false"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build", *flags]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize", *flags]
    raise ManifestError(
        "this app has a kustomization.yaml but neither kustomize nor kubectl is installed; install one of them"
    )


def _kustomize_env(scratch: Path) -> dict[str, str]:
    """An environment built from nothing: no git on PATH, no protocol git may use, no config, proxy or plugins.

    Even if a remote base got past the allow-list, kustomize would find no ``git`` to run, and a git found
    anyway would refuse every protocol (``GIT_ALLOW_PROTOCOL`` empty) and read no user or system config.
    """
    return {
        "PATH": str(scratch / "bin"),
        "HOME": str(scratch / "home"),
        "XDG_CONFIG_HOME": str(scratch / "home"),
        "KUSTOMIZE_PLUGIN_HOME": str(scratch / "plugins"),
        "GIT_ALLOW_PROTOCOL": "",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }


def _run_bounded(
    command: list[str], *, env: dict[str, str], cwd: Path, max_bytes: int, timeout: float, path: str
) -> str:
    """Run kustomize with one wall-clock ``timeout`` over the whole run, draining stdout and stderr together.

    Reading one stream to its end first deadlocks once the child fills the other pipe (a kustomization with
    hundreds of deprecation warnings does); a selector reads whichever is ready. Output over ``max_bytes`` or
    warnings over ``MAX_STDERR_BYTES`` stop the run; the child's whole process group is killed on any refusal.
    """
    deadline = time.monotonic() + timeout
    limits = {"stdout": max_bytes, "stderr": MAX_STDERR_BYTES}
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    sizes = {"stdout": 0, "stderr": 0}
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
            selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ManifestError(f"kustomize did not finish rendering {path} within {timeout:g} s")
                for key, _ in selector.select(remaining):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    sizes[key.data] += len(chunk)
                    if sizes[key.data] > limits[key.data]:
                        raise ManifestError(_over_limit(key.data, path, limits[key.data]))
                    chunks[key.data].append(chunk)
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired as e:
            raise ManifestError(f"kustomize did not finish rendering {path} within {timeout:g} s") from e
    finally:
        if proc.returncode is None:
            _kill_group(proc)
        proc.stdout.close()
        proc.stderr.close()
    stderr = b"".join(chunks["stderr"]).decode("utf-8", "replace")
    if proc.returncode != 0:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {proc.returncode}"
        raise ManifestError(f"kustomize could not render {path}: {reason}")
    return _decode(b"".join(chunks["stdout"]), f"{path} (kustomize output)")


def _over_limit(stream: str, path: str, limit: int) -> str:
    if stream == "stdout":
        return f"{path} renders to more than the {limit / 1e6:.0f} MB limit (git.max_render_mb); refusing it"
    return f"kustomize printed more than {limit / 1e6:.0f} MB of warnings rendering {path}; refusing it"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill kustomize and anything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
