"""Following releases in Slack: the root message updated in place, progress in its thread.

One background thread owns every outgoing progress message. Lines for a thread
are queued and sent together, at most one message a second per channel, and
the root message is updated with only its latest state, at most once a second:
Slack's rate limits are kept however fast a rollout moves.

Canary progress is read from the rollout record in the cluster (its events and
phase), so it is reported whichever process or replica drives the rollout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from gitopsctl.engine import Engine

from .blocks import Release, abort_alert, commit_link, escape, release_blocks, release_text

log = logging.getLogger(__name__)
CHANNEL_INTERVAL = 1.0  # Slack: about one message a second per channel
POLL_INTERVAL = 1.0


@dataclass
class _Thread:
    release: Release
    lines: list[str] = field(default_factory=list)
    broadcast: list[str] = field(default_factory=list)
    root_dirty: bool = False


class Outbox:
    """Queues thread lines and root updates, and sends them within the rate limits."""

    def __init__(self, client: WebClient, interval: float = CHANNEL_INTERVAL) -> None:
        self.client = client
        self.interval = interval
        self._threads: dict[int, _Thread] = {}  # by id(release): lines wait there until its root is posted
        self._last_post: dict[str, float] = defaultdict(float)
        self._last_update: dict[int, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def _entry(self, release: Release) -> _Thread:
        entry = self._threads.get(id(release))
        if entry is None:
            entry = self._threads[id(release)] = _Thread(release)
        return entry

    def post_root(self, release: Release) -> None:
        """Post the release's root message now (the user is waiting for it); it counts toward the channel's rate."""
        response = self.client.chat_postMessage(
            channel=release.channel, text=release_text(release), blocks=release_blocks(release), unfurl_links=False
        )
        release.channel, release.ts = response["channel"], response["ts"]
        with self._lock:
            self._last_post[release.channel] = time.monotonic()
        self._wake.set()  # lines queued while it was posted can go now

    def wait_turn(self, channel: str) -> None:
        """Block until ``channel`` may take another message, and take the slot (for messages sent directly)."""
        while True:
            with self._lock:
                wait = self._last_post[channel] + self.interval - time.monotonic()
                if wait <= 0:
                    self._last_post[channel] = time.monotonic()
                    return
            time.sleep(wait)

    def line(self, release: Release, text: str, *, broadcast: bool = False) -> None:
        """A line for the release's thread; ``broadcast`` also shows it in the channel (alerts)."""
        with self._lock:
            entry = self._entry(release)
            (entry.broadcast if broadcast else entry.lines).append(text)
        self._wake.set()

    def refresh(self, release: Release) -> None:
        with self._lock:
            self._entry(release).root_dirty = True
        self._wake.set()

    def pending(self) -> bool:
        with self._lock:
            return any(e.lines or e.broadcast or e.root_dirty for e in self._threads.values())

    def flush(self) -> None:
        """Send what the rate limits allow now; the rest waits for the next call."""
        now = time.monotonic()
        with self._lock:
            work = []
            for key, entry in self._threads.items():
                channel = entry.release.channel
                if entry.release.ts is None:
                    continue  # its root message is still being posted
                if entry.root_dirty and now - self._last_update[key] >= self.interval:
                    entry.root_dirty = False
                    self._last_update[key] = now
                    work.append(("update", entry.release, None, False))
                if (entry.lines or entry.broadcast) and now - self._last_post[channel] >= self.interval:
                    broadcast = bool(entry.broadcast)
                    text = "\n".join(entry.broadcast if broadcast else entry.lines)
                    if broadcast:
                        entry.broadcast = []
                    else:
                        entry.lines = []
                    self._last_post[channel] = now
                    work.append(("post", entry.release, text, broadcast))
            finished = [k for k, e in self._threads.items() if e.release.finished and not _busy(e)]
            for key in finished:
                del self._threads[key]
                self._last_update.pop(key, None)
        for kind, release, text, broadcast in work:
            try:
                if kind == "update":
                    self.client.chat_update(
                        channel=release.channel,
                        ts=release.ts,
                        text=release_text(release),
                        blocks=release_blocks(release),
                    )
                else:
                    self.client.chat_postMessage(
                        channel=release.channel,
                        thread_ts=release.ts,
                        text=text,
                        reply_broadcast=broadcast,
                        unfurl_links=False,
                    )
            except SlackApiError as e:
                log.warning("Slack refused a progress message: %s", e.response.get("error"))

    def next_due(self) -> float:
        """Seconds until something queued may be sent."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, entry in self._threads.items():
                if entry.release.ts is None:
                    continue
                if entry.root_dirty:
                    waits.append(self._last_update[key] + self.interval - now)
                if entry.lines or entry.broadcast:
                    waits.append(self._last_post[entry.release.channel] + self.interval - now)
        return max(0.0, min(waits)) if waits else 3600.0

    def wake(self) -> None:
        self._wake.set()

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()


def _busy(entry: _Thread) -> bool:
    return bool(entry.lines or entry.broadcast or entry.root_dirty)


class Tracker:
    """Follows canary rollouts from their record and direct deploys from the engine's progress."""

    def __init__(self, engine: Engine, outbox: Outbox, poll: float = POLL_INTERVAL) -> None:
        self.engine = engine
        self.outbox = outbox
        self.poll = poll
        self._rollouts: dict[tuple[str, str], Release] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-releases", daemon=True)
        self._next_poll = 0.0

    def start(self) -> Tracker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.outbox.wake()
        self._thread.join(timeout=10)

    def progress(self, release: Release) -> Callable[[str], None]:
        """A progress callback for the engine: each line goes into the release's thread."""
        return lambda text: self.outbox.line(release, escape(text))

    def show(self, release: Release) -> None:
        self.outbox.refresh(release)

    def follow_rollout(self, release: Release) -> None:
        with self._lock:
            self._rollouts[(release.app, release.env)] = release
        self.outbox.refresh(release)

    def following(self) -> int:
        with self._lock:
            return len(self._rollouts)

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() >= self._next_poll:
                self._next_poll = time.monotonic() + self.poll
                self._poll_rollouts()
            self.outbox.flush()
            timeout = min(self.outbox.next_due(), max(0.0, self._next_poll - time.monotonic()))
            if timeout > 0:
                self.outbox.wait(timeout)

    def _poll_rollouts(self) -> None:
        with self._lock:
            releases = list(self._rollouts.values())
        for release in releases:
            try:
                rollout = self.engine.rollouts.get(release.app, release.env)
            except Exception as e:  # the cluster being away must not stop the others being followed
                log.warning("cannot read the rollout of %s in %s: %s", release.app, release.env, e)
                continue
            if rollout is None or rollout.deploy_commit != release.commit:
                continue
            self._apply(release, rollout)

    def _apply(self, release: Release, rollout) -> None:
        new = [e for e in rollout.events if e not in release.seen_events]
        release.seen_events.update(new)
        for event in new:
            self.outbox.line(release, escape(event.partition(" ")[2] or event))
        changed = (release.phase, release.weight, release.step) != (rollout.phase, rollout.weight, rollout.step)
        release.phase, release.weight, release.step = rollout.phase, rollout.weight, rollout.step
        release.message = escape(rollout.message) if rollout.phase != "Promoted" else ""
        if changed or new:
            self.outbox.refresh(release)
        if not rollout.active:
            with self._lock:
                self._rollouts.pop((release.app, release.env), None)
            if rollout.phase == "Aborted":
                link = commit_link(rollout.revert_commit, self.engine.config.git.link(rollout.revert_commit or ""))
                alert = abort_alert(release, escape(rollout.message), rollout.stable_version, link)
                self.outbox.line(release, alert, broadcast=True)
