"""The on-call console: the fleet at a glance, and one key for each safe action.

Every action is an engine call, the same the CLI and the bot make, run in a
thread worker; the UI never waits on the cluster or Git. State refreshes every
few seconds and at once after an action; when the cluster or Git cannot be
reached the screen says so and keeps the last state it had.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from gitopsctl import waits
from gitopsctl.durations import parse_duration
from gitopsctl.engine import Cell, Engine, FleetView, LiveFleet
from gitopsctl.errors import GitOpsError

from .cells import render_cell, state_words
from .detail import DetailScreen, DiffScreen, HistoryScreen
from .modals import Ask, Confirm
from .palette import HIGH_CONTRAST, ConsoleCommands

# actions that change something: hidden with --read-only
WRITE_ACTIONS = frozenset(
    {
        "sync",
        "deploy",
        "approve",
        "reject",
        "promote",
        "promote_full",
        "pause",
        "resume",
        "abort",
        "rollback",
        "freeze",
        "unfreeze",
    }
)


FLEET_ACTIONS = WRITE_ACTIONS | {"open", "diff", "history", "filter", "sort"}


class FilterBox(Input):
    """The fleet filter; Escape leaves it cleared, as a search box in k9s or less does (Enter keeps the filter)."""

    BINDINGS = [Binding("escape", "clear", "Clear filter")]

    def action_clear(self) -> None:
        self.value = ""
        self.display = False
        self.app.query_one("#fleet", DataTable).focus()


CHANGE_SETTLE = 0.25  # seconds from a change in the cluster to the refresh that shows it (and the burst's rest)


class ClusterChanged(Message):
    """Something the fleet's watches follow changed in the cluster."""


class ConsoleApp(App):
    """`gitopsctl tui`."""

    CSS_PATH = "console.tcss"
    TITLE = "gitopsctl"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Keys"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "refresh", "Refresh"),
        Binding("o", "sort", "Sort"),
        Binding("enter", "open", "Detail"),
        Binding("D", "diff", "Diff"),
        Binding("h", "history", "History"),
        Binding("s", "sync", "Sync"),
        Binding("d", "deploy", "Deploy"),
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject", show=False),
        Binding("p", "promote", "Promote"),
        Binding("P", "promote_full", "Promote fully", show=False),
        Binding("space", "pause", "Pause", show=False),
        Binding("R", "resume", "Resume", show=False),
        Binding("A", "abort", "Abort"),
        Binding("b", "rollback", "Roll back"),
        Binding("k", "keep", "Keep in Git", show=False),
        Binding("f", "freeze", "Freeze", show=False),
        Binding("F", "unfreeze", "Unfreeze", show=False),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        read_only: bool = False,
        refresh_seconds: float = 5.0,
        theme: str | None = None,
        first_view: Future[FleetView] | None = None,
        live: LiveFleet | None = None,
    ) -> None:
        """``first_view``: the fleet's first read, started before the console so that Textual's start overlaps it;
        ``live``: the engine's live fleet that read it (one is made on the first refresh otherwise)."""
        super().__init__()
        self.first_view = first_view
        self.live = live
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # A page key moves the page at once, as in less and k9s: Textual's smooth scroll took 0.8 s to settle.
            self.animation_level = "none"
        self.register_theme(HIGH_CONTRAST)
        if theme:
            self.theme = theme
        self.engine = engine
        self.read_only = read_only
        self.refresh_seconds = refresh_seconds
        self.actors: dict[str, str] = {}  # who the cluster says we are, by environment (learned on the first refresh)
        self.view: FleetView | None = None
        self.filter_text = ""
        self.sort_by_attention = False
        self.last_error: str | None = None
        self.seen_at: dict[str, datetime] = {}  # environment -> when its cluster last answered
        self.lost_at: dict[str, datetime] = {}  # environment -> since when it has not
        self._drawn: dict[str, tuple[Cell | None, ...]] = {}  # what the table shows, by app
        self._drawn_heights: dict[str, int] = {}  # each app's row height as drawn
        self._change_lock = threading.Lock()
        self._change_pending = False  # a refresh after a change in the cluster is on its way
        self._reading = 0  # fleet reads under way (thread workers)
        self._drawn_order: tuple[list[str], list[str]] = ([], [])  # the apps and environments it shows, in order

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBox(placeholder="filter: a name or a state (degraded, locked, paused, drift...)", id="filter")
        yield Static("loading the fleet…", id="status")
        yield DataTable(id="fleet", cursor_type="cell", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "read-only" if self.read_only else "acting as (asking the cluster…)"
        self.query_one("#filter", Input).display = False
        table = self.query_one("#fleet", DataTable)
        table.add_column("app", key="app")
        for env in self.engine.config.promotion_chain:
            table.add_column(env, key=env)
        table.focus()
        self.refresh_fleet()
        self.set_interval(self.refresh_seconds, self.refresh_fleet)
        if self.live is not None:
            self.live.on_change = self._cluster_changed

    def on_unmount(self) -> None:
        """The fleet's watches end with the console."""
        if self.live is not None:
            self.live.stop()

    def _cluster_changed(self) -> None:
        """From a watch thread, at each change in the cluster: one refresh follows a burst of them (a rollout's
        status updates, a sync's applies), CHANGE_SETTLE seconds after its first."""
        with self._change_lock:
            if self._change_pending:
                return
            self._change_pending = True
        self.post_message(ClusterChanged())

    def on_cluster_changed(self, _message: ClusterChanged) -> None:
        self.set_timer(CHANGE_SETTLE, self._refresh_after_change)

    def _refresh_after_change(self) -> None:
        """Not while a read is under way (a slow cluster, the first read): one waits its turn, none pile up."""
        if self._reading:
            self.set_timer(CHANGE_SETTLE, self._refresh_after_change)
            return
        with self._change_lock:
            self._change_pending = False
        self._read_fleet()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """With --read-only every action that changes something is gone, keys and palette alike;
        on the detail, diff and history screens the fleet's cell actions are not offered."""
        if self.read_only and action in WRITE_ACTIONS:
            return False
        return not (action in FLEET_ACTIONS and len(self.screen_stack) > 1 and not self.screen.is_modal)

    # ------------------------------------------------------------ data

    def refresh_fleet(self) -> None:
        if not self.read_only and not self.actors:
            self._learn_who_we_are()  # beside the fleet's read, not before it: the first paint does not wait for it
        self._read_fleet()

    @work(thread=True, exclusive=True, group="refresh")
    def _read_fleet(self) -> None:
        first, self.first_view = self.first_view, None
        with self._change_lock:
            self._reading += 1
        try:
            self._read_and_show(first)
        finally:
            with self._change_lock:
                self._reading -= 1

    def _read_and_show(self, first: Future[FleetView] | None) -> None:
        try:
            if first is not None:
                view = first.result()
            else:
                if self.live is None:
                    self.live = self.engine.live_fleet(self._cluster_changed)
                view = self.live.snapshot()
        except GitOpsError as e:
            self.call_from_thread(self._unreachable, str(e))
            return
        self.call_from_thread(self._show, view)

    @work(thread=True, exclusive=True, group="whoami")
    def _learn_who_we_are(self) -> None:
        """Each environment's cluster says who our credentials are; that, never a setting, is who acts."""
        for env in self.engine.config.promotion_chain:
            try:
                self.actors[env] = self.engine.whoami(env)
            except GitOpsError:
                continue  # actions there will say why
        names = sorted(set(self.actors.values()))
        title = f"acting as {', '.join(names)}" if names else "acting as nobody: no cluster said who you are"
        self.call_from_thread(setattr, self, "sub_title", title)

    def _me(self, env: str) -> str:
        return self.actors.get(env) or self.engine.whoami(env)

    def _widgets_gone(self) -> bool:
        """A fleet read that ends as the console quits finds its widgets gone: there is nothing left to show."""
        return not self.query("#status")

    def _unreachable(self, error: str) -> None:
        if self._widgets_gone():
            return
        self.last_error = error
        since = f"; showing the state from {self.view.taken_at:%H:%M:%S} UTC" if self.view else ""
        self.query_one("#status", Static).update(Text(f"⚠ cannot reach the cluster or Git: {error}{since}", "bold red"))

    def _show(self, view: FleetView) -> None:
        if self._widgets_gone():
            return
        view = self._keep_last_seen(view)
        self.view, self.last_error = view, None
        problems = f"   ⚠ {'; '.join(view.errors)}" if view.errors else ""
        if view.unreachable:
            problems = "   ⚠ " + "; ".join(
                f"cannot reach {env} since {self.lost_at[env]:%H:%M:%S} UTC ({error}); "
                + (
                    f"showing it as seen at {self.seen_at[env]:%H:%M:%S} UTC"
                    if env in self.seen_at
                    else "nothing seen yet"
                )
                for env, error in view.unreachable.items()
            )
        rolling = sum(1 for c in view.cells.values() if c.rolling)
        attention = sum(1 for c in view.cells.values() if c.health not in ("Healthy",) or c.sync != "Synced")
        self.query_one("#status", Static).update(
            Text(  # errors quote the cluster and Git: plain text, never markup
                f"Git {view.revision[:12]} · {len(view.apps)} apps × {len(view.envs)} environments · "
                f"{attention} need attention · {rolling} rollouts · updated {view.taken_at:%H:%M:%S} UTC{problems}"
            )
        )
        self._draw()

    def _keep_last_seen(self, view: FleetView) -> FleetView:
        """An environment whose cluster did not answer keeps the cells last seen there (and says since when),
        instead of turning Unknown: at 3 a.m. the last known state is worth more than a blank."""
        for env in view.envs:
            if env in view.unreachable:
                self.lost_at.setdefault(env, view.taken_at)
            else:
                self.seen_at[env] = view.taken_at
                self.lost_at.pop(env, None)
        if self.view is None or not view.unreachable:
            return view
        cells = dict(view.cells)
        for (app, env), cell in self.view.cells.items():
            if env in view.unreachable and env in self.seen_at:
                cells[(app, env)] = cell
        return replace(view, cells=cells)

    def _draw(self) -> None:
        """Only the cells that changed are drawn again: rebuilding 200 rows cost Textual 150-300 ms per refresh.

        A row whose height changes (a badge added or gone) is added again and the table put back in order; a new
        set or order of apps (a filter, a sort, an app added) rebuilds the table."""
        if self.view is None:
            return
        table = self.query_one("#fleet", DataTable)
        apps, envs = self._apps(), self.view.envs
        cells = {app: tuple(self.view.cell(app, env) for env in envs) for app in apps}
        cursor = table.cursor_coordinate
        if (apps, envs) != self._drawn_order or not table.row_count:
            table.clear()
            self._drawn_heights = {}
            for app in apps:
                self._add_row(table, app, [render_cell(c) for c in cells[app]])
            if table.row_count:
                table.move_cursor(row=min(cursor.row, table.row_count - 1), column=max(1, cursor.column))
        else:
            under = table.coordinate_to_cell_key(cursor).row_key  # the app under the cursor stays under it
            moved = False
            for app in apps:
                if self._drawn[app] == cells[app]:
                    continue
                texts = [render_cell(c) for c in cells[app]]
                if _height(texts) == self._drawn_heights[app]:
                    for env, cell, old, text in zip(envs, cells[app], self._drawn[app], texts, strict=True):
                        if cell != old:
                            table.update_cell(app, env, text, update_width=True)
                    continue
                table.remove_row(app)
                self._add_row(table, app, texts)
                moved = True
            if moved:
                position = {app: n for n, app in enumerate(apps)}
                table.sort("app", key=lambda name: position[name.plain])
                table.move_cursor(row=table.get_row_index(under), column=cursor.column)
        self._drawn, self._drawn_order = cells, (apps, envs)

    def _add_row(self, table: DataTable, app: str, texts: list[Text]) -> None:
        self._drawn_heights[app] = _height(texts)
        table.add_row(Text(app, style="bold"), *texts, key=app, height=self._drawn_heights[app])

    def _apps(self) -> list[str]:
        assert self.view is not None
        apps = self.view.apps
        if self.filter_text:
            needle = self.filter_text.lower()
            apps = [
                a
                for a in apps
                if any(needle in state_words(c) for c in (self.view.cell(a, e) for e in self.view.envs) if c)
            ]
        if self.sort_by_attention:
            apps = sorted(apps, key=lambda a: -self._attention(a))
        return apps

    def _attention(self, app: str) -> int:
        assert self.view is not None
        score = 0
        for env in self.view.envs:
            cell = self.view.cell(app, env)
            if cell is not None:
                score += (cell.health == "Degraded") * 8 + cell.rolling * 4 + (cell.sync != "Synced") * 2
                score += bool(cell.pending) * 2 + bool(cell.locked_by)
        return score

    def selected(self) -> Cell | None:
        """The cell under the cursor (an app in an environment)."""
        if self.view is None:
            return None
        table = self.query_one("#fleet", DataTable)
        if not table.row_count or table.cursor_column == 0:
            return None
        app = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return self.view.cell(app, self.view.envs[table.cursor_column - 1])

    def _need_cell(self) -> Cell | None:
        cell = self.selected()
        if cell is None:
            self.notify("Move to an app's cell in an environment first.", severity="warning")
        return cell

    # ------------------------------------------------------------ navigation

    def action_refresh(self) -> None:
        self.refresh_fleet()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value.strip()
            self._draw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value.strip():
                event.input.display = False
            self.query_one("#fleet", DataTable).focus()

    def action_sort(self) -> None:
        self.sort_by_attention = not self.sort_by_attention
        self.notify("sorted by what needs attention" if self.sort_by_attention else "sorted by name")
        self._draw()

    def action_open(self) -> None:
        if (cell := self._need_cell()) is not None:
            self.push_screen(DetailScreen(self.engine, cell.app, cell.env))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        self.action_open()

    def action_diff(self) -> None:
        if (cell := self._need_cell()) is not None:
            self.push_screen(DiffScreen(self.engine, cell.app, cell.env))

    def action_history(self) -> None:
        if (cell := self._need_cell()) is not None:
            self.push_screen(HistoryScreen(self.engine, cell.app, cell.env))

    def action_help(self) -> None:
        self.action_show_help_panel()

    # ------------------------------------------------------------ actions

    def _production(self, env: str) -> bool:
        chain = self.engine.config.promotion_chain
        return bool(chain) and chain[-1] == env

    def _confirm(self, cell: Cell, question: str, then: Callable[[], None], *, danger: bool = True) -> None:
        """Ask first; in production the app's name must be typed."""
        typed = cell.app if self._production(cell.env) else None

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.push_screen(Confirm(question, danger=danger, type_to_confirm=typed), answered)

    @work(thread=True, group="action")
    def perform(self, what: str, call: Callable[[], Any], done: Callable[[Any], str]) -> None:
        """One engine call in a thread; its outcome or its refusal as a notification (plain text), then a refresh.

        Calls run side by side. One still waiting (for Healthy, a hook, a drain) when the console closes stops
        at that wait, as Ctrl-C stops the CLI: Textual cancels the worker, and q never hangs on the call."""
        try:
            with waits.stoppable(get_current_worker().cancelled_event):
                result = call()
        except waits.Stopped:
            return  # the console is closing: nobody is left to tell
        except GitOpsError as e:
            self.call_from_thread(
                self.notify, str(e), title=f"{what}: refused", severity="error", timeout=12, markup=False
            )
        else:
            self.call_from_thread(self.notify, done(result), title=what, timeout=8, markup=False)
        self.call_from_thread(self.refresh_fleet)

    def action_sync(self) -> None:
        if (cell := self._need_cell()) is None:
            return
        self._confirm(
            cell,
            f"Sync {cell.app} in {cell.env} to Git {self.view.revision[:12] if self.view else ''}?",
            lambda: self.perform(
                "sync",
                # a Git change in a canary environment starts a canary: the controller drives it, the cell shows it
                lambda: self.engine.sync(
                    cell.app, cell.env, wait=not (cell.commits and self._canary(cell)), timeout=120
                ),
                sync_words,
            ),
        )

    def _canary(self, cell: Cell) -> bool:
        return self.engine.config.environments[cell.env].strategy == "canary"

    def action_deploy(self) -> None:
        if (cell := self._need_cell()) is None:
            return

        def asked(values: list[str] | None) -> None:
            if values:
                version = values[0]
                self._confirm(
                    cell,
                    f"Deploy {cell.app} {version} to {cell.env} (now {cell.version or 'nothing'})?",
                    lambda: self.perform(
                        "deploy",
                        lambda: self.engine.deploy(cell.app, cell.env, version),
                        lambda r: (
                            f"{r.status}: {cell.app} {r.version} in {cell.env}"
                            + (f" ({r.message})" if r.message else "")
                        ),
                    ),
                )

        self.push_screen(Ask(f"Deploy {cell.app} to {cell.env}", [("Version", "e.g. v1.4.2")]), asked)

    def _shown_request(self, cell: Cell):
        """The request the cell shows: a decision binds to it, never to one that replaced it since."""
        if cell.pending is None:
            self.notify(f"no request is waiting in {cell.env} for {cell.app}", severity="warning", markup=False)
        return cell.pending

    def action_approve(self) -> None:
        if (cell := self._need_cell()) is None or (request := self._shown_request(cell)) is None:
            return
        self._confirm(
            cell,
            f"Approve the {request.describe()} (request {request.id})?",
            lambda: self.perform(
                "approve",
                lambda: self.engine.approve(cell.app, cell.env, request=request.id, version=request.version),
                lambda r: f"{r.status}: {cell.app} {r.version} in {cell.env}",
            ),
        )

    def action_reject(self) -> None:
        if (cell := self._need_cell()) is None or (request := self._shown_request(cell)) is None:
            return
        self._confirm(
            cell,
            f"Reject the {request.describe()} (request {request.id})?",
            lambda: self.perform(
                "reject",
                lambda: self.engine.reject(cell.app, cell.env, request=request.id, version=request.version),
                lambda r: f"rejected the {r.describe()}",
            ),
            danger=False,
        )

    def _rollout_action(self, verb: str, call: Callable[[Cell], Any], *, confirm: bool) -> None:
        if (cell := self._need_cell()) is None:
            return

        def run() -> None:
            self.perform(
                verb,
                lambda: call(cell),
                lambda r: f"{r.app} in {r.env}: {r.phase}, {r.weight}% on the canary",
            )

        if confirm:
            self._confirm(cell, f"{verb.capitalize()} the rollout of {cell.app} in {cell.env}?", run)
        else:
            run()

    def action_promote(self) -> None:
        self._rollout_action(
            "promote", lambda c: self.engine.rollouts.promote(c.app, c.env, actor=self._me(c.env)), confirm=True
        )

    def action_promote_full(self) -> None:
        self._rollout_action(
            "promote fully",
            lambda c: self.engine.rollouts.promote(c.app, c.env, full=True, actor=self._me(c.env)),
            confirm=True,
        )

    def action_pause(self) -> None:
        self._rollout_action(
            "pause", lambda c: self.engine.rollouts.pause(c.app, c.env, actor=self._me(c.env)), confirm=False
        )

    def action_resume(self) -> None:
        self._rollout_action(
            "resume", lambda c: self.engine.rollouts.resume(c.app, c.env, actor=self._me(c.env)), confirm=False
        )

    def action_abort(self) -> None:
        self._rollout_action(
            "abort",
            lambda c: self.engine.rollouts.abort(c.app, c.env, actor=self._me(c.env)),  # the title says who
            confirm=True,
        )

    def action_rollback(self) -> None:
        if (cell := self._need_cell()) is None:
            return
        self._confirm(
            cell,
            f"Roll {cell.app} in {cell.env} back to its last Healthy version (now {cell.version})?",
            lambda: self.perform(
                "roll back",
                lambda: self.engine.rollback(cell.app, cell.env),
                lambda r: f"{r.status}: {cell.app} in {cell.env} is on {r.version}",
            ),
        )

    def action_keep(self) -> None:
        """Keep a drifted cell's hand-made change: its live values committed to Git (``gitopsctl adopt``)."""
        if (cell := self._need_cell()) is None:
            return
        if not cell.drifted:
            self.notify(f"{cell.app} in {cell.env} has no drift to keep", title="keep in Git", markup=False)
            return
        self._confirm(
            cell,
            f"Keep the live values of {cell.app} in {cell.env} ({cell.drifted} drifted object(s)) in Git, as one "
            "commit through its approvals and freezes?",
            lambda: self.perform(
                "keep in Git",
                lambda: self.engine.adopt(cell.app, cell.env, timeout=120),
                kept_words,
            ),
        )

    def action_freeze(self) -> None:
        if (cell := self._need_cell()) is None:
            return

        def asked(values: list[str] | None) -> None:
            if not values:
                return
            try:
                duration = timedelta(seconds=parse_duration(values[0]))
            except ValueError as e:
                self.notify(str(e), title="freeze", severity="error", markup=False)
                return
            self.perform(
                "freeze",
                lambda: self.engine.freeze(cell.env, duration=duration, reason=values[1]),
                lambda f: f"{cell.env} is frozen until {f.until:%Y-%m-%d %H:%M} UTC",
            )

        self.push_screen(Ask(f"Freeze {cell.env}", [("For how long", "2h"), ("Why", "release night")]), asked)

    def action_unfreeze(self) -> None:
        if (cell := self._need_cell()) is None:
            return
        self.perform(
            "unfreeze",
            lambda: self.engine.unfreeze(cell.env),
            lambda removed: f"{cell.env} is unfrozen" if removed else f"{cell.env} had no manual freeze",
        )


def sync_words(result) -> str:
    """A sync's outcome: applied, a canary of a Git change started, or that change waiting for approval."""
    where = f"{result.app} in {result.env}"
    if result.request is not None:
        return (
            f"{where} at {result.revision[:12]} is waiting for approval ({result.message}); a on its cell approves it"
        )
    if result.rollout is not None:
        r = result.rollout
        return f"{r.phase}: canary of {where} {r.stable_version} -> {r.canary_version}, {r.weight}% on the canary"
    return f"{result.result}: {where}, {len(result.applied)} applied, health {result.health}"


def kept_words(adoption) -> str:
    """What was kept in Git (values as JSON: they come from the cluster), then how its delivery went."""
    fields = "; ".join(
        f"{f.ref.kind}/{f.ref.name} {f.path} {json.dumps(f.desired)} -> {json.dumps(f.live)}" for f in adoption.fields
    )
    then = f"not delivered yet: {adoption.undelivered}" if adoption.undelivered else sync_words(adoption.result)
    return f"kept in Git in {adoption.commit[:12]}: {fields}; {then}"


def _height(texts: list[Text]) -> int:
    """A row is as tall as its tallest cell."""
    return max(text.plain.count("\n") + 1 for text in texts)


def run(args: argparse.Namespace, engine: Engine, first: Future[FleetView], live: LiveFleet) -> int:
    """``gitopsctl tui``: the console until it is quit (which stops ``live``); ``first``, the fleet's read already
    under way by ``live``."""
    ConsoleApp(
        engine, read_only=args.read_only, refresh_seconds=args.refresh, theme=args.theme, first_view=first, live=live
    ).run()
    return 0
