"""The Slack bot over the demo's world, when SLACK_BOT_TOKEN is set: Socket Mode with SLACK_APP_TOKEN, else HTTP."""

from __future__ import annotations

import os

from bot.serve import Serve, where
from gitopsctl.engine import Engine


def start(engine: Engine, port: int) -> tuple[Serve, str]:
    """The bot started over ``engine``, and where Slack reaches it.

    It is the whole of ``serve`` (the leader's controller and drift reports
    included), so the demo runs no controller of its own beside it.
    """
    mode = "socket" if os.environ.get("SLACK_APP_TOKEN") else "http"
    server = Serve(engine, mode=mode, port=port, metrics_port=0).start()
    return server, where(server)
