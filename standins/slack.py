"""A local stand-in for Slack: its Web API records every call, and it sends signed requests as Slack does.

The bot under test is pointed at ``api_url`` (``[slack] api_base_url``); every
Web API call it makes is recorded and answered as Slack answers it
(``chat.postMessage`` returns a channel and a ``ts``, ``files_upload_v2``'s
three steps work, user groups have members). ``response_url`` posts land here
too. In the other direction, ``command()`` and ``click()`` send slash commands
(form-encoded) and ``block_actions`` (a ``payload=`` JSON form field) with
Slack's v0 signature, as slack-bolt's own tests do; ``socket_command()`` sends
a command over Socket Mode instead, to a bot that dialled ``socket_mode``
(``apps.connections.open`` hands out its URL).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk.signature import SignatureVerifier

from .socket_mode import SocketModeEndpoint


@dataclass
class Call:
    method: str  # a Web API method, "response_url" or "upload"
    params: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def ts(self) -> str | None:
        """The message's ts: the one updated, or the one Slack gave a new message."""
        return self.params.get("ts") or self.response.get("ts")


@dataclass
class Reply:
    status: int
    body: str
    seconds: float


class SlackStandIn:
    def __init__(self, signing_secret: str, groups: dict[str, list[str]] | None = None):
        self.signing_secret = signing_secret
        self.groups = groups or {}
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.bot_url: str | None = None
        self.socket_mode = SocketModeEndpoint()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body = stand_in._handle(self.path, self.headers.get("Content-Type", ""), raw)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-stand-in", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def start(self) -> SlackStandIn:
        self.socket_mode.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.socket_mode.stop()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ the Web API

    def _handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, Any]:
        if path.startswith("/upload/"):
            self._record("upload", {"file": path.rsplit("/", 1)[1], "content": raw.decode("utf-8", "replace")})
            return 200, b"OK"
        if path.startswith("/respond/"):
            self._record("response_url", json.loads(raw or b"{}"))
            return 200, b"ok"
        method = path.removeprefix("/api/").split("?")[0]
        if "json" in content_type:
            params = json.loads(raw or b"{}")
        else:
            params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        for key in ("blocks", "files", "attachments"):
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):  # left as sent when it is not JSON
                    params[key] = json.loads(params[key])
        answer = self._answer(method, params)
        self._record(method, params, answer)
        return 200, answer

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team_id": "T0001",
                "team": "Sandbox",
                "user": "gitopsctl",
            }
        if method in ("chat.postMessage", "chat.update"):
            ts = params.get("ts") or f"{1_700_000_000 + next(self._ts)}.000100"
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": {"text": params.get("text")}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_mode.url}
        if method == "usergroups.users.list":
            group = params.get("usergroup", "")
            if group not in self.groups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.groups[group]}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):06d}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
        return {"ok": True}

    def _record(self, method: str, params: dict[str, Any], response: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.calls.append(Call(method, params, response or {}))

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait(self, method: str, predicate=lambda call: True, timeout: float = 30.0) -> Call:
        """The first recorded call of ``method`` satisfying ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.of(method):
                if predicate(call):
                    return call
            if time.monotonic() > deadline:
                seen = [(c.method, str(c.params.get("text", ""))[:120]) for c in self.calls[-15:]]
                raise TimeoutError(f"no {method} call matched within {timeout}s; last calls: {seen}")
            time.sleep(0.05)

    # ------------------------------------------------------------ requests to the bot

    def _post(self, body: str, *, headers: dict[str, str] | None = None, sign: bool = True, age: float = 0) -> Reply:
        assert self.bot_url, "set bot_url to the bot's /slack/events URL"
        timestamp = str(int(time.time() - age))
        sent = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp}
        if sign:
            signature = SignatureVerifier(self.signing_secret).generate_signature(timestamp=timestamp, body=body)
            sent["X-Slack-Signature"] = signature
        sent.update(headers or {})
        request = urllib.request.Request(self.bot_url, data=body.encode(), headers=sent, method="POST")  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
                return Reply(response.status, response.read().decode(), time.monotonic() - started)
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.read().decode(), time.monotonic() - started)

    def command_body(
        self,
        command: str,
        text: str,
        *,
        user: str,
        user_name: str,
        channel: str = "C0DEPLOYS",
        trigger: str | None = None,
    ) -> str:
        trigger = trigger or f"{next(self._ids)}.{int(time.time())}.trigger"
        return urllib.parse.urlencode(
            {
                "token": "verification-token-unused",
                "team_id": "T0001",
                "team_domain": "sandbox",
                "channel_id": channel,
                "channel_name": "deploys",
                "user_id": user,
                "user_name": user_name,
                "command": command,
                "text": text,
                "api_app_id": "A0GITOPS",
                "is_enterprise_install": "false",
                "response_url": f"{self.url}/respond/{next(self._ids)}",
                "trigger_id": trigger,
            }
        )

    def command(self, command: str, text: str, *, user: str, user_name: str, **options: Any) -> Reply:
        headers = options.pop("headers", None)
        sign, age = options.pop("sign", True), options.pop("age", 0)
        return self._post(
            self.command_body(command, text, user=user, user_name=user_name, **options),
            headers=headers,
            sign=sign,
            age=age,
        )

    def socket_command(self, command: str, text: str, *, user: str, user_name: str, **options: Any) -> dict[str, Any]:
        """A slash command over Socket Mode; the bot's acknowledgement (its ``payload`` is the immediate answer)."""
        body = self.command_body(command, text, user=user, user_name=user_name, **options)
        return self.socket_mode.send("slash_commands", dict(urllib.parse.parse_qsl(body)))

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        user_name: str,
        message_ts: str,
        channel: str = "C0DEPLOYS",
        trigger: str | None = None,
        headers: dict[str, str] | None = None,
        block_id: str = "approval",
        selected: str | None = None,
    ) -> Reply:
        """A button click, or with ``selected`` the choice of an option in a select menu."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "action_ts": f"{time.time():.6f}"}
        if selected is None:
            action.update(type="button", value=value)
        else:
            action.update(
                type="static_select", selected_option={"text": {"type": "plain_text", "text": selected}, "value": value}
            )
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user_name, "name": user_name, "team_id": "T0001"},
            "api_app_id": "A0GITOPS",
            "token": "verification-token-unused",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": trigger or f"{next(self._ids)}.{int(time.time())}.trigger",
            "team": {"id": "T0001", "domain": "sandbox"},
            "channel": {"id": channel, "name": "deploys"},
            "message": {"type": "message", "ts": message_ts, "text": "", "blocks": []},
            "response_url": f"{self.url}/respond/{next(self._ids)}",
            "actions": [action],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self._post(body, headers=headers)
