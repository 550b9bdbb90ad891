"""Incident mode: responders deploy and roll back without a second approval (recorded as such), nothing happens
by itself meanwhile, it ends by itself, and its timeline lists every action taken in the environment."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from gitopsctl.drift.incidents import DriftReports
from gitopsctl.errors import PolicyError, UsageError
from gitopsctl.release.incident_mode import IncidentMode
from gitopsctl.source.commits import trailers
from tests.conftest import wait_for
from tests.engine.test_drift_reports import Recorder
from tests.integration.test_follow_git import bump, head, image, outcome_of, push, set_env

APPROVALS = '\n[environments.prod.approval]\nrequired = 1\nusers = ["bob"]\n'


def test_a_responder_deploys_without_approval_automation_waits_and_the_timeline_is_kept(fleet):
    set_env(fleet, "prod", 'sync = "auto"\nself_heal = true')
    engine = fleet.reload()
    for app in ("trade-service", "ledger-worker"):
        engine.sync(app, "prod", wait=True, timeout=30)
    engine = fleet.reload(APPROVALS)
    mode = engine.incidents.start("prod", "INC-42", responders=("alice",), duration=timedelta(seconds=6), actor="carol")
    assert engine.fleet().cell("trade-service", "prod").incident == "INC-42"
    with pytest.raises(PolicyError, match="prod is already in incident INC-42"):
        engine.incidents.start("prod", "INC-43", responders=(), duration=timedelta(hours=1), actor="dave")

    # a responder: deployed at once, the commit says why no one approved it
    deployed = engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    assert deployed.status == "Deployed", deployed.message
    said = trailers(head(fleet).message)
    assert said["Deployed-by"] == "alice" and said["Incident"].startswith("INC-42 (by a responder")
    # anyone else: the usual gates
    assert engine.deploy("ledger-worker", "prod", "v0.9.4", actor="dave").status == "PendingApproval"

    # nothing by itself: a CI commit is held, and drift is reported, not healed
    sha = push(fleet, bump("prod", "v1.4.2", "v1.4.3"), "CI: v1.4.3")
    held = outcome_of(engine.follow(), "trade-service", "prod")
    assert held.state == "Held" and "prod is in incident INC-42" in held.message
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-prod", {"spec": {"replicas": 5}})
    recorder = Recorder()
    DriftReports(engine, recorder).scan("prod")
    assert recorder.events[0] == ("opened", "trade-service", "prod")  # opened, not healed
    assert fleet.apps.read_namespaced_deployment("trade-service", "trading-prod").spec.replicas == 5

    # it ends by itself; the timeline has the responder's deploy, with its commit
    wait_for(lambda: engine.incidents.active(engine.config.environments["prod"]) is None, 15, 0.2, "its end")
    ((ended, timeline),) = engine.incidents.expire()
    assert ended.id == "INC-42" and ended.ended_by == "its time ran out" and ended.ended_at == mode.until
    whats = [(m.who, m.what) for m in timeline]
    assert whats[0] == ("carol", "started incident mode for INC-42")
    assert ("alice", "commit: Deploy trade-service v1.4.2 to prod (was v1.4.1)") in whats
    assert any(who == "alice" and what.startswith("synced trade-service (v1.4.2)") for who, what in whats)
    assert whats[-1] == ("its time ran out", "ended incident mode for INC-42")
    assert engine.incidents.expire() == []

    # and Git's change is held no longer: it meets the usual gates again (prod's approval)
    asked = outcome_of(engine.follow(), "trade-service", "prod")
    assert (asked.state, asked.revision) == ("PendingApproval", sha)
    assert image(fleet, "prod").endswith(":v1.4.2")


def test_bad_input_is_one_sentence_and_nothing_is_started(fleet):
    engine = fleet.reload()
    with pytest.raises(UsageError, match="is not an incident id"):
        engine.incidents.start("prod", "INC 1; rm", responders=(), duration=timedelta(hours=1), actor="carol")
    with pytest.raises(UsageError, match="between 1s and 7d"):
        engine.incidents.start("prod", "INC-1", responders=(), duration=timedelta(days=30), actor="carol")
    with pytest.raises(UsageError, match="is not a person"):
        engine.incidents.start("prod", "INC-1", responders=("a b",), duration=timedelta(hours=1), actor="carol")
    with pytest.raises(UsageError, match="prod is not in incident mode"):
        engine.incidents.end("prod", actor="carol")
    assert engine.incidents.active(engine.config.environments["prod"]) is None


def test_a_sync_in_the_second_the_incident_started_is_in_its_timeline(fleet):
    """Sync records keep whole seconds: a sync 0.3 s after the start is stamped before it, and was left out."""
    engine = fleet.reload()
    last = datetime.now(UTC).replace(microsecond=0)  # anything synced before is stamped this second or earlier
    for _ in range(20):  # a sync that starts and ends within one fresh second (nearly every one does)
        while datetime.now(UTC).replace(microsecond=0) == last:  # the clock, not a state: no event to wait on
            time.sleep(0.01)
        started = datetime.now(UTC)
        engine.sync("trade-service", "prod", wait=True, timeout=30, actor="alice")
        last = datetime.now(UTC).replace(microsecond=0)
        if last == started.replace(microsecond=0) and started.microsecond:
            break
    else:
        pytest.fail("no sync ended within the second it started")
    mode = IncidentMode(
        "prod",
        "INC-7",
        ("alice",),
        "carol",
        started,
        started + timedelta(hours=1),
        ended_at=started + timedelta(minutes=5),
    )
    synced = [m for m in engine.incidents.timeline(mode) if m.what.startswith("synced trade-service")]
    assert [(m.who, m.at) for m in synced] == [("alice", started)]  # in order: at the start, not before it
