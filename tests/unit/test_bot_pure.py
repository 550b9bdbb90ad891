"""The bot's pure parts: command parsing, Block Kit limits, the rate limiter, roles."""

from __future__ import annotations

import threading
import time

import pytest

from bot.access import Access, NotAllowed
from bot.blocks import MAX_BLOCKS, MAX_SECTION, Release, fit, message_blocks, progress_bar, release_blocks
from bot.commands import CommandError, parse
from bot.releases import Outbox
from gitopsctl.config import SlackConfig, SlackRoles


@pytest.mark.parametrize(
    ("slash", "text", "expected"),
    [
        ("/deploy", "trade-service prod", ("deploy", "trade-service", "prod", None)),
        ("/deploy", "trade-service prod v1.4.2", ("deploy", "trade-service", "prod", "v1.4.2")),
        ("/rollback", "trade-service prod v1.4.1", ("rollback", "trade-service", "prod", "v1.4.1")),
        ("/gitops", "STATUS", ("status", None, None, None)),
        ("/gitops", "drift prod", ("drift", None, "prod", None)),
        ("/gitops", "", ("help", None, None, None)),
    ],
)
def test_commands_parse(slash, text, expected):
    cmd = parse(slash, text)
    assert (cmd.verb, cmd.app, cmd.env, cmd.version) == expected


def test_rollout_controls_take_a_reason_and_promote_takes_full():
    assert parse("/gitops", "abort trade-service prod p99 is up 40%").reason == "p99 is up 40%"
    assert parse("/gitops", "promote trade-service prod full").full
    with pytest.raises(CommandError, match="promote takes only `full`"):
        parse("/gitops", "promote trade-service prod now")
    assert parse("/gitops", "freeze prod 90m incident 4711").duration == 5400


def test_incident_commands_take_an_id_a_duration_and_mentions_and_refuse_anything_else():
    start = parse("/gitops", "incident start prod INC-123 90m <@UALICE|alice> <@UBOB>")
    assert (start.action, start.env, start.incident, start.duration, start.responders, start.role) == (
        "start",
        "prod",
        "INC-123",
        5400.0,
        ("UALICE", "UBOB"),
        "approver",
    )
    assert parse("/gitops", "incident start prod INC-1").duration == 7200.0
    assert parse("/gitops", "incident status prod").role == "viewer"
    assert parse("/gitops", "incident end prod").action == "end"
    for text, said in (
        ("incident start prod", "give the incident's id"),
        ("incident start prod INC-1 soon", "not a duration"),
        ("incident start prod INC-1 2h alice", "name responders as @mentions"),
        ("incident start prod INC-1 2h <@U1|x>", "name responders as @mentions"),
        ("incident stop prod", "say start, end or status"),
        ("incident end prod now", "incident end takes only the environment"),
    ):
        with pytest.raises(CommandError, match=said):
            parse("/gitops", text)


@pytest.mark.parametrize(
    "text", ["trade-service\nprod", "trade-service prod v1\x00", "$(id) prod", "TRADE prod", "a" * 64 + " prod"]
)
def test_bad_names_are_refused_with_the_usage_line(text):
    with pytest.raises(CommandError, match=r"Usage: `/deploy APP ENV \[VERSION\]`|one line of plain text"):
        parse("/deploy", text)


def test_a_long_body_goes_to_a_snippet_and_no_section_exceeds_slack_limits():
    short = fit("Status", "a  b\nc  d")
    assert short.snippet is None and short.blocks[1]["text"]["text"] == "```a  b\nc  d```"
    body = "\n".join(f"line {i} " + "y" * 80 for i in range(200))
    long = fit("Diff", body, "200 objects differ")
    assert long.snippet == body
    assert all(len(b["text"]["text"]) <= MAX_SECTION for b in long.blocks)
    assert "200 objects differ" in long.blocks[1]["text"]["text"]
    many = message_blocks("z" * (MAX_SECTION * 60))
    assert len(many) == MAX_BLOCKS and all(len(b["text"]["text"]) <= MAX_SECTION for b in many)


def test_progress_bar_and_buttons_only_while_waiting():
    assert progress_bar(30) == "▰▰▰▱▱▱▱▱▱▱ 30%"
    release = Release("deploy", "a", "prod", "v2", "v1", "U1", "C1", phase="PendingApproval", request_id="r1")
    assert any(b["type"] == "actions" for b in release_blocks(release))
    release.phase = "Progressing"
    assert not any(b["type"] == "actions" for b in release_blocks(release))


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str, str]] = []

    def chat_postMessage(self, **kwargs):  # noqa: N802 (slack_sdk's name)
        self.sent.append((time.monotonic(), "post", kwargs["channel"]))
        return {"channel": kwargs["channel"], "ts": "1.0"}

    def chat_update(self, **kwargs):
        self.sent.append((time.monotonic(), "update", kwargs["channel"]))


def test_the_outbox_sends_at_most_one_message_a_second_per_channel_and_loses_no_line():
    client = FakeClient()
    outbox = Outbox(client, interval=0.3)
    release = Release("deploy", "a", "dev", "v2", "v1", "U1", "C1", ts="1.0")
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            outbox.flush()
            time.sleep(0.01)

    thread = threading.Thread(target=pump)
    thread.start()
    for i in range(30):
        outbox.line(release, f"step {i}")
        outbox.refresh(release)
        time.sleep(0.02)
    deadline = time.monotonic() + 5
    while outbox.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    posts = [t for t, kind, _ in client.sent if kind == "post"]
    updates = [t for t, kind, _ in client.sent if kind == "update"]
    assert 1 < len(posts) < 10 and all(b - a >= 0.29 for a, b in zip(posts, posts[1:], strict=False))
    assert all(b - a >= 0.29 for a, b in zip(updates, updates[1:], strict=False))


class FakeGroups:
    def __init__(self) -> None:
        self.calls = 0

    def usergroups_users_list(self, usergroup):
        self.calls += 1
        return {"users": ["UDAVE"]} if usergroup == "SONCALL" else {"users": []}


def test_roles_rank_and_user_groups_are_cached():
    slack = SlackConfig(roles={"prod": SlackRoles(viewers=("*",), deployers=("SONCALL",), approvers=("UBOB",))})
    client = FakeGroups()
    access = Access(slack, client)
    assert access.allows("UDAVE", "prod", "deployer") and access.allows("UBOB", "prod", "deployer")
    assert not access.allows("UDAVE", "prod", "approver") and access.allows("UX", "prod", "viewer")
    assert access.allows("UDAVE", "prod", "deployer") and client.calls == 1
    with pytest.raises(NotAllowed, match="you are not an approver in prod"):
        access.require("UDAVE", "prod", "approver")
    assert not access.allows("UDAVE", "staging", "deployer")  # no table: nobody changes anything from Slack


def test_the_app_manifest_declares_what_the_bot_uses():
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    manifest = yaml.safe_load((root / "bot" / "manifest.yml").read_text())
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    source = (root / "bot" / "app.py").read_text()
    assert commands == set(re.findall(r'"(/\w+)"', source.split("for slash in", 1)[1].split(":", 1)[0]))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    every_module = "".join(p.read_text() for p in (root / "bot").glob("*.py"))
    calls = set(re.findall(r"client\.(\w+)\(", every_module))
    calls |= set(re.findall(r"(?:call|send)\(\s*\"(\w+)\"", every_module))  # through the outbox
    scope_of = {
        "chat_postMessage": "chat:write",
        "chat_update": "chat:write",
        "chat_getPermalink": None,  # no scope: any token that can see the message
        "files_upload_v2": "files:write",
        "usergroups_users_list": "usergroups:read",
    }
    assert calls <= set(scope_of), f"a Web API method without a known scope: {calls - set(scope_of)}"
    assert {"chat_postMessage", "chat_update", "files_upload_v2", "chat_getPermalink"} <= calls
    assert {"commands"} | {scope_of[c] for c in calls if scope_of[c]} == scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["settings"]["socket_mode_enabled"]
