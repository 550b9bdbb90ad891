"""One app in one environment: Git's commits not delivered yet (and why the leader holds them), the rollout's steps
and measurements, live plots, events, sync history, the app's quarantined versions (``u`` lifts one); and its diff.

Everything shown here comes from Git, the cluster or people (titles, trailers, actors,
events, object names): it is rendered as plain text (``Text``/``Content``), never as markup.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Collapsible, DataTable, Footer, Header, Label, Sparkline, Static

from gitopsctl.engine import Engine, describe
from gitopsctl.errors import GitOpsError

from .cells import STATE_STYLE, weight_bar
from .difflines import DiffLines
from .modals import Ask


class AppEnvScreen(Screen):
    """A screen about one app in one environment, filled by one engine call in a thread worker."""

    BINDINGS = [Binding("escape", "back", "Back")]
    ERROR_AT = "#title"  # where a failed engine call is said

    def __init__(self, engine: Engine, app: str, env: str) -> None:
        super().__init__()
        self.engine, self.app_name, self.env = engine, app, env

    def action_back(self) -> None:
        """Back to the screen under it; an Escape that reaches it after it has closed (typed faster than the
        console draws) closes nothing more."""
        if self.app.screen is self:
            self.app.pop_screen()

    def fetch(self):
        """The engine call (runs in a worker thread)."""
        raise NotImplementedError

    def show(self, data) -> None:
        """Render what ``fetch`` returned (runs on the UI thread)."""
        raise NotImplementedError

    @work(thread=True, exclusive=True, group="screen")
    def load(self) -> None:
        try:
            data = self.fetch()
        except GitOpsError as e:
            self.app.call_from_thread(self.query_one(self.ERROR_AT, Static).update, Text(f"⚠ {e}", "bold red"))
            return
        self.app.call_from_thread(self.show, data)


class DetailScreen(AppEnvScreen):
    BINDINGS = [
        *AppEnvScreen.BINDINGS,
        Binding("r", "reload", "Refresh"),
        Binding("u", "unquarantine", "Lift quarantine"),
        Binding("y", "replay", "Replay analysis"),
    ]
    ERROR_AT = "#steps"

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(Content(f"{self.app_name} in {self.env}"), id="title")
            yield Static("", id="git")
            yield DataTable(id="commits", cursor_type="row")
            yield Static("loading…", id="steps")
            yield Label("Analysis")
            yield DataTable(id="measurements", cursor_type="row")
            yield Vertical(id="plots")
            yield Label("Events")
            yield Static("", id="events")
            yield Label("Sync history")
            yield DataTable(id="history", cursor_type="row")
            yield Label(Content(f"Quarantined versions of {self.app_name} (u lifts the highlighted one)"))
            yield DataTable(id="quarantine", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#commits", DataTable).add_columns("commit", "title", "author", "time")
        self.query_one("#measurements", DataTable).add_columns("metric", "value", "threshold", "phase", "at")
        self.query_one("#history", DataTable).add_columns(
            "time", "version", "actor", "result", "health", "revision", "hooks"
        )
        self.query_one("#quarantine", DataTable).add_columns("version", "failed in", "reason", "by", "at")
        self.action_reload()
        self.set_interval(3.0, self.action_reload)

    def action_reload(self) -> None:
        self.load()

    def fetch(self):
        rollout = self.engine.rollouts.get(self.app_name, self.env)
        history = self.engine.history(self.app_name, self.env)
        tracks = self.engine.rollouts.tracks(self.app_name, self.env) if rollout and rollout.active else {}
        pending = self.engine.pending_change(self.app_name, self.env)
        return rollout, history, tracks, pending, self.engine.quarantined(self.app_name)

    def _held(self) -> str:
        """Why the leader holds Git's change here, as the fleet last read it (the console refreshes it)."""
        view = getattr(self.app, "view", None)
        cell = view.cell(self.app_name, self.env) if view is not None else None
        return cell.held if cell is not None else ""

    def _show_git(self, pending) -> None:
        git = Text()
        if pending.changed:
            count = len(pending.commits)
            git.append("OutOfSync", style=STATE_STYLE["OutOfSync"])
            delivered = pending.delivered[:12] if pending.delivered else "nothing yet"
            git.append(f": {count} commit{'s' if count != 1 else ''} in Git not delivered (delivered: {delivered})")
            if held := self._held():
                git.append("\nheld: ", style="bold red")
                git.append(held)
        else:
            git.append("Synced", style=STATE_STYLE["Synced"])
            git.append(f": everything in Git is delivered ({(pending.delivered or '')[:12]})")
        self.query_one("#git", Static).update(git)
        commits = self.query_one("#commits", DataTable)
        commits.clear()
        commits.display = bool(pending.commits)
        for c in pending.commits:  # titles and authors are whatever was pushed: plain text
            commits.add_row(Text(c.sha[:12]), Text(c.title), Text(c.author), Text(c.time))

    def _show_quarantine(self, entries) -> None:
        table = self.query_one("#quarantine", DataTable)
        table.clear()
        for q in entries:
            table.add_row(Text(q.version), Text(q.env), Text(q.reason), Text(q.by), Text(q.at), key=q.version)

    def show(self, data) -> None:
        rollout, history, tracks, pending, quarantined = data
        self._show_git(pending)
        self._show_quarantine(quarantined)
        spec = self.engine.config.apps[self.app_name]
        steps = spec.canary.steps if spec.canary else ()
        timeline = Text()
        if rollout is None:
            timeline.append("No rollout yet: deploys here are direct syncs, or none has run.", style="dim")
        else:
            timeline.append(f"{rollout.phase}", style=STATE_STYLE.get(rollout.phase, "bold"))
            timeline.append(f"  {rollout.stable_version} → {rollout.canary_version}   ")
            if rollout.change:  # a Git change's canary: its commit title (literal text, never markup)
                timeline.append(f"{rollout.change}   ", style="italic")
            timeline.append(weight_bar(rollout.weight), style="cyan")
            timeline.append(f" {rollout.weight}% on the canary\n")
            for i, step in enumerate(steps):
                current = rollout.active and i == rollout.step
                done = i < rollout.step or rollout.phase == "Promoted"
                mark = "▶" if current else "✓" if done else "·"
                timeline.append(
                    f" {mark} {i + 1}. {step.describe()}\n", style="bold cyan" if current else "dim" if not done else ""
                )
            if rollout.message:
                timeline.append(rollout.message, style="italic")
        self.query_one("#steps", Static).update(timeline)

        table = self.query_one("#measurements", DataTable)
        table.clear()
        series: dict[str, list[float]] = {}
        for m in (rollout.measurements if rollout else [])[-30:]:
            template = self.engine.config.analysis.get(m.metric)
            threshold = template.success_condition or template.failure_condition or "" if template else "judge score"
            value = m.shown
            table.add_row(
                Text(m.metric),
                Text(value),
                Text(threshold),
                Text(m.phase, STATE_STYLE.get(m.phase, "")),
                Text(m.at[11:19]),
            )
            if m.number is not None:  # NaN, inf, lists and JSON cannot be plotted
                series.setdefault(m.metric, []).append(m.number)
        plots = self.query_one("#plots", Vertical)
        plots.remove_children()
        for metric, (canary, stable) in (tracks or {}).items():  # live: canary against stable
            for track, samples in (("canary", canary), ("stable", stable)):
                values = [v for v in samples if math.isfinite(v)]  # a provider's NaN never ends the console
                last = f"{values[-1]:.4g}" if values else "no data"
                plots.mount(
                    Horizontal(
                        Label(Content(f"{metric} {track:>6} {last:>8} ")),
                        Sparkline(values, summary_function=max),
                        classes="plot",
                    )
                )
        if not tracks:
            for metric, values in series.items():  # the measurements taken so far
                plots.mount(
                    Horizontal(
                        Label(Content(f"{metric:>16} ")), Sparkline(values, summary_function=max), classes="plot"
                    )
                )

        events = rollout.events[-15:] if rollout else []
        self.query_one("#events", Static).update(Text("\n".join(e.partition(" ")[2] for e in events) or "none"))
        history_table = self.query_one("#history", DataTable)
        history_table.clear()
        for e in history:
            history_table.add_row(
                Text(e.time),
                Text(e.version or "-"),
                Text(e.actor),
                Text(e.result, "green" if e.result == "Succeeded" else "red"),
                Text(e.health),
                Text((e.revision or "")[:12]),
                Text(e.hooks_shown or "-", "red" if "failed" in e.hooks_shown else ""),
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Lifting a quarantine changes what may run: not offered with --read-only."""
        return not (action == "unquarantine" and getattr(self.app, "read_only", False))

    def action_unquarantine(self) -> None:
        table = self.query_one("#quarantine", DataTable)
        if not table.row_count:
            self.notify(f"no version of {self.app_name} is quarantined", severity="warning", markup=False)
            return
        version = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

        def asked(values: list[str] | None) -> None:
            if values:
                self.lift(version, values[0])

        question = f"Lift the quarantine of {self.app_name} {version}? Deploys and Git changes may then run it again."
        self.app.push_screen(Ask(question, [("Why may it run again", "the memory leak is fixed in the image")]), asked)

    def action_replay(self) -> None:
        """Try an analysis template on this app's past rollouts here (``gitopsctl analysis replay``)."""
        templates = sorted(self.engine.config.analysis)
        if not templates:
            self.notify("no analysis template is configured", severity="warning", markup=False)
            return
        steps = self.engine.config.apps[self.app_name].canary
        used = [s.analysis for s in (steps.steps if steps else ()) if s.analysis]
        default = used[0] if used else templates[0]

        def asked(values: list[str] | None) -> None:
            if values:
                self.app.push_screen(ReplayScreen(self.engine, self.app_name, self.env, values[0].strip()))

        question = f"Replay which analysis template on the last rollouts of {self.app_name} in {self.env}?"
        self.app.push_screen(Ask(question, [(f"Template ({', '.join(templates)})", default)], (default,)), asked)

    @work(thread=True, exclusive=True, group="unquarantine")
    def lift(self, version: str, reason: str) -> None:
        """The engine call in a thread; its refusal or its outcome as a notification (plain text), then a reload."""
        try:
            lifted = self.engine.unquarantine(self.app_name, version, reason=reason)
        except GitOpsError as e:
            self.app.call_from_thread(
                self.notify, str(e), title="lift quarantine: refused", severity="error", timeout=12, markup=False
            )
            return
        self.app.call_from_thread(
            self.notify,
            f"{lifted.app} {lifted.version} may run again: lifted by {lifted.lifted_by} ({lifted.lifted_reason})",
            title="quarantine lifted",
            timeout=8,
            markup=False,
        )
        self.app.call_from_thread(self.load)


class DiffScreen(AppEnvScreen):
    """Git against live, one collapsible section per object (the first open), coloured line by line."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content(f"Diff of {self.app_name} in {self.env}: loading…"), id="title")
        yield VerticalScroll(id="objects")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def fetch(self):
        return self.engine.diff(self.app_name, self.env)

    def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        """An object opened shows its diff: its title goes to the top, or its lines could all be below the screen."""
        box = self.query_one("#objects", VerticalScroll)
        self.call_after_refresh(box.scroll_to_widget, event.collapsible, top=True, animate=False)

    def show(self, result) -> None:
        title = self.query_one("#title", Static)
        if result.in_sync:
            title.update(Text(f"{self.app_name} in {self.env} matches Git {result.revision[:12]}", "green"))
            return
        title.update(
            Content(
                f"Diff of {self.app_name} in {self.env}: {len(result.resources)} objects differ "
                f"from Git {result.revision[:12]}"
            )
        )
        box = self.query_one("#objects", VerticalScroll)
        for i, resource in enumerate(result.resources):
            header, _, body = describe(resource).partition("\n")
            text = "\n".join(line[4:] for line in body.splitlines())
            box.mount(
                Collapsible(
                    DiffLines(text),
                    title=escape(header),  # Collapsible parses its title as markup: the object's name escaped
                    collapsed=i > 0,
                )
            )


class HistoryScreen(AppEnvScreen):
    """Deploys, promotions and rollbacks from Git: when, who, who approved, which commit."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content(f"History of {self.app_name} in {self.env}"), id="title")
        yield DataTable(id="releases", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#releases", DataTable).add_columns("time", "what", "by", "approved by", "commit", "title")
        self.load()

    def fetch(self):
        return self.engine.releases(self.app_name, self.env)

    def show(self, releases) -> None:
        table = self.query_one("#releases", DataTable)
        for r in releases:
            style = {"Rollback": "yellow", "Deploy": "green", "Adopt": "cyan"}.get(r.kind, "")
            table.add_row(
                Text(r.time),
                Text(r.kind, style),
                Text(r.actor),
                Text(r.approvers or "-"),
                Text(r.commit[:12]),
                Text(r.title),
            )


class ReplayScreen(AppEnvScreen):
    """What a template would have decided on the last rollouts, and when, beside how each really ended."""

    LAST = 5

    def __init__(self, engine: Engine, app: str, env: str, template: str) -> None:
        super().__init__(engine, app, env)
        self.template = template

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content(f"Replaying {self.template} on {self.app_name} in {self.env}…"), id="title")
        yield DataTable(id="replayed", cursor_type="row", zebra_stripes=True)
        yield Static("", id="skipped")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#replayed", DataTable).add_columns(
            "version", "ended", "ran", "would have", "after", "verdict", "why"
        )
        self.load()

    def fetch(self):
        return self.engine.replays.replay(self.template, self.app_name, self.env, self.LAST)

    def show(self, report) -> None:
        title = f"{report.summary}, on the last {self.LAST} rollouts of {self.app_name} in {self.env}"
        self.query_one("#title", Static).update(Content(title if report.replayed else "no ended rollout to replay"))
        table = self.query_one("#replayed", DataTable)
        style = {"caught": "green", "passed": "green", "missed": "bold red", "false alarm": "yellow"}
        for r in report.replayed:
            table.add_row(
                Text(r.window.version),
                Text(r.window.ended, STATE_STYLE.get(r.window.ended, "")),
                Text(f"{r.window.seconds:.1f}s"),
                Text(r.phase if r.phase != "Running" else "undecided"),
                Text("-" if r.decided_after is None else f"{r.decided_after:.1f}s"),
                Text(r.verdict, style.get(r.verdict, "")),
                Text(r.message),
            )
        self.query_one("#skipped", Static).update(Text("\n".join(f"skipped {s}" for s in report.skipped)))
