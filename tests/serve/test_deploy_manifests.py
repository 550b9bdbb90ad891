"""The manifests for running serve in a cluster: accepted by the API server (dry run), consistent, least privilege."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from gitopsctl import config as config_module
from gitopsctl.cluster.client import Cluster

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _objects() -> list[dict]:
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def test_every_manifest_is_accepted_by_the_api_server_in_a_dry_run(sandbox):
    cluster = Cluster("sandbox", sandbox.kubeconfig)
    for namespace in ("gitopsctl", "trading-dev", "trading-staging", "trading-prod"):
        cluster.ensure_namespace(namespace)
    for obj in _objects():
        applied = cluster.apply(obj, dry_run=True)
        assert applied["kind"] == obj["kind"]
    assert cluster.get("apps/v1", "Deployment", "gitopsctl", "gitopsctl") is None  # a dry run writes nothing


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_applies_the_kustomization_in_a_server_dry_run(sandbox):
    cluster = Cluster("sandbox", sandbox.kubeconfig)
    for namespace in ("gitopsctl", "trading-dev", "trading-staging", "trading-prod"):  # a dry run creates none
        cluster.ensure_namespace(namespace)
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "apply",
            "--server-side",
            "--dry-run=server",
            "-k",
            str(DEPLOY),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/gitopsctl serverside-applied (server dry run)" in done.stdout


def test_the_manifests_agree_with_each_other_and_with_gitopsctl():
    objects = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")): o for o in _objects()}
    deployment = objects[("Deployment", "gitopsctl", "gitopsctl")]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2 and pod["serviceAccountName"] == "gitopsctl"
    assert ("ServiceAccount", "gitopsctl", "gitopsctl") in objects
    container = pod["containers"][0]
    assert container["args"][0] == "serve" and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["envFrom"] == [{"secretRef": {"name": "gitopsctl-slack"}}]  # tokens only from the Secret

    text = objects[("ConfigMap", "gitopsctl-config", "gitopsctl")]["data"]["gitopsctl.toml"]
    cfg = config_module.parse(tomllib.loads(text))
    assert cfg.serve.metrics_port == container["ports"][0]["containerPort"]
    assert cfg.serve.lease_namespace == "gitopsctl"
    assert "xoxb" not in text and "xapp" not in text

    # least privilege: nothing cluster-wide but namespaces, no wildcard anywhere, leases only where needed
    for obj in objects.values():
        for rule in obj.get("rules") or []:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    cluster_rules = [
        r
        for o in objects.values()
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "gitopsctl-namespaces"
        for r in o["rules"]
    ]
    assert cluster_rules == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "create"]}]
    bound = {
        o["metadata"]["namespace"]
        for o in objects.values()
        if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == "gitopsctl-deployer"
    }
    assert bound == {e.namespace for e in cfg.environments.values()}


def test_the_dockerfile_installs_the_package_and_runs_serve_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    for copied in ("pyproject.toml", "gitopsctl", "bot", "tui"):
        assert f"COPY {copied}" in text.replace("COPY pyproject.toml README.md", "COPY pyproject.toml")
        assert (ROOT / copied).exists()
    assert 'ENTRYPOINT ["gitopsctl"]' in text and "USER 10001" in text
