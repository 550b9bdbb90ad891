"""The bot against Slack's limits with plain values: the outbox under 429s and refusals, Block Kit's limits, entities."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.access import Access
from bot.blocks import Release, release_blocks
from bot.commands import parse, typed
from bot.delivery import Budget, SlackStats, explain
from bot.drift import report_blocks
from bot.releases import Outbox
from gitopsctl.config import SlackConfig, SlackRoles
from gitopsctl.engine import Incident
from standins import block_kit


def _response(status: int, body: dict, headers: dict | None = None) -> SlackResponse:
    return SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/x",
        req_args={},
        data=body,
        headers=headers or {},
        status_code=status,
    )


class Slack:
    """A Web API client whose answers are scripted per method: an error code, 429, or success."""

    def __init__(self) -> None:
        self.script: dict[str, list[Any]] = {}
        self.sent: list[tuple[str, dict]] = []
        self._ts = 0
        self._lock = threading.Lock()

    def _call(self, method: str, params: dict) -> dict:
        with self._lock:
            answer = self.script.get(method, []).pop(0) if self.script.get(method) else None
            if answer == 429:
                raise SlackApiError(
                    "ratelimited", _response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                )
            if isinstance(answer, str):
                raise SlackApiError(answer, _response(200, {"ok": False, "error": answer}))
            self.sent.append((method, params))
            self._ts += 1
            return {"ok": True, "channel": "C0PROD", "ts": params.get("ts") or f"{self._ts}.0"}

    def chat_postMessage(self, **params):  # noqa: N802 (slack_sdk's name)
        return self._call("chat.postMessage", params)

    def chat_update(self, **params):
        return self._call("chat.update", params)


def _pump(outbox: Outbox, until, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the outbox did not get there in time"
        outbox.flush()
        time.sleep(0.01)


def _release(**options) -> Release:
    return Release("deploy", "trade-service", "prod", "v2", "v1", "UALICE", "#prod", **options)


def _outbox(slack: Slack, **options) -> tuple[Outbox, SlackStats]:
    stats = SlackStats(CollectorRegistry())
    return Outbox(slack, stats=stats, interval=0.05, **options), stats


def test_a_root_message_answered_429_waits_out_retry_after_and_is_posted_once():
    slack = Slack()
    slack.script["chat.postMessage"] = [429]
    outbox, stats = _outbox(slack)
    release, posted = _release(), []
    outbox.open(release, posted=posted.append, refused=lambda r, e: pytest.fail(e))
    outbox.line(release, "syncing")
    started = time.monotonic()
    _pump(outbox, lambda: len(slack.sent) >= 2)
    assert time.monotonic() - started >= 0.95  # Retry-After: 1
    assert [m for m, _ in slack.sent] == ["chat.postMessage", "chat.postMessage"]
    assert slack.sent[1][1]["thread_ts"] == release.ts
    _pump(outbox, lambda: posted == [release])  # told once, off the sending thread
    assert release.channel == "C0PROD"  # Slack's ID from here on
    assert stats.ratelimited.labels("chat.postMessage")._value.get() == 1


def test_a_refused_root_message_tells_whoever_opened_it_and_its_thread_is_dropped_and_counted():
    slack = Slack()
    slack.script["chat.postMessage"] = ["not_in_channel"]
    outbox, stats = _outbox(slack)
    release, refused = _release(), []
    outbox.open(release, refused=lambda r, error: refused.append(error))
    for i in range(5):
        outbox.line(release, f"step {i}")
    release.phase = "Deployed"
    outbox.refresh(release)
    _pump(outbox, lambda: bool(refused) and not outbox.pending())
    assert refused == ["not_in_channel"] and slack.sent == []
    assert stats.undeliverable.labels("chat.postMessage", "not_in_channel")._value.get() == 1


def test_lines_queued_after_slack_refused_the_message_are_dropped_not_kept_for_ever():
    slack = Slack()
    slack.script["chat.postMessage"] = ["not_in_channel"]
    outbox, _ = _outbox(slack)
    release, refused = _release(), []
    outbox.open(release, refused=lambda r, error: refused.append(error))
    _pump(outbox, lambda: bool(refused))
    for i in range(1000):  # the deploy goes on and reports progress
        outbox.line(release, f"step {i}")
    outbox.refresh(release)
    outbox.flush()
    assert not outbox.pending() and not outbox._threads and slack.sent == []


def test_a_release_left_waiting_for_approval_is_not_kept_once_its_message_is_up_to_date():
    slack = Slack()
    outbox, _ = _outbox(slack)
    releases = [_release(phase="PendingApproval", request_id=f"r{i}") for i in range(20)]
    for release in releases:  # the click that ends each builds its own Release from the button
        outbox.open(release)
    _pump(outbox, lambda: all(r.ts for r in releases) and not outbox.pending())
    outbox.flush()
    assert not outbox._threads
    releases[0].phase = "Rejected"  # still shown if it changes again
    outbox.refresh(releases[0])
    _pump(outbox, lambda: any(m == "chat.update" for m, _ in slack.sent))


def test_while_slack_pauses_a_method_the_sending_thread_sleeps_instead_of_spinning():
    slack = Slack()
    outbox, _ = _outbox(slack)
    first, second = _release(), _release()
    for release in (first, second):
        outbox.open(release)
    _pump(outbox, lambda: first.ts and second.ts)
    time.sleep(0.1)
    outbox.budget.backoff("chat.update", 5)
    outbox.budget.backoff("chat.postMessage", 5)
    outbox.refresh(first)
    outbox.line(second, "a line")
    assert outbox.next_due() > 4


def test_after_one_message_was_given_up_the_next_failure_gets_its_own_retry_window():
    slack = Slack()
    outbox, stats = _outbox(slack, give_up=0.3)
    release = _release()
    outbox.open(release)
    _pump(outbox, lambda: release.ts is not None)
    slack.script["chat.postMessage"] = ["service_unavailable"] * 40
    outbox.line(release, "lost in the outage")
    _pump(outbox, lambda: stats.undeliverable.labels("chat.postMessage", "service_unavailable")._value.get() == 1)
    slack.script["chat.postMessage"] = []
    slack.script["chat.update"] = [429]  # one 429 on the final update, long after the outage began
    release.phase = "Deployed"
    outbox.refresh(release)
    _pump(outbox, lambda: any(m == "chat.update" for m, _ in slack.sent) and not outbox.pending())
    assert [p for m, p in slack.sent if m == "chat.update"][-1]["text"].endswith("Deployed")


def test_slack_out_of_reach_is_a_message_not_sent_never_an_exception_for_the_caller():
    class Unreachable:
        def chat_postMessage(self, **params):  # noqa: N802 (slack_sdk's name)
            raise OSError("connection refused")

    stats = SlackStats(CollectorRegistry())
    outbox = Outbox(Unreachable(), direct=Unreachable(), stats=stats)
    assert outbox.send("chat_postMessage", channel="C1", text="drift") is None
    assert stats.undeliverable.labels("chat.postMessage", "connection_error")._value.get() == 1


def test_what_still_fails_after_the_retry_window_is_given_up_counted_and_reported():
    slack = Slack()
    slack.script["chat.postMessage"] = ["service_unavailable"] * 100
    outbox, stats = _outbox(slack, give_up=0.3)
    release, refused = _release(), []
    outbox.open(release, refused=lambda r, error: refused.append(error))
    _pump(outbox, lambda: bool(refused))
    assert refused == ["service_unavailable"]
    assert "kept answering `service_unavailable`" in explain(refused[0], "#prod")
    assert stats.undeliverable.labels("chat.postMessage", "service_unavailable")._value.get() == 1
    _pump(outbox, lambda: not outbox.pending())


def test_the_latest_state_of_a_release_arrives_when_updates_are_rate_limited():
    slack = Slack()
    outbox, _ = _outbox(slack)
    release = _release()
    outbox.open(release)
    _pump(outbox, lambda: release.ts is not None)
    slack.script["chat.update"] = [429, 429]
    for phase in ("Syncing", "Progressing", "Deployed"):
        release.phase = phase
        outbox.refresh(release)
    _pump(outbox, lambda: any(m == "chat.update" for m, _ in slack.sent) and not outbox.pending())
    updates = [p for m, p in slack.sent if m == "chat.update"]
    assert updates[-1]["text"].endswith("Deployed")


def test_a_transient_thread_failure_puts_its_lines_back_in_order():
    slack = Slack()
    outbox, _ = _outbox(slack)
    release = _release()
    outbox.open(release)
    _pump(outbox, lambda: release.ts is not None)
    slack.script["chat.postMessage"] = [429]
    outbox.line(release, "one")
    outbox.flush()  # answered 429: "one" waits
    outbox.line(release, "two")
    _pump(outbox, lambda: not outbox.pending())
    thread = "\n".join(p["text"] for m, p in slack.sent if m == "chat.postMessage" and p.get("thread_ts"))
    assert thread.index("one") < thread.index("two")


def test_the_budget_stops_a_method_for_retry_after_and_refills_at_its_tier():
    budget = Budget({"chat.update": (60, 2)})  # one a second, bursts of two
    assert budget.take("chat.update") and budget.take("chat.update") and not budget.take("chat.update")
    assert 0.5 < budget.wait("chat.update") <= 1.0
    budget.backoff("chat.postMessage", 5)
    assert not budget.take("chat.postMessage") and budget.wait("chat.postMessage") > 4


# ------------------------------------------------------------ Block Kit's limits


LONG_TITLE = "Bump & <deploy> 🚀 " * 400
STEPS = tuple(f"{i}% traffic" for i in range(1, 101)) + ("pause until promoted",) * 50


@pytest.mark.parametrize("kind", ["deploy", "rollback", "change"])
@pytest.mark.parametrize("phase", ["Planned", "PendingApproval", "Progressing", "Aborted", "Rejected"])
def test_release_messages_keep_every_block_kit_limit_whatever_the_names_steps_and_git_text(kind, phase):
    name = "a" * 63
    release = Release(
        kind,
        name,
        "e" * 63,
        "v" + "9" * 127,
        "v" + "8" * 127,
        LONG_TITLE if kind == "change" else "UALICE",
        "C0PROD",
        strategy="canary",
        steps=STEPS,
        production=True,
        phase=phase,
        request_id="r" * 40,
        decided="Rejected by <@UBOB>: " + "x" * 5000,
        message="m&" * 3000,
        revision="f" * 40,
        title=LONG_TITLE,
        author=LONG_TITLE,
        asked_in_slack=kind != "change",
    )
    shown = release_blocks(release)
    assert block_kit.problems(shown) == []
    buttons = [e for b in shown if b["type"] == "actions" for e in b["elements"]]
    assert bool(buttons) == (phase == "PendingApproval")
    for button in buttons:
        value = json.loads(button["value"])
        assert value["app"] == name and value["request"] == "r" * 40  # enough to act on the click


def test_drift_reports_keep_the_limits_with_the_longest_names():
    incident = Incident(app="a" * 63, env="e" * 63, fingerprint="f", opened_at="2026-12-02T00:00:00+00:00")
    shown = report_blocks(incident, "x" * 5000, ["line"] * 500, actions=True, production=True)
    assert block_kit.problems(shown) == []


# ------------------------------------------------------------ what people type, what Slack answers


def test_command_text_is_read_as_typed_though_slack_sends_entities():
    sent = "prod 2h A &amp; B &lt;release night&gt; &amp;lt;literally&amp;gt;"
    assert typed(sent) == "prod 2h A & B <release night> &lt;literally&gt;"
    assert parse("/gitops", "freeze " + typed(sent)).reason == "A & B <release night> &lt;literally&gt;"


def test_slacks_refusals_become_one_sentence_saying_what_to_do():
    assert "invite @gitopsctl" in explain("not_in_channel", "C0PROD") and "<#C0PROD>" in explain(
        "not_in_channel", "C0PROD"
    )
    assert "#deploys-prod is archived" in explain("is_archived", "#deploys-prod")
    assert "cannot see" in explain("channel_not_found", "G0SECRET")
    assert "`usergroups:read`" in explain("missing_scope", "C1", needed="usergroups:read")
    assert "&lt;!channel&gt;" in explain("<!channel>", "C1")  # an unknown error code is shown, escaped


class FailingGroups:
    def __init__(self) -> None:
        self.calls = 0

    def usergroups_users_list(self, usergroup):
        self.calls += 1
        raise SlackApiError("free plan", _response(200, {"ok": False, "error": "plan_upgrade_required"}))


def test_a_failed_user_group_lookup_is_cached_and_lets_nobody_in():
    client = FailingGroups()
    access = Access(SlackConfig(roles={"prod": SlackRoles(deployers=("SONCALL",))}), client)
    assert not access.allows("UDAVE", "prod", "deployer")
    assert not access.allows("UDAVE", "prod", "deployer")
    assert client.calls == 1
