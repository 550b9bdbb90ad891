"""Carrying a plan out: server-side apply wave by wave, in stages inside each (namespaces and CRDs first,
workloads after config), the Sync hooks of each wave, prune, and waiting for health."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import waits
from ..cluster import health as health_checks
from ..cluster.client import Cluster
from ..config import App, HealthRule
from ..errors import ApiStatusError, ClusterError, ConflictError
from ..source.manifests import ObjectRef, find_version
from .hooks import FAILED, SYNC, Hook, PhaseRunner, in_phase, wave_of
from .observe import find_untracked, observe
from .plan import BUILTIN_SMP_KINDS, Plan, removal_patch, stage


@dataclass
class Applied:
    applied: list[ObjectRef] = field(default_factory=list)
    pruned: list[ObjectRef] = field(default_factory=list)
    failure: str = ""  # why the sync stopped before its end (a Sync hook failed, a wave never became Healthy)


def execute(
    cluster: Cluster,
    plan: Plan,
    *,
    prune: bool,
    progress: Callable[[str], None],
    create_namespaces: list[str],
    hooks: list[Hook] | None = None,
    runner: PhaseRunner | None = None,
    settle: Callable[[list[dict[str, Any]]], tuple[str, str]] | None = None,
) -> Applied:
    """Apply wave by wave (stages inside each), run each wave's Sync hooks, and before the next wave wait for
    this one's objects to be Healthy (``settle``); then prune."""
    for namespace in create_namespaces:
        try:
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            progress(f"created namespace {namespace}")
        except ConflictError:  # someone created it since it was found missing: it is there, which is all we need
            progress(f"namespace {namespace} was created meanwhile")
    waves: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for obj in plan.desired:
        waves.setdefault(wave_of(obj), ([], []))[1].append(obj)
    for obj in plan.writes:
        waves.setdefault(wave_of(obj), ([], []))[0].append(obj)
    sync_hooks = in_phase(hooks or [], SYNC)
    for wave in sync_hooks:
        waves.setdefault(wave, ([], []))
    done = Applied()
    order = sorted(waves)
    for index, wave in enumerate(order):
        writes, members = waves[wave]
        if len(order) > 1:
            progress(f"wave {wave}: {len(writes)} to apply, {len(sync_hooks.get(wave, []))} hook(s)")
        for obj in sorted(writes, key=lambda o: stage(o["kind"])):
            done.applied.append(_apply(cluster, plan, obj, progress))
        if runner is not None and sync_hooks.get(wave):
            failed = next((r for r in runner.run(SYNC, sync_hooks[wave]) if r.result == FAILED), None)
            if failed is not None:
                done.failure = f"Sync hook {failed.ref} failed: {failed.message}; later waves were not applied"
                return done
        if settle is not None and index < len(order) - 1 and members:
            status, message = settle(members)
            if status != health_checks.HEALTHY:
                done.failure = (
                    f"wave {wave} is not Healthy ({status}{': ' + message if message else ''}); "
                    "later waves were not applied"
                )
                return done
    if prune:
        for live in sorted(plan.prune, key=lambda o: stage(o["kind"]), reverse=True):
            ref = ObjectRef.of(live)
            if cluster.delete(ref.api_version, ref.kind, ref.name, ref.namespace or None):
                done.pruned.append(ref)
                progress(f"pruned {ref}")
    return done


def _apply(cluster: Cluster, plan: Plan, obj: dict[str, Any], progress: Callable[[str], None]) -> ObjectRef:
    ref = ObjectRef.of(obj)
    try:
        cluster.apply(obj)
    except ApiStatusError as e:
        raise ClusterError(f"applying {ref} failed: {e.message}; objects before it were applied") from e
    progress(f"applied {ref}")
    if obj["kind"] in BUILTIN_SMP_KINDS and (patch := removal_patch(plan.changes_of(obj))):
        cluster.patch(ref.api_version, ref.kind, ref.name, ref.namespace or None, patch)
        progress(f"removed items Git does not have from {ref}")
    if obj["kind"] == "CustomResourceDefinition":
        _wait_established(cluster, obj["metadata"]["name"])
    return ref


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
        waits.sleep(0.2)
    raise ClusterError(f"CustomResourceDefinition {name} was not established within {timeout:.0f}s")


def assess(
    cluster: Cluster, desired: list[dict[str, Any]], rules: Mapping[str, HealthRule] | None = None
) -> tuple[str, str]:
    """An app's health from its live objects (one LIST per kind and namespace)."""
    observation = observe(cluster, (ObjectRef.of(o) for o in desired))
    find_untracked(cluster, desired, observation)
    return health_checks.overall(((str(ObjectRef.of(o)), observation.get(ObjectRef.of(o))) for o in desired), rules)


def wait_healthy(
    cluster: Cluster,
    desired: list[dict[str, Any]],
    timeout: float,
    progress: Callable[[str], None],
    rules: Mapping[str, HealthRule] | None = None,
) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        status, message = assess(cluster, desired, rules)
        if (status, message) != last:
            progress(f"health: {status}" + (f" ({message})" if message else ""))
            last = (status, message)
        if status in (health_checks.HEALTHY, health_checks.DEGRADED) or time.monotonic() >= deadline:
            return status, message
        waits.sleep(0.25)


def version_of(objects: Iterable[dict[str, Any]], app: App) -> str | None:
    return find_version(list(objects), app.container)
