"""``gitopsctl demo``, registered through the ``gitopsctl.commands`` entry points like ``serve`` and ``tui``.

Its flags are checked before anything starts. With a terminal it runs the
console over the demo's world (and the Slack bot when SLACK_BOT_TOKEN is set);
without one, or with ``--headless``, the scenario in order.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import TextIO

from gitopsctl.config import slack_channel_problem


def interactive(
    out: TextIO = sys.stdout,
    *,
    analysis_provider: str | None = None,
    slack_channel: str = "#gitopsctl-demo",
    slack_port: int = 3000,
) -> int:
    """The console over a running world (and the Slack bot when its tokens are set); headless without a terminal."""
    from .world import DemoController, DemoFailed, DemoWorld, headless  # not at start-up: every command pays it

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    if not (sys.stdin.isatty() and out.isatty()):
        say("no terminal here, so the demo runs headless\n")
        return headless(out, analysis_provider)
    # the front ends are imported only now: the headless demo needs neither Textual nor Slack's libraries
    from . import console

    slack = bool(os.environ.get("SLACK_BOT_TOKEN"))
    try:
        with DemoWorld(
            say, analysis_provider=analysis_provider, pause="5s", slack_channel=slack_channel if slack else None
        ) as world:
            log_path = world.root / "demo.log"
            logging.basicConfig(filename=log_path, level=logging.INFO, force=True)
            if slack:
                from . import slack as slack_bot

                controller, where = slack_bot.start(world.engine, slack_port)
                slack_note = f"Slack: {where}, to {slack_channel}"
            else:
                controller = DemoController(world).start()
                slack_note = "Slack: off"
            # short lines: the guide must fit under the fleet in 80x24
            notes = [f"analysis: {world.analysis_short}", f"{slack_note} · files: {world.root}"]
            try:
                console.run(world, notes, controller.follower.poke)
            finally:
                controller.stop()
    except DemoFailed as e:
        say(f"\ndemo failed: {e}")
        return 1
    say("everything stopped; the demo is over.")
    return 0


def _slack_channel(value: str) -> str:
    if problem := slack_channel_problem(value):
        raise argparse.ArgumentTypeError(problem)
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port: give a number from 1 to 65535")
    return int(value)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _demo(args: argparse.Namespace) -> int:
    # a TERM or HUP unwinds like ^C, so the cluster, Prometheus and the temporary directory are cleaned up
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if args.headless:
        from .world import headless

        return headless(analysis_provider=args.analysis)
    return interactive(analysis_provider=args.analysis, slack_channel=args.slack_channel, slack_port=args.slack_port)


def register(commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", help="a sandbox with four apps, the controller and the console: release, roll back, make drift"
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="a release dev -> prod with a canary, a bad one rolled back, drift healed; exit 0 when all behaved",
    )
    demo.add_argument(
        "--analysis",
        choices=("prometheus", "web"),
        help="where the canary analysis reads metrics (default: Prometheus when installed, else the simulator's JSON)",
    )
    demo.add_argument(
        "--slack-channel",
        default="#gitopsctl-demo",
        type=_slack_channel,
        metavar="#NAME",
        help="with SLACK_BOT_TOKEN set: where the bot reports (default #gitopsctl-demo)",
    )
    demo.add_argument(
        "--slack-port",
        type=_port,
        default=3000,
        metavar="N",
        help="with SLACK_BOT_TOKEN and no SLACK_APP_TOKEN: the port Slack's HTTP requests come to (default 3000)",
    )
    demo.set_defaults(func=_demo)
