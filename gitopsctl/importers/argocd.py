"""Argo CD Applications to gitopsctl's ``[git]``, ``[environments.*]`` and ``[apps.*]``.

An Application names a repository, a path and a revision (the app and
``[git]``), a destination (an environment: its cluster context and namespace)
and a sync policy (the environment's ``sync`` and ``self_heal``, which gitopsctl
sets per environment, not per app). gitopsctl reads one repository, renders
plain YAML and kustomize, and always prunes; everything else is a note.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError
from .document import ConfigDraft, Imported, dns_label
from .fields import NO_EQUIVALENT, OBJECT_METADATA, Fields, Note
from .manifests import Manifest, one_sentence

KINDS = {"Application": "argoproj.io"}
IN_CLUSTER = "in-cluster"  # Argo CD's name for the cluster it runs in, and gitopsctl's context for it
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
_JSON_POINTER = re.compile(r"^(/([^~/]|~[01])*)+$")
_PINNED = re.compile(r"^([0-9a-f]{7,40}|v?\d+(\.\d+)+\S*)$")  # a commit or a version tag, not a branch to follow
_EQUIVALENT_SYNC_OPTIONS = frozenset(
    {
        "CreateNamespace=true",  # gitopsctl creates an environment's namespace when it is missing
        "ServerSideApply=true",  # gitopsctl always applies server-side
        "ApplyOutOfSyncOnly=true",  # gitopsctl never writes an object that already matches
        "PruneLast=true",  # gitopsctl prunes after everything else is applied
    }
)

REASONS = {
    "metadata.annotations": (
        "Argo CD's annotations (notifications among them) have no equivalent: gitopsctl reports to the app's or the "
        "environment's slack_channel"
    ),
    "metadata.finalizers": "gitopsctl has no Application object; removing an app from the configuration deletes nothing",
    "spec.project": (
        "gitopsctl has no projects: an environment limits namespaces (allowed_namespaces) and cluster-scoped kinds "
        "(cluster_resources), an app its kinds"
    ),
    "spec.source.helm.parameters": (
        "gitopsctl sets no values on helm's command line: put them in a values file listed in the app's values"
    ),
    "spec.source.helm.values": "gitopsctl reads values from files in Git: put these in a file listed in values",
    "spec.source.helm.valuesObject": "gitopsctl reads values from files in Git: put these in a file listed in values",
    "spec.source.helm.releaseName": "gitopsctl names the Helm release after the app",
    "spec.source.helm.*": "no equivalent in gitopsctl's Helm rendering (docs/helm.md)",
    "spec.source.chart": (
        "a chart from a Helm repository is fetched at render time, which gitopsctl refuses: vendor the chart in Git "
        "and point the app's path at it"
    ),
    "spec.source.kustomize": "gitopsctl builds the path's kustomization.yaml as it is: put these options there",
    "spec.source.directory.jsonnet": "gitopsctl reads plain YAML and kustomize, not Jsonnet",
    "spec.source.directory.include": "gitopsctl reads every .yaml and .yml file below the path",
    "spec.source.directory.exclude": "gitopsctl reads every .yaml and .yml file below the path",
    "spec.source.plugin": "gitopsctl runs no config management plugins: commit what the plugin renders",
    "spec.source.ref": "gitopsctl reads one repository; there is no other source to refer to",
    "spec.syncPolicy.retry": "gitopsctl has no retry policy for a failed sync",
    "spec.syncPolicy.managedNamespaceMetadata": (
        "gitopsctl creates a missing namespace without labels or annotations: declare the Namespace in Git to set them"
    ),
    "spec.syncPolicy.automated.allowEmpty": (
        "gitopsctl refuses to prune everything an app has unless its path is gone and `sync --allow-empty` is given"
    ),
    "spec.revisionHistoryLimit": "gitopsctl keeps the last 20 syncs of each app in each environment",
    "spec.ignoreDifferences[].jqPathExpressions": "gitopsctl ignores fields by JSON pointer only",
    "spec.ignoreDifferences[].managedFieldsManagers": "gitopsctl ignores fields by JSON pointer only",
}
CHECK_IT = "Check it with `gitopsctl config check --config FILE`; docs/importing.md explains the notes below."


@dataclass(frozen=True)
class _Application:
    """What one Application says, read and checked, before its environment is decided."""

    manifest: Manifest
    app: str
    repo: str
    path: str
    revision: str | None
    context: str
    namespace: str
    automated: bool
    self_heal: bool
    ignore_differences: tuple[str, ...]
    values: tuple[str, ...] = ()


@one_sentence
def import_argocd(manifests: Sequence[Manifest], *, env: str | None = None, context: str | None = None) -> Imported:
    """A configuration with one app per Application, in one environment per destination."""
    draft = ConfigDraft()
    add_applications(draft, manifests, env=env, context=context)
    files = ", ".join(dict.fromkeys(m.file for m in manifests))
    return draft.finish([f"Imported by `gitopsctl import argocd` from {files}.", CHECK_IT])


def add_applications(
    draft: ConfigDraft, manifests: Sequence[Manifest], *, env: str | None, context: str | None
) -> None:
    """Every Application into ``draft``; one in another repository than the first one's is left out, with a note."""
    read = [_read(m, draft.notes) for m in manifests if m.kind == "Application"]
    applications = [a for a in read if a is not None]
    if not applications:
        return
    if context:
        applications = [dataclasses.replace(a, context=context) for a in applications]
    repo = applications[0].repo
    kept: list[_Application] = []
    for application in applications:
        if application.repo != repo:
            draft.note(
                application.manifest.subject,
                "spec.source.repoURL",
                f"{application.repo} is not {repo}: gitopsctl reads one repository, so this Application was left "
                "out; import it on its own",
            )
        elif any(a.app == application.app for a in kept):
            raise UsageError(f"{application.manifest.where}: a second Application named {application.app}")
        else:
            kept.append(application)
    draft.git["url"] = repo
    _branch(draft, kept)
    environments = _environments(kept, env)
    for application in kept:
        name = environments[(application.context, application.namespace)]
        draft.environments.setdefault(name, {"context": application.context, "namespace": application.namespace})
        draft.apps[application.app] = {"path": application.path}
        if application.ignore_differences:
            draft.apps[application.app]["ignore_differences"] = list(application.ignore_differences)
        if application.values:
            draft.apps[application.app]["values"] = list(application.values)
        draft.app_environments[application.app] = [name]
    _sync_policies(draft, kept, environments)


def _read(manifest: Manifest, notes: list[Note]) -> _Application | None:
    app = dns_label(manifest.name)
    fields = Fields.of(manifest, notes, ("apps", app))
    fields.skip("apiVersion", "kind", "status", "operation")
    metadata = fields.sub("metadata")
    metadata.skip(*OBJECT_METADATA)
    if app != manifest.name:
        metadata.note("name", f"the app is named {app}: gitopsctl's names are DNS labels", converted=True)
    spec = fields.sub("spec")
    source = _source(spec)
    if source is None:
        return None
    path = source.get("path")
    if not isinstance(path, str) or not path:
        source.note(
            "path",
            "none, so the Application was not imported: gitopsctl reads an app's manifests from a path in Git "
            "(a chart from a Helm repository is fetched at render time, which gitopsctl refuses: vendor it in Git)",
        )
        return None
    repo = source.string("repoURL", required=True) or ""
    revision = _revision(source)
    directory = source.sub("directory")
    if directory.get("recurse") is False:
        directory.note("recurse", "gitopsctl reads the YAML files in the path's subdirectories too", converted=True)
    destination = spec.sub("destination")
    namespace = destination.string("namespace") or "default"
    cluster = _context(destination)
    automated, self_heal = _automated(spec.sub("syncPolicy"))
    ignored = _ignore_differences(spec)
    values = _value_files(source.sub("helm"))
    fields.report_unread(REASONS)
    return _Application(manifest, app, repo, path, revision, cluster, namespace, automated, self_heal, ignored, values)


def _value_files(helm: Fields) -> tuple[str, ...]:
    """``helm.valueFiles``: the chart's values files in order, as the app's ``values`` (relative to its path)."""
    files = helm.get("valueFiles")
    if files is None:
        return ()
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise helm.fail("valueFiles", "must be a list of file names")
    for name in files:
        if name.startswith("/") or "\\" in name or ".." in name.split("/") or "://" in name:
            raise helm.fail("valueFiles", f"names {name!r}, which is not a file inside the chart's directory")
    return tuple(files)


def _source(spec: Fields) -> Fields | None:
    """The one source gitopsctl reads: ``source``, or the first of ``sources`` with a path; the others are notes."""
    if spec.has("source") or not spec.has("sources"):
        return spec.sub("source")
    sources = spec.items("sources")
    chosen = next((s for s in sources if isinstance(s.data.get("path"), str) and s.data["path"]), None)
    if chosen is None:
        spec.note(
            "sources",
            "none has a path, so the Application was not imported: gitopsctl reads an app's manifests from a path "
            "in Git (a chart from a Helm repository is fetched at render time, which gitopsctl refuses: vendor it in Git)",
        )
        return None
    for source in sources:
        if source is not chosen:
            source.drop_all("gitopsctl reads one path of one repository per app: make it an app of its own")
    return chosen


def _revision(source: Fields) -> str | None:
    """The branch to follow, or None for gitopsctl's default (main)."""
    revision = source.string("targetRevision")
    if revision == "HEAD":
        source.note(
            "targetRevision",
            "HEAD, the repository's default branch: gitopsctl follows [git] branch, main unless set",
            converted=True,
        )
        return None
    if revision is not None and _PINNED.match(revision):
        source.note("targetRevision", f"{revision} is a commit or a tag: gitopsctl follows a branch ([git] branch)")
        return None
    return revision


def _context(destination: Fields) -> str:
    """The kube context: in-cluster for the cluster Argo CD runs in, else the cluster's name in Argo CD."""
    server, name = destination.string("server"), destination.string("name")
    if name == IN_CLUSTER or (name is None and server == IN_CLUSTER_SERVER):
        return IN_CLUSTER
    if name is not None:
        destination.note("name", f"context = {name}: name the cluster's kube context so", converted=True)
        return name
    if server is None:
        raise destination.fail("server", "or destination.name is required")
    destination.note("server", "set the environment's context to this cluster's kube context", converted=True)
    return server


def _automated(sync_policy: Fields) -> tuple[bool, bool]:
    """(automated sync, self-heal), noting where gitopsctl behaves differently."""
    for i, option in enumerate(_strings(sync_policy, "syncOptions")):
        if option not in _EQUIVALENT_SYNC_OPTIONS:
            sync_policy.note(f"syncOptions[{i}]", f"{option}: {NO_EQUIVALENT}")
    if not sync_policy.has("automated"):
        return False, False
    automated = sync_policy.sub("automated")
    enabled = _boolean(automated, "enabled", True)
    prune = _boolean(automated, "prune", False)
    self_heal = _boolean(automated, "selfHeal", False)
    if automated.get("allowEmpty") is True:
        automated.note("allowEmpty", REASONS["spec.syncPolicy.automated.allowEmpty"])
    if enabled and not prune:
        sync_policy.note(
            "automated",
            "without prune, Argo CD keeps what Git no longer has; gitopsctl's sync prunes it (`sync --no-prune` once)",
            converted=True,
        )
    return enabled, enabled and self_heal


def _ignore_differences(spec: Fields) -> tuple[str, ...]:
    pointers: list[str] = []
    for rule in spec.items("ignoreDifferences"):
        scope = [f"{key} {rule.data[key]}" for key in ("group", "kind", "name", "namespace") if rule.data.get(key)]
        rule.skip("group", "kind", "name", "namespace")
        values = _strings(rule, "jsonPointers")
        for i, pointer in enumerate(values):
            if _JSON_POINTER.match(pointer):
                pointers.append(pointer)
            else:
                rule.note(f"jsonPointers[{i}]", f"{pointer} is not a JSON pointer such as /spec/replicas")
        if values and scope:
            rule.note(
                "jsonPointers",
                f"gitopsctl ignores them in every object of the app, not only in {', '.join(scope)}",
                converted=True,
            )
    return tuple(dict.fromkeys(pointers))


def _strings(fields: Fields, key: str) -> list[str]:
    values = fields.get(key)
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise fields.fail(key, "must be a list of strings")
    return values


def _boolean(fields: Fields, key: str, default: bool) -> bool:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fields.fail(key, f"must be true or false (got {value!r})")
    return value


def _branch(draft: ConfigDraft, applications: Sequence[_Application]) -> None:
    """``[git] branch`` from the first Application that names one; gitopsctl follows one branch for every app."""
    branch = next((a.revision for a in applications if a.revision), None)
    if branch is None:
        return
    draft.git["branch"] = branch
    for application in applications:
        if application.revision and application.revision != branch:
            draft.note(
                application.manifest.subject,
                "spec.source.targetRevision",
                f"{application.revision}: gitopsctl follows one branch for every app, {branch}",
                table=("apps", application.app),
            )


def _environments(applications: Sequence[_Application], env: str | None) -> dict[tuple[str, str], str]:
    """One environment per destination (cluster and namespace), named after its namespace unless ``env`` is given."""
    destinations = list(dict.fromkeys((a.context, a.namespace) for a in applications))
    if env is not None:
        if dns_label(env) != env:
            raise UsageError(f"--env {env!r} is not a DNS label (lowercase letters, digits and -)")
        if len(destinations) > 1:
            raise UsageError(
                f"the Applications deploy to {len(destinations)} destinations and --env names one environment: "
                "import them one destination at a time"
            )
    names: dict[tuple[str, str], str] = {}
    for context, namespace in destinations:
        name = env or dns_label(namespace)
        if name in names.values():
            raise UsageError(
                f"Applications deploy to namespace {namespace} on two clusters, which would both be environment "
                f"{name}: import them one cluster at a time with --env"
            )
        names[(context, namespace)] = name
    return names


def _sync_policies(
    draft: ConfigDraft, applications: Sequence[_Application], environments: dict[tuple[str, str], str]
) -> None:
    """An environment syncs by itself (and heals) when every one of its Applications did; otherwise a note says so."""
    for name in dict.fromkeys(environments.values()):
        members = [a for a in applications if environments[(a.context, a.namespace)] == name]
        for flag, key, value, field, outcome in (
            ("automated", "sync", "auto", "spec.syncPolicy.automated", "it stays manual"),
            ("self_heal", "self_heal", True, "spec.syncPolicy.automated.selfHeal", "it does not heal"),
        ):
            wanting = [a for a in members if getattr(a, flag)]
            if wanting and len(wanting) == len(members):
                draft.environments[name][key] = value
            for application in wanting if len(wanting) < len(members) else ():
                draft.note(
                    application.manifest.subject,
                    field,
                    f"environment {name} also holds apps without it, and gitopsctl sets it per environment: {outcome}",
                    table=("apps", application.app),
                )
