"""`gitopsctl demo`'s console with Pilot: the guide's keys release, roll back and make drift; s heals it; a CI commit
goes through the canary by itself."""

from __future__ import annotations

import asyncio
import re

import pytest
from textual.widgets import DataTable, Input, RichLog

from demo.console import DemoConsole
from demo.world import DemoController, DemoWorld
from tests.tui.test_console import until
from tui.modals import Confirm


def said(app: DemoConsole, phrase: str) -> bool:
    """Whether the log shows ``phrase``, wherever wrapping broke its lines."""
    lines = "".join(strip.text for strip in app.query_one("#demo-log", RichLog).lines)
    return "".join(phrase.split()) in "".join(lines.split())


def cell(app: DemoConsole, name: str, env: str) -> str:
    table = app.query_one("#fleet", DataTable)
    return table.get_cell(name, env).plain


@pytest.mark.timeout(240)
def test_the_guides_keys_release_a_good_version_roll_back_a_bad_one_and_make_drift():
    printed: list[str] = []
    with DemoWorld(printed.append, analysis_provider="web") as world:
        controller = DemoController(world).start()
        try:
            console = DemoConsole(
                world, ["analysis: the web provider"], poke=controller.follower.poke, refresh_seconds=0.5
            )
            asyncio.run(_drive(console))
        finally:
            controller.stop()
        assert world.say == printed.append, "the world's lines go back to the terminal when the console closes"


async def _drive(app: DemoConsole) -> None:
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.view is not None, what="the first fleet paint")
        assert said(app, "The demo is ready: press 1")
        guide = str(app.query_one("#guide").content)
        assert "a good release of trade-service" in guide and "-bad" in guide and "a hand-made change in prod" in guide
        table = app.query_one("#fleet", DataTable)
        assert table.coordinate_to_cell_key(table.cursor_coordinate) == table.coordinate_to_cell_key(
            (table.get_row_index("trade-service"), 3)
        ), "the cursor starts on trade-service in prod, where the demo happens"

        await pilot.press("1")
        await until(pilot, lambda: "→ v1.4.2" in cell(app, "trade-service", "prod"), 60, "the canary in the cell")
        await pilot.press("2")  # while the release runs: refused with a warning, nothing started
        await until(pilot, lambda: said(app, "Promoted: trade-service v1.4.2 takes all of prod's traffic."), 90)
        assert not said(app, "v1.4.2-bad") and not said(app, "v1.4.3-bad")
        assert said(app, "Successful (success when result >= 0.95) at 34% traffic"), (
            "the analysis' measurements are in the log"
        )

        await until(pilot, lambda: not app.step_running.is_set(), 10, "the release step to end")
        await pilot.press("2")
        await until(pilot, lambda: said(app, "prod runs v1.4.2 again."), 90, "the bad version rolled back")
        assert said(app, "trade-service v1.4.3-bad: dev -> staging -> prod (this one serves errors)")
        logged = "".join("".join(strip.text for strip in app.query_one("#demo-log", RichLog).lines).split())
        assert re.search(r"Aborted:success-rate0\.[78]\d*<0.95at34%traffic;revertedinGitby", logged), (
            "the measured success rate, about 0.8"
        )
        await until(pilot, lambda: cell(app, "trade-service", "prod").startswith("v1.4.2"), 10)

        await until(pilot, lambda: not app.step_running.is_set(), 10, "the rollback step to end")
        await pilot.press("3")
        await until(pilot, lambda: "[DRIFT 1]" in cell(app, "trade-service", "prod"), 30, "the drift badge")
        await until(pilot, lambda: said(app, "spec.replicas: Git 3, live 5 by kubectl-edit"), 10)

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, Confirm), what="the sync confirmation")
        app.screen.query_one(Input).value = "trade-service"
        await pilot.press("enter")
        await until(pilot, lambda: said(app, "drift resolved: trade-service in prod"), 30, "the drift resolved")
        await until(pilot, lambda: "[DRIFT" not in cell(app, "trade-service", "prod"), 10)

        await until(pilot, lambda: not app.step_running.is_set(), 10, "the drift step to end")
        await pilot.press("4")  # CI pushes; the follower (poked as a webhook would) runs the canary by itself
        await until(pilot, lambda: said(app, "CI pushed"), 10, "the CI commit")
        await until(pilot, lambda: said(app, "Promoted: Turn the quote cache on in prod"), 90, "the CI canary")
        assert said(app, "followed Git:") and said(app, "by CI <ci@trading.example>")
