"""HorizontalPodAutoscaler v1 <-> v2 as kube-apiserver converts it: nothing v2 holds is lost through v1."""

from __future__ import annotations

from kubesandbox.conversion import BEHAVIOR_ANNOTATION, METRICS_ANNOTATION, hpa_to_v1, hpa_to_v2

MEMORY = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}}
V2 = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            },
            MEMORY,
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
    },
    "status": {"currentReplicas": 2, "desiredReplicas": 2, "conditions": [{"type": "AbleToScale", "status": "True"}]},
}


def test_v1_shows_the_cpu_target_and_carries_the_rest_in_annotations():
    v1 = hpa_to_v1(V2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80 and "metrics" not in v1["spec"]
    assert METRICS_ANNOTATION in v1["metadata"]["annotations"] and BEHAVIOR_ANNOTATION in v1["metadata"]["annotations"]


def test_v2_read_through_v1_and_back_is_unchanged():
    back = hpa_to_v2(hpa_to_v1(V2))
    assert back["spec"] == V2["spec"] and back["status"] == V2["status"]
    assert not back["metadata"].get("annotations")


def test_a_v1_target_becomes_the_cpu_utilization_metric():
    v1 = {
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web"},
        "spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 70},
    }
    assert hpa_to_v2(v1)["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]
