"""Canary rollouts end to end: sandbox, real Git, the traffic simulator and the real Prometheus server."""

from __future__ import annotations

import os
import shutil
import textwrap
from dataclasses import dataclass

import git
import pytest

from gitopsctl.errors import PolicyError
from gitopsctl.sandbox.prometheus import PrometheusServer
from gitopsctl.sandbox.traffic import TrafficSimulator
from tests.conftest import Fleet

if shutil.which("prometheus") is None and os.environ.get("CI") == "true":
    raise RuntimeError("the real Prometheus server is required under CI; `make test` installs it")
pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")

CANARY = textwrap.dedent(
    """
    [prometheus]
    url = "{url}"

    [analysis.templates.success-rate]
    provider = "prometheus"
    query = 'sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary",code!~"5.."}}[4s])) / sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary"}}[4s]))'
    interval = "1s"
    count = 3
    success_condition = "result >= 0.95"
    failure_limit = 0
    inconclusive_limit = 10
    consecutive_error_limit = 2

    [apps.trade-service.canary]
    steps = [{{ set_weight = 34 }}, {{ analysis = "success-rate" }}, {{ set_weight = 67 }}, {{ pause = "1s" }}, {{ set_weight = 100 }}]

    [apps.pricing-api.canary]
    steps = [{{ set_weight = 50 }}, {{ pause = {{}} }}, {{ set_weight = 100 }}]

    [apps.ledger-worker.canary]
    steps = [{{ set_weight = 100 }}]
    """
)


@dataclass
class CanaryFleet:
    fleet: Fleet
    prometheus: PrometheusServer
    simulator: TrafficSimulator


@pytest.fixture
def canary(fleet, tmp_path):
    simulator = TrafficSimulator(fleet.sandbox.store).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", [simulator.target]).start()
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    fleet.config_path.write_text(text + CANARY.format(url=prometheus.url))
    engine = fleet.reload()
    for app in ("trade-service", "pricing-api"):
        engine.sync(app, "prod", wait=True, timeout=30)
    try:
        yield CanaryFleet(fleet, prometheus, simulator)
    finally:
        prometheus.stop()
        simulator.stop()


def image(fleet, name: str) -> str | None:
    deployments = {d.metadata.name: d for d in fleet.apps.list_namespaced_deployment("trading-prod").items}
    dep = deployments.get(name)
    return dep.spec.template.spec.containers[0].image if dep else None


def head(fleet) -> git.Commit:
    return git.Repo(fleet.repo.url).commit("main")


def test_a_good_version_goes_through_every_step_to_promoted(canary):
    fleet = canary.fleet
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2", actor="alice", wait=True, timeout=120)
    assert (result.status, result.rollout.phase) == ("Deployed", "Promoted"), result.message
    events = " | ".join(result.rollout.events)
    assert (
        "canary weight set to 34%" in events
        and "analysis success-rate passed" in events
        and "canary weight set to 100%" in events
    )
    phases = [m.phase for m in result.rollout.measurements]
    # rate() needs two scrapes of the new canary series: the first measurements may be Inconclusive, never Successful
    assert phases.count("Successful") == 3 and set(phases) <= {"Successful", "Inconclusive"}
    assert image(fleet, "trade-service") == "registry.local/trade-service:v1.4.2"
    assert image(fleet, "trade-service-canary") is None
    assert head(fleet).hexsha == result.commit
    assert fleet.engine.diff("trade-service", "prod").in_sync


def test_a_bad_version_is_aborted_by_analysis_and_git_is_reverted(canary):
    fleet = canary.fleet
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2-bad", actor="alice", wait=True, timeout=120)
    assert (result.status, result.rollout.phase) == ("Aborted", "Aborted")
    assert "success-rate" in result.message and "at 34% traffic" in result.message
    revert = head(fleet)
    assert revert.message.startswith("Roll back trade-service prod to v1.4.1: success-rate")
    assert revert.parents[0].hexsha == result.commit
    assert image(fleet, "trade-service") == "registry.local/trade-service:v1.4.1"
    assert image(fleet, "trade-service-canary") is None
    assert fleet.engine.diff("trade-service", "prod").in_sync, "Git and the cluster agree after the abort"
    assert any(m.phase == "Failed" for m in result.rollout.measurements)


def test_a_crashlooping_canary_is_aborted(canary):
    fleet = canary.fleet
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2-crashloop", actor="alice", wait=True, timeout=60)
    assert result.rollout.phase == "Aborted" and "crash-looping" in result.message
    assert image(fleet, "trade-service") == "registry.local/trade-service:v1.4.1"


def test_prometheus_stopped_mid_analysis_aborts_and_never_promotes(canary):
    fleet = canary.fleet
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    assert result.status == "Progressing"
    canary.prometheus.stop()
    rollout = fleet.engine.rollouts.drive("trade-service", "prod", timeout=60)
    assert rollout.phase == "Aborted"
    assert [m.phase for m in rollout.measurements][-3:] == ["Error"] * 3
    assert "could not answer" in rollout.message
    assert image(fleet, "trade-service") == "registry.local/trade-service:v1.4.1"


def test_an_indefinite_pause_waits_for_a_person_and_deploys_are_refused_meanwhile(canary):
    fleet = canary.fleet
    fleet.engine.deploy("pricing-api", "prod", "v2.1.0", actor="alice")
    rollout = fleet.engine.rollouts.drive("pricing-api", "prod", timeout=20)
    assert (rollout.phase, rollout.weight) == ("Paused", 50)
    with pytest.raises(
        PolicyError, match=r"a rollout of pricing-api v2.1.0 in prod is in progress \(Paused, 50% on the canary\)"
    ):
        fleet.engine.deploy("pricing-api", "prod", "v2.2.0", actor="bob")
    with pytest.raises(PolicyError, match="promote or abort it first"):
        fleet.engine.sync("pricing-api", "prod")
    fleet.engine.rollouts.promote("pricing-api", "prod", actor="carol")
    rollout = fleet.engine.rollouts.drive("pricing-api", "prod", timeout=30)
    assert rollout.phase == "Promoted"
    assert image(fleet, "pricing-api") == "registry.local/pricing-api:v2.1.0"


def test_a_rollout_can_be_aborted_by_hand(canary):
    fleet = canary.fleet
    fleet.engine.deploy("pricing-api", "prod", "v2.1.0", actor="alice")
    fleet.engine.rollouts.drive("pricing-api", "prod", timeout=20)
    aborted = fleet.engine.rollouts.abort("pricing-api", "prod", reason="latency looks odd", actor="dave")
    assert aborted.phase == "Aborted"
    assert head(fleet).message.startswith("Roll back pricing-api prod to v2.0.0: latency looks odd")
    assert "Rolled-back-by: dave" in head(fleet).message
    assert image(fleet, "pricing-api") == "registry.local/pricing-api:v2.0.0"
