"""The commands an operator types most, with the kubectl on this machine, each answered as a real cluster would.

One sandbox, one scripted session in order (later commands use what earlier
ones made). Each step names what it must print and whether it must succeed:
a command a real cluster refuses (another user's forbidden read, ``exec`` with
no container runtime, ``top`` without metrics-server) must fail here too, with
the sentence a user would read.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests.sandbox.test_kubectl import KUBECTL

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]

NS = "sweep"
MANIFEST = textwrap.dedent(
    """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      namespace: sweep
    data:
      mode: slow
    """
)

# (arguments, exit code, text the output must contain)
SESSION: list[tuple[list[str], int, str]] = [
    (["version"], 0, "Server Version: v1.32.0"),
    (["cluster-info"], 0, "is running at https://127.0.0.1"),
    (["create", "namespace", NS], 0, f"namespace/{NS} created"),
    (["create", "deployment", "web", "--image=registry.local/web:v1", "--replicas=2", "-n", NS], 0, "created"),
    (["create", "configmap", "settings", "--from-literal=mode=fast", "-n", NS], 0, "configmap/settings created"),
    (["create", "secret", "generic", "creds", "--from-literal=password=s3cret", "-n", NS], 0, "secret/creds created"),
    (["create", "service", "clusterip", "web", "--tcp=80:8080", "-n", NS], 0, "service/web created"),
    (["create", "serviceaccount", "bot", "-n", NS], 0, "serviceaccount/bot created"),
    (["create", "job", "once", "--image=registry.local/job:v1", "-n", NS], 0, "job.batch/once created"),
    (["create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice", "-n", NS], 0, "created"),
    (["run", "probe", "--image=registry.local/probe:v1", "-n", NS], 0, "pod/probe created"),
    (["rollout", "status", "deployment/web", "-n", NS, "--timeout=60s"], 0, "successfully rolled out"),
    (["get", "deploy,rs,pods,svc", "-n", NS], 0, "deployment.apps/web"),
    (["get", "pods", "-n", NS, "-o", "wide"], 0, "sandbox-node"),
    (
        ["get", "pod", "probe", "-n", NS, "-o", "jsonpath={.spec.serviceAccountName} {.spec.dnsPolicy}"],
        0,
        "default ClusterFirst",
    ),
    (["get", "sa", "-n", NS], 0, "default"),
    (["describe", "deployment", "web", "-n", NS], 0, "Replicas:"),
    (["logs", "deploy/web", "-n", NS], 0, "registry.local/web:v1"),
    (["logs", "probe", "-n", NS, "--tail=1", "--timestamps"], 0, "Z "),
    (["label", "deployment", "web", "tier=front", "-n", NS], 0, "deployment.apps/web labeled"),
    (["annotate", "deployment", "web", "owner=team", "-n", NS], 0, "deployment.apps/web annotated"),
    (["scale", "deployment", "web", "--replicas=3", "-n", NS], 0, "deployment.apps/web scaled"),
    (
        ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80", "-n", NS],
        0,
        "horizontalpodautoscaler.autoscaling/web autoscaled",
    ),
    (["get", "hpa", "web", "-n", NS, "-o", "jsonpath={.spec.maxReplicas}"], 0, "5"),
    (["set", "image", "deployment/web", "web=registry.local/web:v2", "-n", NS], 0, "image updated"),
    (["rollout", "status", "deployment/web", "-n", NS, "--timeout=60s"], 0, "successfully rolled out"),
    (["rollout", "history", "deployment/web", "-n", NS], 0, "REVISION"),
    (["rollout", "undo", "deployment/web", "-n", NS], 0, "rolled back"),
    (["rollout", "restart", "deployment/web", "-n", NS], 0, "restarted"),
    (["rollout", "pause", "deployment/web", "-n", NS], 0, "paused"),
    (["rollout", "resume", "deployment/web", "-n", NS], 0, "resumed"),
    (["wait", "--for=condition=Available", "deployment/web", "-n", NS, "--timeout=60s"], 0, "condition met"),
    (["wait", "--for=condition=complete", "job/once", "-n", NS, "--timeout=60s"], 0, "condition met"),
    (["patch", "deployment", "web", "-n", NS, "-p", '{"spec":{"revisionHistoryLimit":5}}'], 0, "patched"),
    (["diff", "-f", "{manifest}"], 1, "+  mode: slow"),
    (["apply", "--server-side", "--force-conflicts", "-f", "{manifest}"], 0, "serverside-applied"),
    (["diff", "-f", "{manifest}"], 0, ""),
    (["get", "events", "-n", NS], 0, "ScalingReplicaSet"),
    (["events", "-n", NS], 0, "ScalingReplicaSet"),
    (["api-resources"], 0, "deployments"),
    (["api-versions"], 0, "apps/v1"),
    (["explain", "deployment.spec.replicas"], 0, "replicas"),
    (["get", "rc", "-n", NS], 0, ""),
    (["auth", "whoami"], 0, "sandbox-admin"),
    (["auth", "can-i", "create", "deployments", "-n", NS, "--as", "alice"], 0, "yes"),
    (["auth", "can-i", "delete", "namespaces", "--as", "alice"], 1, "no"),
    (["auth", "can-i", "--list", "-n", NS, "--as", "alice"], 0, "deployments.apps"),
    (
        ["get", "secrets", "-n", "kube-system", "--as", "alice"],
        1,
        'User "alice" cannot list resource "secrets" in API group "" in the namespace "kube-system"',
    ),
    (["create", "token", "bot", "-n", NS], 0, ""),
    (["exec", "probe", "-n", NS, "--", "ls"], 1, "the sandbox runs no containers"),
    (["port-forward", "pod/probe", ":80", "-n", NS], 1, "pods/portforward is not emulated"),
    (["logs", "-f", "job/once", "-n", NS], 0, "exited with code 0"),
    (["logs", "probe", "-n", NS, "--previous"], 1, 'previous terminated container "probe" in pod "probe" not found'),
    (["top", "pods", "-n", NS], 1, "Metrics API not available"),
    (["delete", "deployment", "web", "-n", NS], 0, 'deployment.apps "web" deleted'),
    (["delete", "namespace", NS], 0, f'namespace "{NS}" deleted'),
]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    from kubesandbox import Sandbox
    from tests.conftest import fast_timing

    root = tmp_path_factory.mktemp("sweep")
    (root / "manifest.yaml").write_text(MANIFEST)
    with Sandbox.start(root / "cluster", timing=fast_timing(), users={"alice": []}) as sandbox:
        yield sandbox, root


@pytest.mark.parametrize(("step", "args", "code", "says"), [(i, *s) for i, s in enumerate(SESSION)], ids=lambda v: "")
def test_kubectl_session(session, step: int, args: list[str], code: int, says: str) -> None:
    sandbox, root = session
    args = [a.replace("{manifest}", str(root / "manifest.yaml")) for a in args]
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(sandbox.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root), "KUBECTL_EXTERNAL_DIFF": "diff -u"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == code, f"kubectl {' '.join(args)} exited {done.returncode}: {output}"
    assert says in output, f"kubectl {' '.join(args)} did not say {says!r}: {output}"


def test_the_session_is_in_the_audit_log(session) -> None:
    """The server, not the client, counts: every step above is in the audit events, with its user."""
    sandbox, _ = session
    _, events = sandbox.audit.after(0)
    verbs = {(e["verb"], e.get("objectRef", {}).get("resource")) for e in events}
    assert ("create", "namespaces") in verbs and ("patch", "deployments") in verbs
    impersonated = [e for e in events if e.get("impersonatedUser", {}).get("username") == "alice"]
    assert impersonated and all(e["user"]["username"] == "sandbox-admin" for e in impersonated)
    assert any(e["responseStatus"]["code"] == 403 for e in impersonated)
