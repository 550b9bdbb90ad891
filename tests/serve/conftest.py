"""`gitopsctl serve` with its scheduler, leader election, watches and metrics; Slack is the local stand-in."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.serve import Serve, Tokens
from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, Bot, free_port
from tests.conftest import Fleet

SERVE = """
[drift]
interval = "2s"
jitter = "0s"
reminder_after_scans = 3
"""


def with_channels(fleet: Fleet) -> None:
    """dev reports to #dev; staging heals itself and reports to #staging."""
    text = fleet.config_path.read_text()
    text = text.replace('namespace = "trading-dev"\n', 'namespace = "trading-dev"\nslack_channel = "#dev"\n')
    text = text.replace(
        'namespace = "trading-staging"\n',
        'namespace = "trading-staging"\nslack_channel = "#staging"\nself_heal = true\n',
    )
    fleet.config_path.write_text(text)


def metric(url: str, name: str, labels: str = "") -> float | None:
    """A sample's value from a /metrics page, e.g. metric(url, "gitopsctl_leader")."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()  # noqa: S310 (127.0.0.1)
    pattern = rf"^{re.escape(name)}(\{{[^}}]*{re.escape(labels)}[^}}]*\}})? ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(2)) if match else None


@dataclass
class Served(Bot):
    metrics_url: str = ""

    def reports(self, text: str) -> list:
        return [
            c
            for c in self.slack.of("chat.postMessage")
            if not c.params.get("thread_ts") and text in str(c.params.get("text"))
        ]


def start_served(fleet: Fleet, watch: bool = True) -> Iterator[Served]:
    with_channels(fleet)
    with SlackStandIn(SECRET) as slack:
        extra = ROLES.format(api=slack.api_url).replace("watch = false", f"watch = {'true' if watch else 'false'}")
        running = fleet.reload()  # everything delivered before prod's approvals are configured
        for app in running.config.apps:
            for env in ("dev", "staging", "prod"):
                running.sync(app, env, wait=True, timeout=30)
        engine = fleet.reload(extra + SERVE)
        metrics_port = free_port()
        serve = Serve(
            engine,
            mode="http",
            port=free_port(),
            token=Tokens("xoxb-test-token", SECRET, None),
            channel_interval=0.2,
            metrics_port=metrics_port,
        ).start()
        slack.bot_url = serve.server.url
        try:
            yield Served(fleet, slack, serve, f"http://127.0.0.1:{metrics_port}")
        finally:
            serve.stop()


@pytest.fixture
def served(fleet) -> Iterator[Served]:
    yield from start_served(fleet)
