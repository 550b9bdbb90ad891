"""A PostSync smoke test in a canary environment: failing it at the promotion aborts the rollout and reverts Git."""

from __future__ import annotations

import yaml

from tests.integration.test_follow_git import CI, head, image, outcome_of, set_env

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
