"""A Git change is OutOfSync with a diff; a hand edit in the cluster is drift, naming the field manager that made it."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import APP, ENV, READY_TIMEOUT, app_files

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_a_git_change_shows_in_the_diff_and_a_sync_delivers_it(cluster_fleet):
    fleet, ns = cluster_fleet, cluster_fleet.namespace
    fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    change = {k: v for k, v in app_files(greeting="bonjour").items() if k.endswith("configmap.yaml")}
    sha = fleet.repo.commit(change, "Say bonjour")

    diff = fleet.engine.diff(APP, ENV)
    assert not diff.in_sync and diff.drift == []
    (resource,) = diff.git
    assert (resource.ref.kind, resource.ref.name, resource.state) == ("ConfigMap", f"{APP}-config", "changed")
    assert [(f.path, f.desired, f.live) for f in resource.fields] == [("data.GREETING", "bonjour", "hello")]
    (row,) = fleet.engine.status(APP, ENV)
    assert (row.sync, row.drift, [c.title for c in row.commits]) == ("OutOfSync", "Clean", ["Say bonjour"])
    assert fleet.core.read_namespaced_config_map(f"{APP}-config", ns).data == {"GREETING": "hello"}, "diff wrote"

    result = fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    assert (result.result, result.revision, len(result.applied)) == ("Succeeded", sha, 1), result.message
    assert fleet.core.read_namespaced_config_map(f"{APP}-config", ns).data == {"GREETING": "bonjour"}
    assert fleet.engine.diff(APP, ENV).in_sync
    assert fleet.engine.status(APP, ENV)[0].sync == "Synced"


def test_a_hand_edit_is_drift_naming_its_field_manager_and_a_sync_puts_it_back(cluster_fleet):
    fleet, ns = cluster_fleet, cluster_fleet.namespace
    fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    # what `kubectl patch` does: a strategic merge patch under its own field manager
    fleet.core.patch_namespaced_config_map(
        f"{APP}-config", ns, {"data": {"GREETING": "hacked"}}, field_manager="kubectl-patch"
    )
    fleet.apps.patch_namespaced_deployment(APP, ns, {"spec": {"replicas": 3}}, field_manager="kubectl-patch")

    for live in (fleet.core.read_namespaced_config_map(f"{APP}-config", ns), fleet.deployment()):
        managers = {(m.manager, m.operation) for m in live.metadata.managed_fields}
        assert {("gitopsctl", "Apply"), ("kubectl-patch", "Update")} <= managers, managers

    report = fleet.engine.drift(ENV, (APP,))
    (item,) = report.drifted
    found = {r.ref.kind: r.as_dict() for r in item.resources}
    assert found["ConfigMap"] == {
        "kind": "ConfigMap",
        "namespace": ns,
        "name": f"{APP}-config",
        "state": "changed",
        "fields": [{"path": "data.GREETING", "desired": "hello", "live": "hacked"}],
        "changed_by": "kubectl-patch",
    }
    assert (found["Deployment"]["state"], found["Deployment"]["changed_by"]) == ("changed", "kubectl-patch")
    assert [(f["path"], f["desired"], f["live"]) for f in found["Deployment"]["fields"]] == [("spec.replicas", 2, 3)]
    assert set(found) == {"ConfigMap", "Deployment"}
    (row,) = fleet.engine.status(APP, ENV)
    assert (row.sync, row.drift) == ("Synced", "Drifted"), "drift is not OutOfSync: Git has nothing new"

    repaired = fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    assert (repaired.result, len(repaired.applied)) == ("Succeeded", 2), repaired.message
    assert fleet.core.read_namespaced_config_map(f"{APP}-config", ns).data == {"GREETING": "hello"}
    assert fleet.deployment().spec.replicas == 2
    assert fleet.engine.drift(ENV, (APP,)).drifted == []
