"""Promote and promote fully differ as an on-call engineer expects: one step, or every remaining step skipped."""

from __future__ import annotations

from tests.conftest import wait_for

APP, ENV = "trade-service", "prod"
STEPS = "[{ set_weight = 25 }, { pause = {} }, { set_weight = 50 }, { pause = {} }, { set_weight = 100 }]"


def _paused_at(engine, weight: int):
    def paused() -> bool:
        engine.rollouts.reconcile(APP, ENV)
        rollout = engine.rollouts.get(APP, ENV)
        return rollout.phase == "Paused" and rollout.weight == weight

    wait_for(paused, timeout=30, message=f"the rollout paused at {weight}%")
    return engine.rollouts.get(APP, ENV)


def test_promote_passes_one_pause_and_promote_fully_skips_every_remaining_step(fleet):
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    text += "".join(
        f"\n[apps.{app}.canary]\nsteps = {STEPS}\n" for app in ("trade-service", "pricing-api", "ledger-worker")
    )
    fleet.config_path.write_text(text)
    engine = fleet.reload()
    engine.sync(APP, ENV, wait=True, timeout=30)
    engine.deploy(APP, ENV, "v1.4.2", actor="alice")
    assert _paused_at(engine, 25).step == 1

    engine.rollouts.promote(APP, ENV, actor="carol")
    second = _paused_at(engine, 50)  # on to the next pause, not to the end
    assert second.step == 3 and second.phase == "Paused"

    engine.rollouts.promote(APP, ENV, full=True, actor="carol")
    done = engine.rollouts.drive(APP, ENV, timeout=30)
    events = [e.split(" ", 1)[1] for e in done.events]
    assert done.phase == "Promoted"
    assert "carol promoted fully, skipping the remaining steps" in events
    assert "canary weight set to 100%" not in events  # the last step was skipped, not run
    live = {d.metadata.name: d for d in fleet.apps.list_namespaced_deployment("trading-prod").items}
    assert live[APP].spec.template.spec.containers[0].image == "registry.local/trade-service:v1.4.2"
    assert f"{APP}-canary" not in live
