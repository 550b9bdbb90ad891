"""`serve` under the ServiceAccount and RBAC of deploy/, with that account's own token: its grant is proven, not reviewed.

The sandbox authorizes every request as kube-apiserver's RBAC would. The
admin delivers the fleet once (so the namespaces exist), applies deploy/'s
namespace, ServiceAccount and RBAC, and asks for a token as ``kubectl create
token`` does; from then on serve runs with that token alone: it must win the
Lease, scan, reconcile and deliver a /deploy, with no refusal in its log, and a
write outside its grant must fail with the API server's own sentence.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes import dynamic

from bot.serve import Serve, Tokens
from gitopsctl.errors import GitOpsError
from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, free_port
from tests.conftest import wait_for
from tests.serve.conftest import SERVE

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICE_ACCOUNT = "system:serviceaccount:gitopsctl:gitopsctl"


def _install_deploy_rbac(fleet) -> None:
    """deploy/'s namespace, ServiceAccount and RBAC, applied by the admin as an operator would."""
    admin = dynamic.DynamicClient(kube_config.new_client_from_config(str(fleet.sandbox.kubeconfig)))
    for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            meta = doc["metadata"]
            admin.resources.get(api_version=doc["apiVersion"], kind=doc["kind"]).server_side_apply(
                body=doc, name=meta["name"], namespace=meta.get("namespace"), field_manager="kubectl"
            )


def _service_account_config(fleet) -> Path:
    """The fleet's configuration with a kubeconfig holding the ServiceAccount's bound token instead of the admin's."""
    core = k8s.CoreV1Api(kube_config.new_client_from_config(str(fleet.sandbox.kubeconfig)))
    token = core.create_namespaced_service_account_token(
        "gitopsctl", "gitopsctl", {"spec": {"expirationSeconds": 3600}}
    ).status.token
    kubeconfig = yaml.safe_load(fleet.sandbox.kubeconfig.read_text())
    kubeconfig["users"] = [{"name": kubeconfig["users"][0]["name"], "user": {"token": token}}]
    path = fleet.sandbox.state_dir / "kubeconfig-gitopsctl-sa"
    path.write_text(yaml.safe_dump(kubeconfig))
    config = fleet.config_path.with_name("gitopsctl-sa.toml")
    config.write_text(fleet.config_path.read_text().replace(str(fleet.sandbox.kubeconfig), str(path)))
    return config


def test_serve_does_every_job_under_deploys_rbac_and_a_write_outside_it_is_refused(fleet, caplog):
    for app in fleet.engine.config.apps:
        for env in ("dev", "staging", "prod"):
            fleet.engine.sync(app, env, wait=True, timeout=30)
    _install_deploy_rbac(fleet)
    config = _service_account_config(fleet)
    fleet.config_path = config
    caplog.set_level(logging.INFO)
    with SlackStandIn(SECRET) as slack:
        engine = fleet.reload(ROLES.format(api=slack.api_url) + SERVE)
        serve = Serve(
            engine,
            mode="http",
            port=free_port(),
            token=Tokens("xoxb-test-token", SECRET, None),
            channel_interval=0.2,
            metrics_port=free_port(),
        ).start()
        slack.bot_url = serve.server.url
        try:
            scheduler = serve.scheduler
            wait_for(lambda: scheduler.scans >= 2 * len(engine.config.environments), 30, message="two drift scans")
            lease = k8s.CoordinationV1Api(fleet.core.api_client).list_namespaced_lease("gitopsctl").items
            assert lease and lease[0].spec.holder_identity, "serve won the Lease with its own account"
            reply = slack.command("/deploy", "trade-service dev v2", user="UALICE", user_name="alice")
            assert reply.status == 200
            wait_for(
                lambda: (
                    "v2"
                    in fleet.apps.read_namespaced_deployment("trade-service", "trading-dev")
                    .spec.template.spec.containers[0]
                    .image
                ),
                30,
                message="the /deploy delivered under the ServiceAccount",
            )
        finally:
            serve.stop()
    refusals = [r.getMessage() for r in caplog.records if "forbidden" in r.getMessage().lower()]
    assert refusals == [], refusals

    # a write deploy/rbac.yaml does not grant (Pods are read-only to serve): the sync fails, in the API server's words
    fleet.repo.commit(
        {
            "apps/trade-service/dev/debug-pod.yaml": textwrap.dedent(
                """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: debug
                spec:
                  containers:
                    - name: debug
                      image: registry.local/debug:v1
                """
            )
        },
        "a bare Pod",
    )
    with pytest.raises(GitOpsError) as refused_sync:
        engine.sync("trade-service", "dev")
    assert (
        f'pods "debug" is forbidden: User "{SERVICE_ACCOUNT}" cannot patch resource "pods" in API group "" '
        'in the namespace "trading-dev"' in str(refused_sync.value)
    )
    assert fleet.core.list_namespaced_pod("trading-dev", field_selector="metadata.name=debug").items == []
    _, events = fleet.sandbox.audit.after(0)
    refused = [e for e in events if e["responseStatus"]["code"] == 403]
    assert refused and all(e["user"]["username"] == SERVICE_ACCOUNT for e in refused)
