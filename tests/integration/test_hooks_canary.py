"""A PostSync smoke test in a canary environment: failing it at the promotion aborts the rollout and reverts Git."""

from __future__ import annotations

import hashlib
import hmac
import json

import yaml
from kubernetes import client as k8s

from tests.engine.test_hooks import changes_since
from tests.integration.test_follow_git import CI, head, image, outcome_of, set_env
from tests.webhook_receiver import receiver

SMOKE = yaml.safe_dump(
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "smoke", "annotations": {"argocd.argoproj.io/hook": "PostSync"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "smoke", "image": "registry.local/smoke-tests:v1-crashloop"}],
                }
            },
        },
    }
)


def test_a_failing_postsync_smoke_test_at_promotion_aborts_and_reverts(canary):
    fleet = canary.fleet
    set_env(fleet, "prod", 'sync = "auto"')
    engine = fleet.reload()
    worker = "apps/ledger-worker/prod/worker.yaml"
    fleet.repo.commit(
        {
            "apps/ledger-worker/prod/smoke.yaml": SMOKE,
            worker: fleet.repo.read(worker).replace("ledger-worker:v0.9.3", "ledger-worker:v1.0.0"),
        },
        "CI: ledger-worker v1.0.0, smoke-tested after every sync",
        author=CI,
    )
    assert outcome_of(engine.follow(), "ledger-worker", "prod").state == "Progressing"
    rollout = engine.rollouts.drive("ledger-worker", "prod", timeout=120)
    assert rollout.phase == "Aborted", rollout.message
    assert rollout.message.startswith("the promotion's sync failed: PostSync hook Job trading-prod/smoke-")
    assert any(e.split(" ", 1)[1].startswith("PostSync hook Job smoke-") and " failed in " in e for e in rollout.events)
    assert head(fleet).message.startswith("Roll back ledger-worker prod: the promotion's sync failed: PostSync hook")
    assert image(fleet, "prod", "ledger-worker").endswith(":v0.9.3")
    assert (
        fleet.apps.list_namespaced_deployment("trading-prod", field_selector="metadata.name=ledger-worker-canary").items
        == []
    )
    assert "smoke.yaml" not in [b.name for b in (head(fleet).tree / "apps/ledger-worker/prod").blobs]  # reverted too


def _ledger_canary(fleet, lines: str) -> None:
    """Add keys to [apps.ledger-worker.canary] (steps: 50%, a 4s pause, 100%)."""
    marker = 'steps = [{ set_weight = 50 }, { pause = "4s" }, { set_weight = 100 }]\n'
    text = fleet.config_path.read_text()
    assert marker in text
    fleet.config_path.write_text(text.replace(marker, marker + lines.strip() + "\n", 1))


def _job(name: str, phase: str, image: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": {"gitopsctl.io/hook": phase}},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": name, "image": image}]}},
            },
        }
    )


def test_a_pre_rollout_job_runs_before_the_canary_exists_and_a_signed_post_promotion_webhook_follows(
    canary, monkeypatch
):
    fleet = canary.fleet
    monkeypatch.setenv("LEDGER_HOOK_SECRET", "s3cret")
    with receiver((200, "ok")) as hook:
        _ledger_canary(fleet, f'post_promotion = [{{ url = "{hook.url}", secret = "${{LEDGER_HOOK_SECRET}}" }}]')
        engine = fleet.reload()
        fleet.repo.commit(
            {"apps/ledger-worker/prod/migrate.yaml": _job("migrate", "PreRollout", "registry.local/ledger-migrate:v4")},
            "a migration before each ledger-worker canary",
        )
        engine.sync("ledger-worker", "prod", wait=True, timeout=30)  # a sync never runs it: no Job yet
        assert k8s.BatchV1Api(fleet.core.api_client).list_namespaced_job("trading-prod").items == []
        mark = fleet.core.list_namespace().metadata.resource_version
        result = engine.deploy("ledger-worker", "prod", "v1.0.0", actor="alice", wait=True, timeout=120)
        assert (result.status, result.rollout.phase) == ("Deployed", "Promoted"), result.message
    events = [e.split(" ", 1)[1] for e in result.rollout.events]
    migrated = next(i for i, e in enumerate(events) if e.startswith("PreRollout hook Job migrate-"))
    assert " succeeded in " in events[migrated]
    assert events[migrated + 1] == "pre-rollout steps passed; the canary is created"
    assert events.index(f"PostPromotion webhook {hook.url} passed") > events.index("canary weight set to 100%")
    changes = changes_since(fleet, mark, "trading-prod")
    done = next(rv for rv, kind, obj in changes if kind == "Job" and obj.status and obj.status.completion_time)
    born = next(rv for rv, kind, obj in changes if kind == "Deployment" and obj.metadata.name == "ledger-worker-canary")
    assert done < born  # the cluster saw the migration finish before the canary was created
    ((headers, body),) = hook.calls
    assert json.loads(body)["phase"] == "PostPromotion" and json.loads(body)["version"] == "v1.0.0"
    expected = hmac.new(b"s3cret", f"v1:{headers['x-gitopsctl-timestamp']}:".encode() + body, hashlib.sha256)
    assert headers["x-gitopsctl-signature"] == f"v1={expected.hexdigest()}"


def test_a_pre_rollout_webhook_that_refuses_aborts_before_any_canary_and_reverts_git(canary):
    fleet = canary.fleet
    with receiver((403, "change window closed")) as gate:
        _ledger_canary(fleet, f'pre_rollout = [{{ url = "{gate.url}" }}]')
        engine = fleet.reload()
        before = image(fleet, "prod", "ledger-worker")
        mark = fleet.core.list_namespace().metadata.resource_version
        result = engine.deploy("ledger-worker", "prod", "v1.0.0", actor="alice", wait=True, timeout=60)
    assert (result.status, result.rollout.phase) == ("Aborted", "Aborted"), result.message
    assert (
        result.message == f"a pre-rollout step failed: PreRollout webhook {gate.url} answered 403: change window closed"
    )
    created = [obj.metadata.name for _, kind, obj in changes_since(fleet, mark, "trading-prod") if kind == "Deployment"]
    assert "ledger-worker-canary" not in created, "no canary was ever created"
    assert head(fleet).message.startswith("Roll back ledger-worker prod to v0.9.3: a pre-rollout step failed")
    assert image(fleet, "prod", "ledger-worker") == before
    assert engine.diff("ledger-worker", "prod").in_sync


def test_a_presync_migration_in_a_canary_environment_is_said_to_run_at_the_promotion(canary):
    """From Argo CD a migration is a PreSync hook; in a canary environment that runs after the canary served
    traffic, so the rollout's first event says so and names the phase that runs first."""
    fleet = canary.fleet
    engine = fleet.reload()
    fleet.repo.commit(
        {"apps/ledger-worker/prod/migrate.yaml": _job("migrate", "PreSync", "registry.local/ledger-migrate:v4")},
        "the migration, as it was in Argo CD",
    )
    engine.sync("ledger-worker", "prod", wait=True, timeout=30)
    result = engine.deploy("ledger-worker", "prod", "v1.0.0", actor="alice", wait=True, timeout=120)
    assert (result.status, result.rollout.phase) == ("Deployed", "Promoted"), result.message
    events = [e.split(" ", 1)[1] for e in result.rollout.events]
    assert events[0] == (
        "rollout of ledger-worker v1.0.0 to prod started by alice; its PreSync hooks (migrate) run at the "
        "promotion, after the canary has served traffic: a step the canary needs first is a PreRollout hook"
    )
    assert any(e.startswith("PreSync hook Job migrate-") and " succeeded in " in e for e in events)
