"""``gitopsctl serve``: the long-running process: the Slack bot and the rollout controller loop.

Tokens come from the environment only (the variables named in ``[slack]``, by
default SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_APP_TOKEN) and are
never logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from dataclasses import dataclass

from gitopsctl import config as config_module
from gitopsctl.config import SecretRef
from gitopsctl.engine import Engine
from gitopsctl.errors import UsageError
from gitopsctl.rollout.loop import ReconcileLoop

from .app import GitOpsBot
from .server import HttpServer, SocketModeServer

log = logging.getLogger("gitopsctl.serve")


@dataclass(frozen=True)
class Tokens:
    bot: str
    signing_secret: str | None
    app: str | None

    def __repr__(self) -> str:
        return "Tokens(***)"


def _read(ref: SecretRef | None, default_var: str, required: bool) -> str | None:
    ref = ref or SecretRef(default_var, f"${default_var}")
    value = os.environ.get(ref.env_var)
    if not value and required:
        raise UsageError(f"set {ref.env_var} in the environment (tokens are never read from files or flags)")
    return value or None


def tokens(cfg: config_module.Config, mode: str) -> Tokens:
    slack = cfg.slack
    bot = _read(slack.bot_token, "SLACK_BOT_TOKEN", True)
    secret = _read(slack.signing_secret, "SLACK_SIGNING_SECRET", mode == "http")
    app = _read(slack.app_token, "SLACK_APP_TOKEN", mode == "socket")
    assert bot is not None
    return Tokens(bot, secret, app)


class Serve:
    """Everything ``gitopsctl serve`` runs, startable and stoppable in-process (as the tests do)."""

    def __init__(
        self,
        engine: Engine,
        *,
        mode: str,
        host: str = "127.0.0.1",
        port: int = 3000,
        reconcile_interval: float = 2.0,
        token: Tokens | None = None,
        channel_interval: float = 1.0,
    ) -> None:
        self.engine = engine
        self.loop = ReconcileLoop(engine, reconcile_interval)
        self.bot: GitOpsBot | None = None
        self.server: HttpServer | SocketModeServer | None = None
        if mode != "off":
            token = token or tokens(engine.config, mode)
            self.bot = GitOpsBot(
                engine,
                token=token.bot,
                signing_secret=token.signing_secret if mode == "http" else None,
                channel_interval=channel_interval,
            )
            if mode == "http":
                self.server = HttpServer(self.bot, host, port)
            else:
                assert token.app is not None
                self.server = SocketModeServer(self.bot, token.app)

    def start(self) -> Serve:
        self.loop.start()
        if self.bot is not None and self.server is not None:
            self.bot.start()
            self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.bot is not None:
            self.bot.stop()
        self.loop.stop()


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = Serve(
        Engine(config_module.load(getattr(args, "config", None))),
        mode=args.slack_mode,
        host=args.host,
        port=args.port,
        reconcile_interval=args.reconcile_interval,
    ).start()
    where = (
        f"Slack over HTTP at {server.server.url}"
        if isinstance(server.server, HttpServer)
        else "Slack over Socket Mode"
        if server.server
        else "no Slack"
    )
    log.info("serving: %s; rollout controller every %gs", where, args.reconcile_interval)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def register(commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="run the Slack bot and the rollout controller until stopped"
    )
    serve.add_argument(
        "--slack-mode",
        choices=("socket", "http", "off"),
        default="socket",
        help="socket: Socket Mode, no public URL (SLACK_APP_TOKEN); http: Slack calls --port; off: no bot",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address for --slack-mode http (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port for --slack-mode http (default 3000)")
    serve.add_argument(
        "--reconcile-interval", type=float, default=2.0, metavar="SECONDS", help="rollout controller period"
    )
    serve.set_defaults(func=_serve)
