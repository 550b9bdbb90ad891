"""Zero downtime, checked as a client would: requests flow through every switch of a release and none fails
for want of a ready endpoint (the traffic simulator counts those apart from a version's own errors)."""

from __future__ import annotations

import pytest

from standins.traffic import REQUESTS_PER_SECOND, TrafficSimulator
from tests.conftest import wait_for
from tests.engine.test_traffic_routers import install_crd

APP, ENV, KEY = "trade-service", "prod", "trade-service/prod"


@pytest.fixture
def world(fleet, dyn_for_fleet, request):
    """prod on canary rollouts through ``request.param``'s router, with requests flowing all the time."""
    kind = request.param
    install_crd(dyn_for_fleet, kind)
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    text += "".join(
        f'\n[apps.{app}.canary]\ntraffic_router = "{kind}"\nscale_down_delay = "1s"\n'
        "steps = [{ set_weight = 40 }, { set_weight = 100 }, { pause = {} }]\n"
        for app in ("trade-service", "pricing-api", "ledger-worker")
    )
    fleet.config_path.write_text(text)
    engine = fleet.reload()
    engine.sync(APP, ENV, wait=True, timeout=30)
    simulator = TrafficSimulator(fleet.sandbox.store, tick=0.05).start()
    try:
        yield fleet, simulator
    finally:
        simulator.stop()


@pytest.fixture
def dyn_for_fleet(fleet):
    from kubernetes import config as kube_config
    from kubernetes import dynamic

    return dynamic.DynamicClient(kube_config.new_client_from_config(str(fleet.sandbox.kubeconfig)))


def settled(simulator: TrafficSimulator, version: str) -> int:
    """Once only stable serves ``version`` from all three pods and a few more ticks ran: requests lost so far."""

    def serving() -> bool:
        tracks = [t for t in simulator.stats()["tracks"] if t["app"] == APP and t["env"] == ENV]
        return [(t["track"], t["image"].rsplit(":", 1)[-1], t["ready"], t["weight"]) for t in tracks] == [
            ("stable", version, 3, 1.0)
        ]

    wait_for(serving, timeout=30, message=f"stable alone serving {version}")
    ticks = simulator.ticks
    wait_for(lambda: simulator.ticks >= ticks + 3, timeout=10, message="the simulator to read the cluster again")
    return simulator.lost().get(KEY, 0)


def served(simulator: TrafficSimulator) -> float:
    return sum(
        sample.value
        for metric in simulator.registry.collect()
        for sample in metric.samples
        if sample.name == "http_requests_total" and sample.labels["app"] == APP and sample.labels["env"] == ENV
    )


def at_full_weight(engine) -> None:
    """Reconcile until the canary carries all traffic and the rollout waits for a person."""

    def paused_at_100() -> bool:
        engine.rollouts.reconcile(APP, ENV)
        rollout = engine.rollouts.get(APP, ENV)
        return rollout.phase == "Paused" and rollout.weight == 100

    wait_for(paused_at_100, timeout=60, message="the canary at 100% and paused")


@pytest.mark.parametrize("world", ["replicas", "istio"], indirect=True)
def test_no_request_fails_for_want_of_an_endpoint_through_promotion_abort_and_rollback(world):
    fleet, simulator = world
    engine = fleet.engine
    baseline = settled(simulator, "v1.4.1")
    ticks_before, before = simulator.ticks, served(simulator)

    engine.deploy(APP, ENV, "v1.4.2", actor="alice")
    at_full_weight(engine)
    engine.rollouts.promote(APP, ENV, actor="carol")
    assert engine.rollouts.drive(APP, ENV, timeout=60).phase == "Promoted"
    assert settled(simulator, "v1.4.2") == baseline, "requests failed during the promotion"

    engine.deploy(APP, ENV, "v1.4.3", actor="alice")
    at_full_weight(engine)  # stable runs no pod now with the replicas router: the hardest abort
    assert engine.rollouts.abort(APP, ENV, actor="dave").phase == "Aborted"
    assert settled(simulator, "v1.4.2") == baseline, "requests failed during the abort"

    engine.rollback(APP, ENV, to="v1.4.1", actor="dave")
    assert settled(simulator, "v1.4.1") == baseline, "requests failed during the rollback"
    simulator.stop()
    ticks = simulator.ticks - ticks_before
    expected = ticks * REQUESTS_PER_SECOND * simulator.interval
    # every tick sent all of the app's requests somewhere, served or failed (each track carries a share of one,
    # and a tick under way as `before` was read may be counted in it): none went missing for want of a route
    assert ticks > 0 and abs(served(simulator) - before - expected) < REQUESTS_PER_SECOND * simulator.interval + 2
