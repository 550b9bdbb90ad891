"""Git's side in the console: pending commits and drift apart on the cell, the commits in the detail screen,
and lifting a quarantine from it (asked for a reason, done by the engine in a thread)."""

from __future__ import annotations

import asyncio

import git
from textual.widgets import DataTable, Input

from demo.seed import deployment_yaml
from gitopsctl.cluster import quarantine
from tests.tui.test_console import SIZE, _cell_text, at, synced, until
from tui.app import ConsoleApp
from tui.detail import DetailScreen
from tui.modals import Ask


def _push_bump(fleet, env: str, tag: str, title: str) -> str:
    rel = f"apps/trade-service/{env}/deployment.yaml"
    (fleet.repo.work_path / rel).write_text(deployment_yaml("trade-service", f"registry.local/trade-service:{tag}", 1))
    fleet.repo.work.index.add([rel])
    who = git.Actor("CI Bot", "ci@example.com")
    sha = fleet.repo.work.index.commit(title, author=who, committer=who).hexsha
    fleet.repo.work.remote("origin").push("main:main").raise_if_error()
    return sha


def _quarantine(engine) -> None:
    cluster, namespace = engine.coordination()
    quarantine.add(
        cluster, namespace, "trade-service", "v1.4.2-bad", env="prod", reason="success-rate 0.82 < 0.95", by="gitopsctl"
    )


def test_the_cell_shows_pending_commits_and_drift_apart_and_the_detail_lists_the_commits(fleet):
    engine = synced(fleet)
    sha = _push_bump(fleet, "dev", "v1.4.2", "Bump [bold]trade-service[/bold] to v1.4.2")
    fleet.core.patch_namespaced_config_map("trade-service-config", "trading-dev", {"data": {"LOG_LEVEL": "trace"}})

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            text = _cell_text(app, "trade-service", "dev")
            assert "OutOfSync" in text and "[GIT +1]" in text and "[DRIFT 1]" in text
            assert "[GIT" not in _cell_text(app, "pricing-api", "dev")
            await pilot.press("enter")
            commits = app.screen.query_one("#commits", DataTable)
            await until(pilot, lambda: commits.row_count == 1, what="the pending commits")
            row = [cell.plain for cell in commits.get_row_at(0)]
            assert row[:3] == [sha[:12], "Bump [bold]trade-service[/bold] to v1.4.2", "CI Bot <ci@example.com>"]
            assert "1 commit in Git not delivered" in str(app.screen.query_one("#git").content)

    asyncio.run(run())


def test_lifting_a_quarantine_asks_why_and_cancel_lifts_nothing(fleet):
    engine = synced(fleet)
    _quarantine(engine)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            await pilot.press("enter")
            table = app.screen.query_one("#quarantine", DataTable)
            await until(pilot, lambda: table.row_count == 1, what="the quarantine list")
            assert [c.plain for c in table.get_row_at(0)][:3] == ["v1.4.2-bad", "prod", "success-rate 0.82 < 0.95"]
            await pilot.press("u")
            assert isinstance(app.screen, Ask)
            await pilot.press("escape")
            await pilot.pause(0.3)
            assert [q.version for q in engine.quarantined()] == ["v1.4.2-bad"]
            await pilot.press("u", *"the leak is fixed", "enter")
            await until(pilot, lambda: not engine.quarantined(), what="the lift")
            await until(pilot, lambda: table.row_count == 0, what="the list read again")
            note = next(n for n in app._notifications if n.title == "quarantine lifted")
            assert "trade-service v1.4.2-bad may run again" in note.message and "(the leak is fixed)" in note.message

    asyncio.run(run())


def test_read_only_cannot_lift_a_quarantine(fleet):
    engine = synced(fleet)
    _quarantine(engine)

    async def run():
        app = ConsoleApp(engine, read_only=True, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            await pilot.press("enter")
            table = app.screen.query_one("#quarantine", DataTable)
            await until(pilot, lambda: table.row_count == 1, what="the quarantine list")
            await pilot.press("u")
            await pilot.pause(0.3)
            assert isinstance(app.screen, DetailScreen) and not app.screen.query(Input)
            assert [q.version for q in engine.quarantined()] == ["v1.4.2-bad"]

    asyncio.run(run())


def test_sync_of_a_change_needing_approval_says_so_and_delivers_nothing(fleet):
    synced(fleet)
    engine = fleet.reload('\n[environments.prod.approval]\nrequired = 1\nusers = ["bob"]\n')
    _push_bump(fleet, "prod", "v1.4.2", "Bump trade-service in prod")

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            await pilot.press("s", *"trade-service", "enter")
            await until(pilot, lambda: any("waiting for approval" in n.message for n in app._notifications), 30)
            note = next(n for n in app._notifications if "waiting for approval" in n.message)
            assert note.title == "sync" and note.message.startswith("trade-service in prod at ")
            assert engine.pending("trade-service", "prod") is not None
            image = fleet.apps.read_namespaced_deployment("trade-service", "trading-prod").spec.template
            assert image.spec.containers[0].image.endswith(":v1.4.1")

    asyncio.run(run())
