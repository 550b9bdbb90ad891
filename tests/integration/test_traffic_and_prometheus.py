"""The traffic simulator, scraped by the real Prometheus server, measured by the analysis providers."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from gitopsctl.analysis.measurement import ERROR, FAILED, SUCCESSFUL
from gitopsctl.analysis.providers.prometheus import PrometheusProvider
from gitopsctl.analysis.run import compile_template, measure
from gitopsctl.config import AnalysisTemplate
from standins.prometheus import PrometheusServer
from standins.traffic import TrafficSimulator, tracks
from tests.conftest import deployment, wait_for

if shutil.which("prometheus") is None and os.environ.get("CI") == "true":
    raise RuntimeError("the real Prometheus server is required under CI; `make test` installs it")
needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")

SUCCESS_RATE = (
    'sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="{{track}}",code!~"5.."}[5s])) / '
    'sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="{{track}}"}[5s]))'
)


def labelled(name: str, app: str, env: str, image: str, replicas: int, track: str = "stable") -> dict:
    body = deployment(name, image=image, replicas=replicas)
    body["metadata"]["labels"].update({"gitopsctl.io/app": app, "gitopsctl.io/env": env, "gitopsctl.io/track": track})
    return body


def weights(sandbox) -> dict[str, float]:
    return {t.track: round(t.weight, 3) for t in tracks(sandbox.store)}


def test_weights_follow_ready_replicas_then_route_objects(sandbox, dyn):
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=labelled("web", "web", "dev", "web:v1", 3), namespace="default")
    deployments.create(body=labelled("web-canary", "web", "dev", "web:v2", 1, "canary"), namespace="default")
    wait_for(lambda: weights(sandbox) == {"stable": 0.75, "canary": 0.25}, message="replica-ratio weights")

    ingresses = dyn.resources.get(api_version="networking.k8s.io/v1", kind="Ingress")
    ingresses.create(
        namespace="default",
        body={
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "web-canary",
                "labels": {"gitopsctl.io/app": "web"},
                "annotations": {
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": "10",
                },
            },
            "spec": {"rules": [{"host": "web.local"}]},
        },
    )
    assert weights(sandbox) == {"stable": 0.9, "canary": 0.1}


def test_behaviour_follows_the_image_tag(sandbox, dyn):
    simulator = TrafficSimulator(sandbox.store)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=labelled("web", "web", "dev", "web:v1", 1), namespace="default")
    deployments.create(body=labelled("web-canary", "web", "dev", "web:v2-bad", 1, "canary"), namespace="default")
    wait_for(lambda: len([t for t in tracks(sandbox.store) if t.ready]) == 2, message="both tracks ready")
    for _ in range(200):
        simulator.tick(1.0)
    counts = {}
    for metric in simulator.registry.collect():
        for sample in metric.samples:
            if sample.name == "http_requests_total":
                key = (sample.labels["track"], sample.labels["code"])
                counts[key] = counts.get(key, 0) + sample.value
    stable_errors = counts.get(("stable", "503"), 0) / (counts[("stable", "200")] + counts.get(("stable", "503"), 0))
    canary_errors = counts[("canary", "503")] / (counts[("canary", "200")] + counts[("canary", "503")])
    assert stable_errors < 0.01 and 0.15 < canary_errors < 0.25
    assert counts[("stable", "200")] + counts.get(("stable", "503"), 0) == pytest.approx(5000, abs=1)
    measured = simulator.stats()["by_track"]  # what the web provider reads: the last ticks' requests, not a setting
    assert measured["web/dev/canary"]["success_rate"] == pytest.approx(0.8, abs=0.01)
    assert measured["web/dev/stable"]["success_rate"] > 0.99  # 0.1% errors: at most one in its 300 requests
    assert 0 < measured["web/dev/canary"]["requests"] < counts[("canary", "200")] + counts[("canary", "503")]


def test_requests_routed_to_a_track_without_ready_endpoints_fail_and_are_counted_apart(sandbox, dyn):
    simulator = TrafficSimulator(sandbox.store)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=labelled("web", "web", "dev", "web:v1", 2), namespace="default")
    wait_for(lambda: [t.ready for t in tracks(sandbox.store)] == [2], message="stable's two endpoints")
    simulator.tick(1.0)
    assert simulator.lost() == {}
    routes = dyn.resources.get(api_version="networking.k8s.io/v1", kind="Ingress")
    route = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "labels": {"gitopsctl.io/app": "web"},
            "annotations": {
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "25",
            },
        },
        "spec": {"rules": [{"host": "web.local"}]},
    }
    routes.create(body=route, namespace="default")  # a quarter of the traffic to a canary that does not exist
    for _ in range(4):
        simulator.tick(1.0)
    assert simulator.lost() == {"web/dev": 50}
    assert {t["track"]: t["unserved"] for t in simulator.stats()["tracks"]} == {"stable": 0.0, "canary": 0.25}
    deployments.create(body=labelled("web-canary", "web", "dev", "web:v2", 1, "canary"), namespace="default")
    wait_for(lambda: sorted(t.ready for t in tracks(sandbox.store)) == [1, 2], message="the canary's endpoint")
    simulator.tick(1.0)
    assert simulator.lost() == {"web/dev": 50}  # once it has a ready pod, nothing more is lost
    routes.delete(name="web", namespace="default")
    deployments.patch(
        name="web",
        namespace="default",
        body={"spec": {"replicas": 0}},
        content_type="application/merge-patch+json",
    )
    deployments.patch(
        name="web-canary",
        namespace="default",
        body={"spec": {"replicas": 0}},
        content_type="application/merge-patch+json",
    )
    wait_for(lambda: sum(t.ready for t in tracks(sandbox.store)) == 0, message="no endpoint left")
    simulator.tick(2.0)
    assert simulator.lost() == {"web/dev": 150}  # a Service without endpoints fails every request


@needs_prometheus
def test_prometheus_scrapes_the_simulator_and_analysis_judges_it(fleet, tmp_path):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    simulator = TrafficSimulator(fleet.sandbox.store).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", [simulator.target]).start()
    try:
        template = compile_template(
            AnalysisTemplate("success-rate", "prometheus", SUCCESS_RATE, success_condition="result >= 0.95")
        )
        provider = PrometheusProvider(prometheus.url)
        variables = {"app": "trade-service", "env": "dev", "track": "stable", "namespace": "trading-dev"}
        good = wait_for(
            lambda: (m := measure(template, provider, variables)).phase == SUCCESSFUL and m,
            timeout=30,
            message="a successful measurement",
        )
        assert isinstance(good.value, list) and good.number > 0.98  # a vector, shaped as Argo Rollouts shapes it

        fleet.apps.patch_namespaced_deployment(
            "trade-service",
            "trading-dev",
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "trade-service", "image": "registry.local/trade-service:v1.4.2-bad"}
                            ]
                        }
                    }
                }
            },
        )
        bad = wait_for(
            lambda: (m := measure(template, provider, variables)).phase == FAILED and m.number < 0.9 and m,
            timeout=30,
            message="the -bad version to fail the analysis",
        )
        assert 0.7 < bad.number < 0.9
        assert re.fullmatch(r"0\.\d+ < 0\.95", bad.message), bad.message

        prometheus.stop()
        stopped = measure(template, provider, variables)
        assert stopped.phase == ERROR and "could not answer" in stopped.message
    finally:
        prometheus.stop()
        simulator.stop()


@needs_prometheus
@pytest.mark.parametrize(
    ("query", "phase", "says"),
    [
        ("0 / 0", "Inconclusive", "no usable value (nan)"),  # Prometheus answers NaN
        ("1 / 0", "Inconclusive", "no usable value (inf)"),
        ('up{job="no-such-job"}', "Inconclusive", "no usable value ([])"),  # an empty vector: no series yet
        ("vector(0.97)", "Successful", ""),  # a one-series vector: [0.97]; result >= 0.95 compares its value
        ("sum(rate(http_requests_total[", "Error", "could not answer"),  # Prometheus refuses the query (400)
    ],
)
def test_what_the_real_prometheus_answers_badly_is_a_measurement_never_an_exception(tmp_path, query, phase, says):
    prometheus = PrometheusServer(tmp_path / "prometheus", []).start()
    try:
        template = AnalysisTemplate(name="odd", provider="prometheus", query=query, success_condition="result >= 0.95")
        taken = measure(compile_template(template), PrometheusProvider(prometheus.url), {"track": "canary"})
    finally:
        prometheus.stop()
    assert taken.phase == phase and says in taken.message, taken


def test_each_request_is_a_line_in_the_log_of_the_pod_that_served_it(sandbox, dyn, core):
    """kubectl logs shows a served app's traffic: the stable pods take turns, a -bad canary's 503s are in its log."""
    simulator = TrafficSimulator(sandbox.store)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=labelled("web", "web", "dev", "web:v1", 2), namespace="default")
    deployments.create(body=labelled("web-canary", "web", "dev", "web:v2-bad", 1, "canary"), namespace="default")
    wait_for(lambda: sum(t.ready for t in tracks(sandbox.store)) == 3, message="three endpoints")
    for _ in range(10):
        simulator.tick(1.0)
    logs = {
        pod.metadata.name: core.read_namespaced_pod_log(pod.metadata.name, "default")
        for pod in core.list_namespaced_pod("default").items
    }
    served = {name: text.count('"GET / HTTP/1.1"') for name, text in logs.items()}
    stable = [n for name, n in served.items() if not name.startswith("web-canary")]
    canary = next(text for name, text in logs.items() if name.startswith("web-canary"))
    assert sum(served.values()) == pytest.approx(500, abs=2)  # 50 a second for 10 s (fractions carried over)
    assert all(n > 0 for n in stable)
    assert abs(stable[0] - stable[1]) <= 1  # round robin over the endpoints
    assert '"GET / HTTP/1.1" 503' in canary and canary.index("Ready") < canary.index('"GET /')
