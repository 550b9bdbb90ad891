"""Rollout controls and approvals from the console, against a real canary (sandbox, Git, simulator, Prometheus)."""

from __future__ import annotations

import asyncio

from gitopsctl.rollout.loop import ReconcileLoop
from tests.tui.test_console import SIZE, at, until
from tui.app import ConsoleApp
from tui.modals import Confirm

APPROVAL = """
[environments.prod.approval]
required = 1
users = ["carol"]
"""


def _phase(engine, app: str) -> str | None:
    rollout = engine.rollouts.get(app, "prod")
    return rollout.phase if rollout else None


def test_pause_resume_promote_and_abort_from_the_console(canary):
    engine = canary.fleet.engine
    loop = ReconcileLoop(engine, 0.3).start()
    engine.deploy("pricing-api", "prod", "v2.1.0", actor="alice")

    async def run():
        app = ConsoleApp(canary.fleet.engine_for("oncall"), refresh_seconds=1)  # oncall's own credentials
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "pricing-api", "prod")
            await until(pilot, lambda: _phase(engine, "pricing-api") == "Paused", 60, what="the indefinite pause")
            await pilot.press("R")  # resume does not promote past a pause-until-promoted
            await pilot.pause(1)
            assert _phase(engine, "pricing-api") in ("Progressing", "Paused")
            await pilot.press("p")
            assert isinstance(app.screen, Confirm) and app.screen.type_to_confirm == "pricing-api"
            await pilot.press(*"pricing-api", "enter")
            await until(pilot, lambda: _phase(engine, "pricing-api") == "Promoted", 60, what="the promotion")

            # started only now: its steps (50%, a 4 s pause, 100%) could otherwise end before the console gets there
            engine.deploy("ledger-worker", "prod", "v0.9.4", actor="alice")
            await at(pilot, app, "ledger-worker", "prod")
            await until(pilot, lambda: _phase(engine, "ledger-worker") in ("Progressing", "Paused"), 30)
            await pilot.press("space")
            await until(pilot, lambda: _phase(engine, "ledger-worker") == "Paused", 20, what="the pause")
            await pilot.press("A", *"ledger-worker", "enter")
            await until(pilot, lambda: _phase(engine, "ledger-worker") == "Aborted", 30, what="the abort")
            assert "aborted by oncall" in engine.rollouts.get("ledger-worker", "prod").message
            await until(pilot, lambda: any("Aborted" in n.message for n in app._notifications), 20)

            engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
            await at(pilot, app, "trade-service", "prod")
            await until(pilot, lambda: _phase(engine, "trade-service") == "Progressing", 30)
            await pilot.press("P", *"trade-service", "enter")  # promote fully: skip the remaining steps
            await until(pilot, lambda: _phase(engine, "trade-service") == "Promoted", 60, what="the full promotion")

    try:
        asyncio.run(run())
    finally:
        loop.stop()


def test_approve_reject_freeze_and_unfreeze_from_the_console(fleet):
    for app_name in fleet.engine.config.apps:  # delivered before approvals are needed: a first delivery asks too
        fleet.engine.sync(app_name, "prod", wait=True, timeout=30)
    engine = fleet.reload(APPROVAL)
    engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    engine.deploy("pricing-api", "prod", "v2.1.0", actor="alice")

    async def run():
        app = ConsoleApp(fleet.engine_for("carol"), refresh_seconds=60)  # carol approves with her credentials
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            assert "[APPROVAL]" in app.query_one("#fleet").get_cell_at((2, 3)).plain
            await pilot.press("a", *"trade-service", "enter")
            await until(
                pilot,
                lambda: engine.status("trade-service", "prod")[0].version == "v1.4.2",
                60,
                what="the approved deploy",
            )
            await at(pilot, app, "pricing-api", "prod")
            await pilot.press("x", *"pricing-api", "enter")
            pending = lambda: engine.promotions.pending(*engine.resolve("pricing-api", "prod"))  # noqa: E731
            await until(pilot, lambda: pending() is None, 20, what="the rejection")

            await at(pilot, app, "pricing-api", "staging")
            await pilot.press("f", *"2h", "enter", *"release night", "enter")
            staging = engine.config.environments["staging"]
            await until(pilot, lambda: engine.promotions.manual_freeze(staging) is not None, 20, what="the freeze")
            await until(pilot, lambda: "[FROZEN]" in app.query_one("#fleet").get_cell_at((1, 2)).plain, 20)
            await pilot.press("F")
            await until(pilot, lambda: engine.promotions.manual_freeze(staging) is None, 20, what="the unfreeze")

    asyncio.run(run())
