"""What Slack limits and how the bot copes: a rate budget per Web API method, Slack's refusals in one sentence.

Slack limits each Web API method per workspace (its tiers) and
``chat.postMessage`` to about one message a second per channel; a call over the
limit is answered HTTP 429 with ``Retry-After``. Every call this process makes
takes a token from ``Budget`` first, and a 429 seen anywhere (by the outbox, or
by slack_sdk's ``RateLimitErrorRetryHandler`` on the listeners' client) stops
that method for the whole process until ``Retry-After`` has passed.

A refusal is either *transient* (rate limited, Slack unavailable, the network):
try again later; or *permanent* (the bot is not in the channel, the channel is
archived or unknown, a missing scope, blocks Slack refuses): trying again
cannot help, and the person who acted is told what to do in one sentence.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from .blocks import escape

# Slack's documented tiers, as (calls a minute, burst): Tier 2 is 20+, Tier 3 50+, Tier 4 100+ a minute;
# chat.postMessage is "special": one a second per channel (kept by the outbox) and several hundred a minute.
TIERS: dict[str, tuple[float, float]] = {
    "chat.postMessage": (300, 30),
    "chat.update": (50, 50),
    "chat.delete": (50, 20),
    "chat.getPermalink": (300, 30),
    "files.getUploadURLExternal": (100, 20),
    "files.completeUploadExternal": (100, 20),
    "usergroups.users.list": (20, 5),
}
DEFAULT_TIER = (50.0, 10.0)
TRANSIENT = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "fatal_error",
        "internal_error",
        "service_unavailable",
        "request_timeout",
        "connection_error",  # ours: Slack could not be reached at all
    }
)


@dataclass
class _Bucket:
    rate: float  # tokens a second
    burst: float
    tokens: float
    blocked_until: float = 0.0


class Budget:
    """Token buckets per Web API method for the whole workspace, and the pause a 429 asks for."""

    def __init__(self, tiers: dict[str, tuple[float, float]] | None = None) -> None:
        self.tiers = tiers or TIERS
        self._buckets: dict[str, _Bucket] = {}
        self._updated: dict[str, float] = {}
        self._lock = threading.Lock()

    def _bucket(self, method: str, now: float) -> _Bucket:
        bucket = self._buckets.get(method)
        if bucket is None:
            per_minute, burst = self.tiers.get(method, DEFAULT_TIER)
            bucket = self._buckets[method] = _Bucket(per_minute / 60.0, burst, burst)
            self._updated[method] = now
        bucket.tokens = min(bucket.burst, bucket.tokens + (now - self._updated[method]) * bucket.rate)
        self._updated[method] = now
        return bucket

    def wait(self, method: str) -> float:
        """Seconds before ``method`` may be called (0: now)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(method, now)
            return max(bucket.blocked_until - now, (1 - bucket.tokens) / bucket.rate if bucket.tokens < 1 else 0.0)

    def take(self, method: str) -> bool:
        """Take a token if ``method`` may be called now."""
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(method, now)
            if bucket.blocked_until > now or bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def acquire(self, method: str) -> None:
        """Block until ``method`` may be called, and take the token (for calls made while someone waits)."""
        while not self.take(method):
            time.sleep(min(max(self.wait(method), 0.01), 5.0))

    def backoff(self, method: str, seconds: float) -> None:
        """Slack answered 429 for ``method``: nobody in this process calls it again for ``seconds``."""
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(method, now)
            bucket.blocked_until = max(bucket.blocked_until, now + seconds)


def method_of(url: str) -> str:
    """The Web API method a request URL calls (``https://slack.com/api/chat.update`` → ``chat.update``)."""
    return url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


def retry_after(headers: dict | None) -> float:
    """Slack's ``Retry-After`` (seconds), one second when absent or unreadable."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class BudgetedRetries(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (it sleeps ``Retry-After`` and tries again) that also pauses the method for the
    outbox, which never sleeps on a 429 but waits for the same ``Retry-After``."""

    def __init__(self, budget: Budget, stats: SlackStats, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.budget, self.stats = budget, stats

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        if response is not None:
            method = method_of(request.url)
            self.budget.backoff(method, retry_after(response.headers))
            self.stats.ratelimited.labels(method).inc()
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)


class Undelivered(Exception):
    """Slack did not take a call made while someone waited: its error and the channel it was for."""

    def __init__(self, method: str, error: str, channel: str, needed: str | None = None) -> None:
        super().__init__(f"{method} in {channel}: {error}")
        self.method, self.error, self.channel, self.needed = method, error, channel, needed

    def explain(self) -> str:
        return explain(self.error, self.channel, needed=self.needed)


class SlackStats:
    """The bot's own figures in the process's /metrics: calls Slack rate-limited, messages that never arrived."""

    _of: weakref.WeakKeyDictionary[CollectorRegistry, SlackStats] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    @classmethod
    def of(cls, registry: CollectorRegistry) -> SlackStats:
        """The figures in ``registry``, registered once however many bots share it."""
        with cls._lock:
            stats = cls._of.get(registry)
            if stats is None:
                stats = cls._of[registry] = cls(registry)
            return stats

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ratelimited = Counter(
            "gitopsctl_slack_ratelimited", "Slack Web API calls answered 429", ["method"], registry=registry
        )
        self.repeats = Counter(
            "gitopsctl_slack_repeats_dropped",
            "Slack requests acknowledged and not acted on: a retry this replica saw, or a replay another replica claimed",
            ["seen_by"],
            registry=registry,
        )
        self.undeliverable = Counter(
            "gitopsctl_slack_undeliverable",
            "Slack messages given up on (refused, or still failing after the retry window)",
            ["method", "error"],
            registry=registry,
        )


def _is_id(channel: str, kinds: str) -> bool:
    return channel[:1] in kinds and channel[1:].isalnum() and channel.isupper()


def channel_ref(channel: str) -> str:
    """A conversation as mrkdwn: a link for a channel ID, "a direct message" for a DM, the name (escaped)."""
    if _is_id(channel, "CG"):
        return f"<#{channel}>"
    if _is_id(channel, "DUW"):
        return "a direct message"
    return escape(channel if channel.startswith("#") else f"#{channel}")


def explain(error: str, channel: str, *, needed: str | None = None) -> str:
    """What Slack's refusal of a message in ``channel`` means to the person who acted, and what to do (mrkdwn)."""
    where = channel_ref(channel)
    if _is_id(channel, "DUW") and error in ("not_in_channel", "channel_not_found"):
        return (
            "gitopsctl cannot post in a direct message it is not in: set `slack_channel` for the app or the environment"
        )
    reasons = {
        "not_in_channel": f"gitopsctl is not in {where}: invite @gitopsctl there (`/invite @gitopsctl`)",
        "channel_not_found": (
            f"gitopsctl cannot see {where} (a private channel or a direct message it is not in, or no such "
            f"channel): invite @gitopsctl there, or set `slack_channel` for the app or the environment"
        ),
        "is_archived": f"{where} is archived: unarchive it or set another `slack_channel`",
        "missing_scope": (
            f"the Slack app lacks the scope `{escape(needed or '?')}`: reinstall it from bot/manifest.yml"
        ),
        "invalid_blocks": "Slack refused the message's layout (a gitopsctl bug; the details are in its log)",
        "msg_too_long": "Slack refused the message as too long (a gitopsctl bug; the details are in its log)",
        "messages_tab_disabled": "your direct messages with gitopsctl are turned off (App Home, Messages tab)",
    }
    if error in TRANSIENT or error.isdigit():
        return f"Slack kept answering `{escape(error)}` and the message for {where} was given up on"
    return reasons.get(error, f"Slack refused the message in {where} ({escape(error)})")
