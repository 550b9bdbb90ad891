"""Attacks 9 and 11: text from Git, Slack or the cluster is shown as text, never as markup or mrkdwn.

A Git pusher writes commit titles and trailers; a Slack user types versions and reasons;
the console and the bot must show them literally: no crash, no spoofed link, no formatting.
"""

from __future__ import annotations

import asyncio

from rich.segment import Segment
from textual.geometry import Region
from textual.widgets import DataTable

from tests.tui.test_console import SIZE, at, synced, until
from tui.app import ConsoleApp
from tui.detail import DetailScreen, HistoryScreen
from tui.modals import Ask, Confirm

WIDE = (200, 40)  # the history's title column whole

TITLE = "Tune logging [/]"
DEPLOYED_BY = "[link=https://evil.example/login]alice[/link]"
ACTOR = "ops [/b]"
HOSTILE_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: trade-service-config
data:
  LOG_LEVEL: info
  MARKETS: "LSE,XETRA"
"""


def _segments(app: ConsoleApp) -> list[Segment]:
    """Every segment the current screen renders, with its style (where a link would be)."""
    out: list[Segment] = []
    for widget in app.screen.walk_children(with_self=True):
        if widget.display and widget.size.area:
            for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
                out.extend(strip)
    return out


def _links(app: ConsoleApp) -> set[str]:
    return {s.style.link for s in _segments(app) if s.style is not None and s.style.link}


def _rows(table: DataTable) -> list[list[str]]:
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def test_git_titles_trailers_and_actors_are_shown_literally_in_history_and_detail(fleet):
    engine = synced(fleet)
    fleet.repo.commit(
        {"apps/trade-service/dev/configmap.yaml": HOSTILE_CONFIGMAP},
        f"{TITLE}\n\nDeployed-by: {DEPLOYED_BY}\nApproved-by: {ACTOR}",
    )
    engine.sync("trade-service", "dev", wait=True, timeout=30, actor=ACTOR)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=WIDE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("h")
            assert isinstance(app.screen, HistoryScreen)
            releases = app.screen.query_one("#releases", DataTable)
            await until(pilot, lambda: releases.row_count >= 2, what="the releases")
            newest = _rows(releases)[0]
            assert newest[1:4] == ["Change", DEPLOYED_BY, ACTOR] and newest[5] == TITLE
            await pilot.pause()
            assert not any("evil.example" in link for link in _links(app))
            assert TITLE in "".join(s.text for s in _segments(app))

            await pilot.press("escape", "enter")
            assert isinstance(app.screen, DetailScreen)
            history = app.screen.query_one("#history", DataTable)
            await until(pilot, lambda: any(row[2] == ACTOR for row in _rows(history)), what="the sync by ops")
            await pilot.pause()
            assert ACTOR in "".join(s.text for s in _segments(app))
            assert not _links(app)

    asyncio.run(run())
    assert engine.status("trade-service", "dev")[0].version == "v1.4.1", "nothing was deployed"


def test_a_refusal_quoting_what_was_typed_is_a_plain_notification(fleet):
    engine = synced(fleet)
    before = engine.repo.resolve()

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("d")
            assert isinstance(app.screen, Ask)
            await pilot.press(*"v1[/]", "enter")
            assert isinstance(app.screen, Confirm)
            assert "v1[/]" in "".join(s.text for s in _segments(app)), "the question shows the version as typed"
            await pilot.click("#confirm")
            await until(pilot, lambda: any(n.severity == "error" for n in app._notifications), what="the refusal")
            note = next(n for n in app._notifications if n.severity == "error")
            assert "'v1[/]' is not a valid version" in note.message and not note.markup

    asyncio.run(run())
    assert engine.repo.resolve() == before, "nothing was committed"
