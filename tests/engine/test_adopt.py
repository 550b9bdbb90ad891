"""Adopting drift into Git: a hand-made fix kept as a one-line commit, delivered, and its drift report resolved;
what cannot be written on one line of this environment alone is refused with nothing written."""

from __future__ import annotations

from datetime import timedelta

import git
import pytest

from gitopsctl.cluster.locks import Locks
from gitopsctl.drift.incidents import DriftReports
from gitopsctl.drift.watch import DriftWatcher
from gitopsctl.errors import PolicyError, UsageError
from gitopsctl.source.commits import trailers
from tests.conftest import wait_for
from tests.engine.test_drift_reports import Recorder


def _synced(fleet, app: str, *envs: str):
    engine = fleet.engine
    for env in envs:
        engine.sync(app, env, wait=True, timeout=30)
    return engine


def _changed_lines(repo: git.Repo, sha: str) -> list[str]:
    patch = repo.git.show(sha, "--format=", "--unified=0")
    return [line for line in patch.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def _commit(fleet, sha: str) -> git.Commit:
    return git.Repo(fleet.repo.url).commit(sha)


def _head(fleet) -> str:
    return git.Repo(fleet.repo.url).head.commit.hexsha


def test_a_hand_scale_is_kept_as_a_one_line_commit_with_its_trailers_and_the_report_resolved(fleet):
    engine = _synced(fleet, "trade-service", "dev")
    recorder = Recorder()
    reports = DriftReports(engine, recorder)
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 4}})
    assert reports.scan("dev") == 1 and recorder.events == [("opened", "trade-service", "dev")]

    adoption = engine.adopt("trade-service", "dev", actor="alice <alice@example.com>")

    assert adoption.result is not None and adoption.result.result == "Succeeded"
    assert [(f.path, f.desired, f.live) for f in adoption.fields] == [("spec.replicas", 1, 4)]
    commit = _commit(fleet, adoption.commit)
    assert _changed_lines(git.Repo(fleet.repo.url), adoption.commit) == ["-  replicas: 1", "+  replicas: 4"]
    assert commit.message.splitlines()[0] == "Adopt trade-service dev: Deployment/trade-service spec.replicas 1 -> 4"
    said = trailers(commit.message)
    assert said["Adopted-by"] == "alice <alice@example.com>"
    assert said["Adopted-from-live-by"]  # the field manager of the hand change, from managedFields
    assert engine.drift("dev", ("trade-service",)).drifted == []
    assert fleet.apps.read_namespaced_deployment("trade-service", "trading-dev").spec.replicas == 4
    (latest, *_) = engine.releases("trade-service", "dev")
    assert (latest.kind, latest.actor, latest.commit) == ("Adopt", "alice <alice@example.com>", adoption.commit)

    reports.check("trade-service", "dev")
    assert recorder.events[-1][:2] == ("resolved", "trade-service")
    assert "adopted" in recorder.events[-1][2] and adoption.commit[:12] in recorder.events[-1][2]
    assert reports.open_incidents("dev") == {}


def test_a_kustomize_overlay_keeps_the_replica_count_in_its_kustomization(fleet):
    engine = _synced(fleet, "pricing-api", "dev")
    fleet.apps.patch_namespaced_deployment("pricing-api", "trading-dev", {"spec": {"replicas": 3}})

    adoption = engine.adopt("pricing-api", "dev", actor="bob")

    assert [f.where for f in adoption.fields] == ["apps/pricing-api/dev/kustomization.yaml line 10"]
    assert _changed_lines(git.Repo(fleet.repo.url), adoption.commit) == ["-    count: 1", "+    count: 3"]
    assert engine.drift("dev", ("pricing-api",)).drifted == []


def test_a_field_of_a_base_other_environments_render_is_refused_saying_where_with_nothing_written(fleet):
    engine = _synced(fleet, "pricing-api", "dev")
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "pricing-api", "resources": {"requests": {"memory": "256Mi"}}}]}
            }
        }
    }
    fleet.apps.patch_namespaced_deployment("pricing-api", "trading-dev", patch)
    before = _head(fleet)

    with pytest.raises(PolicyError) as refused:
        engine.adopt("pricing-api", "dev", actor="bob")

    message = str(refused.value)
    assert "apps/pricing-api/base/deployment.yaml line" in message and "also rendered in staging, prod" in message
    assert _head(fleet) == before


def test_a_secret_is_never_written_to_git(fleet):
    engine = _synced(fleet, "ledger-worker", "dev")
    fleet.core.patch_namespaced_secret("ledger-db", "trading-dev", {"stringData": {"password": "hand-set"}})
    before = _head(fleet)

    with pytest.raises(PolicyError, match="Secret: gitopsctl never writes a Secret's values to Git in clear"):
        engine.adopt("ledger-worker", "dev", actor="bob")
    assert _head(fleet) == before


def test_a_frozen_environment_refuses_and_an_unknown_field_is_one_sentence(fleet):
    engine = _synced(fleet, "trade-service", "dev")
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 2}})
    before = _head(fleet)
    with pytest.raises(UsageError, match="no drifted field 'spec.paused'.*Deployment/trade-service:spec.replicas"):
        engine.adopt("trade-service", "dev", fields=("spec.paused",), actor="bob")
    engine.freeze("dev", duration=timedelta(hours=1), reason="incident", actor="carol")
    with pytest.raises(PolicyError, match="dev is frozen"):
        engine.adopt("trade-service", "dev", actor="bob")
    assert _head(fleet) == before


def test_a_dry_run_proves_the_edit_and_writes_nothing(fleet):
    engine = _synced(fleet, "trade-service", "dev", "staging")
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-staging", {"spec": {"replicas": 5}})
    before = _head(fleet)

    plan = engine.adopt("trade-service", "staging", fields=("Deployment/trade-service:spec.replicas",), dry_run=True)

    assert plan.commit == "" and plan.result is None
    assert [(f.where, f.live) for f in plan.fields] == [("apps/trade-service/staging/deployment.yaml line 8", 5)]
    assert _head(fleet) == before
    assert len(engine.drift("staging", ("trade-service",)).drifted) == 1


def test_a_lock_held_by_someone_else_leaves_the_commit_waiting_in_git_and_says_so(fleet):
    engine = _synced(fleet, "trade-service", "dev")
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 3}})
    environment = engine.config.environments["dev"]
    with Locks(engine.cluster(environment), environment.namespace).hold(
        "trade-service", "dev", actor="carol", operation="maintenance"
    ):
        adoption = engine.adopt("trade-service", "dev", actor="bob")
    assert adoption.result is None and "carol" in adoption.undelivered
    assert _head(fleet) == adoption.commit
    assert engine.pending_change("trade-service", "dev").changed  # in Git, not delivered: a sync delivers it
    assert engine.sync("trade-service", "dev", wait=True, timeout=30).result == "Succeeded"
    assert engine.drift("dev", ("trade-service",)).drifted == []


def test_the_report_of_an_adopted_change_resolves_as_soon_as_it_is_delivered_not_at_the_next_scan(fleet):
    """The adoption changes nothing live, so no tracked object moves: the sync record it writes is what is heard."""
    engine = _synced(fleet, "trade-service", "dev")
    recorder = Recorder()
    reports = DriftReports(engine, recorder)
    watcher = DriftWatcher(engine, reports.check).start()
    try:
        fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 4}})
        wait_for(lambda: ("opened", "trade-service", "dev") in recorder.events, 15, 0.1, "the drift report")
        adoption = engine.adopt("trade-service", "dev", actor="alice")
        wait_for(lambda: recorder.events[-1][0] == "resolved", 15, 0.1, "the report resolved")
        assert recorder.events[-1][2] == f"kept in Git: adopted by alice in {adoption.commit[:12]}"
    finally:
        watcher.stop()
