"""One stored version per kind, converted on the way in and out, as kube-apiserver converts.

Among the built-ins only the HorizontalPodAutoscaler is served in two versions:
``autoscaling/v2`` (stored, preferred) and ``autoscaling/v1`` (``kubectl
autoscale`` and older tools). v1 knows one metric, the CPU utilization target;
what v2 has beyond it (other metrics, ``behavior``, conditions) travels in v1 as
the annotations upstream's conversion uses, so an object read in v1 and
written back loses nothing (pkg/apis/autoscaling/v1/conversion.go).
"""

from __future__ import annotations

import copy
import json
from typing import Any

HPA = ("autoscaling", "horizontalpodautoscalers")
STORED_VERSION = {HPA: "v2"}
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"


def stored_version(group: str, plural: str, version: str) -> str:
    """The version objects of this kind are kept in (``version`` itself for single-version kinds)."""
    return STORED_VERSION.get((group, plural), version)


def _is_cpu_utilization(metric: dict[str, Any]) -> bool:
    resource = metric.get("resource") or {}
    target = resource.get("target") or {}
    return metric.get("type") == "Resource" and resource.get("name") == "cpu" and target.get("type") == "Utilization"


def hpa_to_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """A stored (v2) HPA as v1 shows it."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    spec = out.get("spec") or {}
    metrics = spec.pop("metrics", None) or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get("averageUtilization")
    others = [m for m in metrics if m is not cpu]
    if others:
        annotations[METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
    behavior = spec.pop("behavior", None)
    if behavior:
        annotations[BEHAVIOR_ANNOTATION] = json.dumps(behavior, separators=(",", ":"))
    status = out.get("status")
    if isinstance(status, dict):
        current = status.pop("currentMetrics", None) or []
        cpu_now = next((m for m in current if (m.get("resource") or {}).get("name") == "cpu"), None)
        if cpu_now is not None:
            utilization = (cpu_now["resource"].get("current") or {}).get("averageUtilization")
            if utilization is not None:
                status["currentCPUUtilizationPercentage"] = utilization
        other_current = [m for m in current if m is not cpu_now]
        if other_current:
            annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(other_current, separators=(",", ":"))
        conditions = status.pop("conditions", None)
        if conditions:
            annotations[CONDITIONS_ANNOTATION] = json.dumps(conditions, separators=(",", ":"))
    if annotations:
        meta["annotations"] = annotations
    return out


def hpa_to_v2(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1 HPA as stored (v2); the annotations v1 carried become fields again."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    meta = out.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    spec = out.get("spec")
    if isinstance(spec, dict):
        metrics = _annotated(annotations, METRICS_ANNOTATION)
        cpu = spec.pop("targetCPUUtilizationPercentage", None)
        if cpu is not None:
            target = {"type": "Utilization", "averageUtilization": cpu}
            metrics.insert(0, {"type": "Resource", "resource": {"name": "cpu", "target": target}})
        if metrics:
            spec["metrics"] = metrics
        behavior = annotations.pop(BEHAVIOR_ANNOTATION, None)
        if behavior:
            spec["behavior"] = _loads(behavior, {})
    status = out.get("status")
    if isinstance(status, dict):
        current = _annotated(annotations, CURRENT_METRICS_ANNOTATION)
        cpu_now = status.pop("currentCPUUtilizationPercentage", None)
        if cpu_now is not None:
            current.insert(
                0, {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu_now}}}
            )
        if current:
            status["currentMetrics"] = current
        conditions = _annotated(annotations, CONDITIONS_ANNOTATION)
        if conditions:
            status["conditions"] = conditions
    for key in (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION):
        annotations.pop(key, None)
    if isinstance(meta, dict) and "annotations" in meta:
        meta["annotations"] = annotations
    return out


def _annotated(annotations: dict[str, str], key: str) -> list[Any]:
    value = _loads(annotations.pop(key, None), [])
    return value if isinstance(value, list) else []


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:  # a hand-edited annotation: ignored, as upstream ignores one it cannot parse
        return default


def to_stored(group: str, plural: str, version: str, obj: dict[str, Any]) -> dict[str, Any]:
    if (group, plural) == HPA and version == "v1":
        return hpa_to_v2(obj)
    return obj


def from_stored(group: str, plural: str, version: str, obj: dict[str, Any]) -> dict[str, Any]:
    if (group, plural) == HPA and version == "v1" and obj.get("apiVersion") != "autoscaling/v1":
        return hpa_to_v1(obj)
    return obj
