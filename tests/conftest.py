"""Shared fixtures: a sandbox cluster per test, reached through its kubeconfig like any cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import dynamic

from demo.seed import GitOpsRepo, config_text, seed
from gitopsctl import config as config_module
from gitopsctl.engine import Engine
from gitopsctl.source.helm import helm_binary
from kubesandbox import Sandbox, Timing
from standins.prometheus import PrometheusServer
from standins.traffic import TrafficSimulator


def fast_timing() -> Timing:
    """Quick simulated workloads; a new object per sandbox, so a test may change its own."""
    return Timing(ready_delay=0.2, restart_interval=0.3)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path / "cluster", timing=fast_timing()) as sb:
        yield sb


@pytest.fixture
def api_client(sandbox: Sandbox) -> k8s.ApiClient:
    return kube_config.new_client_from_config(str(sandbox.kubeconfig))


@pytest.fixture
def dyn(api_client: k8s.ApiClient, tmp_path: Path) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))


@pytest.fixture
def core(api_client: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api_client)


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> object:
    """Poll until ``predicate()`` is truthy; fail the test with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def available(apps: k8s.AppsV1Api, name: str, namespace: str = "default") -> int:
    """A Deployment's available replicas; 0 until its controller has written a status."""
    status = apps.read_namespaced_deployment(name, namespace).status
    return (status.available_replicas or 0) if status else 0


def deployment(
    name: str, image: str = "registry.local/app:v1", replicas: int = 2, namespace: str = "default", **spec_extra
) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": image}]}},
            **spec_extra,
        },
    }


def configmap(name: str, data: dict | None = None, labels: dict | None = None, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **({"labels": labels} if labels else {})},
        "data": data or {},
    }


@dataclass
class Fleet:
    sandbox: Sandbox
    repo: GitOpsRepo
    config_path: Path
    engine: Engine
    core: k8s.CoreV1Api
    apps: k8s.AppsV1Api

    def reload(self, extra_toml: str = "") -> Engine:
        """A fresh engine, optionally with more configuration appended."""
        if extra_toml:
            self.config_path.write_text(self.config_path.read_text() + extra_toml)
        self.engine = Engine(config_module.load(str(self.config_path)))
        return self.engine

    def grant(self, user: str, cluster_role: str = "cluster-admin") -> None:
        """Bind a sandbox user to a ClusterRole everywhere; the sandbox enforces RBAC as a cluster does."""
        k8s.RbacAuthorizationV1Api(self.core.api_client).create_cluster_role_binding(
            {
                "metadata": {"name": f"{user}-{cluster_role}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }
        )

    def config_for(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """This configuration with a sandbox user's own kubeconfig: how a team member's setup looks. The
        member may do everything in the cluster (what a narrower grant refuses: tests/serve/test_serve_rbac.py)."""
        kubeconfig = self.sandbox.add_user(user, groups)
        with contextlib.suppress(k8s.ApiException):  # already bound by an earlier call
            self.grant(user)
        path = self.config_path.with_name(f"gitopsctl-{user}.toml")
        path.write_text(self.config_path.read_text().replace(str(self.sandbox.kubeconfig), str(kubeconfig)))
        return path

    def engine_for(self, user: str) -> Engine:
        """An engine acting with a sandbox user's credentials, as their CLI or console would."""
        return Engine(config_module.load(str(self.config_for(user))))


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with Sandbox.start(tmp_path / "fleet-cluster", timing=fast_timing()) as sb:
        repo = seed(tmp_path)
        path = tmp_path / "gitopsctl.toml"
        path.write_text(config_text(repo.url, sb.kubeconfig, tmp_path / "cache"))
        api_client = kube_config.new_client_from_config(str(sb.kubeconfig))
        yield Fleet(
            sb, repo, path, Engine(config_module.load(str(path))), k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)
        )


def require_prometheus() -> None:
    """Skip without the real Prometheus server, except under CI, where `make test` installs it."""
    if shutil.which("prometheus") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("the real Prometheus server is required under CI; `make test` installs it")
        pytest.skip("prometheus is not installed")


def require_helm() -> None:
    """Skip without helm (on PATH or in .tools/bin), except under CI, where `make test` installs it."""
    if helm_binary() is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("helm is required under CI; `make test` installs it (`make helm`)")
        pytest.skip("helm is not installed; `make helm` installs it")


CANARY = textwrap.dedent(
    """
    [prometheus]
    url = "{url}"

    [analysis.templates.success-rate]
    provider = "prometheus"
    query = 'sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary",code!~"5.."}}[4s])) / sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary"}}[4s]))'
    interval = "1s"
    count = 3
    success_condition = "result >= 0.95"
    failure_limit = 0
    inconclusive_limit = 10
    consecutive_error_limit = 2

    [apps.trade-service.canary]
    steps = [{{ set_weight = 34 }}, {{ analysis = "success-rate" }}, {{ set_weight = 67 }}, {{ pause = "1s" }}, {{ set_weight = 100 }}]

    [apps.pricing-api.canary]
    steps = [{{ set_weight = 50 }}, {{ pause = {{}} }}, {{ set_weight = 100 }}]

    [apps.ledger-worker.canary]
    steps = [{{ set_weight = 50 }}, {{ pause = "4s" }}, {{ set_weight = 100 }}]
    """
)


@dataclass
class CanaryFleet:
    fleet: Fleet
    prometheus: PrometheusServer
    simulator: TrafficSimulator


@pytest.fixture
def canary(fleet, tmp_path):
    """The fleet with prod on canary rollouts, the traffic simulator and the real Prometheus server."""
    require_prometheus()
    simulator = TrafficSimulator(fleet.sandbox.store).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", [simulator.target]).start()
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    fleet.config_path.write_text(text + CANARY.format(url=prometheus.url))
    engine = fleet.reload()
    for app in ("trade-service", "pricing-api", "ledger-worker"):
        engine.sync(app, "prod", wait=True, timeout=30)
    try:
        yield CanaryFleet(fleet, prometheus, simulator)
    finally:
        prometheus.stop()
        simulator.stop()
