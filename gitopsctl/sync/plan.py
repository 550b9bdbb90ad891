"""What a sync would change: the diff, what to prune (only this app's objects inside its boundary), and the checks
that refuse it before anything is written (server-side dry runs, pruning everything)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..cluster.client import Cluster
from ..config import App, Environment
from ..errors import ApiStatusError, ManifestError, SyncRefusedError
from ..source.manifests import ObjectRef
from ..source.render import Rendered
from . import diff as diffing
from .observe import Observation, refuse_foreign
from .prepare import boundary_problem, crd_scopes
from .tracking import is_tracked_by

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


def validate(cluster: Cluster, plan: Plan, absent_namespaces: list[str], hooks: Iterable[dict[str, Any]] = ()) -> None:
    """Server-side dry-run of every write and every hook, so a bad object stops the sync before anything changes.

    Objects whose namespace does not exist yet, or whose CRD this same sync applies,
    cannot be checked by the server before it is created; their static checks still ran.
    """
    defined_here = crd_scopes(plan.desired)
    declared = {o["metadata"]["name"] for o in plan.desired if o["kind"] == "Namespace"}
    for obj in sorted([*plan.writes, *hooks], key=lambda o: stage(o["kind"])):
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
        except ApiStatusError as e:
            raise ManifestError(f"{ObjectRef.of(obj)} was refused by the cluster: {e.message}") from e


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
