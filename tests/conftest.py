"""Shared fixtures: a sandbox cluster per test, reached through its kubeconfig like any cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import dynamic

from gitopsctl.sandbox import Sandbox, Timing


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
