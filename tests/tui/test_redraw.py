"""A refresh draws again only the cells that changed, and the matrix stays as it was: rows in order, each as
tall as its tallest cell, the cursor where it was. (Rebuilding 200 rows took Textual 150-300 ms per refresh.)"""

from __future__ import annotations

import asyncio
import threading
import tomllib
from datetime import UTC, datetime
from types import SimpleNamespace

from textual.widgets import DataTable

from gitopsctl import config as config_module
from gitopsctl.engine import Cell, FleetView
from tests.tui.test_console import until
from tui.app import ConsoleApp

APPS = [f"app-{n}" for n in range(5)]
ENVS = ["dev", "staging", "prod"]
CONFIG = 'git = { url = "/nonexistent/gitops" }\n' + "".join(
    f'[environments.{env}]\ncontext = "sandbox"\nnamespace = "team-{env}"\n' for env in ENVS
)
CONFIG += "".join(f'[apps.{app}]\npath = "apps/{app}"\n' for app in APPS)


def _view(revision: str, **changed: Cell) -> FleetView:
    cells = {(app, env): Cell(app, env, "v1.0.0", "Synced", "Healthy") for app in APPS for env in ENVS}
    for cell in changed.values():
        cells[(cell.app, cell.env)] = cell
    return FleetView(APPS, ENVS, cells, revision * 40, datetime.now(UTC), [])


def test_a_refresh_redraws_changed_cells_in_place_and_keeps_the_rows_in_order_and_the_cursor():
    views = [
        _view("a"),
        _view(
            "b",
            drifted=Cell("app-3", "dev", "v1.0.0", "Synced", "Healthy", drifted=1),  # a badge: the row grows
            degraded=Cell("app-1", "staging", "v1.0.0-rc.1+build.20261203", "Synced", "Degraded"),  # as tall, wider
            last=Cell("app-4", "prod", "v1.0.0", "Synced", "Healthy", drifted=2),  # the last row grows
        ),
        _view("c"),  # all clean again: the row shrinks back
    ]
    shown = iter(views)
    engine = SimpleNamespace(
        config=config_module.parse(tomllib.loads(CONFIG)),
        whoami=lambda env: "oncall",
        live_fleet=lambda on_change=None: SimpleNamespace(snapshot=lambda: next(shown), stop=lambda: None),
    )

    async def run():
        app = ConsoleApp(engine, refresh_seconds=3600, read_only=True)
        async with app.run_test(size=(110, 34)) as pilot:
            table = app.query_one("#fleet", DataTable)
            await until(pilot, lambda: app.view is views[0] and table.row_count == 5, what="the first view")
            table.move_cursor(row=2, column=3)

            def drawn() -> list[str]:
                return [table.coordinate_to_cell_key((n, 0)).row_key.value for n in range(table.row_count)]

            await pilot.press("r")
            await until(pilot, lambda: app.view is views[1], what="the second view")
            await pilot.pause()
            assert drawn() == APPS
            assert table.rows[table.coordinate_to_cell_key((3, 0)).row_key].height == 3
            assert "[DRIFT 1]" in table.get_cell("app-3", "dev").plain
            assert "Degraded" in table.get_cell("app-1", "staging").plain
            staging = next(column for key, column in table.columns.items() if key.value == "staging")
            assert staging.content_width >= len("v1.0.0-rc.1+build.20261203")  # widened, not wrapped and cut
            assert table.cursor_coordinate == (2, 3)

            table.move_cursor(row=4, column=1)  # on the last row, which shrinks back: the cursor stays on it
            await pilot.press("r")
            await until(pilot, lambda: app.view is views[2], what="the third view")
            await pilot.pause()
            assert drawn() == APPS
            assert all(table.rows[table.coordinate_to_cell_key((n, 0)).row_key].height == 2 for n in range(5))
            assert "DRIFT" not in table.get_cell("app-3", "dev").plain
            assert "Healthy" in table.get_cell("app-1", "staging").plain
            assert table.cursor_coordinate == (4, 1)

    asyncio.run(run())


def test_a_change_in_the_cluster_refreshes_the_console_by_itself_once_per_burst():
    views = [_view("a"), _view("b", drifted=Cell("app-3", "dev", "v1.0.0", "Synced", "Healthy", drifted=1))]
    reads = []

    def snapshot() -> FleetView:
        reads.append(views[min(len(reads), 1)])
        return reads[-1]

    live = SimpleNamespace(snapshot=snapshot, stop=lambda: None, on_change=None)
    engine = SimpleNamespace(
        config=config_module.parse(tomllib.loads(CONFIG)), whoami=lambda env: "oncall", live_fleet=lambda: live
    )

    async def run():
        app = ConsoleApp(engine, refresh_seconds=3600, read_only=True, live=live)
        async with app.run_test(size=(110, 34)) as pilot:
            await until(pilot, lambda: app.view is views[0], what="the first view")
            burst = [threading.Thread(target=live.on_change) for _ in range(50)]  # as watch threads call it
            for thread in burst:
                thread.start()
            for thread in burst:
                thread.join()
            table = app.query_one("#fleet", DataTable)
            await until(pilot, lambda: "[DRIFT 1]" in table.get_cell("app-3", "dev").plain, what="the change shown")
            await until(pilot, lambda: not app._change_pending and not app.workers, what="every refresh over")
            assert len(reads) == 2  # the first read and one refresh for the whole burst

    asyncio.run(run())


def test_changes_during_a_slow_read_wait_for_it_and_bring_one_read_after_it():
    views = [_view("a"), _view("b"), _view("c", drifted=Cell("app-3", "dev", "v1.0.0", "Synced", "Healthy", drifted=1))]
    reads, slow = [], threading.Event()

    def snapshot() -> FleetView:
        reads.append(views[min(len(reads), 2)])
        if len(reads) == 2:
            slow.wait(30)  # a cluster slow to answer
        return reads[-1]

    live = SimpleNamespace(snapshot=snapshot, stop=lambda: None, on_change=None)
    engine = SimpleNamespace(config=config_module.parse(tomllib.loads(CONFIG)), whoami=lambda env: "oncall")

    async def run():
        app = ConsoleApp(engine, refresh_seconds=3600, read_only=True, live=live)
        async with app.run_test(size=(110, 34)) as pilot:
            await until(pilot, lambda: app.view is views[0], what="the first view")
            await pilot.press("r")
            await until(pilot, lambda: len(reads) == 2, what="the slow read under way")
            waited = []
            retry = app._refresh_after_change
            app._refresh_after_change = lambda: (waited.append(1), retry())
            live.on_change()
            await until(pilot, lambda: len(waited) >= 3, what="the change's refresh waiting its turn, three times")
            assert len(reads) == 2  # no read started beside the slow one
            slow.set()
            table = app.query_one("#fleet", DataTable)
            await until(pilot, lambda: "[DRIFT 1]" in table.get_cell("app-3", "dev").plain, what="the change shown")
            await until(pilot, lambda: not app._change_pending and not app.workers, what="every refresh over")
            assert len(reads) == 3

    asyncio.run(run())
