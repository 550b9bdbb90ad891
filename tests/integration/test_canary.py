"""Canary rollouts end to end: sandbox, real Git, the traffic simulator and the real Prometheus server."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import git
import pytest

from gitopsctl.errors import PolicyError
from tests.conftest import wait_for


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
    assert re.fullmatch(r"success-rate 0\.\d+ < 0\.95 at 34% traffic", result.message), result.message
    revert = head(fleet)
    assert revert.message.startswith("Roll back trade-service prod to v1.4.1: success-rate")
    assert revert.parents[0].hexsha == result.commit == result.rollout.deploy_commit
    assert result.rollout.revert_commit == revert.hexsha
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
    assert head(fleet).message.startswith("Roll back pricing-api prod to v2.0.0: aborted by dave\n")
    assert "Rolled-back-by: dave" in head(fleet).message and "Reason: latency looks odd" in head(fleet).message
    assert image(fleet, "pricing-api") == "registry.local/pricing-api:v2.0.0"


def _controller(fleet) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), "controller", "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_controller_killed_mid_canary_loses_nothing(canary):
    fleet = canary.fleet
    started = fleet.engine.deploy("ledger-worker", "prod", "v1.0.0", actor="alice")
    assert started.status == "Progressing"
    first = _controller(fleet)
    try:
        wait_for(
            lambda: (r := fleet.engine.rollouts.get("ledger-worker", "prod")).step == 1 and r.weight == 50,
            timeout=30,
            message="the rollout to reach its pause",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    frozen = fleet.engine.rollouts.get("ledger-worker", "prod")
    assert (frozen.phase, frozen.step, frozen.weight) == ("Progressing", 1, 50)

    second = _controller(fleet)
    try:
        done = wait_for(
            lambda: (r := fleet.engine.rollouts.get("ledger-worker", "prod")).phase == "Promoted" and r,
            timeout=60,
            message="the new controller to finish the rollout",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=10)
    events = [e.split(" ", 1)[1] for e in done.events]
    assert events.count("canary weight set to 50%") == 1 and events.count("canary weight set to 100%") == 1
    deploy_commits = [
        c for c in git.Repo(fleet.repo.url).iter_commits("main") if c.message.startswith("Deploy ledger-worker")
    ]
    assert len(deploy_commits) == 1
    assert image(fleet, "ledger-worker") == "registry.local/ledger-worker:v1.0.0"


def test_rollout_status_json_and_manual_controls_from_the_cli(canary):
    fleet = canary.fleet
    cli = [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path)]

    def as_user(user: str) -> list[str]:  # the CLI with that person's own kubeconfig
        return [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_for(user))]

    deployed = subprocess.run(
        [*as_user("alice"), "deploy", "pricing-api", "prod", "v2.1.0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployed.returncode == 0 and "Progressing: canary rollout of pricing-api v2.0.0 -> v2.1.0" in deployed.stdout
    fleet.engine.rollouts.drive("pricing-api", "prod", timeout=20)
    status = subprocess.run(
        [*cli, "rollout", "status", "pricing-api", "prod", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    body = json.loads(status.stdout)
    assert set(body) == {
        "app",
        "env",
        "phase",
        "step",
        "steps",
        "weight",
        "stable_version",
        "canary_version",
        "measurements",
        "message",
    }
    assert (body["phase"], body["step"], body["steps"], body["weight"]) == ("Paused", 1, 3, 50)
    promoted = subprocess.run(
        [*as_user("carol"), "rollout", "promote", "pricing-api", "prod", "--full"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert promoted.returncode == 0, promoted.stderr
    assert fleet.engine.rollouts.drive("pricing-api", "prod", timeout=30).phase == "Promoted"
    bad = subprocess.run(
        [*as_user("alice"), "deploy", "trade-service", "prod", "v9-bad", "--wait", "--timeout", "2m"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout.startswith("Aborted: canary rollout of trade-service")


# plain text (not a format string): PromQL braces and {{app}} placeholders as they are written in config
EXTRA = """
[analysis.templates.errors-background]
query = 'sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="{{track}}",code!~"5.."}[3s])) / sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="{{track}}"}[3s]))'
interval = "1s"
count = 1
failure_condition = "result < 0.9"
inconclusive_limit = 100

[analysis.templates.argo-band]
# as background article 002 writes it for Argo Rollouts: a list per vector, and a band between the conditions
query = 'sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="{{track}}",code!~"5.."}[4s])) / sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="{{track}}"}[4s]))'
interval = "1s"
initial_delay = "5s"
count = 3
success_condition = "result[0] >= 0.99"
failure_condition = "result[0] < 0.95"
failure_limit = 0
inconclusive_limit = 2

[analysis.templates.latency-judge]
query = 'histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{app="{{app}}",env="{{env}}",track="{{track}}"}[3s])))'
interval = "2s"
count = 2
judge = "increase"
window = "20s"
min_samples = 5
inconclusive_limit = 20
"""


def _with_trade_steps(fleet, steps: str, background: str = "") -> None:
    text = fleet.config_path.read_text()
    start = text.index("[apps.trade-service.canary]")
    end = text.index("[apps.pricing-api.canary]")
    block = f"[apps.trade-service.canary]\n{background}steps = {steps}\n\n"
    fleet.config_path.write_text(text[:start] + block + text[end:] + EXTRA)
    fleet.reload()


def test_background_analysis_aborts_during_a_long_pause(canary):
    fleet = canary.fleet
    _with_trade_steps(
        fleet,
        '[{ set_weight = 34 }, { pause = "60s" }, { set_weight = 100 }]',
        'background_analysis = ["errors-background"]\n',
    )
    events: list[str] = []
    fleet.engine.subscribe(lambda rollout, text: events.append(text))
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2-bad", actor="alice", wait=True, timeout=60)
    assert result.rollout.phase == "Aborted"
    assert "errors-background (background)" in result.message
    assert "canary weight set to 34%" in events and any(e.startswith("errors-background = ") for e in events)
    assert events[-1].startswith("aborted: errors-background (background)")


def test_a_canary_between_argo_style_conditions_pauses_for_a_person(canary):
    """3% errors: not >= 99% (success), not < 95% (failure): Argo's Inconclusive band, a pause, never an abort."""
    fleet = canary.fleet
    _with_trade_steps(fleet, '[{ set_weight = 50 }, { analysis = "argo-band" }, { set_weight = 100 }]')
    fleet.engine.deploy("trade-service", "prod", "v1.4.2-flaky", actor="alice")
    rollout = fleet.engine.rollouts.drive("trade-service", "prod", timeout=60)
    assert (rollout.phase, rollout.weight) == ("Paused", 50), rollout.events
    assert "analysis argo-band is inconclusive" in rollout.message and "promote or abort by hand" in rollout.message
    band = [m for m in rollout.measurements if m.metric == "argo-band"]
    assert [m.phase for m in band] == ["Inconclusive"] * 3, band
    for m in band:
        assert isinstance(m.value, list) and 0.95 <= m.value[0] < 0.99, m  # Prometheus' vector, as Argo shapes it
        assert re.fullmatch(r"between the conditions: 0\.9\d+ < 0\.99 and 0\.9\d+ >= 0\.95", m.message), m.message
    assert image(fleet, "trade-service-canary") == "registry.local/trade-service:v1.4.2-flaky"  # nothing aborted
    fleet.engine.rollouts.abort("trade-service", "prod", reason="3% errors is too many", actor="dave")


def test_the_statistical_judge_aborts_a_slower_canary(canary):
    fleet = canary.fleet
    _with_trade_steps(fleet, '[{ set_weight = 34 }, { analysis = "latency-judge" }, { set_weight = 100 }]')
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2-slow", actor="alice", wait=True, timeout=90)
    assert result.rollout.phase == "Aborted", result.rollout.events
    assert "a significant increase" in result.message


def test_an_aborted_rollout_can_be_retried_once_its_quarantine_is_lifted(canary):
    fleet = canary.fleet
    with pytest.raises(PolicyError, match="no aborted rollout to retry"):
        fleet.engine.rollouts.retry("trade-service", "prod", actor="alice")
    first = fleet.engine.deploy("trade-service", "prod", "v1.4.2-crashloop", actor="alice", wait=True, timeout=60)
    assert first.rollout.phase == "Aborted"
    with pytest.raises(PolicyError, match="v1.4.2-crashloop is quarantined since it failed in prod"):
        fleet.engine.rollouts.retry("trade-service", "prod", actor="bob")  # refused until someone lifts it
    fleet.engine.unquarantine("trade-service", "v1.4.2-crashloop", reason="retry with more memory", actor="carol")
    again = fleet.engine.rollouts.retry("trade-service", "prod", actor="bob", wait=True, timeout=60)
    assert again.rollout.phase == "Aborted" and again.commit != first.commit
    deploys = [
        c
        for c in git.Repo(fleet.repo.url).iter_commits("main")
        if c.message.startswith("Deploy trade-service v1.4.2-crashloop")
    ]
    assert len(deploys) == 2


def test_a_judge_step_scores_metrics_and_aborts_a_slower_canary(canary):
    fleet = canary.fleet
    _with_trade_steps(fleet, '[{ set_weight = 34 }, { judge = ["latency-judge"] }, { set_weight = 100 }]')
    result = fleet.engine.deploy("trade-service", "prod", "v1.4.2-slow", actor="alice", wait=True, timeout=90)
    assert result.rollout.phase == "Aborted", result.rollout.events
    assert result.message.startswith("judge scored 0: latency-judge: canary")
    assert result.rollout.measurements[-1].metric == "judge" and result.rollout.measurements[-1].phase == "Failed"
