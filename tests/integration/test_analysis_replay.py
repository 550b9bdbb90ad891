"""Analysis replay against the real Prometheus server: a template tried on past rollouts of a good and a bad
version, from their records and Prometheus's history, says what it would have decided and when."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest
from textual.widgets import DataTable

from gitopsctl.errors import UsageError
from tests.conftest import wait_for
from tests.tui.test_console import SIZE, at, until
from tui.app import ConsoleApp
from tui.detail import DetailScreen, ReplayScreen
from tui.modals import Ask

TEMPLATES = """
[analysis.templates.lenient]
provider = "prometheus"
query = 'sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="canary",code!~"5.."}[4s])) / sum(rate(http_requests_total{app="{{app}}",env="{{env}}",track="canary"}[4s]))'
interval = "1s"
count = 3
success_condition = "result >= 0.5"
inconclusive_limit = 10
"""


def _canary_quiet(prometheus_url: str) -> bool:
    """No canary traffic in the query's 4 s range: the series has no app version label, so a rollout started
    sooner would have its first measurements mix in the last one's traffic."""
    query = urllib.parse.urlencode({"query": 'sum(rate(http_requests_total{track="canary"}[4s])) > 0'})
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?{query}", timeout=5) as answer:  # noqa: S310
        return json.load(answer)["data"]["result"] == []


def test_a_replay_catches_the_bad_release_passes_the_good_one_and_says_when(canary):
    fleet = canary.fleet
    engine = fleet.reload(TEMPLATES)
    good = engine.deploy("trade-service", "prod", "v1.4.2", actor="alice", wait=True, timeout=120)
    assert good.rollout.phase == "Promoted", good.message
    wait_for(lambda: _canary_quiet(canary.prometheus.url), 30, 0.2, "the good canary's traffic out of the range")
    bad = engine.deploy("trade-service", "prod", "v1.4.3-bad", actor="alice", wait=True, timeout=120)
    assert bad.rollout.phase == "Aborted", bad.message

    report = engine.replays.replay("success-rate", "trade-service", "prod", last=2)

    assert [(r.window.version, r.window.ended, r.phase, r.verdict) for r in report.replayed] == [
        ("v1.4.3-bad", "Aborted", "Failed", "caught"),
        ("v1.4.2", "Promoted", "Successful", "passed"),
    ]
    caught, passed = report.replayed
    assert 0 <= caught.decided_after < caught.window.seconds + 1.0  # the template's interval is 1 s
    assert "< 0.95" in caught.message or "0.95" in caught.message
    assert 0 < passed.decided_after < passed.window.seconds + 1.0
    assert report.summary == "success-rate would have caught 1 of 1 bad release(s) and failed 0 of 1 good one(s)"

    lenient = engine.replays.replay("lenient", "trade-service", "prod", last=2)  # 20% errors pass 0.5
    assert [r.verdict for r in lenient.replayed] == ["missed", "passed"]

    command = [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), "analysis", "replay"]
    cli = subprocess.run(
        [*command, "success-rate", "--app", "trade-service", "--env", "prod", "--last", "2", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    body = json.loads(cli.stdout)
    assert [(r["version"], r["verdict"]) for r in body["releases"]] == [("v1.4.3-bad", "caught"), ("v1.4.2", "passed")]
    assert body["releases"][0]["decided_after_seconds"] is not None and body["releases"][0]["measurements"]
    text = subprocess.run(
        [*command, "lenient", "--app", "trade-service", "--env", "prod", "--last", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert text.returncode == 0, text.stderr
    assert "missed" in text.stdout and "lenient would have caught 0 of 1 bad release(s)" in text.stdout

    with pytest.raises(UsageError, match='unknown analysis template "nope"; templates: lenient, success-rate'):
        engine.replays.replay("nope", "trade-service", "prod")

    async def console():  # the detail screen's y: the template the app's steps use, offered first
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
            await pilot.press("y")
            assert isinstance(app.screen, Ask)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="the replay screen")
            table = app.screen.query_one("#replayed", DataTable)
            await until(pilot, lambda: table.row_count == 2, what="two replayed rollouts")
            assert [table.get_cell_at((row, 5)).plain for row in range(2)] == ["caught", "passed"]

    asyncio.run(console())
