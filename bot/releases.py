"""Following releases in Slack: the root message updated in place, progress in its thread.

One background thread owns every outgoing release message. A release's root
message is posted when it is opened (the engine does not wait for it); lines
for its thread are queued and sent together, at most one message a second per
channel, and the root message is updated with only its latest state: Slack's
rate limits are kept however fast a rollout moves, and the latest state always
arrives. A call Slack answers 429 is not slept on here: the method waits out
``Retry-After`` (for the whole process, see ``delivery.Budget``) and what failed
is queued again. What still cannot be sent after ``give_up`` seconds, or what
Slack refuses for good (the bot is not in the channel, the channel archived…),
is logged and counted in /metrics, and whoever opened the release is told.

Canary progress is read from the rollout record in the cluster (its events and
phase), so it is reported whichever process or replica drives the rollout.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from gitopsctl.engine import Engine, Rollout
from gitopsctl.errors import GitOpsError

from .blocks import Release, abort_alert, commit_link, escape, release_blocks, release_text
from .delivery import TRANSIENT, Budget, SlackStats, Undelivered, retry_after

log = logging.getLogger(__name__)
CHANNEL_INTERVAL = 1.0  # Slack: about one message a second per channel
POLL_INTERVAL = 1.0
GIVE_UP = 600.0  # seconds a queued message keeps being retried before it is counted undeliverable
THREAD_TEXT = 3500  # characters of queued lines sent in one thread message (Slack advises at most 4,000)
SHOWN_KEPT = 1000  # noted messages whose shown state the leader remembers (it updates one only when it changes)
FINISHED_KEPT = 100  # releases followed here to their end, remembered so the leader does not update them again
UNOPENED_TTL = 3600.0  # seconds lines of a release never opened are kept (an approval being carried out)
# slack_sdk helpers that make several calls: the budget of the one Slack limits hardest
BUDGETED_AS = {"files_upload_v2": "files.completeUploadExternal"}

Posted = Callable[[Release], None]
Refused = Callable[[Release, str], None]


@dataclass
class _Thread:
    release: Release
    lines: list[str] = field(default_factory=list)
    broadcast: list[str] = field(default_factory=list)
    root_dirty: bool = False
    created: float = field(default_factory=time.monotonic)
    opened: bool = False  # its root message was asked for
    sending: bool = False  # its root message is being posted now
    in_flight: int = 0  # calls for it being made now: it is not forgotten before they are answered
    dropped: bool = False  # Slack refused its root message for good: nothing of it can be shown
    posted: list[Posted] = field(default_factory=list)
    refused: Refused | None = None
    retry_at: float = 0.0
    failing_since: float | None = None


@dataclass(frozen=True)
class _Failure:
    error: str
    transient: bool
    wait: float = 0.0
    needed: str | None = None


class Outbox:
    """Queues root messages, thread lines and root updates, and sends them within Slack's limits.

    ``client`` makes the queued calls and must not sleep on a 429 (the outbox waits instead);
    ``direct`` is the listeners' client (slack_sdk retries 429s itself) for ``call``.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        direct: WebClient | None = None,
        budget: Budget | None = None,
        stats: SlackStats | None = None,
        interval: float = CHANNEL_INTERVAL,
        give_up: float = GIVE_UP,
    ) -> None:
        self.client = client
        self.direct = direct or client
        self.budget = budget or Budget()
        self.stats = stats
        self.interval = interval
        self.give_up = give_up
        self._threads: dict[int, _Thread] = {}  # by id(release): lines wait there until its root is posted
        self._last_post: dict[str, float] = defaultdict(float)
        self._last_update: dict[int, float] = defaultdict(float)
        # releases whose message Slack refused for good: what they queue later is dropped, not kept
        self._refused: weakref.WeakValueDictionary[int, Release] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # what the asker is told runs here, never on the sending thread: a slow reply stalls no channel
        self._callbacks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-told")

    def close(self) -> None:
        self._callbacks.shutdown(wait=True, cancel_futures=False)

    def _entry(self, release: Release) -> _Thread | None:
        """The release's queue (None for a release Slack refused: nothing of it can be shown)."""
        if self._refused.get(id(release)) is release:
            return None
        entry = self._threads.get(id(release))
        if entry is None:
            entry = self._threads[id(release)] = _Thread(release)
        return entry

    # ------------------------------------------------------------ what the listeners queue

    def open(self, release: Release, *, posted: Posted | None = None, refused: Refused | None = None) -> None:
        """Post the release's root message as soon as Slack allows (at once when the channel is free).

        ``posted`` runs once it is in Slack (``release.channel`` is then the channel's ID); ``refused``
        runs with Slack's error when it never will be. A release whose message exists (``ts`` known,
        a button clicked on it) is only updated from here on.
        """
        run_now = False
        with self._lock:
            entry = self._entry(release)
            if entry is None:
                return
            entry.opened, entry.refused = True, refused
            if posted is not None:
                entry.posted.append(posted)
            if release.ts is not None:
                entry.root_dirty, run_now = True, True
        if run_now:
            self._run_posted(entry)
        self._wake.set()

    def when_posted(self, release: Release, fn: Posted) -> None:
        """Run ``fn`` once the release's root message is in Slack (now, if it is)."""
        with self._lock:
            if release.ts is None:
                entry = self._entry(release)
                if entry is not None:
                    entry.posted.append(fn)
                return
        self._callbacks.submit(_safely, fn, release)

    def discard(self, release: Release) -> None:
        """Forget a release never opened (what it queued cannot be shown anywhere)."""
        with self._lock:
            entry = self._threads.get(id(release))
            if entry is not None and not entry.opened:
                del self._threads[id(release)]

    def line(self, release: Release, text: str, *, broadcast: bool = False) -> None:
        """A line for the release's thread; ``broadcast`` also shows it in the channel (alerts)."""
        with self._lock:
            entry = self._entry(release)
            if entry is not None:
                (entry.broadcast if broadcast else entry.lines).append(text)
        self._wake.set()

    def refresh(self, release: Release) -> None:
        with self._lock:
            entry = self._entry(release)
            if entry is not None:
                entry.root_dirty = True
        self._wake.set()

    def pending(self) -> bool:
        with self._lock:
            return any(_busy(e) for e in self._threads.values())

    def sent(self, release: Release) -> bool:
        """Nothing of the release is queued or being sent any more (it was, or Slack refused it)."""
        with self._lock:
            entry = self._threads.get(id(release))
            return entry is None or not (_busy(entry) or entry.in_flight or entry.sending)

    # ------------------------------------------------------------ calls made while someone waits

    def wait_turn(self, channel: str) -> None:
        """Block until ``channel`` may take another message, and take the slot (for messages sent directly)."""
        while True:
            with self._lock:
                wait = self._last_post[channel] + self.interval - time.monotonic()
                if wait <= 0:
                    self._last_post[channel] = time.monotonic()
                    return
            time.sleep(wait)

    def call(self, api: str, **params: Any) -> dict:
        """One Web API call made now, within the channel's rate and the method's budget; slack_sdk retries
        429s. A refusal is counted, logged and raised (SlackApiError) for the caller to tell someone."""
        method = BUDGETED_AS.get(api) or api.replace("_", ".", 1)
        if method == "chat.postMessage" and "channel" in params:
            self.wait_turn(str(params["channel"]))
        self.budget.acquire(method)
        channel = str(params.get("channel") or params.get("channel_id") or "")
        try:
            return getattr(self.direct, api)(**params).data
        except SlackApiError as e:
            error = str(e.response.get("error") or e.response.status_code)
            self._undeliverable(method, error, f"in {channel}")
            raise Undelivered(method, error, channel, e.response.get("needed")) from e
        except (SlackClientError, OSError) as e:  # Slack unreachable, after the client's own retries
            log.debug("cannot reach Slack: %s", e)
            self._undeliverable(method, "connection_error", f"in {channel}")
            raise Undelivered(method, "connection_error", channel) from e

    def rewrite(self, release: Release) -> None:
        """Update a posted root message to what ``release`` says now, at once (``call``: raises Undelivered)."""
        self.call(
            "chat_update",
            channel=release.channel,
            ts=release.ts,
            text=release_text(release),
            blocks=release_blocks(release),
        )

    def send(self, api: str, **params: Any) -> dict | None:
        """``call`` for messages nobody waits on (drift reports, snippets): None when Slack refused it."""
        try:
            return self.call(api, **params)
        except Undelivered:
            return None

    # ------------------------------------------------------------ the sending thread

    def flush(self) -> None:
        """Send what the rate limits allow now; the rest waits for the next call."""
        now = time.monotonic()
        with self._lock:
            work: list[tuple[str, _Thread, str | None, bool]] = []
            for key, entry in self._threads.items():
                release, channel = entry.release, entry.release.channel
                if entry.dropped or entry.retry_at > now:
                    continue
                if release.ts is None:  # the root first (the budget is taken last: only when it is used)
                    if (
                        entry.opened
                        and not entry.sending
                        and self._channel_free(channel, now)
                        and self.budget.take("chat.postMessage")
                    ):
                        entry.sending, self._last_post[channel] = True, now
                        work.append(("root", entry, None, False))
                    continue
                if (
                    entry.root_dirty
                    and now - self._last_update[key] >= self.interval
                    and self.budget.take("chat.update")
                ):
                    entry.root_dirty, self._last_update[key] = False, now
                    work.append(("update", entry, None, False))
                if (
                    (entry.lines or entry.broadcast)
                    and self._channel_free(channel, now)
                    and self.budget.take("chat.postMessage")
                ):
                    broadcast = bool(entry.broadcast) and not entry.lines  # in the order they were queued
                    text = _take_lines(entry.broadcast if broadcast else entry.lines)
                    self._last_post[channel] = now
                    work.append(("post", entry, text, broadcast))
            for _, entry, _, _ in work:
                entry.in_flight += 1
            for key in [k for k, e in self._threads.items() if _done(e, now)]:
                del self._threads[key]
            if len(self._last_update) > 1000:
                self._last_update = defaultdict(
                    float, {k: t for k, t in self._last_update.items() if now - t < self.interval}
                )
        for kind, entry, text, broadcast in work:
            try:
                self._send(kind, entry, text, broadcast)
            finally:
                with self._lock:
                    entry.in_flight -= 1

    def _channel_free(self, channel: str, now: float) -> bool:
        return now - self._last_post[channel] >= self.interval

    def _send(self, kind: str, entry: _Thread, text: str | None, broadcast: bool) -> None:
        release = entry.release
        method = "chat.update" if kind == "update" else "chat.postMessage"
        try:
            if kind == "root":
                response = self.client.chat_postMessage(
                    channel=release.channel,
                    text=release_text(release),
                    blocks=release_blocks(release),
                    unfurl_links=False,
                )
            elif kind == "update":
                self.client.chat_update(
                    channel=release.channel, ts=release.ts, text=release_text(release), blocks=release_blocks(release)
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
            status = e.response.status_code
            error = str(e.response.get("error") or status)
            wait = retry_after(e.response.headers) if status == 429 else 0.0
            if status == 429:
                self.budget.backoff(method, wait)
                if self.stats:
                    self.stats.ratelimited.labels(method).inc()
            transient = status == 429 or status >= 500 or error in TRANSIENT
            self._failed(kind, entry, text, broadcast, _Failure(error, transient, wait, e.response.get("needed")))
            return
        except OSError as e:  # the network: as transient as a 429
            log.debug("cannot reach Slack: %s", e)
            self._failed(kind, entry, text, broadcast, _Failure("connection_error", True, 1.0))
            return
        with self._lock:
            entry.failing_since = None
            if kind == "root":
                release.channel, release.ts = response["channel"], response["ts"]
                entry.sending = False
        if kind == "root":
            self._run_posted(entry)
            self._wake.set()  # lines queued while it was posted can go now

    def _failed(self, kind: str, entry: _Thread, text: str | None, broadcast: bool, failure: _Failure) -> None:
        """Queue a transient failure again (until ``give_up``); count and report one Slack will never accept."""
        release = entry.release
        now = time.monotonic()
        method = "chat.update" if kind == "update" else "chat.postMessage"
        with self._lock:
            entry.sending = False
            entry.failing_since = entry.failing_since or now
            keep = failure.transient and now - entry.failing_since < self.give_up
            if keep:
                entry.retry_at = now + max(failure.wait, self.interval)
                if kind == "update":
                    entry.root_dirty = True  # the latest state is rendered when it is sent again
                elif kind == "post":
                    (entry.broadcast if broadcast else entry.lines).insert(0, text or "")
                return
            entry.failing_since = None  # the next failure gets its own retry window
            if kind == "root":  # nothing of this release can be shown: its thread and updates go too
                entry.dropped, entry.lines, entry.broadcast, entry.root_dirty = True, [], [], False
                self._refused[id(release)] = release
        what = {"root": "a release message", "update": "an update of a release message", "post": "a thread message"}
        self._undeliverable(method, failure.error, f"({what[kind]} of {release.app} in {release.env})")
        if kind == "root" and entry.refused is not None:
            self._callbacks.submit(_safely, entry.refused, release, failure.error)

    def _undeliverable(self, method: str, error: str, what: str) -> None:
        log.warning("Slack did not take %s %s: %s", method, what, error)
        if self.stats:
            self.stats.undeliverable.labels(method, error).inc()

    def _run_posted(self, entry: _Thread) -> None:
        with self._lock:
            callbacks, entry.posted = entry.posted, []
        for fn in callbacks:
            self._callbacks.submit(_safely, fn, entry.release)

    def next_due(self) -> float:
        """Seconds until something queued may be sent."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, entry in self._threads.items():
                if entry.dropped or (entry.release.ts is None and (not entry.opened or entry.sending)):
                    continue
                start = max(entry.retry_at, now)  # each item waits for its channel, its method's budget and its retry
                if entry.release.ts is None or entry.lines or entry.broadcast:
                    channel = self._last_post[entry.release.channel] + self.interval
                    waits.append(max(start, channel, now + self.budget.wait("chat.postMessage")) - now)
                if entry.root_dirty and entry.release.ts is not None:
                    update = self._last_update[key] + self.interval
                    waits.append(max(start, update, now + self.budget.wait("chat.update")) - now)
        return max(0.0, min(waits)) if waits else 3600.0

    def wake(self) -> None:
        self._wake.set()

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()


def _take_lines(queue: list[str]) -> str:
    """Queued lines for one thread message: as many as fit, the rest stay queued (in place)."""
    taken, size = 0, 0
    while taken < len(queue) and (taken == 0 or size + len(queue[taken]) + 1 <= THREAD_TEXT):
        size += len(queue[taken]) + 1
        taken += 1
    text = "\n".join(queue[:taken])
    del queue[:taken]
    return text if len(text) <= THREAD_TEXT else text[: THREAD_TEXT - 1] + "…"


def _busy(entry: _Thread) -> bool:
    if entry.dropped:
        return False
    return bool(entry.lines or entry.broadcast or entry.root_dirty or (entry.opened and entry.release.ts is None))


def _done(entry: _Thread, now: float) -> bool:
    """Nothing left to send for it: forgotten (a later line or update for it starts afresh, its ts known).
    Lines of a release never opened are kept for ``UNOPENED_TTL`` (an approval being carried out)."""
    if entry.in_flight or entry.sending:
        return False
    if entry.dropped:
        return True
    if entry.release.ts is None and not entry.opened:
        return now - entry.created > UNOPENED_TTL
    return not _busy(entry)


def note_of(release: Release) -> dict[str, Any]:
    """What the leader needs to show a release's root message again: where it is and what it says."""
    return {
        "front_end": "slack",
        "channel": release.channel,
        "ts": release.ts,
        "kind": release.kind,
        "version": release.version,
        "previous": release.previous,
        "requester": release.requester,
        "steps": list(release.steps),
        "production": release.production,
        "approvers": release.approvers,
        "decided": release.decided,
        "revision": release.revision,
        "title": release.title,
        "author": release.author,
        "asked_in_slack": release.asked_in_slack,
    }


def release_from_note(note: dict[str, Any], rollout: Rollout) -> Release:
    """The release a noted message shows, in the rollout's state now (the note is ours, the rollout the truth)."""

    def text(key: str) -> str:
        value = note.get(key)
        return value if isinstance(value, str) else ""

    steps = note.get("steps")
    return Release(
        text("kind") or "deploy",
        rollout.app,
        rollout.env,
        text("version") or rollout.canary_version,
        text("previous") or rollout.stable_version,
        text("requester"),
        text("channel"),
        strategy="canary",
        steps=tuple(s for s in steps if isinstance(s, str)) if isinstance(steps, list) else (),
        production=note.get("production") is True,
        ts=text("ts"),
        phase=rollout.phase,
        weight=rollout.weight,
        step=rollout.step,
        message=escape(rollout.message) if rollout.phase != "Promoted" else "",
        approvers=text("approvers"),
        decided=text("decided"),
        commit=rollout.deploy_commit,
        revision=text("revision"),
        title=text("title"),
        author=text("author"),
        asked_in_slack=note.get("asked_in_slack") is not False,
    )


def _safely(fn: Callable[..., None], *args: Any) -> None:
    """A callback after a message was (not) posted: its failure is logged, never the outbox's."""
    try:
        fn(*args)
    except Exception:
        log.exception("a callback after a Slack message failed")


class Tracker:
    """Follows canary rollouts from their record and direct deploys from the engine's progress."""

    def __init__(self, engine: Engine, outbox: Outbox, poll: float = POLL_INTERVAL) -> None:
        self.engine = engine
        self.outbox = outbox
        self.poll = poll
        self._rollouts: dict[tuple[str, str, str | None], Release] = {}  # by app, env and deploy commit
        self._finished: dict[tuple[str, str, str | None], Release] = {}  # the last few followed here to their end
        self._shown: dict[tuple[str, str], tuple] = {}  # (channel, ts) of a noted message -> the state it shows
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-releases", daemon=True)
        self._next_poll = 0.0

    def start(self) -> Tracker:
        self._thread.start()
        return self

    def stop(self, drain: float = 5.0) -> None:
        """Stop after sending what is queued (for at most ``drain`` seconds): a replica going away for an
        upgrade still shows the states it knows; what is left is logged."""
        deadline = time.monotonic() + drain
        while self._thread.is_alive() and self.outbox.pending() and time.monotonic() < deadline:
            self.outbox.wake()
            time.sleep(0.05)
        if self.outbox.pending():
            log.warning("stopping with Slack messages still queued; they are not sent")
        self._stop.set()
        self.outbox.wake()
        self._thread.join(timeout=10)
        self.outbox.close()

    def progress(self, release: Release) -> Callable[[str], None]:
        """A progress callback for the engine: each line goes into the release's thread."""
        return lambda text: self.outbox.line(release, escape(text))

    def show(self, release: Release) -> None:
        self.outbox.refresh(release)

    def follow_rollout(self, release: Release) -> None:
        with self._lock:
            self._rollouts[(release.app, release.env, release.commit)] = release
        self.outbox.refresh(release)
        if release.commit:  # where it is shown goes into the rollout record: the leader finishes it if we die
            self.outbox.when_posted(release, self._note)

    def _note(self, release: Release) -> None:
        try:
            self.engine.rollouts.note_message(release.app, release.env, release.commit or "", note_of(release))
            log.info("the rollout of %s in %s is shown at %s/%s", release.app, release.env, release.channel, release.ts)
        except GitOpsError as e:  # followed from here all the same; only a hand-over could not finish it
            log.warning("cannot note where the rollout of %s in %s is shown: %s", release.app, release.env, e)

    def shown(self, rollout: Rollout) -> set[str]:
        """Bring the messages noted on ``rollout`` and on those it replaced to their state (for the leader);
        the deploy commits whose every message now shows its end.

        A message followed here is left to this tracker until its last state is sent. Any other (its replica
        died, or is another one) gets its root message updated when the state changes; its thread is not
        replayed.
        """
        done = set()
        views = [(rollout, rollout.messages)]
        views += [(rollout.ended_as(e.get("deploy_commit")), e.get("notes") or []) for e in rollout.earlier]
        for view, notes in views:
            if view is None or not notes:
                continue
            key = (view.app, view.env, view.deploy_commit)
            with self._lock:
                local, finished = self._rollouts.get(key), self._finished.get(key)
            mine = {(r.channel, r.ts) for r in (local, finished) if r is not None}
            waiting_here = local is not None or (finished is not None and not self.outbox.sent(finished))
            others = [n for n in notes if (str(n.get("channel")), str(n.get("ts"))) not in mine]
            if self._show_noted(view, others) and not waiting_here:
                done.add(view.deploy_commit)
        return done

    def _show_noted(self, view: Rollout, notes: list[dict[str, Any]]) -> bool:
        """Update each noted root message whose shown state is not ``view``'s; True once they show its end
        (or Slack refused one for good: it never will)."""
        done = not view.active
        state = (view.phase, view.weight, view.step, view.message)
        for note in notes:
            if note.get("front_end") != "slack" or not note.get("channel") or not note.get("ts"):
                continue
            where = (str(note["channel"]), str(note["ts"]))
            if self._shown.get(where) == state:
                continue
            try:
                self.outbox.rewrite(release_from_note(note, view))
            except Undelivered as e:  # a transient failure: the next pass tries; refused for good: given up
                if e.error in TRANSIENT:
                    done = False
                    continue
            self._shown[where] = state
            while len(self._shown) > SHOWN_KEPT:
                del self._shown[next(iter(self._shown))]
            log.info("the message of %s in %s at %s/%s shows %s", view.app, view.env, *where, view.phase)
        return done

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
            if rollout is not None and rollout.deploy_commit != release.commit:
                rollout = rollout.ended_as(release.commit)  # a newer rollout replaced it: how it ended
            if rollout is not None:
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
                key = (release.app, release.env, release.commit)
                self._rollouts.pop(key, None)
                self._finished[key] = release
                for old in list(self._finished)[:-FINISHED_KEPT]:
                    del self._finished[old]
            if rollout.phase == "Aborted":
                link = commit_link(rollout.revert_commit, self.engine.config.git.link(rollout.revert_commit or ""))
                alert = abort_alert(release, escape(rollout.message), rollout.stable_version, link)
                self.outbox.line(release, alert, broadcast=True)
