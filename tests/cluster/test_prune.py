"""What Git no longer has is pruned from the cluster, and only that."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException

from tests.cluster.conftest import APP, ENV, READY_TIMEOUT
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_an_object_removed_from_git_is_pruned_and_the_rest_stays(cluster_fleet):
    fleet, ns = cluster_fleet, cluster_fleet.namespace
    fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    fleet.repo.commit({f"apps/{APP}/{ENV}/configmap.yaml": None}, "Drop the config")
    assert fleet.engine.status(APP, ENV)[0].sync == "OutOfSync"

    result = fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    assert result.result == "Succeeded", result.message
    assert [str(ref) for ref in result.pruned] == [f"ConfigMap {ns}/{APP}-config"]
    assert (result.applied, result.unchanged) == ([], 2)

    def gone() -> bool:
        try:
            fleet.core.read_namespaced_config_map(f"{APP}-config", ns)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, 60, 0.5, "the pruned ConfigMap to be gone")
    assert fleet.core.read_namespaced_service(APP, ns) and fleet.deployment() is not None
    (row,) = fleet.engine.status(APP, ENV)
    assert (row.sync, row.health, row.drift) == ("Synced", "Healthy", "Clean"), row
