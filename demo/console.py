"""``gitopsctl demo``'s console: the fleet, a short guide, and keys that release, roll back and make drift.

The steps are the demo world's (engine side); this screen only offers them as
keys and shows what the controller, the analysis and the drift reports say.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, RichLog, Static

from gitopsctl.errors import GitOpsError
from tui.app import ConsoleApp

from .world import APP, DemoFailed, DemoWorld

GUIDE = """\
[b]1[/b] a good release of trade-service: dev → staging → prod, a canary in prod
[b]2[/b] a [b]-bad[/b] release: its errors fail the analysis and it is rolled back
[b]3[/b] a hand-made change in prod: drift is reported; [b]s[/b] on that cell heals it
[b]4[/b] CI commits a change to prod's manifests: it goes through the canary by itself
[b]Enter[/b] steps and measurements · [b]D[/b] diff · [b]h[/b] history · [b]q[/b] quit, stopping all"""


class DemoConsole(ConsoleApp):
    """The console with the demo's guide beside what happens, line by line."""

    # Textual reads a relative CSS_PATH beside the subclass: the console's stylesheet (the guide's rules too) is tui's
    CSS_PATH = Path(inspect.getfile(ConsoleApp)).with_name("console.tcss")

    # the footer has room for the guide's keys: the console's others stay, listed under ?
    BINDINGS = [
        *(
            Binding(b.key, b.action, b.description, show=False)
            for b in ConsoleApp.BINDINGS
            if b.key in {"slash", "r", "o", "d", "a", "p", "A", "b"}
        ),
        Binding("1", "release_good", "Good"),
        Binding("2", "release_bad", "Bad"),
        Binding("3", "make_drift", "Drift"),
        Binding("4", "ci_commit", "CI commit"),
    ]

    def __init__(
        self,
        world: DemoWorld,
        notes: list[str],
        *,
        poke: Callable[[], bool] = lambda: False,
        refresh_seconds: float = 1.0,
    ) -> None:
        super().__init__(world.engine, refresh_seconds=refresh_seconds)
        self.world = world
        self.poke = poke  # what a push webhook does: the follower fetches and delivers
        self.notes = notes
        self.step_running = threading.Event()
        self._placed = False
        self._said_before = world.say

    def compose(self):
        yield from super().compose()
        yield Static(Content.assemble(Content.from_markup(GUIDE), "\n", "\n".join(self.notes)), id="guide")
        yield RichLog(id="demo-log", wrap=True, max_lines=1000)

    def on_ready(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGHUP):  # quit as q does: the terminal restored, everything stopped
            asyncio.get_running_loop().add_signal_handler(signum, self._stop)
        self.world.say = self.say
        self.say("The demo is ready: press 1 to release a good version of trade-service.")

    async def action_quit(self) -> None:
        self._stop()

    def _stop(self) -> None:
        """A step in progress ends at once rather than holding the exit until its rollout is over."""
        self.world.stopping.set()
        self.exit()

    def on_unmount(self) -> None:
        """The world's lines go back to the terminal once the console is gone."""
        self.world.say = self._said_before

    def say(self, text: str) -> None:
        """A line in the log, from any thread (the controller, the watches and the steps all speak)."""
        if threading.current_thread() is threading.main_thread():
            self._write(text)
            return
        self._from_thread(self._write, text)

    def _write(self, text: str) -> None:
        for log in self.query("#demo-log").results(RichLog):  # none while the console closes
            log.write(Text(text.strip()))

    def _draw(self) -> None:
        super()._draw()
        if not self._placed and self.view is not None and APP in self.view.apps:
            table = self.query_one("#fleet", DataTable)
            table.move_cursor(row=table.get_row_index(APP), column=self.view.envs.index("prod") + 1)
            self._placed = True

    # ------------------------------------------------------------ the guide's keys

    def action_release_good(self) -> None:
        self._step(lambda: self._release(bad=False))

    def action_release_bad(self) -> None:
        self._step(lambda: self._release(bad=True))

    def action_make_drift(self) -> None:
        def drift() -> None:
            self.world.make_drift()
            self.say("Look for [DRIFT] on trade-service · prod and the report below; s there heals it.")

        self._step(drift)

    def action_ci_commit(self) -> None:
        def ci() -> None:
            sha = self.world.ci_commit()
            self.poke()
            self.say("The follower delivers it as a canary (prod has sync = auto); Enter on prod shows the steps.")
            rollout = self.world.ci_rollout(sha)
            self.say(f"{rollout.phase}: {rollout.change} ({rollout.message}).")

        self._step(ci)

    def _step(self, step: Callable[[], None]) -> None:
        if self.step_running.is_set():
            self.notify("The last step is still running; wait for its result below.", severity="warning")
            return
        self.step_running.set()
        self.run_step(step)

    @work(thread=True, group="demo")
    def run_step(self, step: Callable[[], None]) -> None:
        try:
            step()
        except (DemoFailed, GitOpsError) as e:
            self.say(f"refused: {e}")
            self._from_thread(self.notify, str(e), title="demo", severity="error", timeout=12, markup=False)
        finally:
            self.step_running.clear()
            self._from_thread(self.refresh_fleet)

    def _from_thread(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the console has closed meanwhile
            self.call_from_thread(call, *args, **kwargs)

    def _release(self, *, bad: bool) -> None:
        version = self.world.next_version(bad=bad)
        self.say(f"\n{APP} {version}: dev -> staging -> prod" + (" (this one serves errors)" if bad else ""))
        rollout = self.world.release(version)
        if rollout.phase == "Promoted":
            self.say(f"Promoted: {APP} {version} takes all of prod's traffic.")
        else:
            revert = f"; reverted in Git by {rollout.revert_commit[:12]}" if rollout.revert_commit else ""
            self.say(f"{rollout.phase}: {rollout.message}{revert}; prod runs {rollout.stable_version} again.")
        self._from_thread(
            self.notify, f"{APP} {version} in prod: {rollout.phase}", title="release", timeout=8, markup=False
        )


def run(world: DemoWorld, notes: list[str], poke: Callable[[], bool]) -> None:
    """The console until q. However it ends, a step in progress stops at once; if it crashed (Textual has
    printed the traceback), the demo fails rather than carrying on without a console."""
    console = DemoConsole(world, notes, poke=poke)
    try:
        console.run()
    finally:
        world.stopping.set()
    if console.return_code:
        raise DemoFailed(f"the console stopped with an error (exit code {console.return_code}); its traceback is above")
