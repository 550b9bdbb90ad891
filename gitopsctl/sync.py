"""Sync: make one app in one environment match Git.

render -> prepare (namespaces, tracking, the boundary) -> observe live (one LIST
per kind and namespace) -> plan (diff; objects of other apps refused; prune
candidates) -> validate (refusals, server-side dry-run of every write) -> apply
in stages -> prune -> wait for health -> record.
Nothing is written until every check has passed.

The boundary, like Argo CD's AppProject destinations and resource allow-lists:
an app in an environment may place namespaced objects only in the environment's
``allowed_namespaces`` (its ``namespace`` always), cluster-scoped objects only of
the environment's ``cluster_resources`` kinds (a Namespace object also only if
it is one of the allowed namespaces), and, when the app lists ``kinds``, only
those kinds. It never takes over, changes or prunes an object another
app/environment tracks, and prunes only inside its own boundary.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from . import diff as diffing
from .cluster import health as health_checks
from .cluster.client import FIELD_MANAGER, Cluster, message_of
from .config import App, Environment
from .errors import ClusterError, ManifestError, SyncRefusedError
from .source.manifests import ObjectRef, check_duplicates, find_version
from .source.render import Rendered

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gitopsctl"
APP_LABEL = "gitopsctl.io/app"
ENV_LABEL = "gitopsctl.io/env"
TRACKING_ANNOTATION = "gitopsctl.io/tracking-id"
TRACKED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"

_STAGES: dict[str, int] = {
    "Namespace": 0,
    "CustomResourceDefinition": 0,
    "ServiceAccount": 1,
    "ConfigMap": 1,
    "Secret": 1,
    "Service": 1,
    "Deployment": 2,
    "StatefulSet": 2,
    "DaemonSet": 2,
    "ReplicaSet": 2,
    "Job": 2,
    "CronJob": 2,
    "Pod": 2,
}
REST_STAGE = 3
# kinds whose keyed lists strategic merge patch understands (CRDs' lists are applied atomically)
BUILTIN_SMP_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "Service", "ServiceAccount"}
)


def stage(kind: str) -> int:
    """Apply order: namespaces and CRDs, then config and services, then workloads, then the rest."""
    return _STAGES.get(kind, REST_STAGE)


def tracking_id(app: str, env: str) -> str:
    return f"{app}/{env}"


def app_selector(app: str, env: str) -> str:
    return f"{TRACKED_SELECTOR},{APP_LABEL}={app},{ENV_LABEL}={env}"


def is_tracked_by(obj: dict[str, Any], app: str, env: str) -> bool:
    meta = obj.get("metadata") or {}
    return (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY and (
        (meta.get("annotations") or {}).get(TRACKING_ANNOTATION) == tracking_id(app, env)
    )


def owner_of(obj: dict[str, Any]) -> str | None:
    """The app/environment a live object is tracked for (its annotation, else gitopsctl's labels), if any."""
    meta = obj.get("metadata") or {}
    if owner := (meta.get("annotations") or {}).get(TRACKING_ANNOTATION):
        return owner
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(APP_LABEL) and labels.get(ENV_LABEL):
        return tracking_id(labels[APP_LABEL], labels[ENV_LABEL])
    return None


# ------------------------------------------------------------------ boundary


@dataclass(frozen=True)
class Refusal:
    """One object an app/environment may not touch, and the rule that says so."""

    ref: ObjectRef
    reason: str


class BoundaryError(ManifestError):
    """Objects outside an app/environment's boundary, or tracked by another one; nothing was applied.

    ``refusals`` names every object refused, so status, diff and drift can show each in the app's row.
    """

    def __init__(self, where: str, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        others = ", ".join(str(r.ref) for r in refusals[1:])
        more = f"; also refused: {others}" if others else ""
        super().__init__(f"{where}: {refusals[0].reason}{more}")


def allowed_namespaces(env: Environment) -> tuple[str, ...]:
    """The environment's own namespace first (always allowed: objects without one land there), then the others."""
    return tuple(dict.fromkeys((env.namespace, *env.allowed_namespaces)))


def boundary_problem(obj: dict[str, Any], namespaced: bool, app: App, env: Environment) -> str | None:
    """Why ``obj`` lies outside what ``app`` may touch in ``env``, or None when it is inside."""
    ref = ObjectRef.of(obj)
    if app.kinds is not None and ref.kind not in app.kinds:
        return (
            f"{ref} is a {ref.kind}, not one of the kinds {app.name} may hold ({', '.join(app.kinds)}); "
            f"add it to apps.{app.name}.kinds if this app really owns it"
        )
    namespaces = allowed_namespaces(env)
    if not namespaced and ref.kind not in env.cluster_resources:
        return (
            f"{ref} is cluster-scoped and {env.name} allows no cluster-scoped {ref.kind} "
            f"(cluster_resources: {', '.join(env.cluster_resources) or 'none'}); "
            f'add "{ref.kind}" to environments.{env.name}.cluster_resources if this app really owns it'
        )
    hint = f"add it to environments.{env.name}.allowed_namespaces if this app really owns it"
    if ref.kind == "Namespace" and ref.api_version == "v1" and ref.name not in namespaces:
        return f"{ref} is not one of the namespaces {env.name} allows ({', '.join(namespaces)}); {hint}"
    if namespaced and ref.namespace not in namespaces:
        return (
            f"{ref} is in namespace {ref.namespace}, outside the namespaces {env.name} allows "
            f"({', '.join(namespaces)}); {hint}"
        )
    return None


# ------------------------------------------------------------------ desired


def _crd_scopes(objects: Iterable[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """(apiVersion, kind) -> namespaced, for kinds defined by CRDs in the same manifests."""
    scopes = {}
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            for version in spec.get("versions") or []:
                api_version = f"{spec.get('group')}/{version.get('name')}"
                scopes[(api_version, (spec.get("names") or {}).get("kind", ""))] = (
                    spec.get("scope", "Namespaced") == "Namespaced"
                )
    return scopes


def prepare(rendered: Rendered, app: App, env: Environment, cluster: Cluster) -> list[dict[str, Any]]:
    """Desired objects as they will be applied: namespace defaulted, tracking label and annotation added."""
    crd_scopes = _crd_scopes(rendered.objects)
    desired, refusals = [], []
    for obj in rendered.objects:
        obj = diffing.normalize_desired(obj)
        key = (obj["apiVersion"], obj["kind"])
        namespaced = crd_scopes[key] if key in crd_scopes else cluster.namespaced(*key)
        meta = obj.setdefault("metadata", {})
        if namespaced:
            meta["namespace"] = meta.get("namespace") or env.namespace
        elif meta.pop("namespace", None):
            raise ManifestError(f"{rendered.path}: {obj['kind']} {meta['name']} is cluster-scoped but sets a namespace")
        if problem := boundary_problem(obj, namespaced, app, env):
            refusals.append(Refusal(ObjectRef.of(obj), problem))
        labels = meta.setdefault("labels", {})
        labels.update({MANAGED_BY_LABEL: MANAGED_BY, APP_LABEL: app.name, ENV_LABEL: env.name})
        meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id(app.name, env.name)
        desired.append(obj)
    if refusals:
        raise BoundaryError(rendered.path, refusals)
    check_duplicates(desired, rendered.path)
    return desired


# ------------------------------------------------------------------ observe


@dataclass
class Observation:
    """Live objects found by LISTs, indexed by identity; ``lists`` counts the LIST calls made."""

    live: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    lists: int = 0

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.live.get(ref.identity)


def observe(cluster: Cluster, refs: Iterable[ObjectRef], label_selector: str = TRACKED_SELECTOR) -> Observation:
    """One LIST per (apiVersion, kind, namespace) covering ``refs``, never one GET per object."""
    groups: dict[tuple[str, str, str], None] = {}
    for ref in refs:
        groups[(ref.api_version, ref.kind, ref.namespace)] = None
    observation = Observation()
    for api_version, kind, namespace in groups:
        try:
            items = cluster.list(api_version, kind, namespace or None, label_selector=label_selector)
        except ClusterError as e:
            if "does not serve" in str(e):
                continue  # the kind (a CRD not yet applied) has nothing live
            raise
        observation.lists += 1
        for item in items:
            observation.live[ObjectRef.of(item).identity] = item
    return observation


def find_untracked(cluster: Cluster, desired: list[dict[str, Any]], observation: Observation) -> None:
    """Desired objects the tracked LIST did not find may exist without our label (made by hand, or label removed)."""
    for obj in desired:
        ref = ObjectRef.of(obj)
        if observation.get(ref) is None:
            try:
                live = cluster.get(ref.api_version, ref.kind, ref.name, ref.namespace or None)
            except ClusterError as e:
                if "does not serve" in str(e):
                    continue
                raise
            if live is not None:
                observation.live[ref.identity] = live


# ------------------------------------------------------------------ plan


@dataclass
class Plan:
    desired: list[dict[str, Any]]
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[dict[str, Any], list[diffing.FieldChange]]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    prune: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes(self) -> list[dict[str, Any]]:
        return self.creates + [obj for obj, _ in self.updates]

    def changes_of(self, obj: dict[str, Any]) -> list[diffing.FieldChange]:
        return next((changes for candidate, changes in self.updates if candidate is obj), [])


def strip_ignored(obj: dict[str, Any], ignore: tuple[str, ...]) -> dict[str, Any]:
    """Drop ignore_differences fields from what is applied to an existing object, so gitopsctl never fights their owner."""
    obj = copy.deepcopy(obj)
    for pointer in ignore:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
        node: Any = obj
        for part in parents:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(last, None)
    return obj


def foreign(desired: list[dict[str, Any]], observation: Observation, app: App, env: Environment) -> list[Refusal]:
    """Desired objects that live already tracked for another app/environment: never adopted, changed or pruned here."""
    found = []
    own = tracking_id(app.name, env.name)
    for obj in desired:
        live = observation.get(ObjectRef.of(obj))
        owner = owner_of(live) if live is not None else None
        if owner is not None and owner != own:
            owner_app, _, owner_env = owner.partition("/")
            found.append(
                Refusal(
                    ObjectRef.of(obj),
                    f"{ObjectRef.of(obj)} belongs to {owner_app} in {owner_env}, so {app.name} in {env.name} may not "
                    f"take it over; remove it from one app's manifests (or, to hand it over, remove its "
                    f"{TRACKING_ANNOTATION} annotation)",
                )
            )
    return found


def refuse_foreign(desired: list[dict[str, Any]], observation: Observation, app: App, env: Environment) -> None:
    """Raise BoundaryError naming each desired object another app/environment already tracks, and its owner."""
    if refusals := foreign(desired, observation, app, env):
        raise BoundaryError(f"{app.name} in {env.name}", refusals)


def make_plan(
    desired: list[dict[str, Any]],
    observation: Observation,
    tracked_live: Iterable[dict[str, Any]],
    app: App,
    env: Environment,
) -> Plan:
    """What to create, update and prune; refuses the whole plan if any object belongs to another app/environment."""
    refuse_foreign(desired, observation, app, env)
    plan = Plan(desired)
    wanted = {ObjectRef.of(o).identity for o in desired}
    for obj in desired:
        live = observation.get(ObjectRef.of(obj))
        if live is None:
            plan.creates.append(obj)
            continue
        changes = diffing.compare(obj, live, app.ignore_differences)
        if changes:
            plan.updates.append((strip_ignored(obj, app.ignore_differences), changes))
        else:
            plan.unchanged.append(obj)
    seen = set()
    for live in tracked_live:
        ref = ObjectRef.of(live)
        if (
            ref.identity not in wanted
            and ref.identity not in seen
            and is_tracked_by(live, app.name, env.name)
            and boundary_problem(live, bool(ref.namespace), app, env) is None
        ):
            seen.add(ref.identity)
            plan.prune.append(live)
    return plan


# ------------------------------------------------------------------ run


@dataclass
class SyncOutcome:
    applied: list[ObjectRef]
    unchanged: int
    pruned: list[ObjectRef]
    kept: list[ObjectRef]  # prune candidates kept by --no-prune
    health: str
    health_message: str


def removal_patch(changes: list[diffing.FieldChange]) -> dict[str, Any] | None:
    """A strategic merge patch deleting keyed-list items Git does not have (e.g. a container added by hand).

    Server-side apply never removes fields another manager owns, so these need an explicit delete.
    """
    patch: dict[str, Any] = {}
    for change in changes:
        if change.desired is not diffing.MISSING or not change.fields_v1 or not change.fields_v1[-1].startswith("k:"):
            continue
        node: Any = patch
        elements = change.fields_v1
        for index, element in enumerate(elements):
            last = index == len(elements) - 1
            if element.startswith("f:"):
                name = element[2:]
                nxt = elements[index + 1] if not last else ""
                node = node.setdefault(name, [] if nxt.startswith("k:") else {})
            else:
                key = json.loads(element[2:])
                item = next((i for i in node if all(i.get(k) == v for k, v in key.items())), None)
                if item is None:
                    item = dict(key)
                    node.append(item)
                if last:
                    item["$patch"] = "delete"
                node = item
    return patch or None


def missing_namespaces(cluster: Cluster, plan: Plan) -> list[str]:
    """Namespaces the writes need that neither exist nor are declared in Git (created like Argo CD's CreateNamespace)."""
    declared = {o["metadata"]["name"] for o in plan.desired if o["kind"] == "Namespace"}
    needed = sorted({o["metadata"]["namespace"] for o in plan.writes if o["metadata"].get("namespace")} - declared)
    return [ns for ns in needed if cluster.get("v1", "Namespace", ns, None) is None]


def validate(cluster: Cluster, plan: Plan, absent_namespaces: list[str]) -> None:
    """Server-side dry-run of every write, so a bad object stops the sync before anything changes.

    Objects whose namespace does not exist yet, or whose CRD this same sync applies,
    cannot be checked by the server before it is created; their static checks still ran.
    """
    defined_here = _crd_scopes(plan.desired)
    declared = {o["metadata"]["name"] for o in plan.desired if o["kind"] == "Namespace"}
    for obj in sorted(plan.writes, key=lambda o: stage(o["kind"])):
        namespace = obj["metadata"].get("namespace")
        if (
            (obj["apiVersion"], obj["kind"]) in defined_here
            or namespace in absent_namespaces
            or (
                namespace in declared
                and any(ObjectRef.of(o).name == namespace for o in plan.creates if o["kind"] == "Namespace")
            )
        ):
            continue
        try:
            cluster.apply(obj, dry_run=True)
        except ApiException as e:
            raise ManifestError(f"{ObjectRef.of(obj)} was refused by the cluster: {message_of(e)}") from e


def execute(
    cluster: Cluster, plan: Plan, *, prune: bool, progress: Callable[[str], None], create_namespaces: list[str]
) -> tuple[list[ObjectRef], list[ObjectRef]]:
    for namespace in create_namespaces:
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        progress(f"created namespace {namespace}")
    applied = []
    for obj in sorted(plan.writes, key=lambda o: stage(o["kind"])):
        ref = ObjectRef.of(obj)
        try:
            cluster.apply(obj)
        except ApiException as e:
            raise ClusterError(f"applying {ref} failed: {message_of(e)}; objects before it were applied") from e
        applied.append(ref)
        progress(f"applied {ref}")
        if obj["kind"] in BUILTIN_SMP_KINDS and (patch := removal_patch(plan.changes_of(obj))):
            cluster.patch(ref.api_version, ref.kind, ref.name, ref.namespace or None, patch)
            progress(f"removed items Git does not have from {ref}")
        if obj["kind"] == "CustomResourceDefinition":
            _wait_established(cluster, obj["metadata"]["name"])
    pruned = []
    if prune:
        for live in sorted(plan.prune, key=lambda o: stage(o["kind"]), reverse=True):
            ref = ObjectRef.of(live)
            if cluster.delete(ref.api_version, ref.kind, ref.name, ref.namespace or None):
                pruned.append(ref)
                progress(f"pruned {ref}")
    return applied, pruned


def _wait_established(cluster: Cluster, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name, None) or {}
        if any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (crd.get("status") or {}).get("conditions") or []
        ):
            cluster.forget_discovery()
            return
        time.sleep(0.2)
    raise ClusterError(f"CustomResourceDefinition {name} was not established within {timeout:.0f}s")


def assess(cluster: Cluster, desired: list[dict[str, Any]]) -> tuple[str, str]:
    """An app's health from its live objects (one LIST per kind and namespace)."""
    observation = observe(cluster, (ObjectRef.of(o) for o in desired))
    find_untracked(cluster, desired, observation)
    worst, message = health_checks.HEALTHY, ""
    for obj in desired:
        ref = ObjectRef.of(obj)
        result = health_checks.assess(observation.get(ref))
        if health_checks.worst([worst, result.status]) != worst:
            worst, message = result.status, f"{ref}: {result.message}" if result.message else str(ref)
    return worst, message


def wait_healthy(
    cluster: Cluster, desired: list[dict[str, Any]], timeout: float, progress: Callable[[str], None]
) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        status, message = assess(cluster, desired)
        if (status, message) != last:
            progress(f"health: {status}" + (f" ({message})" if message else ""))
            last = (status, message)
        if status in (health_checks.HEALTHY, health_checks.DEGRADED) or time.monotonic() >= deadline:
            return status, message
        time.sleep(0.25)


def refuse_unsafe_prune(rendered: Rendered, plan: Plan, *, prune: bool, allow_empty: bool, app: str, env: str) -> None:
    if not prune or plan.desired or not plan.prune:
        return
    if rendered.exists:
        raise SyncRefusedError(
            f"{app} in {env}: {rendered.path} renders no objects, so a sync would delete all {len(plan.prune)} objects "
            "the app has; refusing (fix the manifests, or use --no-prune)"
        )
    if not allow_empty:
        raise SyncRefusedError(
            f"{app} in {env}: {rendered.path} is gone from Git, so a sync would delete all {len(plan.prune)} objects "
            "the app has; pass --allow-empty if that is what you want"
        )


def version_of(objects: Iterable[dict[str, Any]], app: App) -> str | None:
    return find_version(list(objects), app.container)


__all__ = ["FIELD_MANAGER", "stage", "prepare", "observe", "make_plan", "validate", "execute", "assess"]
