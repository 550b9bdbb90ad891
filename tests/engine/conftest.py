"""A fleet for engine tests: a sandbox cluster, a real GitOps repository and an Engine on both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config

from gitopsctl import config as config_module
from gitopsctl.engine import Engine
from gitopsctl.sandbox import Sandbox
from gitopsctl.sandbox.seed import GitOpsRepo, config_text, seed
from tests.conftest import fast_timing


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


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with Sandbox.start(tmp_path / "cluster", timing=fast_timing()) as sb:
        repo = seed(tmp_path)
        path = tmp_path / "gitopsctl.toml"
        path.write_text(config_text(repo.url, sb.kubeconfig, tmp_path / "cache"))
        api_client = kube_config.new_client_from_config(str(sb.kubeconfig))
        yield Fleet(
            sb, repo, path, Engine(config_module.load(str(path))), k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)
        )


def all_objects(fleet: Fleet, namespace: str) -> dict[str, str]:
    """name -> resourceVersion of every ConfigMap, Secret, Service and Deployment in a namespace."""
    found = {}
    for item in fleet.core.list_namespaced_config_map(namespace).items:
        found[f"cm/{item.metadata.name}"] = item.metadata.resource_version
    for item in fleet.core.list_namespaced_secret(namespace).items:
        found[f"secret/{item.metadata.name}"] = item.metadata.resource_version
    for item in fleet.core.list_namespaced_service(namespace).items:
        found[f"svc/{item.metadata.name}"] = item.metadata.resource_version
    for item in fleet.apps.list_namespaced_deployment(namespace).items:
        found[f"deploy/{item.metadata.name}"] = item.metadata.resource_version
    return found
