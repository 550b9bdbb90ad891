"""Following Git: a commit pushed to the GitOps repository (as CI would) is delivered through the same gates and
canary as a deploy; OutOfSync and Drifted stay two facts; quarantine and auto_deploy.

Real pushes to a bare repository, the sandbox, and for canaries the real Prometheus server.
"""

from __future__ import annotations

import re
from datetime import timedelta

import git
import pytest

from gitopsctl.drift.incidents import DriftReports, LogNotifier
from gitopsctl.errors import PolicyError
from gitopsctl.serve.process import Service
from tests.bot.conftest import free_port
from tests.conftest import Fleet, wait_for
from tests.serve.test_git_webhooks import SECRET, SECRET_VAR, SERVE_ONLY, github, post, with_hooks

CI = git.Actor("CI Bot", "ci@example.com")


def push(fleet: Fleet, edits: dict[str, tuple[str, str]], message: str, author: git.Actor = CI) -> str:
    """Edit files in the GitOps repository (old text -> new text) and push, as CI does; the new commit's SHA."""
    work = fleet.repo.work
    work.remote("origin").fetch("main")
    work.git.reset("--hard", "origin/main")  # gitopsctl pushes too (deploys, reverts)
    for rel, (old, new) in edits.items():
        path = fleet.repo.work_path / rel
        text = path.read_text()
        assert old in text, f"{old!r} is not in {rel}"
        path.write_text(text.replace(old, new))
        work.index.add([rel])
    commit = work.index.commit(message, author=author, committer=author)
    work.remote("origin").push("main:main").raise_if_error()
    return commit.hexsha


def bump(env: str, old: str, new: str, app: str = "trade-service") -> dict[str, tuple[str, str]]:
    if app == "pricing-api":  # a kustomize app: its tag is in the overlay
        return {f"apps/{app}/{env}/kustomization.yaml": (f"newTag: {old}", f"newTag: {new}")}
    return {f"apps/{app}/{env}/deployment.yaml": (f"{app}:{old}", f"{app}:{new}")}


def set_env(fleet: Fleet, env: str, lines: str) -> None:
    namespace = f"trading-{env}"
    text = fleet.config_path.read_text()
    marker = f'namespace = "{namespace}"\n'
    fleet.config_path.write_text(text.replace(marker, marker + lines.strip() + "\n", 1))


def image(fleet: Fleet, env: str, name: str = "trade-service") -> str:
    return fleet.apps.read_namespaced_deployment(name, f"trading-{env}").spec.template.spec.containers[0].image


def head(fleet: Fleet) -> git.Commit:
    return git.Repo(fleet.repo.url).commit("main")


def outcome_of(outcomes, app: str, env: str):
    found = [o for o in outcomes if (o.app, o.env) == (app, env)]
    assert len(found) == 1, outcomes
    return found[0]


# ---------------------------------------------------------------- direct environments


def test_a_ci_commit_is_delivered_in_an_auto_environment_and_only_shown_in_a_manual_one(fleet):
    set_env(fleet, "dev", 'sync = "auto"')
    engine = fleet.reload()
    for env in ("dev", "staging"):
        engine.sync("trade-service", env, wait=True, timeout=20)
    sha = push(fleet, {**bump("dev", "v1.4.1", "v1.4.2"), **bump("staging", "v1.4.1", "v1.4.2")}, "CI: v1.4.2")
    rows = {r.env: r for r in engine.status("trade-service")}
    assert (rows["dev"].sync, rows["staging"].sync) == ("OutOfSync", "OutOfSync")
    assert [(c.sha, c.title, c.author) for c in rows["staging"].commits] == [
        (sha, "CI: v1.4.2", "CI Bot <ci@example.com>")
    ]
    assert rows["staging"].drift == "Clean", "a Git change is not drift"

    delivered = outcome_of(engine.follow(), "trade-service", "dev")
    assert (delivered.state, delivered.revision, [c.sha for c in delivered.commits]) == ("Delivered", sha, [sha])
    wait_for(lambda: image(fleet, "dev").endswith(":v1.4.2"), message="dev running v1.4.2")
    assert image(fleet, "staging").endswith(":v1.4.1"), "manual: only shown as OutOfSync"
    rows = {r.env: r for r in engine.status("trade-service")}
    assert (rows["dev"].sync, rows["dev"].revision, rows["staging"].sync) == ("Synced", sha, "OutOfSync")
    assert engine.history("trade-service", "dev")[0].actor == "CI Bot <ci@example.com>"
    assert [o for o in engine.follow() if o.app == "trade-service"] == [], "never delivered twice"


def test_a_hand_edit_is_drifted_not_out_of_sync_and_self_heal_never_delivers_git(fleet):
    set_env(fleet, "dev", "self_heal = true")
    engine = fleet.reload()
    engine.sync("trade-service", "dev", wait=True, timeout=20)
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 5}})
    (row,) = engine.status("trade-service", "dev")
    assert (row.sync, row.drift, row.commits) == ("Synced", "Drifted", [])
    push(fleet, bump("dev", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
    (row,) = engine.status("trade-service", "dev")
    assert (row.sync, row.drift) == ("OutOfSync", "Drifted")

    reports = DriftReports(engine, LogNotifier())
    reports.scan("dev")  # finds the hand edit and heals it
    dep = fleet.apps.read_namespaced_deployment("trade-service", "trading-dev")
    assert dep.spec.replicas != 5, "the hand edit was put back"
    assert dep.spec.template.spec.containers[0].image.endswith(":v1.4.1"), "self-heal never delivers a Git change"
    (row,) = engine.status("trade-service", "dev")
    assert (row.sync, row.drift) == ("OutOfSync", "Clean")


def test_several_commits_in_quick_succession_deliver_the_newest_and_list_them_all(fleet):
    set_env(fleet, "dev", 'sync = "auto"')
    engine = fleet.reload()
    engine.sync("trade-service", "dev", wait=True, timeout=20)
    shas = [
        push(fleet, bump("dev", "v1.4.1", "v1.4.2"), "CI: v1.4.2"),
        push(fleet, bump("dev", "v1.4.2", "v1.4.3"), "CI: v1.4.3"),
        push(fleet, bump("dev", "v1.4.3", "v1.5.0"), "CI: v1.5.0"),
    ]
    delivered = outcome_of(engine.follow(), "trade-service", "dev")
    assert (delivered.state, delivered.revision) == ("Delivered", shas[-1])
    assert [c.sha for c in delivered.commits] == shas[::-1]
    wait_for(lambda: image(fleet, "dev").endswith(":v1.5.0"), message="dev running the newest")
    assert [h.revision for h in engine.history("trade-service", "dev")][:2] == [
        shas[-1],
        engine.history("trade-service", "dev")[1].revision,
    ]
    assert shas[0] not in [h.revision for h in engine.history("trade-service", "dev")], "older ones never applied"


def test_a_commit_gitopsctl_wrote_itself_is_not_delivered_again(fleet):
    set_env(fleet, "dev", 'sync = "auto"')
    engine = fleet.reload()
    engine.sync("trade-service", "dev", wait=True, timeout=20)
    result = engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    syncs = len(engine.history("trade-service", "dev"))
    assert [o for o in engine.follow() if o.app == "trade-service"] == []
    assert len(engine.history("trade-service", "dev")) == syncs
    (row,) = engine.status("trade-service", "dev")
    assert (row.sync, row.revision) == ("Synced", result.commit)


def test_a_frozen_environment_holds_the_change_and_delivers_it_after_the_window(fleet):
    set_env(fleet, "dev", 'sync = "auto"')
    engine = fleet.reload()
    engine.sync("trade-service", "dev", wait=True, timeout=20)
    engine.freeze("dev", duration=timedelta(seconds=3), reason="release night", actor="carol")
    sha = push(fleet, bump("dev", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
    held = outcome_of(engine.follow(), "trade-service", "dev")
    assert (held.state, held.new) == ("Held", True)
    assert "dev is frozen (manual: release night (frozen by carol))" in held.message
    assert "delivered when the window ends" in held.message
    again = outcome_of(engine.follow(), "trade-service", "dev")
    assert (again.state, again.new) == ("Held", False), "a held change is reported once"
    assert engine.fleet().cell("trade-service", "dev").held == held.message
    with pytest.raises(PolicyError, match="dev is frozen"):
        engine.sync("trade-service", "dev")  # a person's sync meets the same gate
    assert image(fleet, "dev").endswith(":v1.4.1")

    def delivered():
        found = [o for o in engine.follow() if o.app == "trade-service" and o.state == "Delivered"]
        return found[0] if found else None

    outcome = wait_for(delivered, timeout=15, interval=0.5, message="delivered once the freeze ended")
    assert outcome.revision == sha
    wait_for(lambda: image(fleet, "dev").endswith(":v1.4.2"), message="dev running v1.4.2")


def test_a_drift_repair_is_not_gated_but_a_git_change_is(fleet):
    engine = fleet.reload()
    engine.sync("trade-service", "prod", wait=True, timeout=20)
    engine.freeze("prod", duration=timedelta(hours=1), reason="quarter end", actor="carol")
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-prod", {"spec": {"replicas": 5}})
    repaired = engine.sync("trade-service", "prod")  # nothing undelivered: puts live back, frozen or not
    assert repaired.result == "Succeeded" and len(repaired.applied) == 1
    push(fleet, bump("prod", "v1.4.1", "v7.7.7"), "CI: v7.7.7")
    with pytest.raises(PolicyError, match="prod is frozen"):
        engine.sync("trade-service", "prod")
    with pytest.raises(PolicyError, match="prod is frozen"):
        engine.deploy("trade-service", "prod", "v7.7.7", actor="alice")
    assert image(fleet, "prod").endswith(":v1.4.1")


def test_an_environment_needing_approval_raises_a_request_and_delivers_after_a_second_person_approves(fleet):
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)  # delivered before approvals were asked
    set_env(fleet, "staging", 'sync = "auto"')
    engine = fleet.reload(
        """
[environments.staging.approval]
required = 1
users = ["carol", "dave"]

[people.dave]
kube = ["dave"]
git = ["ci@example.com"]

[people.carol]
kube = ["carol"]
"""
    )
    sha = push(fleet, bump("staging", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
    asked = outcome_of(engine.follow(), "trade-service", "staging")
    assert asked.state == "PendingApproval"
    request = engine.pending("trade-service", "staging")
    assert (request.revision, request.requester, request.change) == (sha, "CI Bot <ci@example.com>", "CI: v1.4.2")
    assert outcome_of(engine.follow(), "trade-service", "staging").new is False, "one request, asked once"
    with pytest.raises(PolicyError, match=r"dave wrote a commit of this change \(as CI Bot <ci@example.com>\)"):
        engine.approve("trade-service", "staging", request=request.id, actor="dave")  # the author, as a person
    assert image(fleet, "staging").endswith(":v1.4.1")
    result = engine.approve("trade-service", "staging", request=request.id, actor="carol", wait=True, timeout=30)
    assert (result.status, result.commit) == ("Deployed", sha)
    assert image(fleet, "staging").endswith(":v1.4.2")
    assert engine.pending("trade-service", "staging") is None
    (row,) = engine.status("trade-service", "staging")
    assert (row.sync, row.revision) == ("Synced", sha)


def test_a_relabel_only_change_skips_approvals(fleet):
    fleet.engine.sync("trade-service", "staging", wait=True, timeout=20)
    set_env(fleet, "staging", 'sync = "auto"')
    engine = fleet.reload('\n[environments.staging.approval]\nrequired = 1\nusers = ["carol"]\n')
    rel = "apps/trade-service/staging/deployment.yaml"
    text = (fleet.repo.work_path / rel).read_text()
    first = re.search(r"\n  labels:\n", text)
    assert first, text
    push(fleet, {rel: (first.group(0), first.group(0) + "    team: trading\n")}, "label the team")
    outcome = outcome_of(engine.follow(), "trade-service", "staging")
    assert outcome.state == "Delivered" and engine.pending("trade-service", "staging") is None
    labels = fleet.apps.read_namespaced_deployment("trade-service", "trading-staging").metadata.labels
    assert labels["team"] == "trading"


def test_auto_deploy_promotes_dev_to_staging_once_dev_is_healthy(fleet):
    set_env(fleet, "dev", 'sync = "auto"')
    set_env(fleet, "staging", "auto_deploy = true")
    engine = fleet.reload()
    for env in ("dev", "staging"):
        engine.sync("trade-service", env, wait=True, timeout=20)
    push(fleet, bump("dev", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
    first = engine.follow()
    assert outcome_of(first, "trade-service", "dev").state == "Delivered"
    runs = [first]

    def promoted():  # in the same run when dev is Healthy by then, or a later one
        found = [o for o in runs[-1] if (o.app, o.env) == ("trade-service", "staging")]
        runs.append(engine.follow())
        return found[0] if found else None

    outcome = wait_for(promoted, timeout=20, interval=0.3, message="staging promoted after dev is Healthy")
    assert outcome.state == "Delivered" and outcome.version == "v1.4.2", outcome.message
    commit = head(fleet)
    assert [(c.sha, c.author, c.ours) for c in outcome.commits] == [
        (commit.hexsha, "gitopsctl (auto after dev)", True)
    ], "the promotion names its own deploy commit"
    assert commit.message.startswith("Deploy trade-service v1.4.2 to staging")
    assert "Deployed-by: gitopsctl (auto after dev)" in commit.message
    wait_for(lambda: image(fleet, "staging").endswith(":v1.4.2"), message="staging running v1.4.2")
    engine.rollback("trade-service", "staging", actor="carol")
    assert [o for o in engine.follow() if (o.app, o.env) == ("trade-service", "staging")] == []
    assert image(fleet, "staging").endswith(":v1.4.1"), "a rollback is not undone by auto_deploy"


def test_a_signed_webhook_delivers_the_push_and_a_forged_one_delivers_nothing(fleet, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    with_hooks(fleet)  # polling off: only a webhook makes the leader fetch
    set_env(fleet, "dev", 'sync = "auto"')
    engine = fleet.reload(SERVE_ONLY)
    engine.sync("trade-service", "dev", wait=True, timeout=20)
    serve = Service(engine, port=free_port()).start()
    try:
        wait_for(serve.leader.leading.is_set, 30, 0.1, "the only replica leads")
        wait_for(lambda: serve.follower.idle, 30, 0.05, "the first fetch on leading is over")
        sha = push(fleet, bump("dev", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
        body = b'{"ref": "refs/heads/main", "after": "' + sha.encode() + b'"}'
        forged = github(body, secret="not-the-secret")
        assert post(serve.http.url, forged, body)[0] == 401
        assert serve.follower.idle, "a forged webhook starts no fetch"
        (row,) = engine.status("trade-service", "dev")
        assert (row.sync, image(fleet, "dev")) == ("OutOfSync", "registry.local/trade-service:v1.4.1")

        assert post(serve.http.url, github(body), body) == (202, "fetching main\n")
        wait_for(lambda: image(fleet, "dev").endswith(":v1.4.2"), 10, 0.05, "the push delivered")
        wait_for(lambda: engine.status("trade-service", "dev")[0].revision == sha, 10, 0.1, "recorded")
    finally:
        serve.stop()


# ---------------------------------------------------------------- canary environments


def test_a_ci_commit_goes_through_the_canary_by_itself_and_is_promoted(canary):
    fleet = canary.fleet
    set_env(fleet, "prod", 'sync = "auto"')
    engine = fleet.reload()
    sha = push(fleet, bump("prod", "v1.4.1", "v1.4.2"), "CI: v1.4.2")
    started = outcome_of(engine.follow(), "trade-service", "prod")
    assert started.state == "Progressing", started.message
    rollout = engine.rollouts.get("trade-service", "prod")
    assert (rollout.deploy_commit, rollout.canary_version, rollout.change) == (sha, "v1.4.2", "CI: v1.4.2")
    rollout = engine.rollouts.drive("trade-service", "prod", timeout=120)
    assert rollout.phase == "Promoted", rollout.message
    assert image(fleet, "prod").endswith(":v1.4.2")
    (row,) = engine.status("trade-service", "prod")
    assert (row.sync, row.revision) == ("Synced", sha)


def test_a_config_change_to_the_pod_template_is_a_canary_too(canary):
    fleet = canary.fleet
    set_env(fleet, "prod", 'sync = "auto"')
    engine = fleet.reload()
    rel = "apps/ledger-worker/prod/worker.yaml"
    text = (fleet.repo.work_path / rel).read_text()
    anchor = re.search(r"\n( +)image: [^\n]+\n", text)
    assert anchor, text
    indent = anchor.group(1)
    env_block = f"{indent}env:\n{indent}  - name: FEATURE_X\n{indent}    value: 'on'\n"
    push(fleet, {rel: (anchor.group(0), anchor.group(0) + env_block)}, "turn feature X on", author=CI)
    started = outcome_of(engine.follow(), "ledger-worker", "prod")
    assert started.state == "Progressing", started.message
    rollout = engine.rollouts.get("ledger-worker", "prod")
    assert rollout.canary_version == rollout.stable_version == "v0.9.3" and rollout.template
    canary_env = fleet.apps.read_namespaced_deployment("ledger-worker-canary", "trading-prod").spec.template.spec
    assert [(e.name, e.value) for e in canary_env.containers[0].env] == [("FEATURE_X", "on")]
    stable = fleet.apps.read_namespaced_deployment("ledger-worker", "trading-prod").spec.template.spec
    assert not stable.containers[0].env, "stable keeps running what was delivered"
    assert engine.rollouts.drive("ledger-worker", "prod", timeout=60).phase == "Promoted"


def test_a_bad_ci_commit_is_aborted_and_only_its_path_reverted_then_quarantined(canary):
    fleet = canary.fleet
    set_env(fleet, "prod", 'sync = "auto"')
    engine = fleet.reload()
    sha = push(
        fleet,
        {**bump("prod", "v1.4.1", "v1.4.2-bad"), **bump("staging", "v1.4.1", "v1.4.2-bad")},
        "CI: v1.4.2-bad everywhere",
    )
    assert outcome_of(engine.follow(), "trade-service", "prod").state == "Progressing"
    rollout = engine.rollouts.drive("trade-service", "prod", timeout=120)
    assert rollout.phase == "Aborted", rollout.message
    revert = head(fleet)
    assert re.match(r"Roll back trade-service prod: success-rate 0\.\d+ < 0\.95 at 34% traffic", revert.message)
    assert f"Reverts: {sha}" in revert.message and "Rolled-back-by: gitopsctl" in revert.message
    tree = revert.tree
    assert b"trade-service:v1.4.1" in (tree / "apps/trade-service/prod/deployment.yaml").data_stream.read()
    staging = (tree / "apps/trade-service/staging/deployment.yaml").data_stream.read()
    assert b"trade-service:v1.4.2-bad" in staging, "the other path of the same commit is left alone"
    assert image(fleet, "prod").endswith(":v1.4.1")

    (entry,) = engine.quarantined("trade-service")
    assert (entry.version, entry.env) == ("v1.4.2-bad", "prod")
    assert re.match(r"success-rate 0\.\d+ < 0\.95 at 34% traffic", entry.reason)
    push(fleet, bump("prod", "v1.4.1", "v1.4.2-bad"), "CI: try v1.4.2-bad again")
    held = outcome_of(engine.follow(), "trade-service", "prod")
    assert held.state == "Held" and "trade-service v1.4.2-bad is quarantined" in held.message
    assert entry.reason in held.message, "the refusal quotes the numbers"
    assert engine.rollouts.get("trade-service", "prod").phase == "Aborted", "no new canary"
    with pytest.raises(PolicyError, match="quarantined"):
        engine.deploy("trade-service", "prod", "v1.4.2-bad", actor="alice")
    with pytest.raises(PolicyError, match="quarantined"):
        engine.deploy("trade-service", "dev", "v1.4.2-bad", actor="alice")

    engine.unquarantine("trade-service", "v1.4.2-bad", reason="the fix is in the database", actor="carol")
    assert engine.quarantined() == []
    assert outcome_of(engine.follow(), "trade-service", "prod").state == "Progressing"


def test_a_rollout_in_progress_is_not_restarted_by_a_newer_commit(canary):
    fleet = canary.fleet
    set_env(fleet, "prod", 'sync = "auto"')
    engine = fleet.reload()
    first = push(fleet, bump("prod", "v2.0.0", "v2.2.0", app="pricing-api"), "CI: pricing v2.2.0")
    assert outcome_of(engine.follow(), "pricing-api", "prod").state == "Progressing"
    wait_for(
        lambda: engine.rollouts.reconcile("pricing-api", "prod").phase == "Paused",
        timeout=30,
        interval=0.2,
        message="paused",
    )
    push(fleet, bump("prod", "v2.2.0", "v2.3.0", app="pricing-api"), "CI: pricing v2.3.0")
    assert [o for o in engine.follow() if o.app == "pricing-api"] == []
    rollout = engine.rollouts.get("pricing-api", "prod")
    assert (rollout.deploy_commit, rollout.phase) == (first, "Paused")
    engine.rollouts.promote("pricing-api", "prod", full=True, actor="carol")
    assert engine.rollouts.drive("pricing-api", "prod", timeout=60).phase == "Promoted"
    after = outcome_of(engine.follow(), "pricing-api", "prod")
    assert after.state == "Progressing" and engine.rollouts.get("pricing-api", "prod").canary_version == "v2.3.0"
