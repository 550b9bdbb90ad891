"""Every command's happy path and its main refusal, through signed requests to the running bot."""

from __future__ import annotations

import html
import json
import re

from gitopsctl.cluster.locks import Locks
from tests.bot.conftest import BOB, CAROL, shown


def _answer(reply) -> str:
    return json.loads(reply.body)["text"]


def _sync_all(bot, env: str) -> None:
    for app in ("trade-service", "pricing-api", "ledger-worker"):
        bot.fleet.engine.sync(app, env, wait=True, timeout=30)


def _hand_edit(bot, replicas: int) -> None:
    bot.fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": replicas}})


def test_status_shows_every_pair_and_refuses_an_unknown_app(bot):
    _sync_all(bot, "dev")
    bot.command("/gitops", "status")
    table = html.unescape(bot.ephemeral("Status").params["blocks"][1]["text"]["text"])
    assert re.search(r"trade-service +dev +v1\.4\.1 +Synced +Healthy", table), table
    assert 'unknown app "nope"' in _answer(bot.command("/gitops", "status nope"))


def test_diff_in_sync_then_after_a_hand_change_and_usage_when_incomplete(bot):
    _sync_all(bot, "dev")
    bot.command("/gitops", "diff trade-service dev")
    bot.ephemeral("trade-service in dev matches Git")
    _hand_edit(bot, replicas=5)
    bot.command("/gitops", "diff trade-service dev")
    shown_diff = html.unescape(json.dumps(bot.ephemeral("Diff of trade-service in dev").params, ensure_ascii=False))
    assert "~ Deployment trading-dev/trade-service" in shown_diff and "+  replicas: 5" not in shown_diff
    assert "replicas" in shown_diff
    assert "Usage: `/gitops diff APP ENV`" in _answer(bot.command("/gitops", "diff trade-service"))


def test_output_too_long_for_a_message_goes_to_the_asker_alone_summary_here_and_the_full_text_in_their_dm(bot):
    _sync_all(bot, "dev")
    big = {"data": {"MARKETS": "x" * 4000}}
    bot.fleet.core.patch_namespaced_config_map("trade-service-config", "trading-dev", big)
    bot.command("/gitops", "diff trade-service dev")
    summary = bot.ephemeral("Diff of trade-service in dev")
    assert summary.params["response_type"] == "ephemeral"
    assert "1 objects differ: ConfigMap/trade-service-config (changed)" in json.dumps(summary.params)
    assert "your direct messages with gitopsctl" in json.dumps(summary.params)
    assert all(len(b["text"]["text"]) <= 3000 for b in summary.params["blocks"])
    dm = bot.slack.wait("chat.postMessage", lambda c: "Diff of trade-service in dev" in str(c.params.get("text")))
    assert dm.response["channel"].startswith("D") and "C0DEPLOYS" in dm.params["text"]
    done = bot.slack.wait("files.completeUploadExternal")
    assert done.params["thread_ts"] == dm.ts and done.params["channel_id"] == dm.response["channel"]
    upload = bot.slack.wait("upload")
    assert "x" * 4000 in upload.params["content"]
    assert "~ ConfigMap trading-dev/trade-service-config" in upload.params["content"]
    assert not bot.slack.messages("C0DEPLOYS"), "nothing of it is shown to the channel"


def test_history_shows_who_deployed_from_slack(bot):
    bot.command("/deploy", "trade-service dev v1.4.2")
    bot.root_state(bot.root("Deploy trade-service v1.4.2 to dev"), "Deployed")
    bot.command("/gitops", "history trade-service dev")
    table = json.dumps(bot.ephemeral("History of trade-service in dev").params)
    assert "alice (UALICE)" in table and "v1.4.2" in table
    assert 'unknown environment "qa"' in _answer(bot.command("/gitops", "history trade-service qa"))


def test_drift_reports_a_hand_change_and_says_when_there_is_none(bot):
    _sync_all(bot, "dev")
    bot.command("/gitops", "drift dev")
    bot.ephemeral("no drift in dev")
    _hand_edit(bot, replicas=3)
    bot.command("/gitops", "drift dev")
    report = html.unescape(json.dumps(bot.ephemeral("Drift").params))
    assert "trade-service in dev: 1 drifted objects" in report and "spec.replicas: 1 in Git, 3 live" in report


def test_sync_heals_drift_for_a_deployer_and_refuses_a_viewer(canary_bot):
    bot = canary_bot
    _sync_all(bot, "dev")
    _hand_edit(bot, replicas=3)
    bot.command("/gitops", "sync trade-service dev", user=CAROL)  # everyone deploys to dev
    synced = bot.slack.wait("response_url", lambda c: "synced trade-service in dev" in c.params.get("text", ""))
    assert synced.params["response_type"] == "in_channel" and "1 applied" in synced.params["text"]
    bot.command("/gitops", "sync trade-service prod", user=CAROL)
    bot.ephemeral("you are not a deployer in prod")


def test_rollback_goes_to_the_last_healthy_version_and_explains_when_there_is_none(bot):
    _sync_all(bot, "dev")
    bot.command("/deploy", "trade-service dev v1.4.2")
    bot.root_state(bot.root("Deploy trade-service v1.4.2 to dev"), "Deployed")
    bot.command("/rollback", "trade-service dev")
    root = bot.root("Roll back trade-service")
    done = bot.root_state(root, "Deployed")
    assert "`v1.4.1`" in shown(done)
    assert bot.head().message.startswith("Roll back trade-service dev to v1.4.1 (was v1.4.2)")
    bot.command("/rollback", "trade-service staging")
    bot.ephemeral("has no earlier Healthy version in its history")


def test_a_deploy_is_refused_while_someone_holds_the_lock(bot):
    cluster = bot.fleet.engine.cluster(bot.fleet.engine.config.environments["dev"])
    with Locks(cluster, "trading-dev").hold("trade-service", "dev", actor="erin", operation="sync"):
        bot.command("/gitops", "locks")
        assert "erin" in json.dumps(bot.ephemeral("Locks held now").params)
        bot.command("/deploy", "trade-service dev v1.4.2")
        bot.ephemeral("erin")
    bot.command("/gitops", "locks")
    bot.ephemeral("No locks are held.")


def test_freeze_refuses_deploys_until_unfrozen_and_needs_an_approver(canary_bot):
    bot = canary_bot
    bot.command("/gitops", "freeze prod 2h release night", user=BOB)
    frozen = bot.slack.wait("response_url", lambda c: "prod is frozen until" in c.params.get("text", ""))
    assert frozen.params["response_type"] == "in_channel" and "release night" in frozen.params["text"]
    bot.command("/deploy", "trade-service prod v1.4.2")
    bot.ephemeral("prod is frozen (manual: release night")
    bot.command("/gitops", "unfreeze prod", user=BOB)
    bot.slack.wait("response_url", lambda c: c.params.get("text") == "prod is unfrozen")
    bot.command("/gitops", "freeze prod 1h because", user=CAROL)
    bot.ephemeral("you are not an approver in prod")
    assert "not a duration" in _answer(bot.command("/gitops", "freeze prod soon because", user=BOB))


def test_rollout_controls_and_command_approvals(canary_bot):
    bot = canary_bot
    bot.command("/gitops", "approve pricing-api prod", user=BOB)
    bot.ephemeral("there is no pending request for pricing-api in prod")
    bot.command("/deploy", "pricing-api prod v2.1.0")
    root = bot.root("Deploy pricing-api v2.1.0 to prod")
    bot.root_state(root, "Waiting for approval")
    bot.command("/gitops", "reject pricing-api prod", user=CAROL)
    bot.ephemeral("you are not an approver in prod")
    bot.command("/gitops", "approve pricing-api prod", user=BOB)
    approved_root = bot.slack.wait(
        "chat.postMessage",
        lambda c: not c.params.get("thread_ts") and "Approved by <@UBOB>" in shown(c) and "pricing-api" in shown(c),
    )
    bot.root_state(approved_root, "Paused", timeout=60)  # the pricing-api canary pauses until promoted
    bot.command("/gitops", "pause pricing-api prod")
    bot.slack.wait("response_url", lambda c: "paused the rollout of pricing-api v2.1.0" in c.params.get("text", ""))
    bot.command("/gitops", "resume pricing-api prod")
    bot.slack.wait("response_url", lambda c: "resumed the rollout of pricing-api" in c.params.get("text", ""))
    bot.command("/gitops", "promote pricing-api prod")
    bot.slack.wait("response_url", lambda c: "alice promoted the rollout of pricing-api" in c.params.get("text", ""))
    bot.root_state(approved_root, "Promoted", timeout=60)
    bot.command("/gitops", "promote pricing-api prod")
    bot.ephemeral("pricing-api in prod has no rollout in progress")

    bot.command("/deploy", "ledger-worker prod v0.9.4")
    ledger = bot.root("Deploy ledger-worker v0.9.4 to prod")
    bot.click("gitops_approve", bot.root_state(ledger, "Waiting for approval"), user=BOB)
    bot.root_state(ledger, "Progressing")
    bot.command("/gitops", "abort ledger-worker prod looks slow")
    bot.slack.wait("response_url", lambda c: "aborted the rollout of ledger-worker" in c.params.get("text", ""))
    bot.root_state(ledger, "Aborted", timeout=30)
    alert = bot.thread_line(ledger, "was rolled back in prod")
    assert "looks slow" in alert.params["text"]
