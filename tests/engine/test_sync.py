"""Sync against real Git and the sandbox."""

from __future__ import annotations

import textwrap

import pytest
from kubernetes import client as k8s

from demo.seed import deployment_yaml
from gitopsctl.errors import ClusterError, SyncRefusedError, UsageError
from gitopsctl.sync import stage
from tests.engine.conftest import all_objects


def test_sync_applies_with_server_side_apply_and_tracks_every_object(fleet):
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=20, actor="alice")
    assert (result.result, result.health, len(result.applied), result.unchanged) == ("Succeeded", "Healthy", 3, 0)
    dep = fleet.apps.read_namespaced_deployment("trade-service", "trading-dev")
    assert dep.metadata.labels["app.kubernetes.io/managed-by"] == "gitopsctl"
    assert dep.metadata.annotations["gitopsctl.io/tracking-id"] == "trade-service/dev"
    assert any(m.manager == "gitopsctl" and m.operation == "Apply" for m in dep.metadata.managed_fields)


def test_objects_that_already_match_are_not_written(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    before = all_objects(fleet, "trading-dev")
    again = fleet.engine.sync("trade-service", "dev")
    assert (len(again.applied), again.unchanged) == (0, 3)
    after = all_objects(fleet, "trading-dev")
    assert {k: v for k, v in after.items() if not k.startswith("cm/gitopsctl-sync")} == {
        k: v for k, v in before.items() if not k.startswith("cm/gitopsctl-sync")
    }


def test_apply_is_staged_namespaces_and_crds_first(fleet):
    crd = textwrap.dedent(
        """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: httproutes.gateway.networking.k8s.io
        spec:
          group: gateway.networking.k8s.io
          scope: Namespaced
          names: {plural: httproutes, singular: httproute, kind: HTTPRoute}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
        """
    )
    route = textwrap.dedent(
        """\
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: trade-service
        spec:
          rules:
            - backendRefs:
                - {name: trade-service, port: 80, weight: 100}
        """
    )
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: trading-dev\n"
    fleet.repo.commit(
        {
            "apps/trade-service/dev/z-crd.yaml": crd,
            "apps/trade-service/dev/a-route.yaml": route,
            "apps/trade-service/dev/zz-ns.yaml": namespace,
        },
        "gateway route",
    )
    fleet.config_path.write_text(
        fleet.config_path.read_text().replace(
            'namespace = "trading-dev"\n',
            'namespace = "trading-dev"\ncluster_resources = ["CustomResourceDefinition", "Namespace"]\n',
        )
    )
    messages: list[str] = []
    fleet.reload().sync("trade-service", "dev", progress=messages.append)
    applied = [m.removeprefix("applied ").split(" ")[0] for m in messages if m.startswith("applied ")]
    assert applied[:2] in (["CustomResourceDefinition", "Namespace"], ["Namespace", "CustomResourceDefinition"])
    assert applied.index("ConfigMap") < applied.index("Deployment") < applied.index("HTTPRoute")
    assert [stage(k) for k in applied] == sorted(stage(k) for k in applied)


def test_prune_deletes_what_git_no_longer_has_and_no_prune_keeps_it(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.repo.commit({"apps/trade-service/dev/configmap.yaml": None}, "drop the config")
    kept = fleet.engine.sync("trade-service", "dev", prune=False)
    assert kept.pruned == []
    assert fleet.core.read_namespaced_config_map("trade-service-config", "trading-dev")
    pruned = fleet.engine.sync("trade-service", "dev")
    assert [str(r) for r in pruned.pruned] == ["ConfigMap trading-dev/trade-service-config"]
    assert "cm/trade-service-config" not in all_objects(fleet, "trading-dev")


def test_prune_never_touches_objects_of_another_app_or_untracked_objects(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.engine.sync("ledger-worker", "dev")
    fleet.core.create_namespaced_config_map("trading-dev", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="hand-made")))
    fleet.repo.commit({"apps/trade-service/dev/configmap.yaml": None}, "drop")
    fleet.engine.sync("trade-service", "dev")
    remaining = all_objects(fleet, "trading-dev")
    assert {"cm/hand-made", "secret/ledger-db", "deploy/ledger-worker"} <= set(remaining)


def test_pruning_everything_is_refused_unless_the_path_is_gone_and_allowed(fleet):
    fleet.engine.sync("ledger-worker", "dev", wait=True, timeout=20)  # settled: controllers write no more status
    before = all_objects(fleet, "trading-dev")
    fleet.repo.commit(
        {"apps/ledger-worker/dev/worker.yaml": "# emptied by mistake\n", "apps/ledger-worker/dev/secret.yaml": "---\n"},
        "empty",
    )
    with pytest.raises(SyncRefusedError, match="renders no objects, so a sync would delete all 2 objects"):
        fleet.engine.sync("ledger-worker", "dev", allow_empty=True)
    fleet.repo.commit(
        {"apps/ledger-worker/dev/worker.yaml": None, "apps/ledger-worker/dev/secret.yaml": None},
        "remove the app from dev",
    )
    with pytest.raises(SyncRefusedError, match="is gone from Git.*pass --allow-empty"):
        fleet.engine.sync("ledger-worker", "dev")
    assert all_objects(fleet, "trading-dev") == before
    result = fleet.engine.sync("ledger-worker", "dev", allow_empty=True)
    assert len(result.pruned) == 2
    assert "deploy/ledger-worker" not in all_objects(fleet, "trading-dev")


def test_sync_wait_reports_a_crashlooping_version_as_failed_and_degraded(fleet):
    text = deployment_yaml("trade-service", "registry.local/trade-service:v3-crashloop", 1).replace(
        "spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 1\n  replicas"
    )
    fleet.repo.commit({"apps/trade-service/dev/deployment.yaml": text}, "v3")
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    assert (result.result, result.health) == ("Failed", "Degraded")
    assert "timed out progressing" in result.message
    assert fleet.engine.history("trade-service", "dev")[0].result == "Failed"


def test_sync_wait_times_out_while_progressing(fleet):
    fleet.sandbox.controllers.timing.ready_delay = 30
    result = fleet.engine.sync("trade-service", "dev", wait=True, timeout=1)
    assert (result.result, result.health) == ("Failed", "Progressing")


def test_dry_run_changes_nothing(fleet):
    result = fleet.engine.sync("trade-service", "dev", dry_run=True)
    assert result.dry_run and len(result.applied) == 3
    assert all_objects(fleet, "trading-dev") == {}
    assert fleet.engine.history("trade-service", "dev") == []


def test_history_keeps_the_last_20_syncs_with_actor_and_counts(fleet):
    for i in range(22):
        fleet.engine.sync("trade-service", "dev", actor=f"user{i}")
    history = fleet.engine.history("trade-service", "dev")
    assert len(history) == 20
    assert history[0].actor == "user21" and history[-1].actor == "user2"
    assert history[-1].applied == 0 and history[0].unchanged == 3
    assert history[0].revision == fleet.repo.work.head.commit.hexsha


def test_ignore_differences_is_neither_drift_nor_overwritten(fleet):
    text = fleet.config_path.read_text().replace(
        'container = "trade-service"', 'container = "trade-service"\nignore_differences = ["/spec/replicas"]'
    )
    fleet.config_path.write_text(text)
    engine = fleet.reload()
    engine.sync("trade-service", "dev")
    fleet.apps.patch_namespaced_deployment_scale("trade-service", "trading-dev", {"spec": {"replicas": 5}})
    assert engine.diff("trade-service", "dev").in_sync
    engine.sync("trade-service", "dev")
    assert fleet.apps.read_namespaced_deployment("trade-service", "trading-dev").spec.replicas == 5


def test_unknown_apps_and_environments_are_one_clear_sentence(fleet):
    with pytest.raises(UsageError, match='unknown app "nope"; known apps: ledger-worker, pricing-api, trade-service'):
        fleet.engine.sync("nope", "dev")
    with pytest.raises(UsageError, match='unknown environment "qa"; known environments: dev, staging, prod'):
        fleet.engine.sync("trade-service", "qa")


def test_an_unreachable_cluster_is_a_cluster_error_and_status_says_unknown(fleet):
    fleet.sandbox.stop()
    for env in fleet.engine.config.environments.values():
        fleet.engine.cluster(env).attempts = 2
    with pytest.raises(ClusterError, match="cannot reach the cluster"):
        fleet.engine.sync("trade-service", "dev")
    rows = fleet.engine.status("trade-service", "dev")
    assert (rows[0].sync, rows[0].health) == ("Unknown", "Unknown")
