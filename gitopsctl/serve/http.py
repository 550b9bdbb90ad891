"""Serve's HTTP listener on ``--port``: Git push webhooks at ``POST /hooks/git``, and Slack's requests beside them.

One port, one threading WSGI server: ``Routes`` sends ``/hooks/git`` to the webhook and everything else to an inner
WSGI app (bolt's adapter in ``--slack-mode http``) or answers 404. The webhook is answered at once (202) and the
fetch runs in the Follower's thread. Neither the secret nor a signature is ever logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from ..config import GitConfig
from ..metrics import listen
from . import webhooks
from .follow import Follower

log = logging.getLogger(__name__)
HOOKS_PATH = "/hooks/git"
# Connections queued before they are accepted: Slack's bursts (200 commands at once) must fit, or a SYN is dropped
# and that request stalls a second; the kernel caps it at net.core.somaxconn.
BACKLOG = 1024
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
STATUS = {
    200: "200 OK",
    202: "202 Accepted",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    411: "411 Length Required",
    413: "413 Content Too Large",
}


class GitHooks:
    """``POST /hooks/git``: a verified push to the followed branch pokes the Follower; anything else fetches nothing."""

    def __init__(self, secret: str, git: GitConfig, follower: Follower) -> None:
        self._secret = secret
        self.git = git
        self.follower = follower

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        status, message = self._answer(environ)
        start_response(STATUS[status], [("Content-Type", "text/plain; charset=utf-8")])
        return [message.encode() + b"\n"]

    def _answer(self, environ: dict) -> tuple[int, str]:
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, "POST a push webhook here"
        declared = environ.get("CONTENT_LENGTH") or ""
        if not (declared.isascii() and declared.isdigit()):
            return 411, "refused: a webhook needs a Content-Length"
        length = int(declared)
        try:
            webhooks.check_size(length)  # before reading a byte of it
            headers = {
                key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
            }
            delivery = webhooks.read(headers, environ["wsgi.input"].read(length), self._secret, self.git.branch)
        except webhooks.WebhookRefused as e:
            log.warning("Git webhook from %s refused: %s", environ.get("REMOTE_ADDR"), e)
            return e.status, str(e)
        if not delivery.fetch:
            log.info("Git webhook from %s (%s): %s", delivery.sender, delivery.event, delivery.message)
            return 200, delivery.message
        if self.follower.poke():
            log.info("Git webhook from %s: a push to %s; fetching", delivery.sender, self.git.branch)
            return 202, delivery.message
        poll = (
            f"the leader fetches it on its next poll (every {self.git.poll_interval:g}s)"
            if self.git.poll_interval
            else "polling is off ([git] poll_interval = 0), so it is delivered when a webhook reaches the leader"
        )
        return 202, f"accepted by a replica that does not lead: {poll}"


class Routes:
    """The WSGI app of serve's port: ``/hooks/git`` to ``hooks`` when set, the rest to ``inner`` or 404."""

    def __init__(self, hooks: GitHooks | None = None, inner: WSGIApp | None = None) -> None:
        self.hooks = hooks
        self.inner = inner

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.hooks is not None and environ.get("PATH_INFO") == HOOKS_PATH:
            return self.hooks(environ, start_response)
        if self.inner is not None:
            return self.inner(environ, start_response)
        start_response(STATUS[404], [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]


class Listener:
    """A threading WSGI server on ``host:port``, bound at construction so a taken port fails before anything starts.

    A burst of connections fits its listen queue (``BACKLOG``) and runs on kept threads, so none waits for the
    accept loop to start a thread of its own (``listen(pooled=True)``)."""

    def __init__(self, host: str, port: int, app: WSGIApp, name: str = "serve-http") -> None:
        self._server = listen(host, port, app, what="Slack and Git webhooks (--port)", backlog=BACKLOG, pooled=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
