"""Push webhooks from Git hosts: is the request signed with ``[git] webhook_secret``, and is it a push to our branch?

Pure (no I/O), so every rule is tested in a table. What each host sends:

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``, ``X-GitHub-Event: push`` (or ``ping``);
- GitLab: ``X-Gitlab-Token: <the secret itself>``, ``X-Gitlab-Event: Push Hook``;
- Gitea and Forgejo: ``X-Gitea-Signature`` / ``X-Forgejo-Signature: <hex HMAC-SHA256 of the body>``,
  ``X-Gitea-Event`` / ``X-Forgejo-Event: push`` (they also send GitHub's headers, signed the same way).

Every credential the request carries must match, compared in constant time, and at least one must be there;
the body is parsed only after that. Nothing here ever echoes a signature or the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UsageError

MAX_BODY = 1024 * 1024  # GitHub caps payloads at 25 MB, but a push to a GitOps repo is a few kB
SIGNATURES = {  # header -> how its value is made from the secret and the body
    "x-hub-signature-256": lambda secret, body: "sha256=" + _hmac(secret, body),
    "x-gitea-signature": lambda secret, body: _hmac(secret, body),
    "x-forgejo-signature": lambda secret, body: _hmac(secret, body),
    "x-gitlab-token": lambda secret, body: secret,
}
SENDERS = (  # the event header says who sent it; Gitea and Forgejo also send X-GitHub-Event, so they come first
    ("x-forgejo-event", "Forgejo"),
    ("x-gitea-event", "Gitea"),
    ("x-gitlab-event", "GitLab"),
    ("x-github-event", "GitHub"),
)
EVENTS = {"push": "push", "push hook": "push", "ping": "ping"}


class WebhookRefused(UsageError):
    """A webhook request refused before anything is fetched; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, sentence: str) -> None:
        self.status = status
        super().__init__(sentence)


@dataclass(frozen=True)
class Delivery:
    """A verified webhook: who sent it, which event, and whether it asks us to fetch (a push to our branch)."""

    sender: str
    event: str
    fetch: bool
    message: str  # what the sender is told (its delivery log shows it)


def check_size(length: int) -> None:
    """Refuse a body over MAX_BODY: called with Content-Length before the body is read, and with the body's size."""
    if length > MAX_BODY:
        raise WebhookRefused(413, f"refused: the body is over {MAX_BODY // 1024} KiB; a push webhook is far smaller")


def read(headers: Mapping[str, str], body: bytes, secret: str, branch: str) -> Delivery:
    """Verify ``body`` (the raw bytes) against ``secret``, then say what it asks for. ``headers`` have lowercase names.

    Raises WebhookRefused: 413 too big, 401 a missing or wrong signature or token, 400 not a JSON object or no event.
    """
    check_size(len(body))
    given = {name: headers[name] for name in SIGNATURES if name in headers}
    if not given:
        raise WebhookRefused(
            401,
            "refused: the request is not signed; set the webhook's secret to [git] webhook_secret "
            "(GitHub, Gitea and Forgejo sign with it, GitLab sends it as the secret token)",
        )
    for name, value in given.items():
        expected = SIGNATURES[name](secret, body)
        if not hmac.compare_digest(expected.encode(), value.strip().encode()):
            raise WebhookRefused(401, "refused: the signature does not match [git] webhook_secret; nothing fetched")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "refused: the body is not a JSON object; set the webhook's content type to JSON")
    sender, event = next(((who, headers[name]) for name, who in SENDERS if name in headers), (None, None))
    if sender is None or event is None:
        raise WebhookRefused(400, "refused: no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header")
    kind = EVENTS.get(event.strip().lower())
    if kind == "ping":
        return Delivery(sender, "ping", False, "pong: the webhook reaches gitopsctl and its secret matches")
    if kind != "push":
        return Delivery(sender, "other", False, "ignored: only push events start a fetch")
    ref = payload.get("ref")
    if not isinstance(ref, str):
        raise WebhookRefused(400, "refused: a push without a ref")
    if ref != f"refs/heads/{branch}":
        return Delivery(sender, "push", False, f"ignored: not a push to {branch}, the branch gitopsctl follows")
    return Delivery(sender, "push", True, f"fetching {branch}")


def _hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
