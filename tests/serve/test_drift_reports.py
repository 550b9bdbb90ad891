"""Drift reports from serve: once per incident, to the environment's channel, reminded, resolved, healed."""

from __future__ import annotations

import html

import git

from tests.bot.conftest import root_ts, shown
from tests.conftest import wait_for
from tests.serve.conftest import metric


def _hand_scale(served, namespace: str, replicas: int) -> None:
    served.fleet.apps.patch_namespaced_deployment(
        "trade-service", namespace, {"spec": {"replicas": replicas}}, field_manager="kubectl-edit"
    )


def _control(report, action_id: str) -> dict:
    actions = next(b for b in report.params["blocks"] if b["type"] == "actions")
    return next(e for e in actions["elements"] if e["action_id"] == action_id)


def _in_thread(served, report, text: str, timeout: float = 20):
    return served.slack.wait(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == root_ts(report) and text in str(c.params.get("text")),
        timeout,
    )


def _more_scans(served, rounds: int) -> None:
    """Wait until every environment was scanned ``rounds`` more times (a scan reports before it is counted)."""
    scheduler = served.serve.scheduler
    target = scheduler.scans + rounds * len(served.fleet.engine.config.environments)
    wait_for(lambda: scheduler.scans >= target, 10 + rounds * 5, message=f"{rounds} more scans of every environment")


def test_a_hand_change_is_reported_once_reminded_and_resolved_by_sync_now(served):
    _hand_scale(served, "trading-dev", 3)
    report = served.slack.wait(
        "chat.postMessage", lambda c: "Drift in trade-service (dev)" in str(c.params.get("text")), 15
    )
    assert report.params["channel"] == "#dev"
    text = html.unescape(shown(report))
    assert "Deployment trading-dev/trade-service` changed by kubectl-edit" in text
    assert "`spec.replicas`: Git `1`, live `3`" in text
    _in_thread(served, report, "What differs")
    reminder = _in_thread(served, report, "still unresolved")
    assert reminder.params.get("reply_broadcast") in (True, "true", "1")
    assert len(served.reports("Drift in trade-service (dev)")) == 1  # the same drift on later scans: no new report
    assert metric(served.metrics_url, "gitopsctl_drift_objects", 'env="dev"') == 1.0

    sync = _control(report, "gitops_drift_sync")
    served.slack.click(
        "gitops_drift_sync",
        sync["value"],
        user="UCAROL",
        user_name="carol",
        message_ts=root_ts(report),
        channel="#dev",
        block_id="drift",
    )
    resolved = served.slack.wait(
        "chat.update", lambda c: c.params.get("ts") == root_ts(report) and "resolved" in str(c.params.get("text")), 20
    )
    assert "synced by carol" in resolved.params["text"]
    assert not any(b["type"] == "actions" for b in resolved.params["blocks"])
    assert served.fleet.apps.read_namespaced_deployment("trade-service", "trading-dev").spec.replicas == 1
    _more_scans(served, rounds=2)
    assert len(served.reports("Drift in trade-service (dev)")) == 1


def test_self_heal_syncs_drift_back_and_says_so(served):
    _hand_scale(served, "trading-staging", 5)
    healed = served.slack.wait(
        "chat.postMessage", lambda c: "Drift in trade-service (staging) was healed" in str(c.params.get("text")), 15
    )
    assert healed.params["channel"] == "#staging" and not any(b["type"] == "actions" for b in healed.params["blocks"])
    wait_for(
        lambda: served.fleet.apps.read_namespaced_deployment("trade-service", "trading-staging").spec.replicas == 2, 10
    )
    assert served.fleet.engine.history("trade-service", "staging")[0].actor == "gitopsctl self-heal"


def test_snooze_silences_reminders_and_sync_needs_the_deployer_role(served):
    _hand_scale(served, "trading-dev", 4)
    report = served.slack.wait(
        "chat.postMessage", lambda c: "Drift in trade-service (dev)" in str(c.params.get("text")), 15
    )
    option = _control(report, "gitops_drift_snooze")["options"][1]
    served.slack.click(
        "gitops_drift_snooze",
        option["value"],
        user="UALICE",
        user_name="alice",
        message_ts=root_ts(report),
        channel="#dev",
        block_id="drift",
        selected=option["text"]["text"],
    )
    _in_thread(served, report, "snoozed reminders until")
    assert served.serve.reports.open_incidents("dev")["trade-service"].snoozed_until is not None
    _more_scans(served, rounds=4)  # past reminder_after_scans (3): a reminder would have been posted by now
    assert not [c for c in served.slack.of("chat.postMessage") if "still unresolved" in str(c.params.get("text"))]

    # the same Sync now button for prod (where carol is no deployer) is refused, and nothing is synced
    _hand_scale(served, "trading-prod", 7)
    served.slack.click(
        "gitops_drift_sync",
        '{"app":"trade-service","env":"prod"}',
        user="UCAROL",
        user_name="carol",
        message_ts=root_ts(report),
        channel="#dev",
        block_id="drift",
    )
    refused = served.slack.wait(
        "response_url", lambda c: "you are not a deployer in prod" in str(c.params.get("text")), 15
    )
    assert refused.params["response_type"] == "ephemeral"
    assert served.fleet.apps.read_namespaced_deployment("trade-service", "trading-prod").spec.replicas == 7


def test_keep_in_git_commits_the_live_value_and_the_report_resolves_as_adopted(served):
    _hand_scale(served, "trading-dev", 3)
    report = served.slack.wait(
        "chat.postMessage", lambda c: "Drift in trade-service (dev)" in str(c.params.get("text")), 15
    )
    keep = _control(report, "gitops_drift_adopt")
    assert keep["confirm"]["title"]["text"] == "Keep the live values of trade-service in dev?"
    served.slack.click(
        "gitops_drift_adopt",
        keep["value"],
        user="UCAROL",
        user_name="carol",
        message_ts=root_ts(report),
        channel="#dev",
        block_id="drift",
    )
    resolved = served.slack.wait(
        "chat.update", lambda c: c.params.get("ts") == root_ts(report) and "resolved" in str(c.params.get("text")), 30
    )
    assert "kept in Git: adopted by carol" in resolved.params["text"]
    said = _in_thread(served, report, "kept the live values of trade-service in dev in Git")
    assert "spec.replicas 1 -&gt; 3" in said.params["text"] and "delivered: Succeeded" in said.params["text"]
    head = git.Repo(served.fleet.repo.url).head.commit
    assert "Adopted-from-live-by: kubectl-edit" in head.message and "Adopted-by: carol" in head.message
    assert served.fleet.apps.read_namespaced_deployment("trade-service", "trading-dev").spec.replicas == 3
    _more_scans(served, rounds=2)
    assert len(served.reports("Drift in trade-service (dev)")) == 1
