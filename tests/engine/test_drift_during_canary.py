"""A canary scaling stable is not drift, in every front end's read: status, drift, diff and the console's fleet.

The replicas router makes the weight a replica ratio, so while a canary runs stable's ``spec.replicas`` is
not what Git says, on purpose. A hand change made meanwhile is still drift, and so is a hand scale once no
canary runs.
"""

from __future__ import annotations

import pytest

from tests.conftest import wait_for

APP, ENV = "trade-service", "prod"


@pytest.fixture
def rolling(fleet):
    """prod's trade-service paused at 40% of a canary through the replicas router: stable runs 2 of Git's 3."""
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    text += "".join(
        f"\n[apps.{app}.canary]\nsteps = [{{ set_weight = 40 }}, {{ pause = {{}} }}]\n"
        for app in ("trade-service", "pricing-api", "ledger-worker")
    )
    fleet.config_path.write_text(text)
    engine = fleet.reload()
    engine.sync(APP, ENV, wait=True, timeout=30)
    engine.deploy(APP, ENV, "v1.4.2", actor="alice")

    def paused_at_40() -> bool:
        engine.rollouts.reconcile(APP, ENV)
        rollout = engine.rollouts.get(APP, ENV)
        return rollout.phase == "Paused" and rollout.weight == 40

    wait_for(paused_at_40, timeout=60, message="the canary at 40% and paused")
    assert fleet.apps.read_namespaced_deployment(APP, "trading-prod").spec.replicas == 2
    return fleet


def _drift_seen(engine) -> dict[str, object]:
    """What each read says of trade-service in prod: the status row, the drift scan, diff and the fleet cell."""
    row = next(r for r in engine.status(APP, ENV))
    report = engine.drift(ENV, (APP,))
    return {
        "status": row.drift,
        "drift": [(r.ref.kind, r.ref.name, [f.path for f in r.fields]) for d in report.drifted for r in d.resources],
        "clean": (APP, ENV) in report.clean,
        "diff": [(r.ref.kind, [f.path for f in r.fields]) for r in engine.diff(APP, ENV).drift],
        "cell": engine.fleet().cell(APP, ENV).drifted,
    }


def test_a_canary_scaling_stable_is_not_drift_in_status_drift_diff_or_the_fleet(rolling):
    assert _drift_seen(rolling.engine) == {"status": "Clean", "drift": [], "clean": True, "diff": [], "cell": 0}


def test_a_hand_change_made_during_a_canary_is_still_drift_without_the_canarys_scaling(rolling):
    rolling.apps.patch_namespaced_deployment(APP, "trading-prod", {"metadata": {"labels": {"app": "by-hand"}}})
    seen = _drift_seen(rolling.engine)
    assert seen["status"] == "Drifted"
    assert seen["drift"] == [("Deployment", APP, ["metadata.labels.app"])]  # replicas (2, Git 3) not among them
    assert seen["diff"] == [("Deployment", ["metadata.labels.app"])]
    assert seen["cell"] == 1


def test_a_hand_scale_once_the_canary_ended_is_drift_again(rolling):
    engine = rolling.engine
    assert engine.rollouts.abort(APP, ENV, actor="dave").phase == "Aborted"
    wait_for(
        lambda: rolling.apps.read_namespaced_deployment(APP, "trading-prod").spec.replicas == 3,
        timeout=30,
        message="stable scaled back to Git's 3",
    )
    assert _drift_seen(engine)["status"] == "Clean"
    rolling.apps.patch_namespaced_deployment(APP, "trading-prod", {"spec": {"replicas": 2}})
    seen = _drift_seen(engine)
    assert (seen["status"], seen["drift"], seen["cell"]) == ("Drifted", [("Deployment", APP, ["spec.replicas"])], 1)
