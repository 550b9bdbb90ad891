"""A canary's webhooks: signed calls, a 2xx passes, 5xx and dropped connections tried again, a 4xx at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import tomllib

import pytest

from gitopsctl import config
from gitopsctl.config import ConfigError, SecretRef, Webhook
from gitopsctl.rollout.webhooks import ATTEMPTS, call
from tests.webhook_receiver import receiver

PAYLOAD = {"app": "web", "env": "prod", "phase": "PreRollout", "version": "v2"}


def test_a_signed_call_passes_on_2xx_and_the_receiver_can_check_it(monkeypatch):
    monkeypatch.setenv("GATE_SECRET", "s3cret")
    with receiver((204, "")) as gate:
        assert call(Webhook(gate.url, SecretRef("GATE_SECRET", "x")), PAYLOAD) is None
    ((headers, body),) = gate.calls
    assert json.loads(body) == PAYLOAD
    stamp = headers["x-gitopsctl-timestamp"]
    expected = hmac.new(b"s3cret", b"v1:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    assert headers["x-gitopsctl-signature"] == f"v1={expected}"
    assert "s3cret" not in json.dumps(headers)


def test_without_a_secret_nothing_is_signed():
    with receiver((200, "ok")) as gate:
        assert call(Webhook(gate.url), PAYLOAD) is None
    assert "x-gitopsctl-signature" not in gate.calls[0][0]


def test_a_4xx_fails_at_once_quoting_the_answer():
    with receiver((403, "change window closed " + "x" * 500)) as gate:
        why = call(Webhook(gate.url), PAYLOAD)
    assert why == f"{gate.url} answered 403: change window closed " + "x" * 179
    assert len(gate.calls) == 1


def test_a_5xx_is_tried_again_and_a_later_2xx_passes():
    with receiver((503, "busy"), (200, "ok")) as gate:
        assert call(Webhook(gate.url), PAYLOAD) is None
    assert len(gate.calls) == 2


def test_a_5xx_every_time_fails_after_every_attempt():
    with receiver((500, "boom")) as gate:
        assert call(Webhook(gate.url), PAYLOAD) == f"{gate.url} answered 500: boom"
    assert len(gate.calls) == ATTEMPTS


def test_a_redirect_is_not_followed():
    with receiver((302, "")) as gate:
        assert call(Webhook(gate.url), PAYLOAD) == f"{gate.url} answered 302"
    assert len(gate.calls) == 1


def test_nobody_listening_and_a_missing_secret_are_one_sentence_each(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nobody listens there
    url = f"http://127.0.0.1:{port}/hook"
    assert call(Webhook(url), PAYLOAD) == f"{url} could not be reached (ConnectionError, {ATTEMPTS} attempts)"
    monkeypatch.delenv("NOT_SET", raising=False)
    why = call(Webhook(url, SecretRef("NOT_SET", "apps.web.canary.pre_rollout[0].secret")), PAYLOAD)
    assert why is not None and why.startswith(f"{url} was not called:") and "NOT_SET is not set" in why


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('{ url = "ftp://x" }', '"ftp://x" is not an http(s) URL'),
        ('{ url = "http://x", secret = "plain" }', "must be an environment variable reference"),
        ('{ url = "http://x", timeout = "20m" }', "timeout: must be more than 0s and at most 10m"),
        ('{ uri = "http://x" }', "url: required key is missing"),
    ],
)
def test_bad_webhooks_are_refused_with_their_key(entry, problem):
    text = f"""
        [git]
        url = "/tmp/r.git"
        [environments.prod]
        context = "prod"
        strategy = "canary"
        [apps.web]
        path = "apps/web/{{env}}"
        [apps.web.canary]
        steps = [{{ set_weight = 50 }}]
        pre_rollout = [{entry}]
    """
    with pytest.raises(ConfigError) as err:
        config.parse(tomllib.loads(text))
    assert any(p.startswith("apps.web.canary.pre_rollout[0].") and problem in p for p in err.value.problems), (
        err.value.problems
    )
