"""Health of live objects, as an on-call engineer reads it.

Small pure functions per built-in kind (as Argo CD's health checks are); for
every other kind, in this order: a check from the configuration (``[health]``,
config/health.py), one of gitopsctl's own written the same way (cert-manager's
Certificate, External Secrets' ExternalSecret), else kstatus's conventions:
``observedGeneration`` behind ``generation`` is Progressing, ``Stalled=True``
Degraded, ``Reconciling=True`` Progressing, then the ``Ready`` (or else
``Available``) condition decides. An object of such a kind with no conditions
at all counts as Healthy and says so; one with conditions none of which means
anything to gitopsctl is Unknown until a check is configured.
An app's health is its worst object's: Degraded > Missing > Unknown > Progressing > Healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import HealthRule, compile_expression
from ..expr import BUILTINS, ExprError, evaluate

HEALTHY, PROGRESSING, DEGRADED, MISSING, UNKNOWN = "Healthy", "Progressing", "Degraded", "Missing", "Unknown"
_SEVERITY = {HEALTHY: 0, PROGRESSING: 1, UNKNOWN: 2, MISSING: 3, DEGRADED: 4}


@dataclass(frozen=True)
class Health:
    status: str
    message: str = ""
    assumed: bool = False  # Healthy only because nothing says otherwise (a kind with no conditions at all)


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    conditions = status.get("conditions") if isinstance(status.get("conditions"), list) else []
    return {c.get("type"): c for c in conditions if isinstance(c, dict)}


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
    "apps/Deployment": deployment,
    "apps/StatefulSet": statefulset,
    "apps/DaemonSet": daemonset,
    "batch/Job": job,
    "Service": service,
    "PersistentVolumeClaim": pvc,
    "Pod": pod,
}
# kinds of Kubernetes itself: no conditions there is simply nothing to report (a ConfigMap, a Role)
CORE_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "certificates.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "events.k8s.io",
    }
)


def _rule(key: str, healthy: str, degraded: str, progressing: str | None = None) -> HealthRule:
    return HealthRule(
        key,
        compile_expression(healthy),
        compile_expression(degraded),
        compile_expression(progressing) if progressing else None,
        compile_expression("conditions.Ready?.message", boolean=False),
    )


# gitopsctl's own checks for common add-ons, in the configuration's language (docs/hooks-and-health.md shows them)
BUILTIN_RULES: dict[str, HealthRule] = {
    rule.key: rule
    for rule in (
        _rule(
            "cert-manager.io/Certificate",
            "status.conditions.Ready == 'True'",
            "status.conditions.Ready == 'False'",
            progressing="status.conditions.Issuing == 'True'",
        ),
        _rule(
            "external-secrets.io/ExternalSecret",
            "status.conditions.Ready == 'True'",
            "status.conditions.Ready == 'False'",
        ),
    )
}


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _scope(obj: dict[str, Any]) -> dict[str, Any]:
    """What a health expression sees: the object, with ``status.conditions`` as type -> status."""
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    conditions = {
        c.get("type"): c
        for c in (status.get("conditions") or [])
        if isinstance(c, dict) and isinstance(c.get("type"), str)
    }
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": obj.get("metadata") or {},
        "spec": obj.get("spec") or {},
        "status": {**status, "conditions": {t: c.get("status") for t, c in conditions.items()}},
        "conditions": conditions,
    }


def by_rule(obj: dict[str, Any], rule: HealthRule) -> Health:
    """The first of progressing, degraded, healthy that holds; none: Progressing. A failing expression: Unknown."""
    scope = _scope(obj)
    verdict = None
    try:
        for name, expression in rule.verdicts():
            if evaluate(expression.tree, scope, BUILTINS) is True:
                verdict = name
                break
        shown = evaluate(rule.message.tree, scope, BUILTINS) if rule.message is not None else None
    except ExprError as e:
        return Health(UNKNOWN, f"the health check for {rule.key} could not be evaluated ({e})")
    message = "" if shown is None else str(shown)[:300]
    if verdict == "healthy":
        return Health(HEALTHY, message)
    if verdict == "degraded":
        return Health(DEGRADED, message or f"{rule.degraded.text if rule.degraded else ''}")
    return Health(PROGRESSING, message or f"waiting for {rule.healthy.text}")


def conventions(obj: dict[str, Any]) -> Health:
    """kstatus's reading of a kind nothing else knows (sigs.k8s.io/cli-utils/pkg/kstatus)."""
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    observed, generation = status.get("observedGeneration"), (obj.get("metadata") or {}).get("generation")
    if isinstance(observed, int) and isinstance(generation, int) and observed < generation:
        return Health(PROGRESSING, f"waiting for the controller to observe generation {generation}")
    conditions = _conditions({"status": status})
    if not conditions:
        if group_of(str(obj.get("apiVersion", ""))) in CORE_GROUPS:
            return Health(HEALTHY)
        return Health(HEALTHY, "it has no status conditions, so it counts as Healthy", assumed=True)

    def said(condition: dict[str, Any]) -> str:
        return str(condition.get("message") or condition.get("reason") or "")[:300]

    if (stalled := conditions.get("Stalled") or {}).get("status") == "True":
        return Health(DEGRADED, said(stalled) or "stalled")
    if (reconciling := conditions.get("Reconciling") or {}).get("status") == "True":
        return Health(PROGRESSING, said(reconciling) or "reconciling")
    for kind in ("Ready", "Available"):
        if condition := conditions.get(kind):
            if condition.get("status") == "True":
                return Health(HEALTHY)
            return Health(PROGRESSING, f"not {kind}" + (f": {said(condition)}" if said(condition) else ""))
    types = ", ".join(sorted(str(t) for t in conditions))
    return Health(
        UNKNOWN,
        f"its conditions ({types}) say nothing gitopsctl can read as health; add a check for "
        f"{group_of(str(obj.get('apiVersion', '')))}/{obj.get('kind')} under [health]",
    )


def assess(obj: dict[str, Any] | None, rules: Mapping[str, HealthRule] | None = None) -> Health:
    """The health of one live object; None means it is missing from the cluster.

    ``rules`` are the configuration's checks by "group/Kind" or "Kind"; they win over gitopsctl's own.
    """
    if obj is None:
        return Health(MISSING, "not in the cluster")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(PROGRESSING, "being deleted")
    kind = str(obj.get("kind", ""))
    key = f"{group}/{kind}" if (group := group_of(str(obj.get("apiVersion", "")))) else kind
    rules = rules or {}
    if (rule := rules.get(key) or rules.get(kind)) is not None:
        return by_rule(obj, rule)
    if (check := CHECKS.get(key)) is not None:
        return check(obj)
    if (rule := BUILTIN_RULES.get(key)) is not None:
        return by_rule(obj, rule)
    return conventions(obj)


def overall(
    objects: Iterable[tuple[str, dict[str, Any] | None]], rules: Mapping[str, HealthRule] | None = None
) -> tuple[str, str]:
    """An app's health from (name, live object) pairs: its worst object's, with that object's message.

    When all are Healthy, the message names the first object counted Healthy only for having no conditions.
    """
    health, message, note = HEALTHY, "", ""
    for name, obj in objects:
        result = assess(obj, rules)
        if worst([health, result.status]) != health:
            health, message = result.status, f"{name}: {result.message}" if result.message else name
        elif result.assumed and not note:
            note = f"{name}: {result.message}"
    return health, message or (note if health == HEALTHY else "")


def worst(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    return max(statuses, key=lambda s: _SEVERITY.get(s, 2)) if statuses else HEALTHY
