"""Slack's Socket Mode endpoint, locally: a WebSocket server the bot dials out to, as it dials wss-primary.slack.com.

``apps.connections.open`` on the Slack stand-in hands out this server's
``ws://127.0.0.1`` URL. On connection it says ``hello`` as Slack does; then
``send()`` delivers an envelope (a slash command, an interaction) and waits
for the bot's acknowledgement with the same ``envelope_id``, whose payload is
the command's immediate response; ``interactive`` envelopes carry button
clicks. ``disconnect()`` sends Slack's ``disconnect`` envelope (as before
Slack recycles a connection), after which a client must open a new one.
Pings are answered with pongs, so the client's health checks pass. RFC 6455 framing, unmasked from the server and
masked from the client, text frames only (what Socket Mode uses).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import socketserver
import threading
import time
import uuid
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (the server's side)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
    return head + payload


def _read_exactly(reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise ConnectionError("the bot closed the connection")
    return data


def read_message(reader) -> tuple[int, bytes]:
    """One message (its frames joined) from the client: (opcode, payload)."""
    opcode, message = None, b""
    while True:
        first, second = _read_exactly(reader, 2)
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(_read_exactly(reader, 2), "big")
        elif size == 127:
            size = int.from_bytes(_read_exactly(reader, 8), "big")
        mask = _read_exactly(reader, 4) if second & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exactly(reader, size)))
        if first & 0x0F in (_CLOSE, _PING, _PONG):  # control frames may come between fragments
            return first & 0x0F, data
        opcode = opcode or first & 0x0F
        message += data
        if first & 0x80:
            return opcode, message


class SocketModeEndpoint:
    def __init__(self) -> None:
        self._acks: dict[str, dict[str, Any]] = {}
        self._connections: list[tuple[socket.socket, threading.Lock]] = []
        self.opened = 0  # connections accepted so far
        self._changed = threading.Condition()
        endpoint = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                endpoint._serve(self.request, self.rfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="socket-mode-stand-in", daemon=True
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.server_address[1]}/link/?ticket={uuid.uuid4()}"

    def start(self) -> SocketModeEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._changed:
            for sock, _ in self._connections:
                sock.close()
            self._connections.clear()

    @property
    def connected(self) -> int:
        with self._changed:
            return len(self._connections)

    def _serve(self, sock: socket.socket, reader) -> None:
        if not self._handshake(sock, reader):
            return
        lock = threading.Lock()
        with lock:
            sock.sendall(frame(_TEXT, json.dumps({"type": "hello", "num_connections": 1}).encode()))
        with self._changed:
            self._connections.append((sock, lock))
            self.opened += 1
            self._changed.notify_all()
        try:
            while True:
                opcode, data = read_message(reader)
                if opcode == _PING:
                    with lock:
                        sock.sendall(frame(_PONG, data))
                elif opcode == _CLOSE:
                    with lock:
                        sock.sendall(frame(_CLOSE, data[:2]))
                    return
                elif opcode == _TEXT:
                    ack = json.loads(data)
                    with self._changed:
                        self._acks[ack.get("envelope_id", "")] = ack
                        self._changed.notify_all()
        except (ConnectionError, OSError):
            return
        finally:
            with self._changed:
                if (sock, lock) in self._connections:
                    self._connections.remove((sock, lock))
                self._changed.notify_all()

    @staticmethod
    def _handshake(sock: socket.socket, reader) -> bool:
        headers: dict[str, str] = {}
        request_line = reader.readline().decode("latin-1")
        while (line := reader.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        if not request_line.startswith("GET ") or headers.get("upgrade", "").lower() != "websocket" or not key:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 (RFC 6455)
        sock.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        return True

    def wait_for(self, *, opened: int, connected: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``opened`` connections were accepted in all and ``connected`` are open now."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: self.opened >= opened and len(self._connections) == connected, timeout
            ):
                raise TimeoutError(
                    f"Socket Mode: {self.opened} opened and {len(self._connections)} open after {timeout}s, "
                    f"expected {opened} and {connected}"
                )

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell every connected client its connection is going away, as Slack does before recycling it."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "stand-in"}}
        with self._changed:
            connections = list(self._connections)
        for sock, lock in connections:
            with lock:
                sock.sendall(frame(_TEXT, json.dumps(message).encode()))

    def send(self, kind: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Deliver an envelope to the connected bot; its acknowledgement (``payload`` holds any response)."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind == "slash_commands",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._connections:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no bot connected to Socket Mode within {timeout}s")
            sock, lock = self._connections[-1]
        with lock:
            sock.sendall(frame(_TEXT, json.dumps(envelope).encode()))
        with self._changed:
            while envelope_id not in self._acks:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"the bot did not acknowledge the {kind} envelope within {timeout}s")
            return self._acks.pop(envelope_id)
