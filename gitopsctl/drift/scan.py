"""The drift scan: live state that differs from Git, across the fleet or one environment.

A scan makes one LIST per (kind, namespace) per cluster with the tracking label,
covering every app at once, never one GET per object (a GET is made only for a
desired object the LIST did not find, to tell "missing" from "label removed").
Each drifted object says what changed (path, desired, live), or that it is
missing, or that the cluster has a tracked object Git does not; managedFields
say who changed it where they can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cluster.client import FIELD_MANAGER, Cluster
from ..config import App, Environment
from ..source.manifests import ObjectRef
from ..sync import diff as diffing
from ..sync.diff import ResourceDiff
from ..sync.observe import find_untracked, observe
from ..sync.tracking import TRACKING_ANNOTATION, is_tracked_by, tracking_id
from .model import AppDrift, DriftReport


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


def scan(cluster: Cluster, targets: list[Target]) -> DriftReport:
    """Drift of every target on one cluster."""
    before = cluster.requests
    refs = [ObjectRef.of(o) for t in targets for o in t.desired] + [r for t in targets for r in t.inventory]
    observation = observe(cluster, refs)
    find_untracked(cluster, [o for t in targets for o in t.desired], observation)
    report = DriftReport()
    tracked = by_tracking_id(observation.live)
    for target in targets:
        resources = compare_target(target, observation.live, tracked)
        if resources:
            report.drifted.append(AppDrift(target.app.name, target.env.name, resources))
        else:
            report.clean.append((target.app.name, target.env.name))
    report.requests = cluster.requests - before
    return report
