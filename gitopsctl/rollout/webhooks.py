"""Calling a canary's webhooks (``pre_rollout``, ``post_promotion``) as Flagger calls its own: a POST of JSON,
passed by any 2xx answer.

A webhook with a secret is signed, as Slack signs what it sends: ``X-Gitopsctl-Timestamp`` (Unix seconds) and
``X-Gitopsctl-Signature: v1=<hex HMAC-SHA256 of "v1:<timestamp>:<body>" with the secret>``, so the receiver can
refuse a forged or replayed call. A dropped connection or a 5xx is tried again (3 attempts, 1 s apart); a 4xx
fails at once; a redirect is not followed (the signed body stays where it was sent). Nothing of the answer is
trusted: at most 200 characters of its body are quoted in the failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from ..config import Webhook
from ..errors import ConfigError

ATTEMPTS = 3
TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-Gitopsctl-Timestamp", "X-Gitopsctl-Signature"


class _Retry(Exception):
    """A 5xx answer: worth another attempt."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def call(hook: Webhook, payload: dict[str, Any]) -> str | None:
    """None when the webhook passed; else why it did not, in one sentence."""
    body = json.dumps(payload, sort_keys=True).encode()
    try:
        secret = hook.secret.resolve() if hook.secret is not None else None
    except ConfigError as e:  # the variable is not set: the message names it
        return f"{hook.url} was not called: {e}"
    answer: requests.Response | None = None
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_fixed(1.0),
            retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout, _Retry)),
            reraise=True,
        ):
            with attempt:
                headers = {"Content-Type": "application/json", "User-Agent": "gitopsctl"}
                if secret is not None:
                    stamp = str(int(time.time()))
                    headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER] = stamp, signature(secret, stamp, body)
                answer = requests.post(
                    hook.url, data=body, headers=headers, timeout=hook.timeout, allow_redirects=False
                )
                if answer.status_code >= 500:
                    raise _Retry()
    except _Retry:
        pass  # the last 5xx answer is described below
    except requests.Timeout:
        return f"{hook.url} did not answer within {hook.timeout:g}s ({ATTEMPTS} attempts)"
    except requests.RequestException as e:
        return f"{hook.url} could not be reached ({type(e).__name__}, {ATTEMPTS} attempts)"
    assert answer is not None
    if 200 <= answer.status_code < 300:
        return None
    said = answer.text[:200].strip()
    return f"{hook.url} answered {answer.status_code}" + (f": {said}" if said else "")
