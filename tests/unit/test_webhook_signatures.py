"""Push webhooks as GitHub, GitLab, Gitea and Forgejo sign them: who may make serve fetch, and what is only answered."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gitopsctl.errors import UsageError
from gitopsctl.serve.webhooks import MAX_BODY, WebhookRefused, check_size, read

SECRET = "webhook-secret-6f1c"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "bffeb74224043ba2feb48d137756c8a9331c449a"}).encode()


def hexmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(body: bytes, event: str = "push", secret: str = SECRET) -> dict:
    return {"x-github-event": event, "x-hub-signature-256": "sha256=" + hexmac(body, secret)}


def gitlab(token: str = SECRET, event: str = "Push Hook") -> dict:
    return {"x-gitlab-event": event, "x-gitlab-token": token}


def gitea(body: bytes, secret: str = SECRET) -> dict:  # as Gitea sends it: its own headers and GitHub's
    return {"x-gitea-event": "push", "x-github-event": "push", "x-gitea-signature": hexmac(body, secret)}


def forgejo(body: bytes) -> dict:
    return {"x-forgejo-event": "push", "x-gitea-event": "push", "x-forgejo-signature": hexmac(body)}


@pytest.mark.parametrize(
    "headers, sender",
    [
        (github(PUSH), "GitHub"),
        (gitlab(), "GitLab"),
        (gitea(PUSH), "Gitea"),
        (forgejo(PUSH), "Forgejo"),
        ({**gitea(PUSH), "x-hub-signature-256": "sha256=" + hexmac(PUSH)}, "Gitea"),  # newer Gitea signs twice
    ],
)
def test_a_signed_push_to_the_followed_branch_fetches(headers, sender):
    delivery = read(headers, PUSH, SECRET, "main")
    assert (delivery.sender, delivery.event, delivery.fetch) == (sender, "push", True)
    assert delivery.message == "fetching main"


FORGED = [
    ("no signature at all", {"x-github-event": "push"}, PUSH),
    ("signed with another secret", github(PUSH, secret="guess"), PUSH),
    ("the body changed after signing", github(PUSH), PUSH.replace(b"main", b"prod")),
    ("GitHub's legacy SHA-1 header only", {"x-github-event": "push", "x-hub-signature": "sha1=00"}, PUSH),
    ("a bare hex digest where sha256= is due", {"x-github-event": "push", "x-hub-signature-256": hexmac(PUSH)}, PUSH),
    ("an empty signature", {"x-github-event": "push", "x-hub-signature-256": ""}, PUSH),
    ("a non-ASCII signature", {"x-github-event": "push", "x-hub-signature-256": "sha256=é"}, PUSH),
    ("a wrong GitLab token", gitlab(token="not-the-secret"), PUSH),
    ("the GitLab token's prefix", gitlab(token=SECRET[:-1]), PUSH),
    ("a Gitea signature by another secret", gitea(PUSH, secret="guess"), PUSH),
    ("one good and one forged credential", {**gitlab(), "x-gitea-signature": "0" * 64}, PUSH),
    ("the signature of an empty body", github(b""), PUSH),
]


@pytest.mark.parametrize("why, headers, body", FORGED, ids=[f[0] for f in FORGED])
def test_a_missing_or_forged_signature_is_401_and_never_echoes_a_credential(why, headers, body):
    with pytest.raises(WebhookRefused) as refused:
        read(headers, body, SECRET, "main")
    assert refused.value.status == 401
    assert isinstance(refused.value, UsageError)  # one sentence of the project's error tree
    assert SECRET not in str(refused.value) and hexmac(PUSH) not in str(refused.value)


@pytest.mark.parametrize(
    "headers, body, event, message",
    [
        (github(b'{"zen": "hi"}', "ping"), b'{"zen": "hi"}', "ping", "pong"),
        (github(b'{"ref": "refs/heads/dev"}'), b'{"ref": "refs/heads/dev"}', "push", "ignored: not a push to main"),
        (github(b'{"ref": "refs/tags/main"}'), b'{"ref": "refs/tags/main"}', "push", "ignored: not a push to main"),
        (github(b'{"ref": "refs/heads/main"}', "issues"), b'{"ref": "refs/heads/main"}', "other", "ignored"),
        (gitlab(event="Merge Request Hook"), PUSH, "other", "ignored"),
    ],
)
def test_pings_other_branches_and_other_events_are_answered_but_fetch_nothing(headers, body, event, message):
    delivery = read(headers, body, SECRET, "main")
    assert (delivery.event, delivery.fetch) == (event, False)
    assert delivery.message.startswith(message)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "body, sentence",
    [
        (b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D", "not a JSON object"),  # the form content type
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe{", "not a JSON object"),
        (DEEP, "not a JSON object"),
        (b'{"ref": 7}', "a push without a ref"),
        (b"{}", "a push without a ref"),
    ],
)
def test_a_signed_body_that_is_not_a_push_object_is_400(body, sentence):
    with pytest.raises(WebhookRefused) as refused:
        read(github(body), body, SECRET, "main")
    assert refused.value.status == 400 and sentence in str(refused.value)


def test_a_signed_request_without_an_event_header_is_400():
    with pytest.raises(WebhookRefused) as refused:
        read({"x-hub-signature-256": "sha256=" + hexmac(PUSH)}, PUSH, SECRET, "main")
    assert refused.value.status == 400


def test_a_body_over_the_limit_is_413_before_its_signature_is_computed():
    check_size(MAX_BODY)
    with pytest.raises(WebhookRefused) as refused:
        check_size(MAX_BODY + 1)
    assert refused.value.status == 413
    body = b" " * (MAX_BODY + 1)
    with pytest.raises(WebhookRefused) as refused:
        read(github(body), body, SECRET, "main")
    assert refused.value.status == 413
