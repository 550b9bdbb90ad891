"""Slack's acknowledgement under a burst (issue 21): every request answered well inside Slack's 3 s, none stalled.

Slack shows the user an error when the ack takes over 3 s. A burst larger than the listen queue had SYNs dropped
(retransmitted a second later), and a cluster round trip before each ack queued them all behind the cluster.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from urllib.parse import urlsplit

import pytest
from slack_sdk.signature import SignatureVerifier

from gitopsctl.serve import http
from tests.bot.conftest import SECRET, start_bot

BURST = 200
BOUND = 0.9  # seconds for the slowest ack: a dropped SYN alone costs 1 s


def _signed(bot, path: str, port: int, i: int) -> bytes:
    body = bot.slack.command_body("/gitops", "help", user=f"U{i:04d}", user_name=f"user{i}").encode()
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def burst(bot, n: int) -> list[tuple[float, float, bytes]]:
    """``n`` signed commands on ``n`` connections opened at once (one thread, non-blocking, so the client adds
    no waiting of its own); for each: (seconds to the handshake, seconds to the whole answer, the answer)."""
    url = urlsplit(bot.serve.server.url)
    payloads = [_signed(bot, url.path, url.port, i) for i in range(n)]
    selector = selectors.DefaultSelector()
    state = {}
    for i, payload in enumerate(payloads):
        sock = socket.socket()
        sock.setblocking(False)
        state[i] = {"started": time.monotonic(), "payload": payload, "sent": 0, "got": bytearray()}
        sock.connect_ex(("127.0.0.1", url.port))
        selector.register(sock, selectors.EVENT_WRITE, i)
    done: dict[int, tuple[float, float, bytes]] = {}
    deadline = time.monotonic() + 20
    while len(done) < n and time.monotonic() < deadline:
        for key, events in selector.select(timeout=0.5):
            one, sock = state[key.data], key.fileobj
            if events & selectors.EVENT_WRITE:
                one.setdefault("connected", time.monotonic())
                one["sent"] += sock.send(one["payload"][one["sent"] :])
                if one["sent"] == len(one["payload"]):
                    selector.modify(sock, selectors.EVENT_READ, key.data)
                continue
            chunk = sock.recv(65536)
            if chunk:
                one["got"] += chunk
                continue
            now = time.monotonic()
            done[key.data] = (one["connected"] - one["started"], now - one["started"], bytes(one["got"]))
            selector.unregister(sock)
            sock.close()
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    assert len(done) == n, f"{n - len(done)} of {n} requests got no answer in 20 s"
    return list(done.values())


@pytest.fixture
def small_backlog_bot(fleet, monkeypatch):
    monkeypatch.setattr(http, "BACKLOG", 128)  # what serve's listener had before issue 21
    yield from start_bot(fleet)


def _check(answers: list[tuple[float, float, bytes]]) -> None:
    assert all(answer.startswith(b"HTTP/1.0 200 ") for _, _, answer in answers), "every request acknowledged"
    slowest_handshake = max(handshake for handshake, _, _ in answers)
    slowest = max(total for _, total, _ in answers)
    assert slowest_handshake < 0.5, f"a handshake took {slowest_handshake:.2f} s: a SYN dropped by a full listen queue"
    assert slowest < BOUND, f"the slowest of {len(answers)} acks took {slowest:.2f} s"


def test_a_burst_of_200_commands_is_all_acknowledged_well_under_a_second(bot):
    burst(bot, 20)  # not judged: the listener's threads are made on first use
    for _ in range(3):  # back to back
        _check(burst(bot, BURST))


def test_the_burst_check_catches_a_listen_queue_smaller_than_the_burst(small_backlog_bot):
    """The check above can fail: with the old queue of 128, a burst of 200 has SYNs dropped and stalls a second."""
    bot = small_backlog_bot
    burst(bot, 20)
    with pytest.raises(AssertionError, match="a SYN dropped by a full listen queue|the slowest of"):
        for _ in range(3):
            _check(burst(bot, BURST))


def test_a_command_is_acknowledged_before_its_cluster_claim(bot):
    """The claim that stops a replay (a cluster round trip) comes after the ack, so a slow cluster never delays it."""
    namespace = bot.fleet.engine.coordination()[1]
    bot.fleet.sandbox.faults.add(verbs=["create"], resource="configmaps", namespace=namespace, latency=2.0, count=1)
    reply = bot.command("/gitops", "status")
    assert reply.status == 200 and "Working on" in json.loads(reply.body)["text"]
    assert reply.seconds < 1.0, f"the ack waited {reply.seconds:.2f} s for the cluster"
    bot.ephemeral("trade-service")  # the status itself, once the claim is made


def test_a_claim_that_cannot_be_made_does_nothing_and_says_so(bot):
    namespace = bot.fleet.engine.coordination()[1]
    bot.fleet.sandbox.faults.add(verbs=["create"], resource="configmaps", namespace=namespace, status=500)
    before = bot.head().hexsha
    reply = bot.command("/deploy", "trade-service dev v1.4.2")
    assert reply.status == 200
    bot.ephemeral("gitopsctl cannot reach its cluster right now; nothing was done")
    assert bot.head().hexsha == before
    assert bot.slack.of("chat.postMessage") == []
