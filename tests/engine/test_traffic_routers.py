"""Each traffic router against the sandbox, with the real CRDs' shapes, and a rollout through it."""

from __future__ import annotations

import pytest

from gitopsctl.cluster.client import Cluster
from gitopsctl.rollout.traffic.gateway import GatewayRouter
from gitopsctl.rollout.traffic.istio import IstioRouter
from gitopsctl.rollout.traffic.nginx import NginxRouter
from gitopsctl.rollout.traffic.replicas import ReplicasRouter, replica_counts
from kubesandbox import crds
from standins.traffic import tracks
from tests.conftest import deployment, wait_for

CRDS = {"istio": (crds.VIRTUAL_SERVICES, crds.DESTINATION_RULES), "gateway": (crds.HTTP_ROUTES,)}


def install_crd(dyn, router: str) -> None:
    """The router's kinds as Istio and Gateway API publish them: what a real mesh refuses, the sandbox refuses."""
    for name in CRDS.get(router, ()):
        dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(
            body=crds.load(name)
        )


@pytest.mark.parametrize(
    ("replicas", "weight", "expected"),
    [(3, 10, (3, 1)), (3, 34, (2, 2)), (4, 50, (2, 2)), (3, 100, (0, 3)), (5, 0, (5, 0))],
)
def test_replica_counts_round_as_argo_rollouts_does(replicas, weight, expected):
    assert replica_counts(replicas, weight) == expected


@pytest.mark.parametrize("kind", ["replicas", "istio", "gateway", "nginx"])
def test_each_router_sets_verifies_and_removes_its_weight(sandbox, dyn, kind):
    install_crd(dyn, kind)
    labels = {"gitopsctl.io/app": "web", "gitopsctl.io/env": "dev"}
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    stable = deployment("web", image="web:v1", replicas=4)
    stable["metadata"]["labels"].update(labels)
    canary = deployment("web-canary", image="web:v2", replicas=0)
    canary["metadata"]["labels"].update({**labels, "gitopsctl.io/track": "canary"})
    deployments.create(body=stable, namespace="default")
    deployments.create(body=canary, namespace="default")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    cluster = Cluster("sandbox", sandbox.kubeconfig)
    if kind == "replicas":
        router = ReplicasRouter(cluster, "default", "web", "web-canary", 4)
    else:
        router = {"istio": IstioRouter, "gateway": GatewayRouter, "nginx": NginxRouter}[kind](
            cluster, "default", "web", "web-canary", 4, service, labels
        )
        if kind == "gateway":
            router.gateway = ("infra", "public")

    def carries(weight: int) -> bool:  # as the controller does: set again until the weight is verified
        router.set_weight(weight)
        return router.verify_weight(weight)

    wait_for(lambda: carries(25), message=f"{kind} to carry 25% to the canary")
    shares = {t.track: round(t.weight, 2) for t in tracks(sandbox.store) if t.app == "web"}
    assert shares == {"stable": 0.75, "canary": 0.25}
    if kind != "replicas":
        route = cluster.get(router.api_version, router.kind, router.route_name, "default")
        assert router.read_weight(route) == 25
        if kind in CRDS:  # stored as written: the published schema pruned nothing
            assert route["spec"] == router.route(25)["spec"]
        if kind == "gateway":  # attached to its Gateway, or a real cluster would split nothing
            assert route["spec"]["parentRefs"] == [
                {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "infra"}
            ]
        assert cluster.get("v1", "Service", "web-canary", "default")["spec"]["selector"] == {
            "app": "web",
            "gitopsctl.io/track": "canary",
        }
    wait_for(lambda: carries(0), message=f"{kind} to carry everything to stable")
    router.remove()
    if kind != "replicas":
        assert cluster.get(router.api_version, router.kind, router.route_name, "default") is None
        assert cluster.get("v1", "Service", "web-canary", "default") is None
    assert cluster.get("apps/v1", "Deployment", "web", "default")["spec"]["replicas"] == 4


@pytest.mark.parametrize("kind", ["istio", "gateway", "nginx"])
def test_a_rollout_through_each_route_router_is_promoted(fleet, tmp_path, kind):
    from kubernetes import config as kube_config
    from kubernetes import dynamic

    install_crd(dynamic.DynamicClient(kube_config.new_client_from_config(str(fleet.sandbox.kubeconfig))), kind)
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    text += "".join(
        f'\n[apps.{app}.canary]\ntraffic_router = "{kind}"\nscale_down_delay = "0s"\nsteps = [{{ set_weight = 40 }}, {{ set_weight = 100 }}]\n'
        + ('gateway = "infra/public"\n' if kind == "gateway" else "")
        for app in ("trade-service", "pricing-api", "ledger-worker")
    )
    fleet.config_path.write_text(text)
    engine = fleet.reload()
    engine.sync("trade-service", "prod", wait=True, timeout=30)
    result = engine.deploy("trade-service", "prod", "v1.4.2", actor="alice", wait=True, timeout=60)
    assert result.rollout.phase == "Promoted", result.message
    assert "canary weight set to 40%" in " ".join(result.rollout.events)
    live = {d.metadata.name: d for d in fleet.apps.list_namespaced_deployment("trading-prod").items}
    assert "trade-service-canary" not in live
    assert live["trade-service"].spec.template.spec.containers[0].image == "registry.local/trade-service:v1.4.2"
    assert not [
        s for s in fleet.core.list_namespaced_service("trading-prod").items if s.metadata.name.endswith("-canary")
    ]
