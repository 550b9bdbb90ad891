"""Rendering a Helm chart: finding helm, what a chart may depend on, the command, an environment with no network.

An app whose path holds a ``Chart.yaml`` is rendered with ``helm template`` from
the renderer's export of the chart (the same export, and the same rules for
hostile trees, as kustomize's). Everything a chart needs must be in the
repository: dependencies are vendored in ``charts/``, and one whose
``repository`` names a chart repository or an OCI registry is refused before
helm runs, as is a ``file://`` path leading out of the repository. helm itself
gets no network (a closed proxy), no repositories, registries or plugins (its
homes are empty scratch directories), no cluster, one timeout and bounded
output. Helm's hooks are run as sync hooks, as Argo CD maps them (sync/hooks.py).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from .kustomization import below
from .kustomize import decode, kustomize_env, kustomize_message, run_bounded
from .manifests import load_yaml_documents
from .repo import SYMLINK_MODE, GitRepository

CHART_FILE = "Chart.yaml"
# `make helm` installs helm here when it is not on PATH: the project's own tools directory (for an editable
# install, the repository's .tools/bin)
TOOLS_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"
_DEPENDENCY_FILES = (CHART_FILE, "requirements.yaml")  # requirements.yaml: Helm 2 (apiVersion v1) charts


@dataclass(frozen=True)
class Release:
    """What one chart is rendered as: the app's release in one environment. The same chart renders differently
    per release, so all of it is part of the render's cache key."""

    name: str  # the app
    namespace: str  # the environment's
    values: tuple[str, ...] = ()  # values files relative to the chart's directory, in the order helm reads them

    def key(self) -> str:
        return json.dumps([self.name, self.namespace, list(self.values)])


def helm_binary() -> str | None:
    """helm from PATH, else the one ``make helm`` put in the project's ``.tools/bin``; None when neither exists."""
    if found := shutil.which("helm"):
        return found
    local = TOOLS_BIN / "helm"
    return str(local) if local.is_file() and os.access(local, os.X_OK) else None


def chart_dirs(repo: GitRepository, sha: str, path: str) -> list[str]:
    """The chart's directory and every directory a symlink below it leads to elsewhere in the repository (helm
    reads through links), each to be exported whole; a link leading out of the repository is refused."""
    dirs = [path]
    for directory in dirs:  # grows while it is walked: links in a linked directory are followed too
        for name, entry in repo.entries_below(sha, directory):
            real = repo.real_path(sha, name) if entry.mode == SYMLINK_MODE else None
            if real is not None and repo.kind(sha, real) == "tree" and not any(below(real, d) for d in dirs):
                dirs.append(real)
    return dirs


def template(scratch: Path, chart: str, release: Release, *, max_bytes: int, timeout: float) -> str:
    """``helm template`` of the chart exported in ``scratch/export`` at ``chart``, as ``release``: its output."""
    root = scratch / "export"
    _check_charts(root)
    returncode, output, stderr = run_bounded(
        _helm_command(release, root / chart, _values_files(root, chart, release)),
        env=_helm_env(scratch),
        cwd=root,
        max_bytes=max_bytes,
        timeout=timeout,
        path=chart or ".",
        tool="helm",
    )
    if returncode != 0:
        raise ManifestError(f"helm could not render {chart or '.'}: {kustomize_message(stderr, returncode, root)}")
    return output


def _helm_command(release: Release, chart: Path, values: list[Path]) -> list[str]:
    """``helm template`` of ``chart`` as ``release``: CRDs included, chart tests left out (never installed)."""
    binary = helm_binary()
    if binary is None:
        raise ManifestError(
            f"{release.name} is a Helm chart (its path holds a Chart.yaml) but helm is not installed; "
            "run `make helm` in gitopsctl's repository or put helm on PATH"
        )
    flags = ["--namespace", release.namespace, "--include-crds", "--skip-tests"]
    for file in values:
        flags += ["--values", str(file)]
    return [binary, "template", *flags, "--", release.name, str(chart)]


def _helm_env(scratch: Path) -> dict[str, str]:
    """kustomize's environment (no git, a closed proxy, an empty HOME) with every Helm home in the scratch
    directory: no repositories, registry logins or plugins to use, and no kubeconfig to reach a cluster with."""
    helm = scratch / "helm"
    return {
        **kustomize_env(scratch),
        "HELM_CACHE_HOME": str(helm / "cache"),
        "HELM_CONFIG_HOME": str(helm / "config"),
        "HELM_DATA_HOME": str(helm / "data"),
        "HELM_PLUGINS": str(scratch / "plugins"),
        "HELM_NO_PLUGINS": "1",
        "HELM_REPOSITORY_CONFIG": str(helm / "config" / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(helm / "cache" / "repository"),
        "HELM_REGISTRY_CONFIG": str(helm / "config" / "registry.json"),
        "KUBECONFIG": str(scratch / "home" / "no-kubeconfig"),
    }


def _values_files(root: Path, chart: str, release: Release) -> list[Path]:
    """The release's values files in the export, each a file inside the chart's directory at this revision."""
    files = []
    for name in release.values:
        if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in name.split("/")):
            raise ManifestError(f"{release.name}: values file {name!r} is not a relative path inside {chart or '.'}")
        file = root / chart / name
        if not file.is_file():
            raise ManifestError(
                f"{release.name}: values file {name!r} does not exist in {chart or '.'} at this revision; "
                f"add it, or remove it from apps.{release.name}.values"
            )
        files.append(file)
    return files


def _check_charts(root: Path) -> None:
    """Refuse any dependency helm would have to fetch, in the chart and every chart vendored below it.

    ``helm template`` never downloads on its own, but a dependency that names a repository is one the chart
    expects ``helm dependency update`` to fetch; refusing it says what to do (vendor it) instead of leaving
    helm's "missing in charts/ directory". Archives in ``charts/`` are read by helm alone, within its limits.
    """
    for directory, _dirs, files in os.walk(root):  # symlinks are not followed: their targets are exported too
        for name in sorted(set(files) & set(_DEPENDENCY_FILES)):
            file = Path(directory) / name
            where = file.relative_to(root).as_posix()
            documents = load_yaml_documents(decode(file.read_bytes(), where), where)
            _check_dependencies(where, documents[0] if documents else None)


def _check_dependencies(where: str, document: Any) -> None:
    dependencies = document.get("dependencies") if isinstance(document, dict) else None
    if dependencies is None:
        return
    if not isinstance(dependencies, list):
        raise ManifestError(f"{where}: dependencies must be a list")
    for dependency in dependencies:
        name = dependency.get("name") if isinstance(dependency, dict) else None
        repository = dependency.get("repository") if isinstance(dependency, dict) else None
        if not isinstance(name, str) or not isinstance(repository, str | None):
            raise ManifestError(f"{where}: every dependency must be a mapping with a name and a repository")
        if not repository:
            continue
        if repository.startswith("file://"):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(where), repository.removeprefix("file://")))
            if repository.startswith("file:///") or target == ".." or target.startswith("../"):
                raise ManifestError(
                    f"{where}: dependency {name!r} is {repository}, outside the repository; "
                    "vendor the chart into charts/ inside the repository"
                )
            continue
        source = "the OCI registry" if repository.startswith("oci://") else "the chart repository"
        raise ManifestError(
            f"{where}: dependency {name!r} comes from {source} {repository}, which gitopsctl never downloads from "
            "(helm renders with no network); vendor the chart into charts/ and leave its repository empty"
        )
