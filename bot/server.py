"""Serving the bolt app: HTTP (Events API and interactivity) or Socket Mode.

HTTP mode runs bolt's WSGI adapter on serve's threading listener, so a slow
request never holds up another's acknowledgement, and the same port answers
Git push webhooks at /hooks/git when serve has them; it refuses to start
without a signing secret, since unsigned requests would otherwise be trusted.
"""

from __future__ import annotations

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from gitopsctl.errors import UsageError
from gitopsctl.serve.http import Listener, Routes

from .app import GitOpsBot

EVENTS_PATH = "/slack/events"


class HttpServer:
    def __init__(self, bot: GitOpsBot, host: str = "127.0.0.1", port: int = 3000) -> None:
        if not bot.verifies_requests:
            raise UsageError(
                "HTTP mode needs the signing secret: set SLACK_SIGNING_SECRET (Slack app > Basic Information)"
            )
        self.bot = bot
        self.routes = Routes(inner=SlackRequestHandler(bot.app, EVENTS_PATH))  # serve adds its hooks
        self.listener = Listener(host, port, self.routes, name="slack-http")

    @property
    def url(self) -> str:
        return f"{self.listener.url}{EVENTS_PATH}"

    def start(self) -> HttpServer:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()


class SocketModeServer:
    """Socket Mode: the bot dials out to Slack, so no public URL is needed."""

    def __init__(self, bot: GitOpsBot, app_token: str) -> None:
        if not app_token.startswith("xapp-"):
            raise UsageError("Socket Mode needs an app-level token (xapp-...) in SLACK_APP_TOKEN")
        self.handler = SocketModeHandler(bot.app, app_token)

    def start(self) -> SocketModeServer:
        self.handler.connect()
        return self

    def stop(self) -> None:
        self.handler.close()
