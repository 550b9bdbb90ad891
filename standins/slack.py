"""A local stand-in for Slack, as strict as Slack: its Web API records what it accepted and refuses what Slack refuses.

The bot under test is pointed at ``api_url`` (``[slack] api_base_url``). The
stand-in keeps a workspace: channels with IDs (public ``C…``, private ``G…`` or
``C…`` with ``is_private``, DMs ``D…``), their members and their messages.
``chat.postMessage`` resolves a ``#name`` to its ID and answers with the ID;
``chat.update`` and ``chat.delete`` need the ID. Posting where the bot is not a
member fails as Slack fails (``not_in_channel`` in a public channel,
``channel_not_found`` in a private one or a DM it is not in, ``is_archived``).
A call needs a bot token (``not_authed``, ``invalid_auth``) and the scope its
method needs among those ``bot/manifest.yml`` asks for (``missing_scope``);
a method Slack has not got is ``unknown_method``. Blocks are checked against
Block Kit's limits (``invalid_blocks`` with Slack's reasons), ``throttle()``
answers calls with HTTP 429 and ``Retry-After``, and a ``response_url`` takes
5 posts within 30 minutes. Accepted calls are in ``calls``, refused ones in
``refused``.

In the other direction, ``command()`` and ``click()`` send slash commands
(form-encoded, ``&``, ``<`` and ``>`` in the text as entities, as Slack sends
them) and ``block_actions`` (a ``payload=`` JSON form field) with
Slack's v0 signature, as slack-bolt's own tests do; ``socket_command()`` and
``socket_click()`` send them over Socket Mode instead, to a bot that dialled
``socket_mode`` (``apps.connections.open`` hands out its URL).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.signature import SignatureVerifier

from . import block_kit
from .socket_mode import SocketModeEndpoint

BOT_USER = "UBOT"
MANIFEST = Path(__file__).resolve().parent.parent / "bot" / "manifest.yml"
MAX_TEXT = 40_000  # chat.postMessage truncates longer text
RESPONSE_URL_USES, RESPONSE_URL_SECONDS = 5, 30 * 60

# The scope each Web API method the stand-in serves needs (None: any valid token of the right kind).
SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": "connections:write",  # an app-level token's scope
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "conversations.info": "channels:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read",
}

# The workspace the existing tests and the demo use; the bot is in each channel.
DEFAULT_CHANNELS = {
    "C0DEPLOYS": "deploys",
    "C0DEV": "dev",
    "C0STAGING": "staging",
    "C0PROD": "prod",
    "C0DEMO": "gitopsctl-demo",
}


def slack_escaped(text: str) -> str:
    """Command text as Slack sends it: ``&``, ``<`` and ``>`` as HTML entities, whatever ``should_escape`` says."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


@dataclass
class Conversation:
    id: str
    name: str  # without "#"; "" for a DM
    members: set[str]
    private: bool = False
    archived: bool = False
    im: bool = False
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message


@dataclass
class _Throttle:
    method: str | None
    every: int
    retry_after: int
    seen: int = 0


@dataclass
class _ResponseUrl:
    issued: float
    uses: int = 0


class Refusal(Exception):
    """Slack's answer to a call it refuses: the error code and whatever else it says."""

    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(error)
        self.body = {"ok": False, "error": error, **extra}
        self.status, self.headers = status, headers or {}


class SlackStandIn:
    def __init__(
        self,
        signing_secret: str,
        groups: dict[str, list[str]] | None = None,
        *,
        bot_token: str | None = None,
        app_token: str | None = None,
        scopes: Iterable[str] | None = None,
    ):
        """``bot_token``/``app_token``: the only tokens accepted (None: any ``xoxb-``/``xapp-`` token);
        ``scopes``: the bot's scopes (None: those ``bot/manifest.yml`` asks for)."""
        self.signing_secret = signing_secret
        self.groups = groups or {}
        self.bot_token, self.app_token = bot_token, app_token
        if scopes is None:
            scopes = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
        self.scopes = frozenset(scopes)
        self.calls: list[Call] = []
        self.refused: list[Call] = []
        self.conversations: dict[str, Conversation] = {}
        self._throttles: list[_Throttle] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._skew = 0.0
        self._lock = threading.RLock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.bot_url: str | None = None
        self.socket_mode = SocketModeEndpoint()
        for channel_id, name in DEFAULT_CHANNELS.items():
            self.add_channel(name, channel_id=channel_id, bot=True)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, headers = stand_in._handle(self.path, self.headers, raw)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="slack-stand-in", daemon=True
        )  # a short poll interval: stop() returns at once

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

    # ------------------------------------------------------------ the workspace

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        bot: bool = False,
        private: bool = False,
        archived: bool = False,
        channel_id: str | None = None,
    ) -> str:
        """A channel (``bot``: the bot was invited); its ID, ``G…`` for a private one unless given."""
        with self._lock:
            channel_id = channel_id or f"{'G' if private else 'C'}{next(self._ids):08d}"
            people = set(members) | ({BOT_USER} if bot else set())
            self.conversations[channel_id] = Conversation(channel_id, name.lstrip("#"), people, private, archived)
            return channel_id

    def add_dm(self, *users: str) -> str:
        """A direct message between ``users`` (the bot's own DM with someone when ``BOT_USER`` is among them)."""
        with self._lock:
            channel_id = f"D{next(self._ids):08d}"
            self.conversations[channel_id] = Conversation(channel_id, "", set(users), private=True, im=True)
            return channel_id

    def archive(self, channel: str) -> None:
        with self._lock:
            self.conversations[self.channel_id(channel)].archived = True

    def channel_id(self, channel: str) -> str:
        """The ID of ``#name`` (or of an ID), as Slack resolves a name in ``chat.postMessage``."""
        with self._lock:
            if channel in self.conversations:
                return channel
            name = channel.removeprefix("#")
            for conversation in self.conversations.values():
                if not conversation.im and conversation.name == name:
                    return conversation.id
        raise KeyError(f"no channel {channel} in the stand-in's workspace")

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The messages in a channel now (after updates and deletions), oldest first."""
        with self._lock:
            return list(self.conversations[self.channel_id(channel)].messages.values())

    # ------------------------------------------------------------ failures on demand

    def throttle(self, method: str | None = None, *, every: int = 3, retry_after: int = 1) -> None:
        """Answer every ``every``-th call of ``method`` (any method when None) with HTTP 429 and ``Retry-After``."""
        with self._lock:
            self._throttles.append(_Throttle(method, every, retry_after))

    def unthrottle(self) -> None:
        with self._lock:
            self._throttles.clear()

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock on (for ``response_url`` expiry)."""
        with self._lock:
            self._skew += seconds

    def _now(self) -> float:
        return time.time() + self._skew

    def response_url(self) -> str:
        """A fresh ``response_url``, as Slack includes in a command or an interaction."""
        with self._lock:
            key = str(next(self._ids))
            self._response_urls[key] = _ResponseUrl(self._now())
        return f"{self.url}/respond/{key}"

    # ------------------------------------------------------------ the Web API

    def _handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/upload/"):
            self._record("upload", {"file": path.rsplit("/", 1)[1], "content": raw.decode("utf-8", "replace")})
            return 200, b"OK", {}
        if path.startswith("/respond/"):
            return self._respond(path.rsplit("/", 1)[1], raw)
        method = path.removeprefix("/api/").split("?")[0]
        if "json" in headers.get("Content-Type", ""):
            params = json.loads(raw or b"{}")
        else:
            params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip() or params.pop("token", "")
        try:
            for key in ("blocks", "files", "attachments"):
                if isinstance(params.get(key), str):
                    try:
                        params[key] = json.loads(params[key])
                    except ValueError:
                        raise Refusal("invalid_blocks_format" if key == "blocks" else "invalid_arguments") from None
            with self._lock:
                self._check(method, token)
                answer = self._answer(method, params)
        except Refusal as refusal:
            self._record(method, params, refusal.body, refused=True)
            return refusal.status, refusal.body, refusal.headers
        self._record(method, params, answer)
        return 200, answer, {}

    def _check(self, method: str, token: str) -> None:
        """Slack's checks before a method runs: it exists, the token is valid, the scope was granted, the rate."""
        if method not in SCOPES:
            raise Refusal("unknown_method", req_method=method)
        app_level = method == "apps.connections.open"
        if not token:
            raise Refusal("not_authed")
        expected, prefix = (self.app_token, "xapp-") if app_level else (self.bot_token, "xoxb-")
        if not token.startswith(prefix) or expected not in (None, token):
            raise Refusal("invalid_auth")
        needed = SCOPES[method]
        if needed and not app_level and needed not in self.scopes:
            raise Refusal("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))
        for rule in self._throttles:
            if rule.method in (None, method):
                rule.seen += 1
                if rule.seen % rule.every == 0:
                    raise Refusal("ratelimited", status=429, headers={"Retry-After": str(rule.retry_after)})

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
                "team_id": "T0001",
                "team": "Sandbox",
                "user": "gitopsctl",
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_mode.url}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            return self._post_message(method, params)
        if method in ("chat.update", "chat.delete"):
            return self._change_message(method, params)
        if method == "chat.getPermalink":
            conversation = self._visible(str(params.get("channel", "")))
            ts = str(params.get("message_ts", ""))
            if ts not in conversation.messages:
                raise Refusal("message_not_found")
            link = f"https://sandbox.slack.com/archives/{conversation.id}/p{ts.replace('.', '')}"
            return {"ok": True, "channel": conversation.id, "permalink": link}
        if method == "conversations.info":
            conversation = self._visible(str(params.get("channel", "")))
            return {"ok": True, "channel": {"id": conversation.id, "name": conversation.name}}
        if method == "usergroups.users.list":
            group = params.get("usergroup", "")
            if group not in self.groups:
                raise Refusal("no_such_subteam")
            return {"ok": True, "users": self.groups[group]}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):06d}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        # files.completeUploadExternal: shared in a channel given by ID, where the bot is a member
        if params.get("channel_id"):
            self._member(self._by_id(str(params["channel_id"])))
        files = params.get("files") or []
        return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}

    def _post_message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        conversation = self._member(self._resolve(str(params.get("channel", ""))))
        text, blocks = params.get("text"), params.get("blocks")
        if not text and not blocks:
            raise Refusal("no_text")
        self._check_blocks(blocks)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        ts = self._next_ts()
        message = {"type": "message", "user": BOT_USER, "ts": ts, "text": str(text or "")[:MAX_TEXT]}
        if blocks:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        conversation.messages[ts] = message
        return {"ok": True, "channel": conversation.id, "ts": ts, "message": message}

    def _change_message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        conversation = self._member(self._by_id(str(params.get("channel", ""))))
        ts = str(params.get("ts", ""))
        message = conversation.messages.get(ts)
        if message is None:
            raise Refusal("message_not_found")
        if message.get("user") != BOT_USER:
            raise Refusal("cant_update_message" if method == "chat.update" else "cant_delete_message")
        if method == "chat.delete":
            del conversation.messages[ts]
            return {"ok": True, "channel": conversation.id, "ts": ts}
        self._check_blocks(params.get("blocks"))
        if "text" in params:
            message["text"] = str(params["text"] or "")[:MAX_TEXT]
        if "blocks" in params:
            message["blocks"] = params["blocks"]
        return {"ok": True, "channel": conversation.id, "ts": ts, "text": message["text"], "message": message}

    @staticmethod
    def _check_blocks(blocks: Any) -> None:
        if blocks and (reasons := block_kit.problems(blocks)):
            raise Refusal("invalid_blocks", response_metadata={"messages": reasons})

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _by_id(self, channel: str) -> Conversation:
        """A conversation by ID only, as ``chat.update`` and ``chat.delete`` take it; a name is not found."""
        conversation = self.conversations.get(channel)
        if conversation is None:
            raise Refusal("channel_not_found")
        return conversation

    def _resolve(self, channel: str) -> Conversation:
        """A conversation by ID or ``#name``, or the bot's DM with a user ID, as ``chat.postMessage`` takes it."""
        if channel.startswith("U") and channel not in self.conversations:
            for conversation in self.conversations.values():
                if conversation.im and conversation.members == {BOT_USER, channel}:
                    return conversation
            return self.conversations[self.add_dm(BOT_USER, channel)]
        try:
            return self.conversations[self.channel_id(channel)]
        except KeyError:
            raise Refusal("channel_not_found") from None

    def _visible(self, channel: str) -> Conversation:
        """What the bot can see: a private channel or DM it is not in does not exist for it."""
        conversation = self._by_id(channel)
        if (conversation.private or conversation.im) and BOT_USER not in conversation.members:
            raise Refusal("channel_not_found")
        return conversation

    def _member(self, conversation: Conversation) -> Conversation:
        """The conversation, if the bot may post there: Slack's errors otherwise."""
        if (conversation.private or conversation.im) and BOT_USER not in conversation.members:
            raise Refusal("channel_not_found")
        if conversation.archived:
            raise Refusal("is_archived")
        if BOT_USER not in conversation.members:
            raise Refusal("not_in_channel")
        return conversation

    def _respond(self, key: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """A post to a ``response_url``: 5 within 30 minutes of the command or click, as Slack allows."""
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            params = {}
        with self._lock:
            issued = self._response_urls.get(key)
            error = None
            if issued is None:
                error = "no_service"
            elif self._now() - issued.issued > RESPONSE_URL_SECONDS:
                error = "expired_url"
            elif issued.uses >= RESPONSE_URL_USES:
                error = "used_url"
            elif params.get("blocks") and (reasons := block_kit.problems(params["blocks"])):
                self._record("response_url", params, {"error": "invalid_blocks", "messages": reasons}, refused=True)
                return 400, b"invalid_blocks", {}
            if error:
                self._record("response_url", params, {"error": error}, refused=True)
                return 404, error.encode(), {}
            issued.uses += 1
        self._record("response_url", params)
        return 200, b"ok", {}

    def _record(
        self, method: str, params: dict[str, Any], response: dict[str, Any] | None = None, *, refused: bool = False
    ) -> None:
        with self._lock:
            (self.refused if refused else self.calls).append(Call(method, params, response or {}))

    def of(self, method: str) -> list[Call]:
        """The accepted calls of ``method``, oldest first."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait(self, method: str, predicate=lambda call: True, timeout: float = 30.0) -> Call:
        """The first accepted call of ``method`` satisfying ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.of(method):
                if predicate(call):
                    return call
            if time.monotonic() > deadline:
                seen = [(c.method, str(c.params.get("text", ""))[:120]) for c in self.calls[-15:]]
                refused = [(c.method, c.response.get("error")) for c in self.refused[-5:]]
                raise TimeoutError(f"no {method} call matched within {timeout}s; last calls: {seen}; refused {refused}")
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
        channel_id, channel_name = self._where(channel)
        return urllib.parse.urlencode(
            {
                "token": "verification-token-unused",
                "team_id": "T0001",
                "team_domain": "sandbox",
                "channel_id": channel_id,
                "channel_name": channel_name,
                "user_id": user,
                "user_name": user_name,
                "command": command,
                "text": slack_escaped(text),
                "api_app_id": "A0GITOPS",
                "is_enterprise_install": "false",
                "response_url": self.response_url(),
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

    def socket_click(self, action_id: str, value: str, *, user: str, user_name: str, **options: Any) -> dict[str, Any]:
        """A button click over Socket Mode (an ``interactive`` envelope); the bot's acknowledgement."""
        payload = self.click_payload(action_id, value, user=user, user_name=user_name, **options)
        return self.socket_mode.send("interactive", payload)

    def click_payload(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        user_name: str,
        message_ts: str,
        channel: str = "C0DEPLOYS",
        trigger: str | None = None,
        block_id: str = "approval",
        selected: str | None = None,
    ) -> dict[str, Any]:
        """A ``block_actions`` payload: a button click, or with ``selected`` the choice of an option in a menu."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "action_ts": f"{time.time():.6f}"}
        if selected is None:
            action.update(type="button", value=value)
        else:
            action.update(
                type="static_select", selected_option={"text": {"type": "plain_text", "text": selected}, "value": value}
            )
        channel_id, channel_name = self._where(channel)
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user_name, "name": user_name, "team_id": "T0001"},
            "api_app_id": "A0GITOPS",
            "token": "verification-token-unused",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
            "trigger_id": trigger or f"{next(self._ids)}.{int(time.time())}.trigger",
            "team": {"id": "T0001", "domain": "sandbox"},
            "channel": {"id": channel_id, "name": channel_name},
            "message": {"type": "message", "ts": message_ts, "text": "", "blocks": []},
            "response_url": self.response_url(),
            "actions": [action],
        }

    def click(
        self, action_id: str, value: str, *, user: str, user_name: str, headers: dict[str, str] | None = None, **options
    ) -> Reply:
        """A button click (or a menu choice) sent to the bot's request URL, signed."""
        payload = self.click_payload(action_id, value, user=user, user_name=user_name, **options)
        return self._post(urllib.parse.urlencode({"payload": json.dumps(payload)}), headers=headers)

    def _where(self, channel: str) -> tuple[str, str]:
        """The channel's ID and the name Slack sends with it (``#dev`` is sent as ``C0DEV``, as Slack does)."""
        with self._lock:
            try:
                conversation = self.conversations[self.channel_id(channel)]
            except KeyError:
                return channel, channel.lstrip("#")
        if conversation.im:
            return conversation.id, "directmessage"
        return conversation.id, "privategroup" if conversation.private else conversation.name
