"""A version that cannot run is Degraded, with the reason the cluster gives, and the old pods keep serving."""

from __future__ import annotations

import pytest

from demo.seed import deployment_yaml
from tests.cluster.conftest import APP, ENV, IMAGE, READY_TIMEOUT, REPLICAS, STABLE

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

# One input that fails everywhere, so the test never asks which cluster it is on: this tag does not exist, so a
# real cluster's kubelet cannot pull it (ErrImagePull, then ImagePullBackOff), and the sandbox, which pulls
# nothing, makes an image whose tag ends in "-crashloop" crash-loop. Either way the new pods never become ready,
# and with a 10 s progress deadline the Deployment controller (the real one or the sandbox's) marks the rollout
# ProgressDeadlineExceeded, which is what the engine's health reads as Degraded.
BROKEN_TAG = "does-not-exist-crashloop"


def broken_deployment() -> str:
    return deployment_yaml(APP, f"{IMAGE}:{BROKEN_TAG}", REPLICAS).replace(
        "spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 10\n  replicas"
    )


def test_a_version_that_cannot_run_is_degraded_with_the_reason(cluster_fleet):
    fleet = cluster_fleet
    assert fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT).health == "Healthy"
    fleet.repo.commit({f"apps/{APP}/{ENV}/deployment.yaml": broken_deployment()}, f"Release {BROKEN_TAG}")

    result = fleet.engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    assert (result.result, result.health) == ("Failed", "Degraded"), result.message
    assert "timed out progressing" in result.message and f"Deployment {fleet.namespace}/{APP}" in result.message
    assert fleet.image() == f"{IMAGE}:{BROKEN_TAG}"

    (row,) = fleet.engine.status(APP, ENV)
    assert (row.health, row.version) == ("Degraded", BROKEN_TAG), row
    # a failed sync delivered nothing: the commit is still waiting, and the row says why it is not Healthy
    assert (row.sync, [c.title for c in row.commits]) == ("OutOfSync", [f"Release {BROKEN_TAG}"]), row
    assert "timed out progressing" in row.message
    assert fleet.engine.history(APP, ENV)[0].result == "Failed"
    # a rolling update never takes away more than it has replaced: the old version's pods still serve
    pods = fleet.core.list_namespaced_pod(fleet.namespace, label_selector=f"app={APP}").items
    ready = [
        p.spec.containers[0].image
        for p in pods
        if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions if p.status else None) or [])
    ]
    assert ready == [f"{IMAGE}:{STABLE}"] * REPLICAS, ready
    assert (fleet.deployment().status.available_replicas or 0) == REPLICAS
