"""Health of live objects, as an on-call engineer reads it.

Small pure functions per kind (as Argo CD's health checks are); an app's
health is its worst object's: Degraded > Missing > Unknown > Progressing > Healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

HEALTHY, PROGRESSING, DEGRADED, MISSING, UNKNOWN = "Healthy", "Progressing", "Degraded", "Missing", "Unknown"
_SEVERITY = {HEALTHY: 0, PROGRESSING: 1, UNKNOWN: 2, MISSING: 3, DEGRADED: 4}


@dataclass(frozen=True)
class Health:
    status: str
    message: str = ""


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def _generation_observed(obj: dict[str, Any]) -> bool:
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed is not None and observed >= (obj.get("metadata") or {}).get("generation", 0)


def deployment(obj: dict[str, Any]) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("paused"):
        return Health(PROGRESSING, "rollout is paused")
    if not _generation_observed(obj):
        return Health(PROGRESSING, "waiting for the controller to observe the new generation")
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(DEGRADED, progressing.get("message") or "progress deadline exceeded")
    want = spec.get("replicas", 1)
    updated, replicas, available = (
        status.get("updatedReplicas", 0),
        status.get("replicas", 0),
        status.get("availableReplicas", 0),
    )
    if updated < want:
        return Health(PROGRESSING, f"{updated} of {want} replicas updated")
    if replicas > updated:
        return Health(PROGRESSING, f"{replicas - updated} old replicas are pending termination")
    if available < updated:
        return Health(PROGRESSING, f"{available} of {updated} updated replicas available")
    return Health(HEALTHY)


def statefulset(obj: dict[str, Any]) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not _generation_observed(obj):
        return Health(PROGRESSING, "waiting for the controller to observe the new generation")
    want, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    if ready < want:
        return Health(PROGRESSING, f"{ready} of {want} replicas ready")
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return Health(PROGRESSING, "rolling update in progress")
    return Health(HEALTHY)


def daemonset(obj: dict[str, Any]) -> Health:
    status = obj.get("status") or {}
    if not _generation_observed(obj):
        return Health(PROGRESSING, "waiting for the controller to observe the new generation")
    desired = status.get("desiredNumberScheduled", 0)
    if status.get("updatedNumberScheduled", 0) < desired:
        return Health(PROGRESSING, f"{status.get('updatedNumberScheduled', 0)} of {desired} pods updated")
    if status.get("numberAvailable", 0) < desired:
        return Health(PROGRESSING, f"{status.get('numberAvailable', 0)} of {desired} pods available")
    return Health(HEALTHY)


def job(obj: dict[str, Any]) -> Health:
    conditions = _conditions(obj)
    if (conditions.get("Failed") or {}).get("status") == "True":
        return Health(DEGRADED, conditions["Failed"].get("message") or "job failed")
    if (conditions.get("Complete") or {}).get("status") == "True":
        return Health(HEALTHY, "job completed")
    return Health(PROGRESSING, "job is running")


def service(obj: dict[str, Any]) -> Health:
    if (obj.get("spec") or {}).get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return Health(PROGRESSING, "waiting for a load balancer address")
    return Health(HEALTHY)


def pvc(obj: dict[str, Any]) -> Health:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return Health(HEALTHY)
    if phase == "Lost":
        return Health(DEGRADED, "the volume is lost")
    return Health(PROGRESSING, f"claim is {phase or 'Pending'}")


def pod(obj: dict[str, Any]) -> Health:
    status = obj.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in (
            "CrashLoopBackOff",
            "ImagePullBackOff",
            "ErrImagePull",
            "CreateContainerConfigError",
        ):
            return Health(DEGRADED, f"container {cs.get('name')}: {waiting['reason']}")
    phase = status.get("phase")
    if phase == "Failed":
        return Health(DEGRADED, "pod failed")
    if phase in ("Succeeded",) or (
        phase == "Running" and (_conditions(obj).get("Ready") or {}).get("status") == "True"
    ):
        return Health(HEALTHY)
    return Health(PROGRESSING, f"pod is {phase or 'Pending'}")


CHECKS: dict[str, Callable[[dict[str, Any]], Health]] = {
    "Deployment": deployment,
    "StatefulSet": statefulset,
    "DaemonSet": daemonset,
    "Job": job,
    "Service": service,
    "PersistentVolumeClaim": pvc,
    "Pod": pod,
}


def assess(obj: dict[str, Any] | None) -> Health:
    """The health of one live object; None means it is missing from the cluster."""
    if obj is None:
        return Health(MISSING, "not in the cluster")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(PROGRESSING, "being deleted")
    check = CHECKS.get(obj.get("kind", ""))
    return check(obj) if check else Health(HEALTHY)


def worst(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    return max(statuses, key=lambda s: _SEVERITY.get(s, 2)) if statuses else HEALTHY
