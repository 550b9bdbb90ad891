"""What a kustomization reads: every field kustomize resolves to a path, inline entries, plugins it may run.

Pure functions over a parsed kustomization, so the allow-list can be read (and
tested) apart from the export and the run: an entry is a relative path in the
revision's tree, or inline YAML; anything remote, any plugin but kustomize's
builtin ones and any Helm chart is refused with the field and entry named.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ..errors import ManifestError
from .manifests import load_yaml_documents

# Fields whose entries kustomize builds as a kustomization when they name a directory.
DIRECTORY_FIELDS = frozenset({"resources", "bases", "components", "generators", "transformers", "validators"})
# Fields whose entries configure plugins: inline YAML, a file of plugin configurations, or a kustomization of them.
PLUGIN_FIELDS = frozenset({"generators", "transformers", "validators"})
# Fields through which a kustomization reached as plugin configuration passes that role on.
PLUGIN_CONFIG_FIELDS = frozenset({"resources", "bases", "components"})
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
        "imageTags",
        "replicas",
        "vars",
        "sortOptions",
        "generatorOptions",
        "buildMetadata",
    }
)
_HELM_FIELDS = frozenset({"helmCharts", "helmGlobals", "helmChartInflationGenerator"})
# Fields listing files or directories (or inline configurations), and fields of objects with a ``path``.
_LISTING_FIELDS = frozenset({*DIRECTORY_FIELDS, "crds", "configurations", "patchesStrategicMerge"})
_PATH_FIELDS = frozenset({"patches", "patchesJson6902", "replacements", "openapi"})
_GENERATOR_FIELDS = frozenset({"configMapGenerator", "secretGenerator"})
_KNOWN_FIELDS = {
    name.casefold(): name
    for name in (*_PLAIN_FIELDS, *_HELM_FIELDS, *_LISTING_FIELDS, *_PATH_FIELDS, *_GENERATOR_FIELDS)
}
_BUILTIN_PLUGIN_API = "builtin"  # kustomize runs a plugin in-process only when its apiVersion is exactly this
_HELM_PLUGIN = "HelmChartInflationGenerator"
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9._/-]+$")
_REMOTE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org"})


def join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def below(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or inside it ("" is the repository's root)."""
    return not directory or path == directory or path.startswith(directory + "/")


def outermost(dirs: list[str]) -> list[str]:
    """``dirs`` without those inside another of them (already exported with it)."""
    return [d for d in dirs if not any(other != d and below(d, other) for other in dirs)]


def references(name: str, kustomization: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, entry) for every file, directory or inline configuration ``kustomization`` names.

    An allow-list: fields that name no file pass, fields that name files yield their entries for checking, and
    Helm (which runs ``helm`` and pulls charts) is refused outright; any other field is refused as unknown.
    Plugins (``generators``, ``transformers``, ``validators``) pass here, their configurations checked by
    :func:`check_plugins`: kustomize's builtin plugins run in-process, and any other would run a program.
    Keys match as kustomize's JSON decoding matches them, ignoring case (``patchesJSON6902``, ``Path``), so no
    spelling kustomize reads slips past a check.
    """
    references: list[tuple[str, Any]] = []
    for key, value in kustomization.items():
        field_name = _KNOWN_FIELDS.get(key.casefold()) if isinstance(key, str) else None
        if field_name is None:
            raise ManifestError(f"{name}: {key!r} is not a kustomization field gitopsctl can check; remove it")
        if field_name in _PLAIN_FIELDS:
            continue
        if field_name in _HELM_FIELDS:
            raise ManifestError(
                f"{name}: {key} is not allowed, as it runs Helm and downloads charts during a render; "
                "commit the rendered chart instead"
            )
        items = _listed(value)
        if field_name in _LISTING_FIELDS:
            references += [(field_name, item) for item in items]
        elif field_name in _PATH_FIELDS:
            dicts = [i for i in items if isinstance(i, dict)]
            references += [(f"{field_name} path", path) for i in dicts for path in _values(i, "path")]
        else:  # configMapGenerator, secretGenerator
            for generator in (g for g in items if isinstance(g, dict)):
                files = _values(generator, "files")
                references += [(f"{field_name} files", f.split("=", 1)[-1] if isinstance(f, str) else f) for f in files]
                references += [(f"{field_name} envs", e) for e in _values(generator, "envs")]
                references += [(f"{field_name} env", e) for e in _values(generator, "env")]
    return references


def _listed(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _values(mapping: dict[Any, Any], name: str) -> list[Any]:
    """Every entry under ``name`` in ``mapping``, its key matched ignoring case as kustomize's decoding does."""
    return [v for k, value in mapping.items() if isinstance(k, str) and k.casefold() == name for v in _listed(value)]


def inline_documents(entry: Any) -> list[Any] | None:
    """The YAML mappings an entry holds inline (a plugin configuration or patch), or None when it names a path.

    kustomize reads a ``generators``/``transformers``/``validators`` entry that parses as resources as inline
    configuration, and a ``patchesStrategicMerge`` entry that is no file as an inline patch; a path parses as a
    plain string. Aliases are bounded as everywhere (:func:`load_yaml_documents`).
    """
    if not isinstance(entry, str):
        return None
    try:
        documents = [d for d in load_yaml_documents(entry, "an inline entry") if d is not None]
    except ManifestError:
        return None
    return documents if documents and all(isinstance(d, dict) for d in documents) else None


def check_plugins(documents: list[Any], where: str) -> None:
    """Refuse plugin configurations kustomize would not run in-process: they would run a program (exec,
    container or Go plugins) or Helm. kustomize refuses them too with plugins off; this says why, before it runs."""
    for document in documents:
        if not isinstance(document, dict):
            continue
        kind = document.get("kind")
        if document.get("apiVersion") != _BUILTIN_PLUGIN_API:
            raise ManifestError(
                f"{where} configures the plugin {document.get('apiVersion')}/{kind}, which is not one of kustomize's "
                "builtin plugins and would run a program; gitopsctl renders with builtin plugins only "
                "(apiVersion: builtin), so commit what the plugin generates instead"
            )
        if kind == _HELM_PLUGIN:
            raise ManifestError(
                f"{where} configures {_HELM_PLUGIN}, which runs Helm and downloads charts during a render; "
                "commit the rendered chart instead"
            )


def reference_target(name: str, path: str, field_name: str, entry: Any) -> str:
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
            f"{name}: {field_name} entry {entry!r} is refused: only relative paths inside the repository are "
            "allowed, never a remote kustomize base (URL, host:path, git::, ?ref=); vendor it into the repository"
        )
    target = posixpath.normpath(posixpath.join(path, entry))
    if target == ".." or target.startswith("../"):
        raise ManifestError(f"{name}: {field_name} entry {entry!r} points outside the repository")
    return "" if target == "." else target
