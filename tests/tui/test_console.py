"""The console with Pilot against the sandbox: every action is the engine's, confirmed where it is dangerous."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from datetime import timedelta

import git
import pytest
from textual.widgets import Button, DataTable, Input
from textual.worker import WorkerState

from demo.seed import deployment_yaml
from gitopsctl.cluster.locks import Locks
from gitopsctl.errors import ClusterError
from tui.app import ConsoleApp
from tui.detail import DetailScreen, DiffScreen
from tui.modals import Ask, Confirm

SIZE = (120, 40)
IMAGE = "registry.local/trade-service"
ROWS = {"ledger-worker": 0, "pricing-api": 1, "trade-service": 2}
COLUMNS = {"dev": 1, "staging": 2, "prod": 3}


async def until(pilot, predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.05)


def head(fleet) -> git.Commit:
    return git.Repo(fleet.repo.url).commit("main")


def synced(fleet):
    engine = fleet.reload()
    for app in engine.config.apps:
        for env in ("dev", "staging", "prod"):
            engine.sync(app, env, wait=True, timeout=30)
    return engine


async def at(pilot, app: ConsoleApp, name: str, env: str) -> None:
    await until(pilot, lambda: app.view is not None, what="the first fleet paint")
    app.query_one("#fleet", DataTable).move_cursor(row=ROWS[name], column=COLUMNS[env])
    await pilot.pause()


def _cell_text(app: ConsoleApp, name: str, env: str) -> str:
    table = app.query_one("#fleet", DataTable)
    return table.get_cell_at((ROWS[name], COLUMNS[env])).plain


def test_the_fleet_shows_every_app_in_every_environment_and_filters(fleet):
    engine = synced(fleet)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.view is not None)
            table = app.query_one("#fleet", DataTable)
            assert table.row_count == 3 and [c.label.plain for c in table.columns.values()] == [
                "app",
                "dev",
                "staging",
                "prod",
            ]
            assert _cell_text(app, "trade-service", "prod").startswith("v1.4.1\nSynced · Healthy")
            await pilot.press("slash", *"ledger", "enter")
            assert table.row_count == 1
            app.query_one("#filter", Input).value = "outofsync"
            await pilot.pause()
            assert table.row_count == 0
            await pilot.press("slash", "escape")  # Escape leaves the filter, cleared: the next key is a command again
            await pilot.pause()
            assert app.query_one("#filter", Input).value == "" and table.row_count == 3 and app.focused is table

    asyncio.run(run())


def test_the_first_read_started_before_the_console_is_shown_or_its_failure_said(fleet):
    """`gitopsctl tui` reads the fleet while Textual starts: the console shows that read, not a second one; a read
    that failed is said on the status line, and the next refresh reads again."""
    engine = synced(fleet)

    async def run():
        first: Future = Future()
        first.set_result(engine.fleet())
        app = ConsoleApp(engine, refresh_seconds=60, first_view=first)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.view is not None, what="the first fleet paint")
            assert app.view is first.result() and app.first_view is None

        failed: Future = Future()
        failed.set_exception(ClusterError("the API server at https://127.0.0.1:1 refused the connection"))
        app = ConsoleApp(engine, refresh_seconds=60, first_view=failed)
        async with app.run_test(size=SIZE) as pilot:
            status = app.query_one("#status")
            await until(pilot, lambda: "refused the connection" in str(status.content), what="the failed read")
            assert app.view is None
            await pilot.press("r")
            await until(pilot, lambda: app.view is not None, what="the fleet, read again")
            assert "3 apps × 3 environments" in str(status.content)

    asyncio.run(run())


def test_deploy_asks_for_the_version_confirms_and_commits(fleet):
    engine = synced(fleet)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("d")
            assert isinstance(app.screen, Ask)
            await pilot.press(*"v1.4.2", "enter")
            assert isinstance(app.screen, Confirm) and app.screen.type_to_confirm is None  # dev: a plain confirmation
            await pilot.click("#confirm")
            await until(
                pilot, lambda: head(fleet).message.startswith("Deploy trade-service v1.4.2 to dev"), what="the commit"
            )
            await until(
                pilot, lambda: _cell_text(app, "trade-service", "dev").startswith("v1.4.2"), what="the new version"
            )

    asyncio.run(run())


def test_production_needs_the_app_name_typed_and_cancel_changes_nothing(fleet):
    engine = synced(fleet)
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-prod", {"spec": {"replicas": 5}})

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            assert "[DRIFT 1]" in _cell_text(app, "trade-service", "prod")
            await pilot.press("s")
            assert isinstance(app.screen, Confirm) and app.screen.type_to_confirm == "trade-service"
            assert app.screen.query_one("#confirm", Button).disabled
            await pilot.press("escape")
            await pilot.pause(0.5)
            assert fleet.apps.read_namespaced_deployment("trade-service", "trading-prod").spec.replicas == 5
            await pilot.press("s", *"trade-service")
            assert not app.screen.query_one("#confirm", Button).disabled
            await pilot.press("enter")
            await until(
                pilot,
                lambda: fleet.apps.read_namespaced_deployment("trade-service", "trading-prod").spec.replicas == 3,
                what="the sync",
            )

    asyncio.run(run())


def test_read_only_hides_every_action(fleet):
    engine = synced(fleet)

    async def run():
        app = ConsoleApp(engine, read_only=True, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            for key in ("s", "d", "b", "A", "p", "f"):
                await pilot.press(key)
                assert not isinstance(app.screen, Confirm | Ask), key
            assert app.sub_title == "read-only"
            await pilot.press("question_mark")  # every key, in the help panel
            await until(pilot, lambda: len(app.screen.query("HelpPanel")) == 1, 5, what="the help panel")

    asyncio.run(run())


def test_a_refusal_from_the_engine_is_a_clear_notification(fleet):
    engine = synced(fleet)
    cluster = engine.cluster(engine.config.environments["dev"])

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            with Locks(cluster, "trading-dev").hold("trade-service", "dev", actor="erin", operation="deploy v9"):
                await pilot.press("d", *"v1.4.2", "enter")
                await pilot.click("#confirm")
                await until(
                    pilot, lambda: any("locked by erin" in n.message for n in app._notifications), what="the refusal"
                )
            note = next(n for n in app._notifications if "locked by erin" in n.message)
            assert note.severity == "error" and note.title == "deploy: refused"

    asyncio.run(run())


def test_detail_and_diff_screens(fleet):
    engine = synced(fleet)
    fleet.apps.patch_namespaced_deployment("pricing-api", "trading-staging", {"spec": {"replicas": 4}})

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "pricing-api", "staging")
            await pilot.press("enter")
            assert isinstance(app.screen, DetailScreen)
            history = app.screen.query_one("#history", DataTable)
            await until(pilot, lambda: history.row_count >= 1, what="the sync history")
            assert "No rollout yet" in str(app.screen.query_one("#steps").content)
            await pilot.press("escape", "D")
            assert isinstance(app.screen, DiffScreen)
            await until(
                pilot, lambda: "1 objects differ" in str(app.screen.query_one("#title").content), what="the diff"
            )
            sections = list(app.screen.query("Collapsible"))
            assert len(sections) == 1 and sections[0].title.startswith("~ Deployment trading-staging/pricing-api")

    asyncio.run(run())


def test_history_shows_who_deployed_and_approved_from_git(fleet):
    engine = synced(fleet)
    engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    engine.rollback("trade-service", "dev", actor="bob")

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("h")
            table = app.screen.query_one("#releases", DataTable)
            await until(pilot, lambda: table.row_count >= 2, what="the releases")
            first, second = (table.get_row_at(i) for i in range(2))
            assert (first[1].plain, first[2].plain) == ("Rollback", "bob") and first[5].plain.startswith(
                "Roll back trade-service dev to v1.4.1"
            )
            assert (second[1].plain, second[2].plain) == ("Deploy", "alice")

    asyncio.run(run())


def test_the_palette_offers_actions_unless_read_only_and_themes_include_high_contrast(fleet):
    engine = synced(fleet)
    from tui.palette import ConsoleCommands

    async def titles(app) -> list[str]:
        provider = ConsoleCommands(app.screen)
        return [hit.text for hit in [h async for h in provider.discover()]]

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60, theme="high-contrast")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.view is not None)
            assert app.theme == "high-contrast"
            offered = await titles(app)
            assert {"Deploy a version", "Abort the rollout", "Show diff", "Show history"} <= set(offered)
        read_only = ConsoleApp(engine, refresh_seconds=60, read_only=True)
        async with read_only.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: read_only.view is not None)
            offered = await titles(read_only)
            assert "Show diff" in offered and "Deploy a version" not in offered and "Sync" not in offered

    asyncio.run(run())


def test_an_unreachable_cluster_is_said_and_the_last_state_kept(fleet):
    engine = synced(fleet)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=3600)
        async with app.run_test(size=(80, 24)) as pilot:  # the smallest terminal it must work in
            await until(pilot, lambda: app.view is not None)
            table = app.query_one("#fleet", DataTable)
            assert table.row_count == 3
            seen = _cell_text(app, "trade-service", "prod")
            assert seen.startswith("v1.4.1") and "Healthy" in seen
            fleet.sandbox.stop()  # the real thing: the API server gone, its connections dropped
            await pilot.press("r")
            status = app.query_one("#status")
            await until(pilot, lambda: "cannot reach prod since" in str(status.content), 120, what="the warning")
            assert "showing it as seen at" in str(status.content)
            assert table.row_count == 3 and _cell_text(app, "trade-service", "prod") == seen  # not Unknown

    asyncio.run(run())


def test_rollback_returns_to_the_last_healthy_version(fleet):
    engine = synced(fleet)
    engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            assert _cell_text(app, "trade-service", "dev").startswith("v1.4.2")
            await pilot.press("b")
            assert isinstance(app.screen, Confirm)
            await pilot.click("#confirm")
            await until(
                pilot, lambda: _cell_text(app, "trade-service", "dev").startswith("v1.4.1"), what="the rollback"
            )
            assert head(fleet).message.startswith("Roll back trade-service dev to v1.4.1")

    asyncio.run(run())


def test_keep_in_git_on_a_drifted_cell_commits_the_live_value_and_clears_the_drift(fleet):
    engine = synced(fleet)
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 2}})

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "staging")
            await pilot.press("k")  # a cell with no drift: said, nothing asked
            assert not isinstance(app.screen, Confirm)
            await at(pilot, app, "trade-service", "dev")
            assert "DRIFT 1" in _cell_text(app, "trade-service", "dev")
            await pilot.press("k")
            assert isinstance(app.screen, Confirm)
            await pilot.click("#confirm")
            await until(
                pilot,
                lambda: head(fleet).message.startswith(
                    "Adopt trade-service dev: Deployment/trade-service spec.replicas"
                ),
                what="the adoption's commit",
            )
            await until(
                pilot, lambda: "DRIFT" not in _cell_text(app, "trade-service", "dev"), what="the drift badge gone"
            )
            assert fleet.apps.read_namespaced_deployment("trade-service", "trading-dev").spec.replicas == 2

    asyncio.run(run())


def test_every_cell_of_an_environment_in_incident_mode_says_so(fleet):
    engine = synced(fleet)
    engine.incidents.start("prod", "INC-5", responders=("alice",), duration=timedelta(hours=1), actor="carol")

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            assert all("INCIDENT INC-5" in _cell_text(app, name, "prod") for name in ROWS)
            assert not any("INCIDENT" in _cell_text(app, name, "staging") for name in ROWS)
            engine.incidents.end("prod", actor="carol")
            await pilot.press("r")
            await until(
                pilot, lambda: "INCIDENT" not in _cell_text(app, "trade-service", "prod"), what="the badge gone"
            )

    asyncio.run(run())


def test_keys_queued_for_a_screen_that_has_closed_close_nothing_more(fleet):
    """Two Escapes (or Enter then Escape) typed faster than the console draws both reach the screen on top: the
    second must not close the screen under it, and never the last one (which crashed the console)."""
    engine = synced(fleet)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
            detail = app.screen
            detail.action_back()
            detail.action_back()  # the second Escape, queued to the detail screen before it closed
            await pilot.pause()
            assert len(app.screen_stack) == 1 and not isinstance(app.screen, DetailScreen)
            await pilot.press("s")
            confirm = app.screen
            assert isinstance(confirm, Confirm)
            answers: list[bool] = []
            confirm._result_callbacks[-1].callback = answers.append  # what the dialog answered, and how often
            confirm.action_cancel()
            confirm.action_cancel()
            await pilot.pause()
            assert answers == [False] and len(app.screen_stack) == 1

    asyncio.run(run())


def test_a_fleet_read_that_ends_as_the_console_closes_draws_nothing_and_never_crashes(fleet):
    """The monkey at the keys found it: q while a read was in flight, and the read's result met removed widgets."""
    engine = synced(fleet)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.view is not None)
            view = app.view
            for widget in (app.query_one("#status"), app.query_one("#fleet")):
                await widget.remove()  # as Textual does while the app shuts down
            app._show(view)
            app._unreachable("the cluster went away")
            assert app.last_error is None and app.view is view
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())


def test_a_detail_read_that_ends_after_escape_draws_nothing_and_never_crashes(fleet, monkeypatch):
    """Enter then Escape while the detail's first read is in flight: the read ends on a closed screen."""
    engine = synced(fleet)
    started, release = threading.Event(), threading.Event()
    read = DetailScreen.fetch

    def slow_fetch(screen):
        started.set()
        release.wait(30)
        return read(screen)

    monkeypatch.setattr(DetailScreen, "fetch", slow_fetch)

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "prod")
            await pilot.press("enter")
            await until(pilot, started.is_set, what="the detail's read")
            (loading,) = [w for w in app.workers if w.group == "screen"]
            await pilot.press("escape")
            await until(pilot, lambda: len(app.screen_stack) == 1, what="the fleet again")
            release.set()
            await until(pilot, lambda: loading.is_finished, what="the read to end")
            await pilot.pause()
            assert loading.state is not WorkerState.ERROR and app.return_code is None  # still running
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())


def test_q_while_a_sync_waits_for_healthy_ends_the_console_at_once_and_the_sync_stops_like_ctrl_c(fleet):
    """The sync waits up to 120 s for pods that take an hour: q ends the console within seconds, the sync stops
    at its wait with its lock released, and nothing is recorded as Failed."""
    engine = synced(fleet)
    fleet.repo.commit(
        {"apps/trade-service/dev/deployment.yaml": deployment_yaml("trade-service", f"{IMAGE}:v1.4.2", 1)},
        "trade-service v1.4.2 in dev, by hand in Git",
    )
    fleet.sandbox.controllers.timing.ready_delay = 3600  # the new pods are never ready while the test runs
    history = engine.history("trade-service", "dev")

    def image() -> str:
        dep = fleet.apps.read_namespaced_deployment("trade-service", "trading-dev")
        return dep.spec.template.spec.containers[0].image

    async def run():
        app = ConsoleApp(engine, refresh_seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await at(pilot, app, "trade-service", "dev")
            await pilot.press("s")
            assert isinstance(app.screen, Confirm)
            await pilot.click("#confirm")
            await until(pilot, lambda: image().endswith(":v1.4.2"), what="the sync to apply, then wait")
            (syncing,) = [w for w in app.workers if w.group == "action"]
            assert not syncing.is_finished
            await pilot.press("q")
            pressed = time.monotonic()
        assert app.return_code == 0
        return syncing, pressed

    syncing, pressed = asyncio.run(run())  # returns once every worker thread has ended, as `gitopsctl tui` does
    assert time.monotonic() - pressed < 10, "q waited for the sync's 120 s timeout"
    assert syncing.state is WorkerState.CANCELLED  # by Textual as it closed: not an error, no traceback
    assert engine.history("trade-service", "dev") == history  # stopped, as Ctrl-C stops the CLI: no Failed entry
    assert Locks(engine.cluster(engine.config.environments["dev"]), "trading-dev").held() == []
