"""The CLI contract: commands, exit codes and JSON keys other tools build on."""

from __future__ import annotations

import json
import subprocess
import sys

import git
import pytest

from demo.seed import deployment_yaml
from gitopsctl.cluster import quarantine


def gitopsctl(fleet, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    """The CLI as a new process; ``user`` runs it with that sandbox user's kubeconfig (the admin's by default)."""
    config = fleet.config_for(user) if user else fleet.config_path
    return subprocess.run(
        [sys.executable, "-m", "gitopsctl", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_json_rows(fleet):
    gitopsctl(fleet, "sync", "trade-service", "dev", "--wait")
    result = gitopsctl(fleet, "status", "--env", "dev", "-o", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    keys = {"app", "env", "version", "revision", "sync", "drift", "health", "message", "pending_commits", "error"}
    assert [set(r) for r in rows] == [keys] * 3
    row = next(r for r in rows if r["app"] == "trade-service")
    assert (row["version"], row["sync"], row["health"]) == ("v1.4.1", "Synced", "Healthy")
    assert {r["sync"] for r in rows if r["app"] != "trade-service"} == {"OutOfSync"}


def test_status_table_is_aligned_text(fleet):
    result = gitopsctl(fleet, "status", "trade-service")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["APP", "ENV", "VERSION", "REVISION", "SYNC", "COMMITS", "DRIFT", "HEALTH", "MESSAGE"]
    assert len(lines) == 4 and "\x1b[" not in result.stdout  # no colour when not on a terminal


def test_diff_exit_codes_and_json(fleet):
    out_of_sync = gitopsctl(fleet, "diff", "trade-service", "dev", "-o", "json")
    assert out_of_sync.returncode == 1
    body = json.loads(out_of_sync.stdout)
    assert body["in_sync"] is False and {r["state"] for r in body["resources"]} == {"missing"}
    gitopsctl(fleet, "sync", "trade-service", "dev")
    in_sync = gitopsctl(fleet, "diff", "trade-service", "dev")
    assert in_sync.returncode == 0 and "is in sync with" in in_sync.stdout
    error = gitopsctl(fleet, "diff", "trade-service", "qa")
    assert error.returncode == 2
    assert error.stderr.strip() == 'unknown environment "qa"; known environments: dev, staging, prod'


def test_diff_text_is_a_unified_yaml_diff(fleet):
    gitopsctl(fleet, "sync", "trade-service", "dev")
    fleet.core.patch_namespaced_config_map("trade-service-config", "trading-dev", {"data": {"LOG_LEVEL": "trace"}})
    result = gitopsctl(fleet, "diff", "trade-service", "dev")
    assert result.returncode == 1
    assert "~ ConfigMap trading-dev/trade-service-config" in result.stdout
    assert "-  LOG_LEVEL: trace" in result.stdout and "+  LOG_LEVEL: debug" in result.stdout


def test_sync_json_keys_and_progress_on_stderr(fleet):
    result = gitopsctl(fleet, "sync", "pricing-api", "staging", "--wait", "--timeout", "30s", "-o", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert {"app", "env", "revision", "result", "applied", "unchanged", "pruned", "health"} <= set(body)
    assert (body["result"], body["applied"], body["unchanged"], body["pruned"], body["health"]) == (
        "Succeeded",
        2,
        0,
        0,
        "Healthy",
    )
    text = gitopsctl(fleet, "sync", "pricing-api", "staging")
    assert text.returncode == 0 and "syncing pricing-api to staging" in text.stderr
    assert text.stdout.startswith("Succeeded: pricing-api in staging")


def test_sync_errors_are_one_sentence_and_change_nothing(fleet):
    bad_timeout = gitopsctl(fleet, "sync", "trade-service", "dev", "--wait", "--timeout", "soon")
    assert bad_timeout.returncode == 2
    assert bad_timeout.stderr.strip() == '--timeout: "soon" is not a duration; write it like 30s, 2m, 1h30m or 1d'
    bad_rev = gitopsctl(fleet, "sync", "trade-service", "dev", "--revision=--upload-pack=touch /tmp/x")
    assert bad_rev.returncode == 2
    assert bad_rev.stderr.strip() == (
        "refusing revision '--upload-pack=touch /tmp/x': a revision is a commit SHA, a branch or a tag, and never starts with '-'"
    )
    assert "trading-dev" not in {ns.metadata.name for ns in fleet.core.list_namespace().items}


def test_drift_json_shape_and_exit_codes(fleet):
    for app in ("trade-service", "pricing-api", "ledger-worker"):
        gitopsctl(fleet, "sync", app, "prod")
    clean = gitopsctl(fleet, "drift", "--env", "prod", "-o", "json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout) == {
        "drifted": [],
        "clean": [{"app": a, "env": "prod"} for a in ("trade-service", "pricing-api", "ledger-worker")],
        "errors": [],
    }
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-prod", {"spec": {"replicas": 9}})
    drifted = gitopsctl(fleet, "drift", "--env", "prod", "trade-service", "-o", "json")
    assert drifted.returncode == 1
    body = json.loads(drifted.stdout)
    (item,) = body["drifted"]
    assert set(item) == {"app", "env", "resources"}
    (resource,) = item["resources"]
    assert set(resource) == {"kind", "namespace", "name", "state", "fields", "changed_by"}
    assert resource["fields"] == [{"path": "spec.replicas", "desired": 3, "live": 9}]
    text = gitopsctl(fleet, "drift", "--env", "prod")
    assert text.returncode == 1 and "spec.replicas: 3 (git) != 9 (live)" in text.stdout


def test_history_json(fleet):
    gitopsctl(fleet, "sync", "trade-service", "dev")
    result = gitopsctl(fleet, "history", "trade-service", "dev", "-o", "json")
    (entry,) = json.loads(result.stdout)
    assert set(entry) == {
        "revision",
        "version",
        "actor",
        "time",
        "result",
        "applied",
        "unchanged",
        "pruned",
        "health",
        "hooks",
        "message",
    }
    assert entry["result"] == "Succeeded" and entry["applied"] == 3 and entry["hooks"] == []


@pytest.mark.parametrize("args", [["status", "nope"], ["history", "nope", "dev"], ["drift", "nope"]])
def test_unknown_names_exit_2(fleet, args):
    result = gitopsctl(fleet, *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith('unknown app "nope"')


def test_locks_lists_who_holds_what(fleet):
    from gitopsctl.cluster.locks import Locks

    assert gitopsctl(fleet, "locks").stdout.strip() == "no locks are held"
    cluster = fleet.engine.cluster(fleet.engine.config.environments["prod"])
    Locks(cluster, "trading-prod").acquire("trade-service", "prod", actor="alice", operation="deploy v1.4.2")
    (lock,) = json.loads(gitopsctl(fleet, "locks", "-o", "json").stdout)
    assert (lock["app"], lock["env"], lock["actor"], lock["operation"]) == (
        "trade-service",
        "prod",
        "alice",
        "deploy v1.4.2",
    )


def test_deploy_approve_rollback_freeze_from_the_cli(fleet):
    deployed = gitopsctl(fleet, "deploy", "trade-service", "dev", "v1.4.2", "-o", "json", user="alice")
    assert deployed.returncode == 0, deployed.stderr
    body = json.loads(deployed.stdout)
    assert (body["status"], body["version"], body["previous"], body["health"]) == (
        "Deployed",
        "v1.4.2",
        "v1.4.1",
        "Healthy",
    )
    text = gitopsctl(fleet, "rollback", "trade-service", "dev", "--to", "v1.4.1", user="bob")
    assert text.returncode == 0 and text.stdout.startswith(
        "Succeeded: trade-service v1.4.1 in dev (was v1.4.2) in commit"
    )

    frozen = gitopsctl(fleet, "freeze", "dev", "--for", "2h", "--reason", "release train", user="carol")
    assert frozen.returncode == 0 and "dev is frozen until" in frozen.stdout
    refused = gitopsctl(fleet, "deploy", "trade-service", "dev", "v1.4.3", user="alice")
    assert refused.returncode == 2 and refused.stderr.startswith(
        "dev is frozen (manual: release train (frozen by carol))"
    )
    pending = gitopsctl(
        fleet, "deploy", "trade-service", "dev", "v1.4.3", "--break-glass", "--reason", "hotfix", user="alice"
    )
    assert pending.returncode == 0 and "waiting for approval" in pending.stdout
    self_approval = gitopsctl(fleet, "approve", "trade-service", "dev", user="alice")
    assert self_approval.returncode == 2 and "someone else must approve it" in self_approval.stderr
    approved = gitopsctl(fleet, "approve", "trade-service", "dev", user="bob")
    assert approved.returncode == 0 and "v1.4.3 in dev" in approved.stdout
    assert gitopsctl(fleet, "unfreeze", "dev").stdout.strip() == "dev is unfrozen"


def ci_commit(fleet, files: dict[str, str], message: str, author: str = "CI Bot", email: str = "ci@example.com") -> str:
    """A commit pushed by someone other than gitopsctl (CI, a merged pull request)."""
    work = fleet.repo.work
    for rel, content in files.items():
        (fleet.repo.work_path / rel).write_text(content)
        work.index.add([rel])
    who = git.Actor(author, email)
    sha = work.index.commit(message, author=who, committer=who).hexsha
    work.remote("origin").push("main:main").raise_if_error()
    return sha


def bump(env: str, tag: str) -> dict[str, str]:
    replicas = {"dev": 1, "staging": 2, "prod": 3}[env]
    return {
        f"apps/trade-service/{env}/deployment.yaml": deployment_yaml(
            "trade-service", f"registry.local/trade-service:{tag}", replicas
        )
    }


def test_status_and_diff_show_git_changes_and_live_changes_apart(fleet):
    gitopsctl(fleet, "sync", "trade-service", "dev", "--wait")
    sha = ci_commit(fleet, bump("dev", "v1.4.2"), "Bump trade-service to v1.4.2")
    fleet.core.patch_namespaced_config_map("trade-service-config", "trading-dev", {"data": {"LOG_LEVEL": "trace"}})

    status = gitopsctl(fleet, "status", "trade-service", "--env", "dev")
    header, row = status.stdout.splitlines()
    assert header.split()[4:7] == ["SYNC", "COMMITS", "DRIFT"]
    assert row.split()[4:7] == ["OutOfSync", "1", "Drifted"], status.stdout

    diff = gitopsctl(fleet, "diff", "trade-service", "dev")
    assert diff.returncode == 1, diff.stderr
    text = diff.stdout
    git_part, _, live_part = text.partition("Live changes made outside Git")
    assert "Git changes not delivered yet (1 commits; delivered " in git_part
    assert f"  {sha[:12]} Bump trade-service to v1.4.2 by CI Bot <ci@example.com> at " in git_part
    assert "~ Deployment trading-dev/trade-service" in git_part and "ConfigMap" not in git_part
    assert "~ ConfigMap trading-dev/trade-service-config" in live_part and "Deployment" not in live_part
    assert "-  LOG_LEVEL: trace" in live_part


def test_a_sync_waiting_for_approval_exits_0_says_what_next_and_applies_nothing(fleet):
    gitopsctl(fleet, "sync", "trade-service", "prod", "--wait")
    fleet.reload('\n[environments.prod.approval]\nrequired = 1\nusers = ["bob"]\n')
    ci_commit(fleet, bump("prod", "v1.4.2"), "Bump trade-service to v1.4.2 in prod")
    result = gitopsctl(fleet, "sync", "trade-service", "prod")
    assert result.returncode == 0, result.stderr
    request = fleet.engine.pending("trade-service", "prod")
    assert request is not None and request.requester == "sandbox-admin"  # who ran the sync asked for it
    assert "is waiting for approval" in result.stdout
    assert f"gitopsctl approve trade-service prod --request {request.id}" in result.stdout
    image = (
        fleet.apps.read_namespaced_deployment("trade-service", "trading-prod").spec.template.spec.containers[0].image
    )
    assert image.endswith(":v1.4.1")


def test_quarantine_lists_and_unquarantine_needs_a_reason(fleet):
    cluster, namespace = fleet.engine.coordination()
    quarantine.add(
        cluster,
        namespace,
        "trade-service",
        "v1.4.2-bad",
        env="prod",
        reason="success-rate 0.82 < 0.95 at 34% traffic",
        by="gitopsctl",
    )
    assert gitopsctl(fleet, "quarantine", "pricing-api").stdout.strip() == "no version of pricing-api is quarantined"
    (entry,) = json.loads(gitopsctl(fleet, "quarantine", "-o", "json").stdout)
    assert (entry["app"], entry["version"], entry["env"], entry["reason"]) == (
        "trade-service",
        "v1.4.2-bad",
        "prod",
        "success-rate 0.82 < 0.95 at 34% traffic",
    )
    table = gitopsctl(fleet, "quarantine").stdout.splitlines()
    assert table[0].split()[:4] == ["APP", "VERSION", "FAILED", "IN"]
    assert table[1].split()[:3] == ["trade-service", "v1.4.2-bad", "prod"]

    blank = gitopsctl(fleet, "unquarantine", "trade-service", "v1.4.2-bad", "--reason", "  ")
    assert blank.returncode == 2 and blank.stderr.strip() == "say why the version may run again: --reason TEXT"
    unknown = gitopsctl(fleet, "unquarantine", "trade-service", "v9.9.9", "--reason", "fixed")
    assert unknown.returncode == 2 and "trade-service v9.9.9 is not quarantined" in unknown.stderr
    assert [q.version for q in fleet.engine.quarantined()] == ["v1.4.2-bad"]  # refusals lifted nothing

    lifted = gitopsctl(
        fleet, "unquarantine", "trade-service", "v1.4.2-bad", "--reason", "the leak is fixed", user="bob"
    )
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout.startswith("trade-service v1.4.2-bad may be delivered again: quarantine lifted by bob")
    assert "(the leak is fixed)" in lifted.stdout
    assert gitopsctl(fleet, "quarantine").stdout.strip() == "no version is quarantined"


def test_adopt_from_the_cli_shows_the_plan_commits_it_and_waits_for_approval_where_required(fleet):
    gitopsctl(fleet, "sync", "trade-service", "prod", "--wait")
    fleet.reload('\n[environments.prod.approval]\nrequired = 1\nusers = ["bob"]\n')
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-prod", {"spec": {"replicas": 6}})

    plan = gitopsctl(fleet, "adopt", "trade-service", "prod", "--dry-run", "-o", "json")
    assert plan.returncode == 0, plan.stderr
    body = json.loads(plan.stdout)
    assert body["commit"] == "" and body["fields"] == [
        {
            "kind": "Deployment",
            "name": "trade-service",
            "path": "spec.replicas",
            "from": 3,
            "to": 6,
            "where": "apps/trade-service/prod/deployment.yaml line 8",
        }
    ]
    unknown = gitopsctl(fleet, "adopt", "trade-service", "prod", "--fields", "spec.paused")
    assert (
        unknown.returncode == 2
        and unknown.stderr.count("\n") == 1
        and "no drifted field 'spec.paused'" in unknown.stderr
    )

    adopted = gitopsctl(fleet, "adopt", "trade-service", "prod")
    assert adopted.returncode == 0, adopted.stderr
    request = fleet.engine.pending("trade-service", "prod")
    assert request is not None and request.requester == "sandbox-admin"
    assert "adopted into Git in commit" in adopted.stdout and "gitopsctl approve trade-service prod" in adopted.stdout
    head = git.Repo(fleet.repo.url).head.commit
    assert head.message.startswith("Adopt trade-service prod: Deployment/trade-service spec.replicas 3 -> 6")
    assert "Adopted-by: sandbox-admin" in head.message


def test_incident_mode_from_the_cli_lets_the_responder_deploy_and_prints_the_timeline_at_the_end(fleet):
    gitopsctl(fleet, "sync", "trade-service", "prod", "--wait")
    fleet.reload('\n[environments.prod.approval]\nrequired = 1\nusers = ["bob"]\n')
    bad = gitopsctl(fleet, "incident", "start", "prod", "--id", "INC 7")
    assert bad.returncode == 2 and "is not an incident id" in bad.stderr
    started = gitopsctl(fleet, "incident", "start", "prod", "--id", "INC-7", "--for", "1h")
    assert started.returncode == 0, started.stderr
    assert "prod is in incident mode for INC-7" in started.stdout and "sandbox-admin deploy" in started.stdout
    status = gitopsctl(fleet, "incident", "status", "prod", "-o", "json")
    assert json.loads(status.stdout)["responders"] == ["sandbox-admin"]

    deployed = gitopsctl(fleet, "deploy", "trade-service", "prod", "v1.4.2", "-o", "json")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["status"] == "Deployed"

    ended = gitopsctl(fleet, "incident", "end", "prod")
    assert ended.returncode == 0, ended.stderr
    assert "incident mode for INC-7 in prod ended (sandbox-admin)" in ended.stdout
    assert "commit: Deploy trade-service v1.4.2 to prod (was v1.4.1)" in ended.stdout
    assert gitopsctl(fleet, "incident", "end", "prod").returncode == 2
