"""One app in one environment: the rollout's steps and measurements, live plots, events, sync history; and its diff.

Everything shown here comes from Git, the cluster or people (titles, trailers, actors,
events, object names): it is rendered as plain text (``Text``/``Content``), never as markup.
"""

from __future__ import annotations

import math

from rich.syntax import Syntax
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


class AppEnvScreen(Screen):
    """A screen about one app in one environment, filled by one engine call in a thread worker."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    ERROR_AT = "#title"  # where a failed engine call is said

    def __init__(self, engine: Engine, app: str, env: str) -> None:
        super().__init__()
        self.engine, self.app_name, self.env = engine, app, env

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
    BINDINGS = [*AppEnvScreen.BINDINGS, Binding("r", "reload", "Refresh")]
    ERROR_AT = "#steps"

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(Content(f"{self.app_name} in {self.env}"), id="title")
            yield Static("loading…", id="steps")
            yield Label("Analysis")
            yield DataTable(id="measurements", cursor_type="row")
            yield Vertical(id="plots")
            yield Label("Events")
            yield Static("", id="events")
            yield Label("Sync history")
            yield DataTable(id="history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#measurements", DataTable).add_columns("metric", "value", "threshold", "phase", "at")
        self.query_one("#history", DataTable).add_columns("time", "version", "actor", "result", "health", "revision")
        self.action_reload()
        self.set_interval(3.0, self.action_reload)

    def action_reload(self) -> None:
        self.load()

    def fetch(self):
        rollout = self.engine.rollouts.get(self.app_name, self.env)
        history = self.engine.history(self.app_name, self.env)
        tracks = self.engine.rollouts.tracks(self.app_name, self.env) if rollout and rollout.active else {}
        return rollout, history, tracks

    def show(self, data) -> None:
        rollout, history, tracks = data
        spec = self.engine.config.apps[self.app_name]
        steps = spec.canary.steps if spec.canary else ()
        timeline = Text()
        if rollout is None:
            timeline.append("No rollout yet: deploys here are direct syncs, or none has run.", style="dim")
        else:
            timeline.append(f"{rollout.phase}", style=STATE_STYLE.get(rollout.phase, "bold"))
            timeline.append(f"  {rollout.stable_version} → {rollout.canary_version}   ")
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
            value = f"{m.value:.4g}" if isinstance(m.value, float) else str(m.value)
            table.add_row(
                Text(m.metric),
                Text(value),
                Text(threshold),
                Text(m.phase, STATE_STYLE.get(m.phase, "")),
                Text(m.at[11:19]),
            )
            if isinstance(m.value, int | float) and math.isfinite(m.value):  # NaN or inf cannot be plotted
                series.setdefault(m.metric, []).append(float(m.value))
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
            )


class DiffScreen(AppEnvScreen):
    """Git against live, one collapsible section per object (the first open), syntax highlighted."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content(f"Diff of {self.app_name} in {self.env}: loading…"), id="title")
        yield VerticalScroll(id="objects")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def fetch(self):
        return self.engine.diff(self.app_name, self.env)

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
                    Static(Syntax(text, "diff", theme="ansi_dark", word_wrap=False)),
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
            style = {"Rollback": "yellow", "Deploy": "green"}.get(r.kind, "")
            table.add_row(
                Text(r.time),
                Text(r.kind, style),
                Text(r.actor),
                Text(r.approvers or "-"),
                Text(r.commit[:12]),
                Text(r.title),
            )
