"""``gitopsctl serve``: the long-running process: the Slack bot, the scheduler under leader election, metrics.

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
from gitopsctl import logs
from gitopsctl.config import SecretRef
from gitopsctl.engine import Engine
from gitopsctl.errors import UsageError
from gitopsctl.serve.http import HOOKS_PATH
from gitopsctl.serve.process import Service

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


class Serve(Service):
    """Everything ``gitopsctl serve`` runs, startable and stoppable in-process (as the tests do): the Slack-free
    core (``gitopsctl.serve``) with the bot as its notifier, answering Slack on every replica."""

    def __init__(
        self,
        engine: Engine,
        *,
        mode: str,
        host: str = "127.0.0.1",
        port: int = 3000,
        token: Tokens | None = None,
        channel_interval: float = 1.0,
        metrics_port: int | None = None,
    ) -> None:
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
        # Git webhooks: on the bot's listener in http mode (one port), else on the core's own
        listen = None if isinstance(self.server, HttpServer) else port
        notifier = self.bot.notifier if self.bot else None
        super().__init__(engine, notifier, metrics_port=metrics_port, host=host, port=listen)
        if self.bot is not None:
            self.bot.reports = self.reports
        if isinstance(self.server, HttpServer):
            self.server.routes.hooks = self.hooks

    def start(self) -> Serve:
        if self.bot is not None and self.server is not None:
            self.bot.start()
            self.server.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        if self.server is not None:
            self.server.stop()
        if self.bot is not None:
            self.bot.stop()


def where(server: Serve) -> str:
    """Where Slack reaches the bot and Git hosts reach serve, for a log line or a person."""
    if isinstance(server.server, HttpServer):
        slack = f"Slack over HTTP at {server.server.url}"
    else:
        slack = "Slack over Socket Mode" if server.server else "no Slack"
    if server.hooks is None:
        return slack
    listener = server.server.listener if isinstance(server.server, HttpServer) else server.http
    return f"{slack}; Git webhooks at {listener.url}{HOOKS_PATH}" if listener else slack


def run(args: argparse.Namespace) -> int:
    """``gitopsctl serve``: until SIGINT or SIGTERM."""
    cfg = config_module.load(getattr(args, "config", None))
    names = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    refs = (cfg.slack.bot_token, cfg.slack.signing_secret, cfg.slack.app_token, cfg.git.webhook_secret)
    names |= {ref.env_var for ref in refs if ref}
    logs.setup(os.environ.get(name, "") for name in names)
    server = Serve(Engine(cfg), mode=args.slack_mode, host=args.host, port=args.port, metrics_port=args.metrics_port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before starting: a TERM during start-up still stops cleanly
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    metrics = f"; metrics at {server.metrics.url}/metrics" if server.metrics else ""
    log.info("serving: %s%s; replica %s", where(server), metrics, server.leader.identity)
    stop.wait()
    server.stop()
    return 0
