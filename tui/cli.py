"""``gitopsctl tui``'s arguments: registered at every command's start-up, so Textual and the console load only
when the console runs."""

from __future__ import annotations

import argparse


def _tui(args: argparse.Namespace) -> int:
    from .app import run

    return run(args)


def register(commands, common: argparse.ArgumentParser) -> None:
    tui = commands.add_parser("tui", parents=[common], help="the on-call console (Textual)")
    tui.add_argument("--read-only", action="store_true", help="look only: every action is hidden")
    tui.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS", help="refresh period (default 5)")
    tui.add_argument("--theme", help='a Textual theme, e.g. "high-contrast", "textual-light", "nord"')
    tui.set_defaults(func=_tui)
