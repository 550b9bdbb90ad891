"""``gitopsctl tui``'s arguments: registered at every command's start-up, so Textual and the console load only
when the console runs."""

from __future__ import annotations

import argparse
import threading
from concurrent.futures import Future


def _tui(args: argparse.Namespace) -> int:
    """The fleet's first read starts as soon as the engine can make it: Textual is imported and started meanwhile."""
    from gitopsctl import config as config_module
    from gitopsctl.engine import Engine

    engine = Engine(config_module.load(getattr(args, "config", None)))
    live = engine.live_fleet()  # its first snapshot LISTs; the watches it starts keep every refresh after it cheap
    first: Future = Future()

    def read_first() -> None:
        first.set_running_or_notify_cancel()
        try:
            first.set_result(live.snapshot())
        except BaseException as e:  # noqa: BLE001 (handed to the console's worker, which says it or raises it)
            first.set_exception(e)

    # a daemon: quitting before a hung cluster answers does not wait for it
    threading.Thread(target=read_first, name="first-read", daemon=True).start()
    from .app import run

    return run(args, engine, first, live)


def register(commands, common: argparse.ArgumentParser) -> None:
    tui = commands.add_parser("tui", parents=[common], help="the on-call console (Textual)")
    tui.add_argument("--read-only", action="store_true", help="look only: every action is hidden")
    tui.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS", help="refresh period (default 5)")
    tui.add_argument("--theme", help='a Textual theme, e.g. "high-contrast", "textual-light", "nord"')
    tui.set_defaults(func=_tui)
