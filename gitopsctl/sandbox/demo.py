"""``gitopsctl demo``: a sandbox cluster, a sample app applied with the official client, shown with kubectl."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TextIO

import yaml
from kubernetes import config as kube_config
from kubernetes import dynamic

from .cluster import Sandbox

SAMPLE = "trade-service.yaml"


def _sample_manifests() -> list[dict]:
    text = resources.files(__package__).joinpath("samples", SAMPLE).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _wait_available(deployments, name: str, namespace: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        dep = deployments.get(name=name, namespace=namespace).to_dict()
        status = dep.get("status") or {}
        if (
            status.get("availableReplicas", 0) >= dep["spec"]["replicas"]
            and status.get("observedGeneration") == dep["metadata"]["generation"]
        ):
            return dep
        if time.monotonic() > deadline:
            raise TimeoutError(f"deployment {namespace}/{name} was not available after {timeout:.0f}s")
        time.sleep(0.2)


def run(out: TextIO = sys.stdout, state_dir: Path | None = None) -> int:
    """Run the demo; returns the process exit code."""
    with tempfile.TemporaryDirectory(prefix="gitopsctl-demo-") as tmp:
        directory = state_dir or Path(tmp)
        with Sandbox.start(directory) as sandbox:
            print(f"sandbox ready: kubeconfig={sandbox.kubeconfig} server={sandbox.server}", file=out, flush=True)
            client = dynamic.DynamicClient(kube_config.new_client_from_config(str(sandbox.kubeconfig)))
            for manifest in _sample_manifests():
                resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
                namespace = manifest["metadata"].get("namespace")
                resource.server_side_apply(body=manifest, namespace=namespace, field_manager="gitopsctl")
                where = f"{namespace}/" if namespace else ""
                print(
                    f"applied {manifest['kind']} {where}{manifest['metadata']['name']} (server-side apply)",
                    file=out,
                    flush=True,
                )
            deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
            dep = _wait_available(deployments, "trade-service", "trading", timeout=30)
            print(
                f"trade-service is available: {dep['status']['availableReplicas']}/{dep['spec']['replicas']} replicas\n",
                file=out,
                flush=True,
            )
            kubectl = shutil.which("kubectl")
            if kubectl is None:
                print(
                    "kubectl is not installed, so the cluster cannot be shown with it; install kubectl and run the demo again.",
                    file=out,
                )
                return 1
            command = [kubectl, "--kubeconfig", str(sandbox.kubeconfig), "get", "deploy,svc,pods", "-A"]
            print("$ kubectl get deploy,svc,pods -A", file=out, flush=True)
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
            out.write(result.stdout)
            if result.returncode != 0:
                out.write(result.stderr)
                return 1
        print("\nsandbox stopped; the demo is done.", file=out, flush=True)
    return 0
