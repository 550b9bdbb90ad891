"""Deploys from Slack end to end: the plan message, approvals, progress in the thread, aborts with numbers."""

from __future__ import annotations

import html
import json
import re

from tests.bot.conftest import ALICE, BOB, root_blocks, root_ts, shown


def test_deploy_to_dev_posts_the_plan_and_reports_progress_in_its_thread(bot):
    reply = bot.command("/deploy", "trade-service dev v1.4.2")
    assert reply.status == 200 and json.loads(reply.body)["response_type"] == "ephemeral"
    root = bot.root("Deploy trade-service v1.4.2 to dev")
    plan = shown(root)
    assert "`v1.4.1` → `v1.4.2`" in plan and "direct sync" in plan and "<@UALICE>" in plan
    done = bot.root_state(root, "Deployed")
    assert "health Healthy" in shown(done)
    bot.thread_line(root, "syncing trade-service to dev")
    commit = bot.head()
    assert commit.message.startswith("Deploy trade-service v1.4.2 to dev")
    assert "Deployed-by: alice (UALICE)" in commit.message
    history = bot.fleet.engine.history("trade-service", "dev")
    assert history[0].actor == "alice (UALICE)" and history[0].version == "v1.4.2"


def _buttons(call) -> dict[str, dict]:
    return {e["action_id"]: e for b in root_blocks(call) if b["type"] == "actions" for e in b["elements"]}


def test_a_prod_deploy_waits_for_approval_then_the_canary_is_followed_to_promoted(canary_bot):
    bot = canary_bot
    assert bot.command("/deploy", "trade-service prod v1.4.2").status == 200
    root = bot.root("Deploy trade-service v1.4.2 to prod")
    pending = bot.root_state(root, "Waiting for approval")
    buttons = _buttons(pending)
    assert set(buttons) == {"gitops_approve", "gitops_reject"}
    confirm = buttons["gitops_approve"]["confirm"]
    assert confirm["style"] == "danger" and "trade-service v1.4.2" in confirm["text"]["text"]
    assert "34% traffic → analysis success-rate → 67% traffic" in shown(pending)
    assert bot.head().message.startswith("Deploy trade-service") is False  # nothing is committed before approval

    assert bot.click("gitops_approve", pending, user=BOB).status == 200
    approved = bot.root_state(root, "Progressing", timeout=30)
    assert "Approved by <@UBOB>" in shown(approved) and not _buttons(approved)
    promoted = bot.root_state(root, "Promoted", timeout=90)
    assert "▰▰▰▰▰▰▰▰▰▰ 100%" in shown(promoted)
    bot.thread_line(root, "promoted trade-service v1.4.2 in prod")
    thread = bot.thread(root)  # Slack's escaping: &gt; shows as >
    assert "canary weight set to 34%" in thread
    assert re.search(
        r"success-rate = (1|0\.9\d*): Successful \(success when result &gt;= 0\.95\) at 34% traffic", thread
    ), thread
    commit = bot.head()
    assert "Deployed-by: alice (UALICE)" in commit.message and "Approved-by: bob (UBOB)" in commit.message


def test_a_bad_version_is_rolled_back_and_the_alert_gives_the_numbers(canary_bot):
    bot = canary_bot
    bot.command("/deploy", "trade-service prod v1.4.2-bad")
    root = bot.root("Deploy trade-service v1.4.2-bad to prod")
    bot.click("gitops_approve", bot.root_state(root, "Waiting for approval"), user=BOB)
    aborted = bot.root_state(root, "Aborted", timeout=90)
    assert "success-rate" in shown(aborted)
    alert = bot.slack.wait(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == root_ts(root) and c.params.get("reply_broadcast") in (True, "1", "true"),
        30,
    )
    revert = bot.head()
    text = html.unescape(alert.params["text"])  # as Slack shows it
    assert re.search(r"success-rate 0\.\d+ < 0\.95 at 34% traffic", text), text
    assert "All traffic is back on `v1.4.1`" in text and f"`{revert.hexsha[:12]}`" in text
    assert revert.message.startswith("Roll back trade-service prod to v1.4.1")


def test_nobody_approves_their_own_deploy(canary_bot):
    bot = canary_bot
    bot.command("/deploy", "trade-service prod v1.4.2")
    root = bot.root("Deploy trade-service v1.4.2 to prod")
    pending = bot.root_state(root, "Waiting for approval")
    bot.click("gitops_approve", pending, user=ALICE)  # alice is an approver, but she asked
    refusal = bot.ephemeral("someone else must approve it")
    assert refusal.params["response_type"] == "ephemeral"
    engine = bot.fleet.engine
    assert engine.promotions.pending(*engine.resolve("trade-service", "prod")) is not None
    assert not bot.head().message.startswith("Deploy trade-service v1.4.2 to prod")


def test_rejecting_removes_the_buttons_and_deploys_nothing(canary_bot):
    bot = canary_bot
    bot.command("/deploy", "trade-service prod v1.4.2")
    root = bot.root("Deploy trade-service v1.4.2 to prod")
    bot.click("gitops_reject", bot.root_state(root, "Waiting for approval"), user=BOB)
    rejected = bot.root_state(root, "Rejected")
    assert "Rejected by <@UBOB>" in shown(rejected) and not _buttons(rejected)
    engine = bot.fleet.engine
    assert engine.promotions.pending(*engine.resolve("trade-service", "prod")) is None
