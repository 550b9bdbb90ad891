"""Deploys, approvals, freezes and rollbacks: commits in real Git, synced to the sandbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import git
import pytest

from gitopsctl.cluster.locks import Locks
from gitopsctl.config import FreezeWindow
from gitopsctl.errors import LockedError, ManifestError, PolicyError, UsageError
from gitopsctl.release.policy import window_active

POLICY = """
[groups]
sre = ["carol", "dave"]

[environments.prod.approval]
required = 1
groups = ["sre"]
"""


def head(fleet) -> git.Commit:
    return git.Repo(fleet.repo.url).commit("main")


def image(fleet, namespace: str) -> str:
    return fleet.apps.read_namespaced_deployment("trade-service", namespace).spec.template.spec.containers[0].image


@pytest.fixture
def policy_fleet(fleet):
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"', 'namespace = "trading-prod"\nrequire_upstream_healthy = true'
    )
    fleet.config_path.write_text(text + POLICY)
    fleet.reload()
    return fleet


def test_a_deploy_is_a_commit_with_trailers_then_a_healthy_sync(fleet):
    result = fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    assert (result.status, result.previous, result.version) == ("Deployed", "v1.4.1", "v1.4.2")
    commit = head(fleet)
    assert commit.hexsha == result.commit
    assert commit.message == "Deploy trade-service v1.4.2 to dev (was v1.4.1)\n\nDeployed-by: alice\n"
    assert commit.stats.total["lines"] == 2  # exactly one line changed
    assert image(fleet, "trading-dev") == "registry.local/trade-service:v1.4.2"
    assert result.sync.health == "Healthy"
    assert fleet.engine.history("trade-service", "dev")[0].actor == "alice"


def test_the_version_defaults_to_what_runs_healthy_upstream(fleet):
    fleet.engine.deploy("trade-service", "dev", "v1.5.0", actor="alice")
    promoted = fleet.engine.deploy("trade-service", "staging", None, actor="alice")
    assert (promoted.status, promoted.version) == ("Deployed", "v1.5.0")
    with pytest.raises(UsageError, match="dev is the first environment; give the version"):
        fleet.engine.deploy("trade-service", "dev", None, actor="alice")


def test_invalid_versions_are_refused_before_anything_is_written(fleet):
    before = head(fleet).hexsha
    with pytest.raises(ManifestError, match="is not a valid version"):
        fleet.engine.deploy("trade-service", "dev", "--force", actor="alice")
    assert head(fleet).hexsha == before


def test_prod_requires_the_version_healthy_upstream(policy_fleet):
    fleet = policy_fleet
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    with pytest.raises(
        PolicyError, match=r"trade-service v2.0.0 has not run Healthy in staging \(staging runs v1.4.1 Healthy\)"
    ):
        fleet.engine.deploy("trade-service", "prod", "v2.0.0", actor="alice")


def test_approval_flow_refuses_self_approval_and_outsiders(policy_fleet):
    fleet = policy_fleet
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    before = head(fleet).hexsha
    pending = fleet.engine.deploy("trade-service", "prod", None, actor="alice")
    assert (pending.status, pending.version) == ("PendingApproval", "v1.4.1")
    assert "waiting for 1 approval(s) from the sre group" in pending.message
    assert head(fleet).hexsha == before
    with pytest.raises(PolicyError, match="alice asked for this deploy; someone else must approve it"):
        fleet.engine.approve("trade-service", "prod", actor="alice")
    with pytest.raises(PolicyError, match="bob may not approve deploys to prod; approvers: the sre group"):
        fleet.engine.approve("trade-service", "prod", actor="bob")
    with pytest.raises(PolicyError, match="already pending"):
        fleet.engine.deploy("trade-service", "prod", "v1.4.1", actor="erin")
    rejected = fleet.engine.reject("trade-service", "prod", actor="dave")
    assert rejected.requester == "alice"
    with pytest.raises(UsageError, match="no pending request"):
        fleet.engine.approve("trade-service", "prod", actor="carol")

    fleet.engine.deploy("trade-service", "staging", "v1.4.2", actor="alice")
    fleet.engine.deploy("trade-service", "prod", None, actor="alice")
    done = fleet.engine.approve("trade-service", "prod", actor="carol")
    assert (done.status, done.version) == ("Deployed", "v1.4.2")
    assert head(fleet).message.endswith("Deployed-by: alice\nApproved-by: carol\n")
    assert image(fleet, "trading-prod") == "registry.local/trade-service:v1.4.2"


def test_a_frozen_environment_needs_an_approved_break_glass(fleet):
    fleet.engine.freeze("dev", duration=timedelta(hours=1), reason="incident INC-42", actor="sre-oncall")
    with pytest.raises(
        PolicyError, match=r"dev is frozen \(manual: incident INC-42 \(frozen by sre-oncall\)\).*--break-glass"
    ):
        fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    with pytest.raises(UsageError, match="needs --reason"):
        fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice", break_glass=True)
    pending = fleet.engine.deploy(
        "trade-service", "dev", "v1.4.2", actor="alice", break_glass=True, reason="hotfix for INC-42"
    )
    assert pending.status == "PendingApproval" and pending.request.break_glass
    with pytest.raises(PolicyError, match="alice asked for this break-glass deploy"):
        fleet.engine.approve("trade-service", "dev", actor="alice")
    done = fleet.engine.approve("trade-service", "dev", actor="bob")
    assert done.status == "Deployed"
    assert head(fleet).message.startswith("Break-glass deploy trade-service v1.4.2 to dev")
    assert "Reason: hotfix for INC-42" in head(fleet).message
    assert fleet.engine.unfreeze("dev") is True
    assert fleet.engine.deploy("trade-service", "dev", "v1.4.3", actor="alice").status == "Deployed"


def test_a_second_operation_is_refused_while_the_lock_is_held(fleet):
    cluster = fleet.engine.cluster(fleet.engine.config.environments["dev"])
    Locks(cluster, "trading-dev").acquire("trade-service", "dev", actor="bob", operation="deploy v1.9.0")
    before = head(fleet).hexsha
    with pytest.raises(LockedError, match=r"trade-service in dev is locked by bob \(deploy v1.9.0\)"):
        fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    assert head(fleet).hexsha == before


def test_rollback_returns_to_the_previous_healthy_version_as_a_commit(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    back = fleet.engine.rollback("trade-service", "dev", actor="bob")
    assert (back.status, back.version, back.previous) == ("Deployed", "v1.4.1", "v1.4.2")
    assert head(fleet).message.startswith("Roll back trade-service dev to v1.4.1 (was v1.4.2)")
    assert image(fleet, "trading-dev") == "registry.local/trade-service:v1.4.1"


@pytest.mark.parametrize(
    ("now", "expected_end"),
    [
        (datetime(2026, 11, 20, 17, 30, tzinfo=UTC), "2026-11-20 23:00"),  # Friday evening in London
        (datetime(2026, 11, 20, 12, 0, tzinfo=UTC), None),
        (datetime(2026, 11, 21, 1, 0, tzinfo=UTC), None),
    ],
)
def test_freeze_windows(now, expected_end):
    window = FreezeWindow("friday-evening", ("fri",), "16:00", "23:00", "Europe/London")
    end = window_active(window, now)
    assert (end.strftime("%Y-%m-%d %H:%M") if end else None) == expected_end


def test_freeze_windows_may_cross_midnight():
    window = FreezeWindow("night", ("fri",), "22:00", "06:00", "UTC")
    assert window_active(window, datetime(2026, 11, 21, 3, 0, tzinfo=UTC)) is not None  # Saturday 03:00
    assert window_active(window, datetime(2026, 11, 21, 7, 0, tzinfo=UTC)) is None


def test_stale_approval_requests_and_ended_freezes_expire(policy_fleet):
    fleet = policy_fleet
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    fleet.engine.deploy("trade-service", "prod", None, actor="alice")
    fleet.engine.freeze("staging", duration=timedelta(seconds=1), reason="release night", actor="carol")
    assert fleet.engine.promotions.expire(approval_ttl=3600) == []  # young request, freeze not over yet
    time.sleep(1.5)
    dropped = fleet.engine.promotions.expire(approval_ttl=1)
    assert any("deploy of trade-service v1.4.1 to prod requested by alice" in d for d in dropped), dropped
    assert any(d.startswith("the freeze of staging (release night") for d in dropped), dropped
    app, env = fleet.engine.resolve("trade-service", "prod")
    assert fleet.engine.promotions.pending(app, env) is None
    assert fleet.engine.promotions.manual_freeze(fleet.engine.config.environments["staging"]) is None


def test_slack_users_are_compared_by_id_not_by_name(policy_fleet):
    fleet = policy_fleet
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    fleet.engine.deploy("trade-service", "prod", None, actor="alice (U0ALICE)")
    with pytest.raises(PolicyError, match="someone else must approve it"):
        fleet.engine.approve("trade-service", "prod", actor="alice-renamed (U0ALICE)")
