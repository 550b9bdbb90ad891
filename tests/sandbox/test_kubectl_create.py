"""``kubectl create``, which sends built-in kinds as protobuf, against the sandbox."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from kubesandbox.protobuf import decode_protobuf

KUBECTL = shutil.which("kubectl")
if KUBECTL is None and os.environ.get("CI") == "true":
    raise RuntimeError("kubectl is required for these tests under CI; install kubectl")
pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]


@pytest.fixture
def kubectl(sandbox):
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result

    return run


@pytest.fixture
def get(kubectl):
    def read(*args: str) -> dict[str, Any]:
        return json.loads(kubectl("get", *args, "-o", "json").stdout)

    return read


def decoded(data: dict[str, str]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_namespaces_configmaps_secrets_and_service_accounts(kubectl, get, sandbox, tmp_path):
    kubectl("create", "namespace", "shop")
    assert get("namespace", "shop")["metadata"]["name"] == "shop"

    kubectl("-n", "shop", "create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3")
    assert get("-n", "shop", "configmap", "settings")["data"] == {"mode": "fast", "level": "3"}

    (tmp_path / "app.conf").write_text("listen 8080\n")
    (tmp_path / "logo.bin").write_bytes(b"\x89PNG\x00\xff")
    kubectl("-n", "shop", "create", "configmap", "files", f"--from-file={tmp_path / 'app.conf'}")
    kubectl("-n", "shop", "create", "configmap", "binary", f"--from-file={tmp_path / 'logo.bin'}")
    assert get("-n", "shop", "configmap", "files")["data"] == {"app.conf": "listen 8080\n"}
    assert get("-n", "shop", "configmap", "binary")["binaryData"] == {"logo.bin": "iVBORwD/"}

    kubectl(
        "-n", "shop", "create", "secret", "generic", "db", "--from-literal=user=admin", "--from-literal=pass=s3cr=t"
    )
    secret = get("-n", "shop", "secret", "db")
    assert secret["type"] == "Opaque" and decoded(secret["data"]) == {"user": "admin", "pass": "s3cr=t"}

    cert, key = sandbox.state_dir / "server.crt", sandbox.state_dir / "server.key"
    kubectl("-n", "shop", "create", "secret", "tls", "web", f"--cert={cert}", f"--key={key}")
    tls = get("-n", "shop", "secret", "web")
    assert tls["type"] == "kubernetes.io/tls"
    assert decoded(tls["data"]) == {"tls.crt": cert.read_text(), "tls.key": key.read_text()}

    kubectl("-n", "shop", "create", "serviceaccount", "robot")
    assert get("-n", "shop", "serviceaccount", "robot")["metadata"]["namespace"] == "shop"


def test_workloads_services_budgets_and_ingresses(kubectl, get):
    kubectl("create", "deployment", "api", "--image=registry.local/api:v1", "--replicas=3", "--port=8080")
    deployment = get("deployment", "api")
    assert deployment["metadata"]["labels"] == {"app": "api"}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "api"}}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.local/api:v1"
    assert [port["containerPort"] for port in container["ports"]] == [8080]

    kubectl("create", "deployment", "idle", "--image=registry.local/idle:v1", "--replicas=0")
    assert get("deployment", "idle")["spec"]["replicas"] == 0  # a Go pointer: the explicit zero survives

    kubectl("create", "service", "clusterip", "api", "--tcp=80:8080", "--tcp=443:https")
    service = get("service", "api")
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["selector"] == {"app": "api"}
    assert [(p["port"], p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]] == [
        (80, 8080, "TCP"),
        (443, "https", "TCP"),
    ]

    kubectl("create", "job", "migrate", "--image=registry.local/tools:v1", "--", "migrate", "--all")
    pod_spec = get("job", "migrate")["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never" and pod_spec["containers"][0]["command"] == ["migrate", "--all"]

    kubectl("create", "poddisruptionbudget", "api", "--selector=app=api", "--min-available=2")
    kubectl("create", "poddisruptionbudget", "api-pct", "--selector=app=api", "--max-unavailable=50%")
    assert get("pdb", "api")["spec"] == {"minAvailable": 2, "selector": {"matchLabels": {"app": "api"}}}
    assert get("pdb", "api-pct")["spec"]["maxUnavailable"] == "50%"

    kubectl("create", "ingress", "shop", "--class=nginx", "--rule=shop.example.com/api*=api:80,tls=web")
    ingress = get("ingress", "shop")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"hosts": ["shop.example.com"], "secretName": "web"}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "shop.example.com"
    assert rule["http"]["paths"] == [
        {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 80}}}}
    ]


def test_roles_and_bindings(kubectl, get):
    kubectl("create", "namespace", "shop")
    kubectl("-n", "shop", "create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps")
    assert get("-n", "shop", "role", "reader")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
    ]

    kubectl(
        "-n", "shop", "create", "rolebinding", "readers", "--role=reader", "--user=ann", "--serviceaccount=shop:robot"
    )
    binding = get("-n", "shop", "rolebinding", "readers")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ann"},
        {"kind": "ServiceAccount", "name": "robot", "namespace": "shop"},
    ]

    kubectl("create", "clusterrole", "node-viewer", "--verb=get,watch", "--resource=nodes")
    assert get("clusterrole", "node-viewer")["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "watch"]}
    ]

    kubectl("create", "clusterrolebinding", "node-viewers", "--clusterrole=node-viewer", "--group=ops")
    cluster_binding = get("clusterrolebinding", "node-viewers")
    assert cluster_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "node-viewer",
    }
    assert cluster_binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ops"}]


def sent_body(log: str) -> tuple[str, bytes]:
    """The content type and body of the request kubectl logged at -v=10 (the body as a hex dump)."""
    content_type = log.split('-H "Content-Type: ', 1)[1].split('"', 1)[0]
    hex_digits: list[str] = []
    for line in log.split('"Request Body" body=<\n', 1)[1].splitlines():
        if line.strip() == ">":
            break
        hex_digits += line.split("|", 1)[0].split()[1:]  # offset, then up to 16 bytes, then |ascii|
    return content_type, bytes.fromhex("".join(hex_digits))


def without_nulls(value: Any) -> Any:
    """JSON with its nulls dropped: Go's JSON writes a nil slice or map as null, which protobuf leaves out."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


@pytest.mark.parametrize(
    "command",
    [
        ["namespace", "shop"],
        ["configmap", "settings", "--from-literal=mode=fast", "--from-literal=empty="],
        ["secret", "generic", "db", "--from-literal=user=admin", "--from-literal=blank=", "--type=app/db"],
        ["serviceaccount", "robot"],
        ["deployment", "api", "--image=registry.local/api:v1", "--replicas=0", "--port=8080"],
        ["service", "clusterip", "api", "--tcp=80:8080", "--tcp=443:https"],
        ["job", "migrate", "--image=registry.local/tools:v1", "--", "migrate", "--all"],
        ["poddisruptionbudget", "api", "--selector=app=api", "--max-unavailable=50%"],
        ["ingress", "shop", "--class=nginx", "--rule=shop.example.com/api*=api:80,tls=web"],
        ["role", "reader", "--verb=get,list", "--resource=pods,deployments.apps", "--resource-name=api"],
        ["rolebinding", "readers", "--clusterrole=view", "--user=ann", "--serviceaccount=default:robot"],
        ["clusterrole", "probe", "--verb=get", "--non-resource-url=/healthz"],
        ["clusterrole", "monitoring", "--aggregation-rule=rbac.example.com/aggregate-to-monitoring=true"],
        ["clusterrolebinding", "ops", "--clusterrole=view", "--group=ops"],
        # kinds the sandbox does not serve: kubectl still sends the body, and the 404 comes after
        ["cronjob", "nightly", "--image=registry.local/tools:v1", "--schedule=0 3 * * *", "--", "report"],
        ["quota", "small", "--hard=cpu=1,memory=1Gi,pods=2", "--scopes=NotTerminating"],
        ["priorityclass", "high", "--value=1000", "--preemption-policy=Never", "--description=urgent"],
    ],
    ids=lambda command: "-".join(command[:2]),
)
def test_the_protobuf_kubectl_sends_decodes_to_the_json_it_would_send(kubectl, command):
    """The decoder proven against kubectl itself: its protobuf body equals its own JSON of the object."""
    content_type, body = sent_body(kubectl("-v=10", "create", *command, check=False).stderr)
    assert content_type == "application/vnd.kubernetes.protobuf"
    as_json = json.loads(kubectl("--dry-run=client", "-o", "json", "create", *command).stdout)
    assert without_nulls(decode_protobuf(body)) == without_nulls(as_json)
