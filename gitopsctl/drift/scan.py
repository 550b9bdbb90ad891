"""The drift scan: live state changed outside Git, across the fleet or one environment.

Live is compared with what was delivered (the last successful sync's revision),
never with Git's head: a commit not delivered yet is OutOfSync, not drift
(sync/pending.py), and an app never delivered has no drift to report.

A scan makes one LIST per (kind, namespace) per cluster with the tracking label,
covering every app at once, never one GET per object (a GET is made only for a
desired object the LIST did not find, to tell "missing" from "label removed").
Each drifted object says what changed (path, desired, live), or that it is
missing, or that the cluster has a tracked object Git does not; managedFields
say who changed it where they can. A canary scaling its stable Deployment is
not drift: where a Deployment's replicas differ in a canary environment, the
namespace's rollout records are read (one LIST) to tell a running canary from a
hand scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..cluster import records
from ..cluster.client import Cluster
from ..errors import ClusterError, SourceError, UsageError
from ..rollout import record as rollout_records
from ..source.manifests import ObjectRef
from ..sync.compare import Target, by_tracking_id, compare_target, scaled_by_canary, without_canary_scale
from ..sync.diff import ResourceDiff
from ..sync.observe import find_untracked, observe
from ..sync.pending import delivered as delivered_revision
from ..sync.prepare import BoundaryError
from .model import AppDrift, AppError, DriftReport

if TYPE_CHECKING:
    from ..workspace import Workspace


def scan(cluster: Cluster, targets: list[Target], rolling: Callable[[Target], bool]) -> DriftReport:
    """Drift of every target on one cluster; ``rolling``: whether a canary of the target runs now (asked only
    when the target's Deployment is scaled away from Git)."""
    before = cluster.requests
    refs = [ObjectRef.of(o) for t in targets for o in t.desired] + [r for t in targets for r in t.inventory]
    observation = observe(cluster, refs)
    find_untracked(cluster, [o for t in targets for o in t.desired], observation)
    report = DriftReport()
    tracked = by_tracking_id(observation.live)
    for target in targets:
        resources = compare_target(target, observation.live, tracked)
        if any(scaled_by_canary(target.app, target.env, r) for r in resources) and rolling(target):
            resources = without_canary_scale(target.app, target.env, resources)
        if resources:
            report.drifted.append(AppDrift(target.app.name, target.env.name, resources))
        else:
            report.clean.append((target.app.name, target.env.name))
    report.requests = cluster.requests - before
    return report


def scan_fleet(workspace: Workspace, env: str | None = None, apps: tuple[str, ...] = ()) -> DriftReport:
    """The drift of every app (or ``apps``) in every environment (or ``env``); a refused app is reported in its row."""
    for name in apps:
        if name not in workspace.config.apps:
            raise UsageError(f'unknown app "{name}"; known apps: {", ".join(sorted(workspace.config.apps))}')
    sha = workspace.repo.resolve()
    clusters = {id(workspace.cluster(e)): workspace.cluster(e) for _, e in workspace.pairs(None, env)}
    before = {key: cluster.requests for key, cluster in clusters.items()}
    by_cluster: dict[int, tuple[Cluster, list[Target]]] = {}
    record_cache: dict[tuple[int, str], dict[tuple[str, str], records.SyncRecord]] = {}
    refused: list[AppDrift] = []
    report = DriftReport()
    for spec, environment in workspace.pairs(None, env):
        if apps and spec.name not in apps:
            continue
        cluster = workspace.cluster(environment)
        key = (id(cluster), environment.namespace)
        if key not in record_cache:
            record_cache[key] = records.read_all(cluster, environment.namespace)
        record = record_cache[key].get((spec.name, environment.name)) or records.SyncRecord(spec.name, environment.name)
        try:
            _, desired = workspace.desired(spec, environment, sha)  # Git refusing the app is shown in its row
            delivered = delivered_revision(record)
            if delivered is None:
                report.clean.append((spec.name, environment.name))
                continue
            if delivered != sha and workspace.repo.has(delivered):  # else rewritten away upstream: Git's head
                _, desired = workspace.desired(spec, environment, delivered)
        except BoundaryError as e:  # reported in the app's row; the rest of the fleet is still scanned
            resources = [ResourceDiff(r.ref, "refused", reason=r.reason) for r in e.refusals]
            refused.append(AppDrift(spec.name, environment.name, resources))
            continue
        except SourceError as e:  # cannot be rendered (a hostile tree, a broken manifest): its own row
            report.errors.append(AppError(spec.name, environment.name, str(e)))
            continue
        by_cluster.setdefault(id(cluster), (cluster, []))[1].append(
            Target(spec, environment, desired, record.inventory)
        )
    report.drifted += refused
    rollouts: dict[tuple[int, str], dict[tuple[str, str], rollout_records.Rollout]] = {}

    def rolling(target: Target) -> bool:
        cluster, namespace = workspace.cluster(target.env), target.env.namespace
        if (id(cluster), namespace) not in rollouts:
            rollouts[(id(cluster), namespace)] = rollout_records.read_all(cluster, namespace)
        rollout = rollouts[(id(cluster), namespace)].get((target.app.name, target.env.name))
        return rollout is not None and rollout.active

    for cluster, targets in by_cluster.values():
        try:
            part = scan(cluster, targets, rolling)
        except ClusterError as e:  # one cluster away: its apps are in error, the other clusters still scanned
            report.errors += [AppError(t.app.name, t.env.name, str(e)) for t in targets]
            continue
        report.drifted += part.drifted
        report.clean += part.clean
    report.requests = sum(cluster.requests - before[key] for key, cluster in clusters.items())
    return report
