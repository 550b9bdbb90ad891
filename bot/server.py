"""Serving the bolt app: HTTP (Events API and interactivity) or Socket Mode.

HTTP mode runs bolt's WSGI adapter on a threading server, so a slow request
never holds up another's acknowledgement; it refuses to start without a
signing secret, since unsigned requests would otherwise be trusted.
"""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from gitopsctl.errors import UsageError

from .app import GitOpsBot

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s %s", self.address_string(), format % args)


class HttpServer:
    def __init__(self, bot: GitOpsBot, host: str = "127.0.0.1", port: int = 3000) -> None:
        if not bot.verifies_requests:
            raise UsageError(
                "HTTP mode needs the signing secret: set SLACK_SIGNING_SECRET (Slack app > Basic Information)"
            )
        self.bot = bot
        self._server = make_server(
            host, port, SlackRequestHandler(bot.app, EVENTS_PATH), _ThreadingWSGIServer, _QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{EVENTS_PATH}"

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


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
