"""Attack 5: a signed Slack request replayed on another replica inside the 5-minute window ran again.

Seen requests are claims in the cluster, shared by every replica of serve.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.serve import Serve, Tokens
from gitopsctl import config as config_module
from gitopsctl.engine import Engine
from tests.bot.conftest import ALICE, SECRET, Bot, free_port, start_bot
from tests.conftest import wait_for


@pytest.fixture
def two_replicas(fleet) -> Iterator[tuple[Bot, Serve]]:
    for first in start_bot(fleet):
        second = Serve(
            Engine(config_module.load(str(fleet.config_path))),
            mode="http",
            port=free_port(),
            token=Tokens("xoxb-test-token", SECRET, None),
            channel_interval=0.2,
        ).start()
        try:
            yield first, second
        finally:
            second.stop()


def send(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
        return response.status, response.read().decode()


def test_a_replayed_deploy_does_nothing_on_another_replica(two_replicas):
    bot, other = two_replicas
    body = bot.slack.command_body("/deploy", "trade-service dev v1.4.2", user=ALICE[0], user_name=ALICE[1])
    timestamp = str(int(time.time()))
    headers = {  # captured once, sent twice: exactly what a replay is
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body),
    }
    status, answer = send(bot.serve.server.url, body, headers)
    assert status == 200 and "Working on" in answer
    bot.root_state(bot.root("Deploy trade-service v1.4.2 to dev"), "Deployed")

    bot.command("/deploy", "trade-service dev v1.4.3")
    bot.root_state(bot.root("Deploy trade-service v1.4.3 to dev"), "Deployed")
    head = bot.head().hexsha

    status, answer = send(other.server.url, body, headers)  # the same signed request, to the other replica
    assert status == 200  # acknowledged at once; its claim in the cluster, made after the ack, finds the first
    dropped = other.bot.stats.repeats.labels("another replica")
    wait_for(lambda: dropped._value.get() == 1, message="the replay's claim refused on the other replica")
    assert bot.head().hexsha == head
    assert bot.fleet.engine.status("trade-service", "dev")[0].version == "v1.4.3"
    assert len([c for c in bot.slack.of("chat.postMessage") if "v1.4.2 to dev" in str(c.params.get("text"))]) == 1
