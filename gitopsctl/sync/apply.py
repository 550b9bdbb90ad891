"""Carrying a plan out: staged server-side apply (namespaces and CRDs first, workloads after config), prune,
and waiting for health."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..cluster import health as health_checks
from ..cluster.client import Cluster
from ..config import App
from ..errors import ApiStatusError, ClusterError, ConflictError
from ..source.manifests import ObjectRef, find_version
from .observe import find_untracked, observe
from .plan import BUILTIN_SMP_KINDS, Plan, removal_patch, stage


@dataclass
class SyncOutcome:
    applied: list[ObjectRef]
    unchanged: int
    pruned: list[ObjectRef]
    kept: list[ObjectRef]  # prune candidates kept by --no-prune
    health: str
    health_message: str


def execute(
    cluster: Cluster, plan: Plan, *, prune: bool, progress: Callable[[str], None], create_namespaces: list[str]
) -> tuple[list[ObjectRef], list[ObjectRef]]:
    for namespace in create_namespaces:
        try:
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            progress(f"created namespace {namespace}")
        except ConflictError:  # someone created it since it was found missing: it is there, which is all we need
            progress(f"namespace {namespace} was created meanwhile")
    applied = []
    for obj in sorted(plan.writes, key=lambda o: stage(o["kind"])):
        ref = ObjectRef.of(obj)
        try:
            cluster.apply(obj)
        except ApiStatusError as e:
            raise ClusterError(f"applying {ref} failed: {e.message}; objects before it were applied") from e
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


def version_of(objects: Iterable[dict[str, Any]], app: App) -> str | None:
    return find_version(list(objects), app.container)
