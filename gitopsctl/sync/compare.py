"""Git against live for one app in one environment: what is missing, changed (with who changed it) or extra.

Status, diff, the drift scan and the fleet view all compare through here, on
one observation of the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..cluster.client import FIELD_MANAGER
from ..config import App, Environment
from ..source.manifests import ObjectRef
from . import diff as diffing
from .diff import ResourceDiff
from .pending import workload
from .tracking import TRACKING_ANNOTATION, is_tracked_by, tracking_id


@dataclass(frozen=True)
class Target:
    """One app in one environment with what Git wants and what the last sync left behind."""

    app: App
    env: Environment
    desired: list[dict[str, Any]]
    inventory: list[ObjectRef]


def by_tracking_id(live: dict[tuple[str, str, str, str], dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Live objects grouped by the app/environment they are tracked for."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for obj in live.values():
        tracking = ((obj.get("metadata") or {}).get("annotations") or {}).get(TRACKING_ANNOTATION)
        if tracking:
            grouped.setdefault(tracking, []).append(obj)
    return grouped


def compare_target(
    target: Target,
    live: dict[tuple[str, str, str, str], dict[str, Any]],
    tracked: dict[str, list[dict[str, Any]]] | None = None,
) -> list[ResourceDiff]:
    resources = []
    wanted = set()
    for obj in target.desired:
        ref = ObjectRef.of(obj)
        wanted.add(ref.identity)
        current = live.get(ref.identity)
        if current is None:
            resources.append(ResourceDiff(ref, "missing", desired=obj))
            continue
        changes = diffing.compare(obj, current, target.app.ignore_differences)
        if changes:
            resources.append(
                ResourceDiff(ref, "changed", changes, diffing.changed_by(current, changes, FIELD_MANAGER), obj, current)
            )
    candidates = (tracked if tracked is not None else by_tracking_id(live)).get(
        tracking_id(target.app.name, target.env.name), []
    )
    for current in candidates:
        if ObjectRef.of(current).identity not in wanted and is_tracked_by(current, target.app.name, target.env.name):
            resources.append(
                ResourceDiff(
                    ObjectRef.of(current),
                    "extra",
                    live=current,
                    changed_by=diffing.other_writers(current, FIELD_MANAGER),
                )
            )
    return resources


def scaled_by_canary(app: App, env: Environment, resource: ResourceDiff) -> bool:
    """Whether ``resource`` differs in the one field a canary changes on purpose while it runs: the replicas of
    the Deployment running the app's container, which the replicas router scales (the weight is the replica
    ratio). The route routers leave every tracked object as Git has it, and only a canary environment has
    canaries."""
    router = app.canary.traffic_router if app.canary else "replicas"
    return (
        env.strategy == "canary"
        and router == "replicas"
        and resource.state == "changed"
        and workload([resource.desired or {}], app.container) is not None
        and any(change.pointer == "/spec/replicas" for change in resource.fields)
    )


def without_canary_scale(app: App, env: Environment, resources: list[ResourceDiff]) -> list[ResourceDiff]:
    """``resources`` as a person should see them while a canary runs: its scaling of stable is not drift, any
    other change made by hand is."""
    kept = []
    for resource in resources:
        if scaled_by_canary(app, env, resource):
            fields = [f for f in resource.fields if f.pointer != "/spec/replicas"]
            if not fields:
                continue
            who = diffing.changed_by(resource.live or {}, fields, FIELD_MANAGER)
            resource = replace(resource, fields=fields, changed_by=who)
        kept.append(resource)
    return kept
