"""Sync from real Git to the cluster: server-side apply, real pods, Synced and Healthy, nothing written twice."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import APP, ENV, IMAGE, READY_TIMEOUT, REPLICAS, STABLE
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_an_app_from_git_is_applied_and_healthy_once_its_pods_are_ready(cluster_fleet):
    fleet, ns = cluster_fleet, cluster_fleet.namespace
    before = fleet.engine.status(APP, ENV)[0]
    assert (before.sync, before.health) == ("OutOfSync", "Missing"), before

    result = fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT, actor="cluster-test")
    assert (result.result, result.health) == ("Succeeded", "Healthy"), result.message
    assert sorted(str(ref) for ref in result.applied) == [
        f"ConfigMap {ns}/{APP}-config",
        f"Deployment {ns}/{APP}",
        f"Service {ns}/{APP}",
    ]
    assert result.version == STABLE and fleet.image() == f"{IMAGE}:{STABLE}"
    # Healthy means the pods run: the cluster reports them Ready
    wait_for(lambda: fleet.ready_pods() == REPLICAS, 30, 0.5, f"{REPLICAS} ready pods of {APP}")

    dep = fleet.deployment()
    assert dep.metadata.labels["app.kubernetes.io/managed-by"] == "gitopsctl"
    assert dep.metadata.annotations["gitopsctl.io/tracking-id"] == f"{APP}/{ENV}"
    assert any(m.manager == "gitopsctl" and m.operation == "Apply" for m in dep.metadata.managed_fields)
    assert fleet.core.read_namespaced_config_map(f"{APP}-config", ns).data == {"GREETING": "hello"}
    assert fleet.core.read_namespaced_service(APP, ns).spec.selector == {"app": APP}

    (row,) = fleet.engine.status(APP, ENV)
    assert (row.sync, row.health, row.drift, row.version) == ("Synced", "Healthy", "Clean", STABLE), row
    assert row.revision == fleet.head().hexsha
    # what the API server defaulted is not a difference: a second sync writes nothing
    again = fleet.engine.sync(APP, ENV, actor="cluster-test")
    assert (again.applied, again.unchanged, again.pruned) == ([], 3, [])
    assert fleet.engine.diff(APP, ENV).in_sync
    assert [h.result for h in fleet.engine.history(APP, ENV)] == ["Succeeded", "Succeeded"]
    # the writes every test checks at its end (conftest) were seen: server-side applies in the namespace
    assert any(m == "PATCH" and p.endswith(f"/namespaces/{ns}/deployments/{APP}") for m, p in fleet.writes.seen)
    assert fleet.writes.outside(ns) == []
