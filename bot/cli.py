"""``gitopsctl serve``'s arguments: registered at every command's start-up, so nothing heavy is imported here
(the bot, slack_bolt and the engine load when serve runs)."""

from __future__ import annotations

import argparse


def _serve(args: argparse.Namespace) -> int:
    from .serve import run

    return run(args)


def register(commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="run the Slack bot, drift reports and the rollout controller until stopped"
    )
    serve.add_argument(
        "--slack-mode",
        choices=("socket", "http", "off"),
        default="socket",
        help="socket: Socket Mode, no public URL (SLACK_APP_TOKEN); http: Slack calls --port; off: no bot",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address for --slack-mode http and Git webhooks (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=3000, help="port for --slack-mode http and Git webhooks (default 3000)"
    )
    serve.add_argument(
        "--metrics-port", type=int, default=None, metavar="N", help="port of /metrics (default: [serve] metrics_port)"
    )
    serve.set_defaults(func=_serve)
