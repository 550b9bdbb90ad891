"""Attacks on following Git (found by an independent review), each shown refused or harmless.

Every test pushed or recorded what an attacker or an unlucky team would, and shows the gate held: nothing
undelivered rides along, nobody approves their own change, an abort always ends and goes back to what ran.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import git
import pytest

from gitopsctl.errors import PolicyError, UnsafeInputError
from tests.conftest import wait_for
from tests.integration.test_follow_git import CI, bump, image, outcome_of, push, set_env

CM = "apps/trade-service/{env}/configmap.yaml"


def live_cm(fleet, env):
    return fleet.core.read_namespaced_config_map("trade-service-config", f"trading-{env}").data


def memory(fleet, name: str = "pricing-api") -> str:
    dep = fleet.apps.read_namespaced_deployment(name, "trading-prod")
    return dep.spec.template.spec.containers[0].resources.requests["memory"]


def test_aborting_a_shared_base_change_goes_back_to_what_ran_and_quarantines_it(canary):
    fleet = canary.fleet
    set_env(fleet, "prod", 'sync = "auto"')
    engine = fleet.reload()
    sha = push(fleet, {"apps/pricing-api/base/deployment.yaml": ("memory: 128Mi", "memory: 999Mi")}, "CI: base mem")
    assert outcome_of(engine.follow(), "pricing-api", "prod").state == "Progressing"
    rollout = engine.rollouts.abort("pricing-api", "prod", reason="bad", actor="carol")
    assert rollout.phase == "Aborted" and rollout.revert_commit is None
    assert "a base other environments share" in rollout.events[-1]
    assert git.Repo(fleet.repo.url).commit("main").hexsha == sha, "the shared base is not rewritten for prod"
    assert memory(fleet) == "128Mi", "stable runs what ran before, not the aborted change"
    (row,) = engine.status("pricing-api", "prod")
    assert row.sync == "OutOfSync"
    assert [o for o in engine.follow() if o.app == "pricing-api"] == [], "the leader never delivers it again"
    with pytest.raises(PolicyError, match="is quarantined since it failed in prod"):
        engine.sync("pricing-api", "prod")  # nor does a person, until it is lifted
    assert memory(fleet) == "128Mi"


def test_an_abort_never_delivers_commits_pushed_during_the_canary(canary):
    fleet = canary.fleet
    engine = fleet.engine
    engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    push(fleet, {CM.format(env="prod"): ("LOG_LEVEL: info", "LOG_LEVEL: trace")}, "CI: trace logging")
    engine.freeze("prod", duration=timedelta(hours=1), reason="quarter end", actor="carol")
    assert engine.rollouts.abort("trade-service", "prod", reason="looks bad", actor="carol").phase == "Aborted"
    assert live_cm(fleet, "prod")["LOG_LEVEL"] == "info", "the frozen CI change waits for its gates"
    assert image(fleet, "prod").endswith(":v1.4.1")
    (row,) = engine.status("trade-service", "prod")
    assert row.sync == "OutOfSync" and any(c.title == "CI: trace logging" for c in row.commits)


def test_an_abort_ends_even_when_git_was_broken_during_the_canary(canary):
    fleet = canary.fleet
    engine = fleet.engine
    engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    push(fleet, {CM.format(env="prod"): ("LOG_LEVEL: info", "LOG_LEVEL: [unclosed")}, "CI: typo")
    rollout = engine.rollouts.abort("trade-service", "prod", reason="bad", actor="carol")
    assert rollout.phase == "Aborted"
    assert image(fleet, "prod").endswith(":v1.4.1")
    with pytest.raises(PolicyError, match="no rollout in progress"):
        engine.rollouts.abort("trade-service", "prod", reason="again", actor="carol")


def test_a_deploy_or_rollback_never_carries_undelivered_commits_past_their_gates(fleet):
    engine = fleet.engine
    engine.sync("trade-service", "dev", wait=True, timeout=20)
    engine.deploy("trade-service", "dev", "v1.4.2", actor="alice", wait=True)
    wait_for(lambda: image(fleet, "dev").endswith(":v1.4.2"), message="dev on v1.4.2")
    engine.freeze("dev", duration=timedelta(hours=1), reason="release night", actor="carol")
    push(fleet, {CM.format(env="dev"): ("LOG_LEVEL: debug", "LOG_LEVEL: trace")}, "CI: trace", author=CI)
    with pytest.raises(PolicyError, match=r'1 commit\(s\) in Git not delivered yet \(\w{12} "CI: trace" by CI Bot'):
        engine.rollback("trade-service", "dev", actor="carol")
    engine.unfreeze("dev")
    with pytest.raises(PolicyError, match="not delivered yet"):
        engine.deploy("trade-service", "dev", "v1.4.3", actor="alice")
    assert live_cm(fleet, "dev")["LOG_LEVEL"] == "debug" and image(fleet, "dev").endswith(":v1.4.2")
    assert engine.quarantined() == [], "nothing was rolled back, so nothing is quarantined"


APPROVALS = """
[environments.staging.approval]
required = 1
users = ["carol", "dave"]

[people.dave]
kube = ["dave"]
git = ["dave@example.com"]

[people.carol]
kube = ["carol"]
"""


def test_a_forged_deployed_by_trailer_does_not_let_the_author_approve(fleet):
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    set_env(fleet, "staging", 'sync = "auto"')
    engine = fleet.reload(APPROVALS)
    dave = git.Actor("Dave", "dave@example.com")
    push(fleet, bump("staging", "v1.4.1", "v6.6.6"), "bump\n\nDeployed-by: carol", author=dave)
    assert outcome_of(engine.follow(), "trade-service", "staging").state == "PendingApproval"
    request = engine.pending("trade-service", "staging")
    with pytest.raises(PolicyError, match="dave wrote a commit of this change"):
        engine.approve("trade-service", "staging", request=request.id, actor="dave")
    with pytest.raises(PolicyError, match="carol wrote a commit of this change"):
        engine.approve("trade-service", "staging", request=request.id, actor="carol")  # the trailer names her
    assert image(fleet, "staging").endswith(":v1.4.1")


def test_an_approval_given_during_a_freeze_is_refused(fleet):
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    set_env(fleet, "staging", 'sync = "auto"')
    engine = fleet.reload(APPROVALS.replace('git = ["dave@example.com"]', 'git = ["ci@example.com"]'))
    push(fleet, bump("staging", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
    assert outcome_of(engine.follow(), "trade-service", "staging").state == "PendingApproval"
    engine.freeze("staging", duration=timedelta(hours=1), reason="quarter end", actor="bob")
    request = engine.pending("trade-service", "staging")
    with pytest.raises(PolicyError, match="staging is frozen"):
        engine.approve("trade-service", "staging", request=request.id, actor="carol")
    assert image(fleet, "staging").endswith(":v1.4.1")
    assert engine.pending("trade-service", "staging").approvals == []


def test_a_quarantine_list_written_by_a_newer_replica_never_breaks_a_deploy(fleet):
    engine = fleet.engine
    cluster, namespace = engine.coordination()
    cluster.ensure_namespace(namespace)
    newer = '{"app": "x", "version": "v1", "env": "dev", "reason": "r", "by": "b", "at": "t", "numbers": [1]}'
    data = {"x.v1": newer, "x.v2": "{not json", "lifted": "[{]"}
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "gitopsctl-quarantine", "namespace": namespace},
            "data": data,
        }
    )
    assert [q.version for q in engine.quarantined()] == ["v1"]
    assert engine.deploy("trade-service", "dev", "v1.4.2", actor="alice").status == "Deployed"


def test_a_digest_pinned_version_is_quarantined_under_a_valid_key(fleet):
    engine = fleet.engine
    cluster, namespace = engine.coordination()
    from gitopsctl.cluster import quarantine

    digest = "sha256:" + "ab" * 32
    quarantine.add(cluster, namespace, "trade-service", digest, env="prod", reason="r", by="b")
    keys = cluster.get("v1", "ConfigMap", "gitopsctl-quarantine", namespace)["data"]
    assert all(set(k) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") for k in keys)
    assert [q.version for q in engine.quarantined("trade-service")] == [digest]


def test_a_rollout_records_base_commit_never_reaches_git_as_an_option(fleet, tmp_path):
    writer = fleet.engine.writer
    target = tmp_path / "written-by-git.txt"
    head = git.Repo(fleet.repo.url).commit("main").hexsha
    for base in (f"--output={target}", "HEAD~1", head[:12]):
        with pytest.raises(UnsafeInputError, match="not a full commit SHA"):
            writer.undo(Path(writer.path), base, head, "apps/trade-service/prod")
    assert not target.exists()


def test_undo_for_an_app_at_the_repository_root_reverts_its_files(fleet):
    """``path = "."``: every file is the app's, so the revert is not refused as reaching outside."""
    writer = fleet.engine.writer
    base = git.Repo(fleet.repo.url).commit("main").hexsha
    fleet.repo.commit({"root-app.yaml": "kind: ConfigMap\n"}, "an app at the root")
    target = git.Repo(fleet.repo.url).commit("main").hexsha
    written = writer.undo(Path(writer.path), base, target, ".")
    assert [p.name for p in written] == ["root-app.yaml"]
