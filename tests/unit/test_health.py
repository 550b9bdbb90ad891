"""Health rules per kind, as an on-call engineer reads them."""

from __future__ import annotations

import pytest

from gitopsctl.cluster.health import assess, worst


def obj(kind: str, spec: dict | None = None, status: dict | None = None, generation: int = 1) -> dict:
    return {
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
        "spec": spec or {},
        "status": status or {},
    }


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
            ),
            "Healthy",
        ),
        (obj("Deployment", {"replicas": 2}, {"observedGeneration": 1}, generation=2), "Progressing"),
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2},
            ),
            "Progressing",
        ),
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
            ),
            "Progressing",
        ),
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {
                    "observedGeneration": 1,
                    "conditions": [
                        {
                            "type": "Progressing",
                            "status": "False",
                            "reason": "ProgressDeadlineExceeded",
                            "message": "timed out",
                        }
                    ],
                },
            ),
            "Degraded",
        ),
        (
            obj(
                "StatefulSet",
                {"replicas": 2},
                {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "a"},
            ),
            "Healthy",
        ),
        (obj("StatefulSet", {"replicas": 2}, {"observedGeneration": 1, "readyReplicas": 1}), "Progressing"),
        (
            obj(
                "StatefulSet",
                {"replicas": 2},
                {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"},
            ),
            "Progressing",
        ),
        (
            obj(
                "DaemonSet",
                {},
                {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                },
            ),
            "Healthy",
        ),
        (
            obj(
                "DaemonSet",
                {},
                {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 2,
                },
            ),
            "Progressing",
        ),
        (obj("Job", {}, {"conditions": [{"type": "Complete", "status": "True"}]}), "Healthy"),
        (
            obj("Job", {}, {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}),
            "Degraded",
        ),
        (obj("Job", {}, {"active": 1}), "Progressing"),
        (obj("Service", {"type": "ClusterIP"}), "Healthy"),
        (obj("Service", {"type": "LoadBalancer"}, {"loadBalancer": {}}), "Progressing"),
        (obj("PersistentVolumeClaim", {}, {"phase": "Bound"}), "Healthy"),
        (obj("PersistentVolumeClaim", {}, {"phase": "Pending"}), "Progressing"),
        (obj("PersistentVolumeClaim", {}, {"phase": "Lost"}), "Degraded"),
        (obj("ConfigMap"), "Healthy"),
        (None, "Missing"),
    ],
)
def test_health_by_kind(live, expected):
    assert assess(live).status == expected


def test_an_apps_health_is_its_worst_objects():
    assert worst(["Healthy", "Progressing"]) == "Progressing"
    assert worst(["Progressing", "Missing"]) == "Missing"
    assert worst(["Missing", "Degraded", "Healthy"]) == "Degraded"
    assert worst([]) == "Healthy"
