"""Slack acknowledgement latency under load: 50 and 200 concurrent signed slash commands, rounds back to back.

Real parts: the sandbox cluster (its own process) and a real Git repository (seeded, synced); `gitopsctl serve
--slack-mode http` as its own process, its Web API calls going to the local Slack stand-in. Each request is a
slash command signed with Slack's v0 signature, as Slack sends it; its latency is from the client's connect()
to the last byte of the HTTP response (the acknowledgement Slack waits for, at most 3 s), so a SYN the server's
listen queue dropped (retransmitted after 1 s) is counted in full.

Each round opens its N connections at once (one client thread, non-blocking sockets, the requests signed before
the clock starts, so the client adds no thread scheduling of its own), from a process of its own: the Slack
stand-in's threads, busy with the answers that follow the acks, never hold the client's GIL. Rounds run back to
back, with no idle time between them: the cycle is 50 `/gitops status`, 200 `/gitops status`, then 50 half
`/deploy` (which go on to plan, commit and sync in serve's background workers while the next rounds are measured)
and half `/gitops status`; `/gitops status` also renders and posts its answer after the ack. The only waits are on
states: serve answering before the first round, and (not timed) one warm-up command it acknowledged.

Target (issue 21): p99 under 100 ms at 200 concurrent; every figure is also shown against Slack's 3 s limit.
Run: .venv/bin/python bench/slack_ack.py
"""

from __future__ import annotations

import multiprocessing
import selectors
import socket
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bench.harness import free_port, sandbox_process, serve_process, wait_until  # noqa: E402
from bench.results import Row, report  # noqa: E402
from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from standins.slack import SlackStandIn  # noqa: E402

ROUNDS = 5  # cycles of the three loads below
LOADS = (  # (label, concurrent requests, share of /deploy)
    ("50 concurrent /gitops status", 50, 0.0),
    ("200 concurrent /gitops status", 200, 0.0),
    ("50 concurrent, half /deploy, half /gitops status", 50, 0.5),
)
TARGET_MS = 100.0  # p99 at 200 concurrent (issue 21)
SLACK_LIMIT_MS = 3000.0  # Slack shows the user an error when the ack takes longer
TIMEOUT = 15.0  # a request not answered by then is counted as this long and as a failure
SECRET = "bench-signing-secret"  # noqa: S105 (the stand-in and the bot share it, on 127.0.0.1)
PATH = "/slack/events"


@dataclass
class Request:
    payload: bytes
    sock: socket.socket | None = None
    started: float = 0.0
    connected: float = 0.0  # the handshake done: a SYN dropped by a full listen queue shows as a second here
    finished: float = 0.0
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)

    @property
    def status(self) -> int:
        line = bytes(self.received).split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0


def signed(slack: SlackStandIn, port: int, command: str, text: str, user: str) -> bytes:
    """One slash command as Slack sends it: form-encoded, v0-signed, on a connection of its own."""
    body = slack.command_body(command, text, user=user, user_name=user.lower()).encode()
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def fire(port: int, payloads: list[bytes]) -> list[Request]:
    """Open every connection at once, send each request, read each answer to EOF; one thread, no pauses."""
    requests = [Request(p) for p in payloads]
    selector = selectors.DefaultSelector()
    for request in requests:
        request.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        request.sock.setblocking(False)
        request.started = time.monotonic()
        request.sock.connect_ex(("127.0.0.1", port))
        selector.register(request.sock, selectors.EVENT_WRITE, request)
    open_count, deadline = len(requests), time.monotonic() + TIMEOUT
    while open_count and time.monotonic() < deadline:
        for key, events in selector.select(timeout=0.5):
            request: Request = key.data
            sock = request.sock
            try:
                if events & selectors.EVENT_WRITE:
                    request.connected = request.connected or time.monotonic()
                    request.sent += sock.send(request.payload[request.sent :])
                    if request.sent == len(request.payload):
                        selector.modify(sock, selectors.EVENT_READ, request)
                    continue
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""  # refused or reset: finished, with whatever status it got (0: none)
            if chunk:
                request.received += chunk
                continue
            request.finished = time.monotonic()
            selector.unregister(sock)
            sock.close()
            open_count -= 1
    for request in requests:
        if not request.finished:  # timed out: counted at the timeout, and as a failure
            request.finished = request.started + TIMEOUT
            request.received.clear()
            selector.unregister(request.sock)
            request.sock.close()
    selector.close()
    return requests


def timed(port: int, payloads: list[bytes]) -> list[tuple[float, float, float, int]]:
    """``fire``, in the client's own process: (started, connected, finished, status) of each request."""
    return [(r.started, r.connected, r.finished, r.status) for r in fire(port, payloads)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"), SlackStandIn(SECRET) as slack:
            return run(tmp, tmp / "cluster" / "kubeconfig", slack)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)  # noqa: S310 (127.0.0.1)
    except urllib.error.HTTPError:
        return True  # it answers (a GET is not Slack's): up
    except OSError:
        return False
    return True


def run(tmp: Path, kubeconfig: Path, slack: SlackStandIn) -> int:
    repo = seed(tmp)
    config_path = tmp / "gitopsctl.toml"
    roles = f'\n[slack]\napi_base_url = "{slack.api_url}"\n\n[slack.roles.dev]\ndeployers = ["*"]\n'
    config_path.write_text(config_text(repo.url, kubeconfig, tmp / "cache") + roles)
    engine = Engine(config_module.load(str(config_path)))
    for app in engine.config.apps:
        engine.sync(app, "dev", wait=True, timeout=60)
    port = free_port()
    samples: dict[str, list[float]] = {label: [] for label, _, _ in LOADS}
    failures: dict[str, list[int]] = {label: [] for label, _, _ in LOADS}
    stalled = 0  # handshakes that took over 0.9 s: a SYN the listen queue dropped, retransmitted after 1 s
    # The client runs in a process of its own: in this one, the Slack stand-in's threads (answering the posts that
    # follow each ack) would hold the GIL while an answer waits to be timed.
    client = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    client.submit(timed, 0, []).result()  # its imports done before any clock starts
    with client, serve_process(config_path, secret=SECRET, slack_port=port, metrics_port=free_port()):
        slack.bot_url = f"http://127.0.0.1:{port}{PATH}"
        wait_until(lambda: answers(slack.bot_url), 60, "serve answering on its Slack port", 0.1)
        warm = slack.command("/gitops", "status", user="UWARM", user_name="warm")  # not timed: first-use costs
        assert warm.status == 200, warm
        deploys = 0
        for round_number in range(ROUNDS):
            for label, concurrent, deploy_share in LOADS:
                payloads = []
                for i in range(concurrent):
                    if i < concurrent * deploy_share:
                        deploys += 1
                        text = f"trade-service dev v1.5.{round_number}-{i}"
                        payloads.append(signed(slack, port, "/deploy", text, "UALICE"))
                    else:
                        payloads.append(signed(slack, port, "/gitops", "status", f"U{i:04d}"))
                for started, connected, finished, status in client.submit(timed, port, payloads).result():
                    samples[label].append((finished - started) * 1000)
                    stalled += connected - started > 0.9 or not connected
                    if status != 200:
                        failures[label].append(status)
    rows = []
    for label, concurrent, _ in LOADS:
        ms, failed = samples[label], failures[label]
        p99 = percentile(ms, 99)
        judged = concurrent == 200
        passed = not failed and (p99 < TARGET_MS if judged else p99 < SLACK_LIMIT_MS)
        answered = f"{len(ms) - len(failed)}/{len(ms)} answered 200" + (
            f" (others: {sorted(set(failed))})" if failed else ""
        )
        rows.append(
            Row(
                what=f"Slack ack latency, {label}, {ROUNDS} rounds back to back; {answered}",
                figure=(
                    f"p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
                    f"p99 {p99:.0f} ms, max {max(ms):.0f} ms"
                ),
                target=f"p99 < {TARGET_MS:.0f} ms" if judged else f"p99 < {SLACK_LIMIT_MS:.0f} ms (Slack's limit)",
                ratio=f"p99 is {p99 / SLACK_LIMIT_MS:.1%} of Slack's 3 s limit (max {max(ms) / SLACK_LIMIT_MS:.1%})",
                passed=passed,
            )
        )
    print(
        f"{stalled} of {sum(map(len, samples.values()))} handshakes took over 0.9 s (a SYN dropped by the listen queue)"
    )
    print(f"{deploys} /deploy commands were acknowledged; their plan, commit and sync ran in serve's background")
    return report("slack_ack", rows)


if __name__ == "__main__":
    sys.exit(main())
