"""A custom resource's readiness decides an app's health: a Certificate that is not Ready holds every gate."""

from __future__ import annotations

import textwrap

import pytest
from kubernetes import dynamic

from gitopsctl.errors import PolicyError
from tests.conftest import wait_for
from tests.test_cli_engine import gitopsctl

CERTIFICATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.cert-manager.io"},
    "spec": {
        "group": "cert-manager.io",
        "scope": "Namespaced",
        "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}
CERTIFICATE = textwrap.dedent(
    """\
    apiVersion: cert-manager.io/v1
    kind: Certificate
    metadata:
      name: trade-service-tls
    spec:
      secretName: trade-service-tls
      dnsNames: [trade.dev.example.com]
      issuerRef: {name: letsencrypt, kind: ClusterIssuer}
    """
)


def certificates(fleet) -> dynamic.Resource:
    """The cluster as cert-manager would see it: the CRD installed, the controller writing the status."""
    client = dynamic.DynamicClient(fleet.core.api_client)
    crds = client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=CERTIFICATE_CRD)
    wait_for(
        lambda: any(
            c.type == "Established" and c.status == "True"
            for c in crds.get(name="certificates.cert-manager.io").status.conditions or []
        )
    )
    client = dynamic.DynamicClient(fleet.core.api_client)
    return client.resources.get(api_version="cert-manager.io/v1", kind="Certificate")


def issue(resource: dynamic.Resource, ready: str, message: str) -> None:
    """cert-manager's answer, on the status subresource."""
    resource.status.patch(
        name="trade-service-tls",
        namespace="trading-dev",
        body={"status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Issuing", "message": message}]}},
        content_type="application/merge-patch+json",
    )


@pytest.fixture
def certified(fleet):
    fleet.config_path.write_text(
        fleet.config_path.read_text().replace(
            'namespace = "trading-staging"', 'namespace = "trading-staging"\nrequire_upstream_healthy = true'
        )
    )
    resource = certificates(fleet)
    fleet.repo.commit({"apps/trade-service/dev/certificate.yaml": CERTIFICATE}, "TLS for trade-service")
    fleet.reload().sync("trade-service", "dev", wait=True, timeout=2)
    return fleet, resource


def test_a_certificate_that_is_not_ready_makes_the_app_degraded_and_holds_every_gate(certified):
    fleet, resource = certified
    row = fleet.engine.status("trade-service", "dev")[0]
    assert (row.health, row.message) == (
        "Progressing",
        "Certificate trading-dev/trade-service-tls: waiting for status.conditions.Ready == 'True'",
    )

    issue(resource, "False", 'Issuer "letsencrypt" not found')
    row = fleet.engine.status("trade-service", "dev")[0]
    assert (row.health, row.message) == (
        "Degraded",
        'Certificate trading-dev/trade-service-tls: Issuer "letsencrypt" not found',
    )
    deployed = gitopsctl(fleet, "deploy", "trade-service", "dev", "v1.4.2", "--wait", "--yes")
    assert deployed.returncode == 1, deployed.stdout + deployed.stderr
    assert "Degraded" in deployed.stdout + deployed.stderr
    assert 'Issuer "letsencrypt" not found' in deployed.stdout + deployed.stderr
    assert fleet.engine.history("trade-service", "dev")[0].result == "Failed"

    with pytest.raises(
        PolicyError, match=r"trade-service v1.4.2 has not run Healthy in dev \(it is not Healthy in dev\)"
    ):
        fleet.engine.deploy("trade-service", "staging", "v1.4.2", actor="alice")

    issue(resource, "True", "Certificate is up to date and has not expired")
    wait_for(lambda: fleet.engine.status("trade-service", "dev")[0].health == "Healthy")  # v1.4.2's pods ready
    assert fleet.engine.status("trade-service", "dev")[0].sync == "OutOfSync"  # its sync failed: not delivered yet
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=10)
    promoted = fleet.engine.deploy("trade-service", "staging", "v1.4.2", actor="alice")
    assert (promoted.status, promoted.version) == ("Deployed", "v1.4.2")


def test_a_check_in_the_configuration_replaces_gitopsctls_own(certified):
    fleet, resource = certified
    resource.status.patch(
        name="trade-service-tls",
        namespace="trading-dev",
        body={"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Pending"}]}},
        content_type="application/merge-patch+json",
    )
    assert fleet.engine.status("trade-service", "dev")[0].health == "Degraded"
    engine = fleet.reload(
        textwrap.dedent(
            """
            [health."cert-manager.io/Certificate"]
            progressing = "conditions.Ready?.reason == 'Pending'"
            healthy = "status.conditions.Ready == 'True'"
            message = "'waiting for the issuer: ' + (conditions.Ready?.reason ?? '')"
            """
        )
    )
    assert (engine.status("trade-service", "dev")[0].health, engine.status("trade-service", "dev")[0].message) == (
        "Progressing",
        "Certificate trading-dev/trade-service-tls: waiting for the issuer: Pending",
    )
