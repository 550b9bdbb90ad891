"""The bot for real: `gitopsctl serve`'s parts in HTTP mode on 127.0.0.1, Slack replaced by the local stand-in."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import git
import pytest

from bot.serve import Serve, Tokens
from standins.slack import Call, SlackStandIn
from tests.conftest import Fleet

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALICE, BOB, CAROL, DAVE = ("UALICE", "alice"), ("UBOB", "bob"), ("UCAROL", "carol"), ("UDAVE", "dave")
ROLES = """
[slack]
api_base_url = "{api}"

[slack.roles.dev]
deployers = ["*"]

[slack.roles.staging]
deployers = ["*"]
approvers = ["UBOB"]

[slack.roles.prod]
deployers = ["UALICE", "SONCALL"]
approvers = ["UBOB", "UALICE"]

[serve]
reconcile_interval = "500ms"
lease_duration = "4s"
renew_deadline = "3s"
retry_period = "1s"
watch = false
metrics_port = 0

[environments.prod.approval]
required = 1
users = ["UBOB", "UALICE"]
"""


@dataclass
class Bot:
    fleet: Fleet
    slack: SlackStandIn
    serve: Serve

    def command(self, command: str, text: str, user: tuple[str, str] = ALICE, **options):
        return self.slack.command(command, text, user=user[0], user_name=user[1], **options)

    def click(self, action_id: str, root: Call, user: tuple[str, str] = BOB, **options):
        value = next(
            e["value"]
            for b in root_blocks(root)
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        options.setdefault("channel", root.response["channel"])  # the click comes from where the message is
        return self.slack.click(action_id, value, user=user[0], user_name=user[1], message_ts=root_ts(root), **options)

    def root(self, startswith: str, timeout: float = 30) -> Call:
        return release_root(self.slack, startswith, timeout)

    def root_state(self, root: Call, ends: str, timeout: float = 60) -> Call:
        return release_state(self.slack, root, ends, timeout)

    def thread_line(self, root: Call, contains: str, timeout: float = 30) -> Call:
        return self.slack.wait(
            "chat.postMessage",
            lambda c: c.params.get("thread_ts") == root_ts(root) and contains in str(c.params.get("text", "")),
            timeout,
        )

    def thread(self, root: Call) -> str:
        return "\n".join(
            str(c.params.get("text", ""))
            for c in self.slack.of("chat.postMessage")
            if c.params.get("thread_ts") == root_ts(root)
        )

    def ephemeral(self, contains: str, timeout: float = 30) -> Call:
        return self.slack.wait("response_url", lambda c: contains in json.dumps(c.params, ensure_ascii=False), timeout)

    def head(self) -> git.Commit:
        return git.Repo(self.fleet.repo.url).commit("main")


def release_root(slack: SlackStandIn, startswith: str, timeout: float = 30) -> Call:
    """The release's root message (a channel message, not a thread reply)."""
    return slack.wait(
        "chat.postMessage",
        lambda c: not c.params.get("thread_ts") and str(c.params.get("text", "")).startswith(startswith),
        timeout,
    )


def release_state(slack: SlackStandIn, root: Call, ends: str, timeout: float = 60) -> Call:
    """The root message updated in place to a phase (the update's notification text ends with it)."""
    return slack.wait(
        "chat.update",
        lambda c: c.params.get("ts") == root_ts(root) and str(c.params.get("text", "")).endswith(ends),
        timeout,
    )


def root_ts(call: Call) -> str:
    assert call.ts, call
    return call.ts


def shown(call: Call) -> str:
    """Everything a message shows (its blocks and text) as one string to search."""
    return json.dumps([call.params.get("text"), root_blocks(call)], ensure_ascii=False)


def root_blocks(call: Call) -> list[dict]:
    blocks = call.params.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_bot(fleet: Fleet) -> Iterator[Bot]:
    with SlackStandIn(SECRET, groups={"SONCALL": ["UDAVE"]}) as slack:
        engine = fleet.reload(ROLES.format(api=slack.api_url))
        serve = Serve(
            engine,
            mode="http",
            port=free_port(),
            token=Tokens("xoxb-test-token", SECRET, None),
            channel_interval=0.2,
        ).start()
        slack.bot_url = serve.server.url
        try:
            yield Bot(fleet, slack, serve)
        finally:
            serve.stop()


@pytest.fixture
def bot(fleet) -> Iterator[Bot]:
    yield from start_bot(fleet)


@pytest.fixture
def canary_bot(canary) -> Iterator[Bot]:
    yield from start_bot(canary.fleet)
