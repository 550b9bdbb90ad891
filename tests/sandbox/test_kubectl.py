"""kubectl, a client nobody here wrote, against the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from tests.conftest import wait_for

KUBECTL = shutil.which("kubectl")
if KUBECTL is None and os.environ.get("CI") == "true":
    raise RuntimeError("kubectl is required for these tests under CI; install kubectl")
pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]

MANIFEST = textwrap.dedent(
    """
    apiVersion: v1
    kind: Namespace
    metadata:
      name: shop
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      namespace: shop
      labels: {app: api}
    data:
      mode: fast
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
      namespace: shop
      labels: {app: api}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: api}
      template:
        metadata:
          labels: {app: api}
        spec:
          containers:
            - name: api
              image: registry.local/api:v1
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: api
      namespace: shop
    spec:
      selector: {app: api}
      ports: [{port: 80, targetPort: 8080}]
    """
)


@pytest.fixture
def kubectl(sandbox):
    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run


def test_apply_server_side_then_rollout_status_get_and_delete(kubectl, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    applied = kubectl("apply", "--server-side", "-f", str(manifest))
    assert "deployment.apps/api serverside-applied" in applied.stdout

    status = kubectl("-n", "shop", "rollout", "status", "deployment/api", "--timeout=20s")
    assert 'deployment "api" successfully rolled out' in status.stdout

    pods = kubectl("-n", "shop", "get", "pods", "-l", "app=api", "-o", "json")
    items = json.loads(pods.stdout)["items"]
    assert len(items) == 2 and all(p["status"]["phase"] == "Running" for p in items)

    cm = json.loads(kubectl("-n", "shop", "get", "configmap", "settings", "-o", "json").stdout)
    assert cm["data"] == {"mode": "fast"}

    table = kubectl("get", "deploy,svc,pods", "-A").stdout
    assert "deployment.apps/api" in table and "2/2" in table and "service/api" in table and "Running" in table

    kubectl("-n", "shop", "delete", "deployment", "api")
    wait_for(
        lambda: "No resources found" in kubectl("-n", "shop", "get", "pods", check=False).stderr,
        message="the pods to be garbage-collected",
    )


def test_apply_server_side_reports_a_conflict_with_another_manager(kubectl, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    kubectl("apply", "--server-side", "-f", str(manifest))
    kubectl("-n", "shop", "scale", "deployment/api", "--replicas=4")
    second = kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert second.returncode != 0
    assert "conflict" in second.stderr and ".spec.replicas" in second.stderr
    forced = kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert "serverside-applied" in forced.stdout
    replicas = json.loads(kubectl("-n", "shop", "get", "deploy", "api", "-o", "json").stdout)["spec"]["replicas"]
    assert replicas == 2


def test_kubectl_edit_style_patches_are_recorded_as_their_manager(kubectl, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    kubectl("apply", "--server-side", "-f", str(manifest))
    kubectl("-n", "shop", "patch", "configmap", "settings", "-p", '{"data":{"mode":"slow"}}')
    cm = json.loads(kubectl("-n", "shop", "get", "configmap", "settings", "-o", "json", "--show-managed-fields").stdout)
    owners = {e["manager"]: e["fieldsV1"] for e in cm["metadata"]["managedFields"]}
    assert "f:mode" in owners["kubectl-patch"]["f:data"]
    assert cm["data"]["mode"] == "slow"


def test_a_wrong_token_is_refused(sandbox, tmp_path):
    import yaml

    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "nope"
    bad = tmp_path / "kubeconfig"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(bad), "get", "ns"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "provide credentials" in result.stderr or "Unauthorized" in result.stderr
