"""Which differences a running canary makes on purpose: plain values, no cluster."""

from __future__ import annotations

from gitopsctl.config.model import App, Canary, Environment
from gitopsctl.source.manifests import ObjectRef
from gitopsctl.sync.compare import scaled_by_canary, without_canary_scale
from gitopsctl.sync.diff import ResourceDiff, compare


def _deployment(name: str, container: str, replicas: int, label: str = "web") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod", "labels": {"app": label}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": container, "image": "i"}]}}},
    }


def _changed(desired: dict, live: dict):
    return ResourceDiff(ObjectRef.of(desired), "changed", compare(desired, live), None, desired, live)


def _app(router: str | None) -> App:
    canary = Canary(steps=(), traffic_router=router) if router else None
    return App("web", "apps/web/{env}", "web", ("prod",), canary=canary)


CANARY, DIRECT = Environment("prod", "c", "prod", strategy="canary"), Environment("prod", "c", "prod")


def test_the_replicas_router_scales_the_deployment_running_the_apps_container():
    scaled = _changed(_deployment("web", "web", 5), _deployment("web", "web", 2))
    assert scaled_by_canary(_app("replicas"), CANARY, scaled)
    assert scaled_by_canary(_app(None), CANARY, scaled)  # no [canary] table: the replicas router
    assert without_canary_scale(_app("replicas"), CANARY, [scaled]) == []
    assert not scaled_by_canary(_app("replicas"), DIRECT, scaled)  # no canary runs where none is configured


def test_route_routers_and_other_deployments_are_never_scaled_by_a_canary():
    scaled = _changed(_deployment("web", "web", 5), _deployment("web", "web", 2))
    assert not scaled_by_canary(_app("istio"), CANARY, scaled)  # stable keeps all its replicas until promotion
    sidecar = _changed(_deployment("cache", "redis", 5), _deployment("cache", "redis", 2))
    assert not scaled_by_canary(_app("replicas"), CANARY, sidecar)
    assert without_canary_scale(_app("replicas"), CANARY, [sidecar]) == [sidecar]


def test_a_hand_change_beside_the_scale_stays_with_only_its_own_fields():
    both = _changed(_deployment("web", "web", 5), _deployment("web", "web", 2, label="by-hand"))
    (kept,) = without_canary_scale(_app("replicas"), CANARY, [both])
    assert [f.path for f in kept.fields] == ["metadata.labels.app"]
    assert [f.path for f in both.fields] == ["metadata.labels.app", "spec.replicas"]  # the input is left as it was
