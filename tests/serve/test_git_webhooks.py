"""Serve notices Git changes: signed push webhooks at POST /hooks/git poke the leader's fetch, debounced; polling.

A real serve (leader election in the sandbox, its HTTP listener on 127.0.0.1) with the engine's ``follow`` counted:
what is fetched and delivered is the engine's part, tested with it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from bot.serve import Serve, where
from gitopsctl.errors import ConfigError
from gitopsctl.serve.follow import Follower
from gitopsctl.serve.http import HOOKS_PATH
from gitopsctl.serve.webhooks import MAX_BODY
from tests.bot.conftest import free_port
from tests.conftest import Fleet, wait_for
from tests.serve.conftest import start_served

SECRET = "whsec-3a7f5c1e9d"
SECRET_VAR = "GITOPSCTL_TEST_WEBHOOK_SECRET"
SERVE_ONLY = """
[serve]
reconcile_interval = "500ms"
lease_duration = "4s"
renew_deadline = "3s"
retry_period = "1s"
metrics_port = 0
watch = false
"""
PUSH = json.dumps({"ref": "refs/heads/main", "after": "bffeb74224043ba2feb48d137756c8a9331c449a"}).encode()


class Counted:
    """Stands for the engine's follow: counts its runs; the first ``fails`` raise, as a bug would."""

    def __init__(self, fails: int = 0, results: list | None = None) -> None:
        self.runs = 0
        self.fails = fails
        self.results = results or []
        self._lock = threading.Lock()

    def __call__(self) -> list:
        with self._lock:
            self.runs += 1
            if self.runs <= self.fails:
                raise RuntimeError("a bug in follow")
        return self.results


def hexmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(body: bytes = PUSH, event: str = "push", secret: str = SECRET) -> dict:
    return {"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + hexmac(body, secret)}


def gitlab(token: str = SECRET) -> dict:
    return {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token}


def gitea(body: bytes = PUSH, secret: str = SECRET) -> dict:
    return {"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Gitea-Signature": hexmac(body, secret)}


def post(url: str, headers: dict, body: bytes = PUSH) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", **headers}
    request = urllib.request.Request(url + HOOKS_PATH, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (127.0.0.1)
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def with_hooks(fleet: Fleet, poll: str = "0") -> None:
    text = fleet.config_path.read_text()
    git = f'branch = "main"\nwebhook_secret = "${{{SECRET_VAR}}}"\npoll_interval = "{poll}"\n'
    fleet.config_path.write_text(text.replace('branch = "main"\n', git, 1))


def replica(fleet: Fleet, monkeypatch, *, extra: str = SERVE_ONLY) -> tuple[Serve, Counted]:
    """A serve with --slack-mode off and a webhook listener of its own; its engine's follow counted."""
    engine = fleet.reload(extra)
    counted = Counted()
    monkeypatch.setattr(engine, "follow", counted, raising=False)
    return Serve(engine, mode="off", port=free_port()), counted


@pytest.fixture
def hooked(fleet, monkeypatch) -> Iterator[tuple[Serve, Counted, str]]:
    monkeypatch.setenv(SECRET_VAR, SECRET)
    with_hooks(fleet)
    serve, counted = replica(fleet, monkeypatch)
    serve.start()
    try:
        wait_for(serve.leader.leading.is_set, 30, 0.1, "the only replica leads")
        yield serve, counted, serve.http.url
    finally:
        serve.stop()


def settled(serve: Serve, counted: Counted, runs: int) -> None:
    """Wait until ``runs`` fetches ran and nothing more is waiting (a poke would be waiting, or running, by now)."""
    wait_for(lambda: counted.runs >= runs and serve.follower.idle, 10, 0.02, f"{runs} fetches, then idle")


def test_signed_pushes_from_github_gitlab_and_gitea_each_start_one_fetch(hooked):
    serve, counted, url = hooked
    assert f"Git webhooks at {url}{HOOKS_PATH}" in where(serve)
    for runs, headers in enumerate((github(), gitlab(), gitea()), start=1):
        assert post(url, headers) == (202, "fetching main\n")
        settled(serve, counted, runs)
        assert counted.runs == runs


@pytest.mark.parametrize(
    "headers",
    [
        github(secret="a-guess"),
        {"X-GitHub-Event": "push"},
        gitlab(token="not-the-secret"),
        gitea(secret="a-guess"),
        github(PUSH.replace(b"main", b"prod")),  # signed, then changed on the way
    ],
    ids=["forged GitHub signature", "no signature", "wrong GitLab token", "forged Gitea signature", "tampered body"],
)
def test_a_forged_or_missing_signature_is_401_and_fetches_nothing(hooked, headers):
    serve, counted, url = hooked
    status, answer = post(url, headers)
    assert status == 401 and "refused" in answer
    settled(serve, counted, 0)  # had it poked, a run would be waiting or done by now
    assert counted.runs == 0
    assert post(url, github())[0] == 202
    settled(serve, counted, 1)
    assert counted.runs == 1


def test_pings_pushes_to_other_branches_and_other_events_are_answered_and_fetch_nothing(hooked):
    serve, counted, url = hooked
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    status, answer = post(url, github(ping, "ping"), ping)
    assert status == 200 and answer == "pong: the webhook reaches gitopsctl and its secret matches\n"
    dev = b'{"ref": "refs/heads/dev"}'
    status, answer = post(url, github(dev), dev)
    assert status == 200 and answer.startswith("ignored: not a push to main")
    assert post(url, github(event="issues"))[0] == 200
    assert post(url, github(b"not json"), b"not json")[0] == 400
    settled(serve, counted, 0)
    assert counted.runs == 0


def test_an_oversized_body_is_413_before_it_is_read(hooked):
    serve, counted, url = hooked
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", HOOKS_PATH)
    for name, value in {**github(), "Content-Length": str(MAX_BODY * 50)}.items():
        connection.putheader(name, value)
    connection.endheaders()  # and not a byte of the 50 MiB: the answer comes without them
    answer = connection.getresponse()
    assert answer.status == 413 and b"over 1024 KiB" in answer.read()
    connection.close()
    settled(serve, counted, 0)
    assert counted.runs == 0


def test_a_burst_of_pushes_is_one_or_two_fetches_not_one_each(hooked):
    serve, counted, url = hooked
    answers = [post(url, github())[0] for _ in range(12)]
    assert answers == [202] * 12
    settled(serve, counted, 1)
    assert 1 <= counted.runs <= 2


def test_the_secret_and_signatures_are_never_logged(hooked, caplog):
    serve, counted, url = hooked
    caplog.set_level(logging.DEBUG)
    post(url, github())
    post(url, github(secret="a-guess"))
    post(url, gitlab(token="not-the-secret"))
    settled(serve, counted, 1)
    assert "refused" in caplog.text and "fetching" in caplog.text
    for never in (SECRET, hexmac(PUSH), hexmac(PUSH, "a-guess"), "not-the-secret"):
        assert never not in caplog.text


def test_a_replica_that_does_not_lead_answers_202_and_leaves_the_change_to_the_leader(fleet, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    with_hooks(fleet, poll="1m")
    leader, leader_runs = replica(fleet, monkeypatch)
    other, other_runs = replica(fleet, monkeypatch, extra="")
    leader.start()
    try:
        wait_for(leader.leader.leading.is_set, 30, 0.1, "the first replica leads")
        settled(leader, leader_runs, 1)  # the poll's first run, at once on leading
        other.start()
        status, answer = post(other.http.url, github())
        assert status == 202
        assert answer.startswith("accepted by a replica that does not lead")
        assert answer.endswith("the leader fetches it on its next poll (every 60s)\n")
        settled(other, other_runs, 0)
        assert other_runs.runs == 0 and not other.leader.leading.is_set()
    finally:
        other.stop()
        leader.stop()


def test_the_leader_polls_on_the_interval(fleet, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    with_hooks(fleet, poll="1s")
    serve, counted = replica(fleet, monkeypatch)
    serve.start()
    try:
        wait_for(lambda: counted.runs >= 3, 30, 0.1, "three polls")
    finally:
        serve.stop()


def test_slack_and_git_webhooks_share_serves_port_in_http_mode(fleet, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    with_hooks(fleet)
    served = start_served(fleet, watch=False)
    bot = next(served)
    try:
        counted = Counted()
        monkeypatch.setattr(bot.serve.engine, "follow", counted, raising=False)
        wait_for(bot.serve.leader.leading.is_set, 30, 0.1, "the only replica leads")
        base = bot.serve.server.listener.url
        assert bot.serve.http is None  # one listener: the bot's
        assert post(base, github()) == (202, "fetching main\n")
        settled(bot.serve, counted, 1)
        assert post(base, github(secret="a-guess"))[0] == 401
        answer = bot.command("/gitops", "status nope")  # Slack is still answered on that port
        assert answer.status == 200 and json.loads(answer.body)["text"].startswith('unknown app "nope"')
        settled(bot.serve, counted, 1)
        assert counted.runs == 1
    finally:
        served.close()


def test_a_failing_follow_is_logged_and_the_next_poke_still_runs(caplog):
    caplog.set_level(logging.INFO)
    leading = threading.Event()
    counted = Counted(fails=1, results=[SimpleNamespace(app="trade-service", env="dev", message="Delivered v1.4.2")])
    follower = Follower(counted, leading, debounce=0.01)
    assert follower.poke() is False  # not leading: nothing runs
    leading.set()
    assert follower.poke() is True
    wait_for(lambda: counted.runs == 1 and follower.idle, 5, 0.01)
    assert "following Git failed" in caplog.text
    follower.poke()
    wait_for(lambda: counted.runs == 2 and follower.idle, 5, 0.01)
    assert "followed Git: trade-service in dev: Delivered v1.4.2" in caplog.text
    follower.stop()


def test_serve_refuses_to_start_when_the_webhook_secret_is_not_in_the_environment(fleet, monkeypatch):
    monkeypatch.delenv(SECRET_VAR, raising=False)
    with_hooks(fleet)
    with pytest.raises(ConfigError, match=SECRET_VAR):
        replica(fleet, monkeypatch)
