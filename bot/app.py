"""The slack-bolt app: thin listeners that parse, check roles, call the engine and render.

Every listener acknowledges at once (Slack allows 3 s) and hands the engine
call to a worker thread; results come back as ephemeral responses (errors and
refusals, one sentence each), release messages in the app's or environment's
channel (deploys, rollbacks, delivered changes; the asker gets a link) and
thread replies (progress). The engine acts first and Slack is told after: a
message Slack refuses never stops a deploy, and the person who acted learns
why in one sentence. Long output goes to the asker alone. Retried requests are
answered and dropped; a deploy already in flight for the same app, environment
and version is not started twice.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from gitopsctl import output
from gitopsctl.engine import PENDING, Actor, Claims, DriftReports, Engine, describe
from gitopsctl.errors import GitOpsError

from . import blocks, drift
from .access import Access, NotAllowed
from .blocks import APPROVE, REJECT, Release
from .changes import ChangeReports, applied_text, change_release
from .commands import USAGE, Command, parse, typed
from .delivery import Budget, BudgetedRetries, SlackStats, Undelivered, channel_ref, explain
from .releases import Outbox, Tracker

log = logging.getLogger(__name__)
SEEN_TTL = 600.0  # longer than Slack's 5-minute signature window
IN_FLIGHT_TTL = 300.0


class Seen:
    """Request identities answered recently, in this process and (through claims in the cluster) in every replica.

    A retry or a replay of a signed request inside Slack's 5-minute signature
    window is acknowledged and dropped, whichever replica it reaches: one this
    replica answered before it is acknowledged ``repeated`` (memory only), and
    the work of every request runs only once its ``claim`` in the cluster is
    made, after the acknowledgement, so no cluster round trip delays an ack.
    """

    def __init__(self, claims: Claims, ttl: float = SEEN_TTL) -> None:
        self.ttl = ttl
        self.claims = claims
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def repeated(self, key: str) -> bool:
        """True when this replica saw ``key`` inside the window; marks it seen. No I/O: it runs before the ack."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.ttl}
            if key in self._seen and now - self._seen[key] < self.ttl:
                return True
            self._seen[key] = now
        return False

    def claim(self, key: str) -> bool:
        """True for the one replica that may act on ``key`` (a cluster round trip: after the ack, never before)."""
        return self.claims.first(key)


class InFlight:
    """Deploys being started, by (app, env, version), across replicas; a claim outlives a crashed replica briefly."""

    def __init__(self, claims: Claims) -> None:
        self.claims = claims

    def claim(self, key: tuple[str, ...]) -> bool:
        return self.claims.first("\0".join(key))

    def release(self, key: tuple[str, ...]) -> None:
        self.claims.release("\0".join(key))


def actor_of(user_id: str, name: str | None) -> str:
    """The actor recorded in Git trailers and history: the Slack name (cleaned) and the ID that identifies them."""
    return str(Actor.slack(user_id, name))


class GitOpsBot:
    def __init__(
        self,
        engine: Engine,
        *,
        token: str,
        signing_secret: str | None,
        api_base_url: str | None = None,
        workers: int = 8,
        channel_interval: float = 1.0,
        poll_interval: float = 1.0,
    ) -> None:
        self.engine = engine
        self.verifies_requests = signing_secret is not None
        base_url = api_base_url or engine.config.slack.api_base_url
        self.budget, self.stats = Budget(), SlackStats.of(engine.metrics.registry)
        # the listeners' client sleeps out a 429 and tries again; the outbox's never sleeps (it queues instead)
        self.client = WebClient(
            token=token,
            base_url=base_url,
            retry_handlers=[
                ConnectionErrorRetryHandler(),
                ServerErrorRetryHandler(),
                BudgetedRetries(self.budget, self.stats),
            ],
        )
        queued = WebClient(token=token, base_url=base_url, retry_handlers=[ConnectionErrorRetryHandler()])
        # Every listener acks first and hands the rest to ``self.work``, so it runs in the request's own thread
        # (process_before_response) and the answer goes out as it returns: not through bolt's listener pool,
        # whose request threads poll for the ack every 10 ms and, 200 at once, queue behind its 16 workers.
        self.app = App(
            client=self.client,
            signing_secret=signing_secret,
            request_verification_enabled=signing_secret is not None,
            process_before_response=True,
        )
        self.access = Access(engine.config.slack, self.client, budget=self.budget)
        self.outbox = Outbox(
            queued, direct=self.client, budget=self.budget, stats=self.stats, interval=channel_interval
        )
        self.tracker = Tracker(engine, self.outbox, poll=poll_interval)
        self.work = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-work")
        self.seen = Seen(engine.claims("slack-request", SEEN_TTL))
        self.in_flight = InFlight(engine.claims("deploy", IN_FLIGHT_TTL))
        self.app.middleware(self._drop_retries)
        for slash in ("/deploy", "/rollback", "/gitops"):
            self.app.command(slash)(self._on_command)
        self.app.action(APPROVE)(self._on_decision)
        self.app.action(REJECT)(self._on_decision)
        self.app.action(drift.SYNC)(self._on_drift_action)
        self.app.action(drift.ADOPT)(self._on_drift_action)
        self.app.action(drift.SNOOZE)(self._on_drift_action)
        self.changes = ChangeReports(engine, self.outbox, self.tracker)
        self.notifier = drift.SlackNotifier(engine.config, self.outbox, self.changes)
        self.reports: DriftReports | None = None  # set by serve: drift buttons act through it

    def start(self) -> GitOpsBot:
        self.tracker.start()
        return self

    def stop(self) -> None:
        self.work.shutdown(wait=True, cancel_futures=True)
        self.tracker.stop()

    # ------------------------------------------------------------ listeners

    def _drop_retries(self, body: dict, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 (bolt's name)
        """A request this replica answered before (Slack retrying it) is answered 200 at once and not acted on
        again; one another replica answered is caught by its claim in the cluster, after the ack (``_once``)."""
        key = _request_key(body)
        if key and self.seen.repeated(key):
            log.info("dropped a repeated request %s", key)
            self.stats.repeats.labels("this replica").inc()
            return BoltResponse(status=200, body="")
        next()
        return None

    def _submit(self, body: dict, respond, fn: Callable[..., None], *args: Any) -> None:
        """After the ack: ``fn`` in a worker, once across replicas."""
        self.work.submit(self._once, _request_key(body), respond, fn, *args)

    def _once(self, key: str | None, respond, fn: Callable[..., None], *args: Any) -> None:
        """Claim the request in the cluster, then act; a replay claimed by any replica before does nothing."""
        if key:
            try:
                first = self.seen.claim(key)
            except GitOpsError as e:  # unsure whether it is a replay: do nothing, and say so
                log.warning("cannot check a Slack request for replays: %s", e)
                _tell(respond, ":warning: gitopsctl cannot reach its cluster right now; nothing was done")
                return
            if not first:
                log.info("dropped a repeated request %s (another replica answered it)", key)
                self.stats.repeats.labels("another replica").inc()
                return
        self._guarded(respond, fn, *args)

    def _on_command(self, ack, command: dict, respond) -> None:
        text = typed(command.get("text", ""))
        try:
            parsed = parse(command.get("command", ""), text)
            if parsed.app is not None and parsed.env is not None:
                self.engine.resolve(parsed.app, parsed.env)
            elif parsed.app is not None or parsed.env is not None:
                self.engine.pairs(parsed.app, parsed.env)
        except GitOpsError as e:
            ack(response_type="ephemeral", text=blocks.escape(str(e)))
            return
        if parsed.verb == "help":
            ack(response_type="ephemeral", text="gitopsctl commands", blocks=blocks.help_blocks(USAGE))
            return
        ack(response_type="ephemeral", text=f"Working on {blocks.code(f'{parsed.usage.split()[0]} {text}')}…")
        self._submit(command, respond, self._run_command, parsed, command, respond)

    def _on_decision(self, ack, body: dict, action: dict, respond) -> None:
        ack()
        self._submit(body, respond, self._decide, body, action, respond)

    def _on_drift_action(self, ack, body: dict, action: dict, respond) -> None:
        ack()
        self._submit(body, respond, self._drift_action, body, action, respond)

    def _guarded(self, respond, fn: Callable[..., None], *args: Any) -> None:
        """Run engine work; a refusal or failure is one ephemeral sentence to the user who asked."""
        try:
            fn(*args)
        except GitOpsError as e:
            _tell(respond, f":warning: {blocks.escape(str(e))}")
        except Undelivered as e:  # counted and logged where it was made: the asker learns what it means
            _tell(respond, f":warning: {e.explain()}")
        except Exception:
            log.exception("a Slack command failed")
            _tell(respond, ":x: gitopsctl failed unexpectedly; the error is in its log")

    # ------------------------------------------------------------ commands

    def _run_command(self, cmd: Command, payload: dict, respond) -> None:
        user = payload["user_id"]
        actor = actor_of(user, payload.get("user_name"))
        channel = payload["channel_id"]
        if cmd.env is not None:  # queries over every environment show only those the user may view
            self.access.require(user, cmd.env, cmd.role)
        handler = getattr(self, f"_cmd_{cmd.verb}")
        handler(cmd, user=user, actor=actor, channel=channel, respond=respond)

    def _viewable(self, user: str) -> list[str]:
        envs = [e for e in self.engine.config.environments if self.access.allows(user, e, "viewer")]
        if not envs:
            raise NotAllowed("you are not a viewer in any environment; ask an admin to add you to slack.roles")
        return envs

    def _cmd_deploy(self, cmd: Command, *, user: str, actor: str, channel: str, respond) -> None:
        assert cmd.app and cmd.env
        plan = self.engine.plan(cmd.app, cmd.env, cmd.version, actor=actor)
        key = ("deploy", plan.app, plan.env, plan.version)
        if not self.in_flight.claim(key):
            raise GitOpsError(f"a deploy of {plan.app} {plan.version} to {plan.env} is already being started")
        try:
            release = Release(
                "deploy",
                plan.app,
                plan.env,
                plan.version,
                plan.previous,
                user,
                self._channel(plan.app, plan.env, channel),
                strategy=plan.strategy,
                steps=plan.steps,
                production=self._production(plan.env),
                approvers=plan.approvers,
            )
            # a direct deploy is shown at once (it may take minutes); a canary's message once the engine answered
            # (a second at most), so where it is can be noted on its rollout as soon as it is posted
            early = plan.strategy != "canary"
            if early:
                self._open(release, respond, typed_in=channel)
            try:
                result = self.engine.deploy(
                    plan.app, plan.env, plan.version, actor=actor, progress=self.tracker.progress(release)
                )
            except Exception as e:  # its message says it failed, whatever failed
                release.phase, release.message = "Failed", blocks.escape(_failure(e))
                if not early:
                    self._open(release, respond, typed_in=channel)
                self.tracker.show(release)
                raise
            if not early:
                self._open(release, respond, typed_in=channel)
            self._follow(release, result)
        finally:
            self.in_flight.release(key)

    def _cmd_rollback(self, cmd: Command, *, user: str, actor: str, channel: str, respond) -> None:
        assert cmd.app and cmd.env
        key = ("rollback", cmd.app, cmd.env)
        if not self.in_flight.claim(key):
            raise GitOpsError(f"a rollback of {cmd.app} in {cmd.env} is already running")
        try:
            current = self.engine.status(cmd.app, cmd.env)[0].version
            release = Release(
                "rollback",
                cmd.app,
                cmd.env,
                cmd.version or "the last Healthy version",
                current,
                user,
                self._channel(cmd.app, cmd.env, channel),
            )
            release.production = self._production(cmd.env)
            self._open(release, respond, typed_in=channel)
            try:
                result = self.engine.rollback(cmd.app, cmd.env, to=cmd.version, actor=actor)
            except Exception as e:  # its message says it failed, whatever failed
                release.phase, release.message = "Failed", blocks.escape(_failure(e))
                self.tracker.show(release)
                raise
            release.version = result.version
            self._follow(release, result)
        finally:
            self.in_flight.release(key)

    def _follow(self, release: Release, result) -> None:
        """After the engine answered: show the outcome, or keep following a canary or a pending request."""
        release.commit = result.commit
        if result.status == PENDING:
            release.phase = "PendingApproval"
            release.request_id = result.request.id if result.request else None
            release.message = blocks.escape(result.message)
            self.tracker.show(release)
            if release.request_id:  # its buttons go when the request ends, whoever ends it
                self.outbox.when_posted(release, self.changes.note_request)
        elif result.rollout is not None:
            release.phase, release.weight = result.rollout.phase, result.rollout.weight
            self.tracker.follow_rollout(release)
        else:
            release.phase = "Delivered" if release.kind == "change" and result.status == "Deployed" else result.status
            link = blocks.commit_link(result.commit, self.engine.config.git.link(result.commit or ""))
            health = result.sync.health if result.sync else "Unknown"
            release.message = (
                (f"commit {link}, " if link else "Git already had this version, ")  # a link is mrkdwn already
                + blocks.escape(f"health {health}")
                + (f"\n{blocks.escape(result.message)}" if result.message else "")
            )
            self.tracker.show(release)

    def _channel(self, app: str, env: str, typed_in: str) -> str:
        """Where a release is shown: the app's channel, the environment's, the default, else where it was asked."""
        return self.engine.config.channel_for(app, env) or typed_in

    def _open(self, release: Release, respond, *, typed_in: str) -> None:
        """Queue the release message; the asker gets a link to it (when it is elsewhere), or Slack's refusal
        in one sentence. Neither waits for the other, nor holds the engine up."""
        posted, refused = self._feedback(release, respond, typed_in=typed_in)
        self.outbox.open(release, posted=posted, refused=refused)

    def _feedback(self, release: Release, respond, *, typed_in: str):
        """What the asker is told once the release message is in Slack, and when Slack refuses it."""
        noun = {"rollback": "rollback", "change": "delivery"}.get(release.kind, "deploy")
        what = f"{noun} of {release.app} in {release.env}"

        def posted(release: Release) -> None:
            if release.channel == typed_in:
                return  # it is right there, under the command
            try:
                link = self.outbox.call("chat_getPermalink", channel=release.channel, message_ts=release.ts)
                message = f": <{link['permalink']}|open its message>"  # a mention cannot sit inside a link label
            except Undelivered:
                message = ""
            _tell(
                respond,
                f":point_right: The {blocks.escape(what)} is followed in {channel_ref(release.channel)}{message}.",
            )

        def refused(release: Release, error: str) -> None:
            _tell(
                respond,
                f":warning: The {blocks.escape(what)} goes on, but Slack did not take its message: "
                f"{explain(error, release.channel)}. `/gitops status` shows where it is.",
            )

        return posted, refused

    def _production(self, env: str) -> bool:
        """The last environment of the promotion chain is production: its approvals ask for confirmation."""
        chain = self.engine.config.promotion_chain
        return bool(chain) and chain[-1] == env

    def _cmd_status(self, cmd: Command, *, user: str, channel: str, respond, **_: Any) -> None:
        envs = self._viewable(user)
        rows = [r for r in self.engine.status(cmd.app) if r.env in envs]
        body = output.table(
            ["app", "env", "version", "sync", "health"],
            [[r.app, r.env, r.version, r.sync, r.health] for r in rows],
            io.StringIO(),
        )
        unhealthy = [r for r in rows if r.sync != "Synced" or r.health != "Healthy"]
        failed = [f"{r.app} in {r.env}: {r.error}" for r in rows if r.error]
        summary = f"{len(rows)} app/environment pairs, {len(unhealthy)} out of sync or not Healthy" + (
            "; could not be read: " + "; ".join(failed) if failed else ""
        )
        if failed:
            body += "\n" + "\n".join(failed)
        self._answer(respond, f"Status{' of ' + cmd.app if cmd.app else ''}", body, summary, user, channel)

    def _cmd_diff(self, cmd: Command, *, user: str, channel: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        result = self.engine.diff(cmd.app, cmd.env)
        title = f"Diff of {cmd.app} in {cmd.env} (Git {result.revision[:12]} against live)"
        if result.in_sync:
            respond(response_type="ephemeral", text=f":white_check_mark: {cmd.app} in {cmd.env} matches Git")
            return
        body = "\n".join(describe(r) for r in result.resources)
        summary = f"{len(result.resources)} objects differ: " + ", ".join(
            f"{r.ref.kind}/{r.ref.name} ({r.state})" for r in result.resources[:20]
        )
        self._answer(respond, title, body, summary, user, channel)

    def _cmd_history(self, cmd: Command, *, user: str, channel: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        entries = self.engine.history(cmd.app, cmd.env)
        body = output.table(
            ["time", "version", "actor", "result", "health", "revision"],
            [[e.time, e.version, e.actor, e.result, e.health, (e.revision or "")[:12]] for e in entries],
            io.StringIO(),
        )
        self._answer(respond, f"History of {cmd.app} in {cmd.env}", body, f"{len(entries)} syncs", user, channel)

    def _cmd_drift(self, cmd: Command, *, user: str, channel: str, respond, **_: Any) -> None:
        envs = [cmd.env] if cmd.env else self._viewable(user)
        report = self.engine.drift(cmd.env)
        drifted = [d for d in report.drifted if d.env in envs]
        failed = [f"{e.app} in {e.env}: not scanned: {e.error}" for e in report.errors if e.env in envs]
        if not drifted and not failed:
            respond(response_type="ephemeral", text=f":white_check_mark: no drift in {', '.join(envs)}")
            return
        lines = list(failed)
        for item in drifted:
            lines.append(f"{item.app} in {item.env}: {len(item.resources)} drifted objects")
            for r in item.resources:
                who = f" (changed by {r.changed_by})" if r.changed_by else ""
                lines.append(f"  {r.ref.kind}/{r.ref.name}: {r.state}{who}")
                lines += [f"    {f.path}: {_short(f.desired)} in Git, {_short(f.live)} live" for f in r.fields]
        summary = f"{sum(len(d.resources) for d in drifted)} objects drifted in {len(drifted)} apps" + (
            f"; {len(failed)} not scanned" if failed else ""
        )
        self._answer(respond, "Drift", "\n".join(lines), summary, user, channel)

    def _cmd_locks(self, cmd: Command, *, user: str, channel: str, respond, **_: Any) -> None:
        envs = self._viewable(user)
        held = [i for i in self.engine.locks() if i.env in envs]
        if not held:
            respond(response_type="ephemeral", text="No locks are held.")
            return
        body = output.table(
            ["app", "env", "actor", "operation", "since", "expires"],
            [[i.app, i.env, i.actor, i.operation, f"{i.since:%H:%M:%S}", f"{i.expires:%H:%M:%S}"] for i in held],
            io.StringIO(),
        )
        self._answer(respond, "Locks held now", body, f"{len(held)} locks", user, channel)

    def _cmd_sync(self, cmd: Command, *, user: str, actor: str, channel: str, respond) -> None:
        """A sync that delivers Git commits meets the deploy gates: it may start a canary (followed here like a
        /deploy canary) or wait for approval (Approve and Reject buttons); one that only puts live back answers here."""
        assert cmd.app and cmd.env
        pending = self.engine.pending_change(cmd.app, cmd.env)
        canary = pending.changed and self.engine.config.environments[cmd.env].strategy == "canary"
        result = self.engine.sync(cmd.app, cmd.env, wait=not canary, actor=actor)  # the controller drives a canary
        if result.rollout is not None or result.request is not None:
            release = change_release(
                self.engine.config,
                result,
                requester=user,
                channel=self._channel(cmd.app, cmd.env, channel),
                commits=result.commits,
                slack_user=True,
            )
            posted, refused = self._feedback(release, respond, typed_in=channel)
            self.changes.post(release, posted=posted, refused=refused)
            return
        emoji = ":white_check_mark:" if result.result == "Succeeded" else ":x:"
        delivered = f" (delivered {len(result.commits)} commits up to {result.revision[:12]})" if result.commits else ""
        respond(
            response_type="in_channel",
            text=blocks.escape(
                f"{emoji} {actor.split(' ')[0]} synced {cmd.app} in {cmd.env}{delivered}: {applied_text(result)}"
            ),
        )

    def _cmd_quarantine(self, cmd: Command, *, user: str, channel: str, respond, **_: Any) -> None:
        envs = self._viewable(user)
        entries = [q for q in self.engine.quarantined(cmd.app) if q.env in envs]
        if not entries:
            respond(
                response_type="ephemeral",
                text=blocks.escape(f"No version{' of ' + cmd.app if cmd.app else ''} is quarantined."),
            )
            return
        body = output.table(
            ["app", "version", "failed in", "reason", "by", "at"],
            [[q.app, q.version, q.env, q.reason, q.by, q.at] for q in entries],
            io.StringIO(),
        )
        self._answer(respond, "Quarantined versions", body, f"{len(entries)} versions quarantined", user, channel)

    def _cmd_unquarantine(self, cmd: Command, *, user: str, actor: str, respond, **_: Any) -> None:
        """Only an approver of the environment where the version failed may let it run again anywhere."""
        assert cmd.app and cmd.version
        entry = next((q for q in self.engine.quarantined(cmd.app) if q.version == cmd.version), None)
        if entry is None:
            raise GitOpsError(f"{cmd.app} {cmd.version} is not quarantined; see /gitops quarantine")
        self.access.require(user, entry.env, "approver")
        lifted = self.engine.unquarantine(cmd.app, cmd.version, reason=cmd.reason, actor=actor)
        respond(
            response_type="in_channel",
            text=blocks.escape(
                f":unlock: {actor.split(' ')[0]} lifted the quarantine of {lifted.app} {lifted.version} "
                f"(it failed in {lifted.env}: {lifted.reason}): {lifted.lifted_reason}"
            ),
        )

    def _cmd_promote(self, cmd: Command, *, actor: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        rollout = self.engine.rollouts.promote(cmd.app, cmd.env, full=cmd.full, actor=actor)
        self._rollout_reply(respond, f"promoted{' fully' if cmd.full else ''}", rollout, actor)

    def _cmd_abort(self, cmd: Command, *, actor: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        rollout = self.engine.rollouts.abort(cmd.app, cmd.env, reason=cmd.reason, actor=actor)
        self._rollout_reply(respond, "aborted", rollout, actor)

    def _cmd_pause(self, cmd: Command, *, actor: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        self._rollout_reply(respond, "paused", self.engine.rollouts.pause(cmd.app, cmd.env, actor=actor), actor)

    def _cmd_resume(self, cmd: Command, *, actor: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        self._rollout_reply(respond, "resumed", self.engine.rollouts.resume(cmd.app, cmd.env, actor=actor), actor)

    def _rollout_reply(self, respond, verb: str, rollout, actor: str) -> None:
        respond(
            response_type="in_channel",
            text=blocks.escape(
                f"{actor.split(' ')[0]} {verb} the rollout of {rollout.app} {rollout.canary_version} in {rollout.env}: "
                f"{rollout.phase}, {rollout.weight}% on the canary"
            ),
        )

    def _cmd_approve(self, cmd: Command, *, user: str, actor: str, channel: str, respond) -> None:
        """Approve the request pending now (the one for VERSION when typed), bound to its id from here on."""
        assert cmd.app and cmd.env
        request = self.engine.pending(cmd.app, cmd.env)
        if request is None:
            raise GitOpsError(f"there is no pending request for {cmd.app} in {cmd.env}")
        where = self._channel(cmd.app, cmd.env, channel)
        release = Release("deploy", cmd.app, cmd.env, cmd.version or request.version, request.previous, user, where)
        release.request_id = request.id
        self._approve(release, user, actor, respond, typed_in=channel)

    def _cmd_reject(self, cmd: Command, *, actor: str, respond, **_: Any) -> None:
        assert cmd.app and cmd.env
        pending = self.engine.pending(cmd.app, cmd.env)
        request = self.engine.reject(
            cmd.app, cmd.env, request=pending.id if pending else None, version=cmd.version, actor=actor
        )
        verb = "withdrew" if request.state == "Withdrawn" else "rejected"
        respond(
            response_type="in_channel", text=blocks.escape(f"{actor.split(' ')[0]} {verb} the {request.describe()}")
        )

    def _cmd_freeze(self, cmd: Command, *, actor: str, respond, **_: Any) -> None:
        from datetime import timedelta

        assert cmd.env and cmd.duration is not None
        freeze = self.engine.freeze(cmd.env, duration=timedelta(seconds=cmd.duration), reason=cmd.reason, actor=actor)
        respond(
            response_type="in_channel",
            text=blocks.escape(
                f":snowflake: {cmd.env} is frozen until {freeze.until:%Y-%m-%d %H:%M} UTC: {cmd.reason}"
            ),
        )

    def _cmd_unfreeze(self, cmd: Command, *, respond, **_: Any) -> None:
        assert cmd.env
        removed = self.engine.unfreeze(cmd.env)
        text = (
            f"{cmd.env} is unfrozen" if removed else f"{cmd.env} had no manual freeze (configured windows still apply)"
        )
        respond(response_type="in_channel" if removed else "ephemeral", text=text)

    def _cmd_incident(self, cmd: Command, *, user: str, actor: str, respond, **_: Any) -> None:
        assert cmd.env
        incidents = self.engine.incidents
        if cmd.action == "status":
            mode = incidents.active(self.engine.config.environments[cmd.env])
            text = f"{cmd.env} is in {mode.shown}, started by {mode.started_by}" if mode else f"{cmd.env}: no incident"
            respond(response_type="ephemeral", text=blocks.escape(text))
            return
        if cmd.action == "end":
            mode, timeline = incidents.end(cmd.env, actor=actor)
            self.notifier.incident_ended(mode, timeline)  # the end and the timeline in the environment's channel
            respond(
                response_type="ephemeral",
                text=blocks.escape(f"Incident mode for {mode.id} in {cmd.env} ended; its timeline is in the channel"),
            )
            return
        assert cmd.duration is not None
        responders = cmd.responders or (user,)
        mode = incidents.start(
            cmd.env, cmd.incident, responders=responders, duration=timedelta(seconds=cmd.duration), actor=actor
        )
        who = ", ".join(f"<@{r}>" for r in responders)  # Slack user IDs, checked by the parser: mentions
        respond(
            response_type="in_channel",
            text=blocks.escape(f":rotating_light: {cmd.env} is in incident mode for {mode.id} until ")
            + blocks.escape(f"{mode.until:%Y-%m-%d %H:%M} UTC: ")
            + who
            + blocks.escape(
                " deploy, roll back and keep fixes in Git without a second approval (each commit says so); "
                "automatic delivery, promotion and self-heal are paused."
            ),
        )

    def _answer(self, respond, title: str, body: str, summary: str, user: str, channel: str) -> None:
        """Only the asker sees it (they may view what others in the channel may not): ephemeral when it fits
        one message; otherwise the summary ephemeral and the full text as a snippet in their DM with the bot."""
        fitted = blocks.fit(title, blocks.escape(body), blocks.escape(summary), "your direct messages with gitopsctl")
        respond(response_type="ephemeral", text=fitted.text, blocks=fitted.blocks)
        if fitted.snippet is None:
            return
        dm = self.outbox.call("chat_postMessage", channel=user, text=f"{title} (you asked in {channel_ref(channel)})")
        self.outbox.call(
            "files_upload_v2",
            channel=dm["channel"],
            thread_ts=dm["ts"],
            content=body,
            filename=re.sub(r"[^\w.-]+", "-", title.lower()).strip("-")[:80] + ".txt",
            title=title,
        )

    # ------------------------------------------------------------ drift reports

    def _drift_action(self, body: dict, action: dict, respond) -> None:
        user = body["user"]["id"]
        actor = actor_of(user, body["user"].get("username") or body["user"].get("name"))
        if action["action_id"] == drift.SNOOZE:
            app, env, seconds = json.loads(action["selected_option"]["value"])
            self.engine.resolve(app, env)
            self.access.require(user, env, "deployer")
            incident = self.reports.snooze(app, env, float(seconds)) if self.reports else None
            if incident is None:
                raise GitOpsError(f"the drift in {app} ({env}) is already resolved")
            until = datetime.fromisoformat(incident.snoozed_until or "")
            self.outbox.call(
                "chat_postMessage",
                channel=body["container"]["channel_id"],
                thread_ts=body["container"]["message_ts"],
                text=f"<@{user}> snoozed reminders until {until:%Y-%m-%d %H:%M} UTC.",
            )
            return
        value = json.loads(action["value"])
        app, env = value["app"], value["env"]
        self.engine.resolve(app, env)
        self.access.require(user, env, "deployer")
        if action["action_id"] == drift.ADOPT:
            self._adopt(app, env, actor, body)
            return
        result = self.engine.sync(app, env, wait=True, actor=actor)
        if self.reports is not None:  # the engine's work first: the incident is settled even if Slack refuses
            self.reports.check(app, env, how=f"synced by {actor.split(' ')[0]}")
        self.outbox.call(
            "chat_postMessage",
            channel=body["container"]["channel_id"],
            thread_ts=body["container"]["message_ts"],
            text=blocks.escape(
                f"{actor.split(' ')[0]} synced {app} in {env}: {len(result.applied)} applied, health {result.health}"
            ),
        )

    def _adopt(self, app: str, env: str, actor: str, body: dict) -> None:
        """Keep in Git: the engine commits and delivers; the report resolves as adopted once it is delivered."""
        adoption = self.engine.adopt(app, env, actor=actor)
        if self.reports is not None:
            self.reports.check(app, env)
        result = adoption.result
        if adoption.undelivered:
            then = f"not delivered yet ({adoption.undelivered}); a sync delivers it"
        elif result is not None and result.result == "PendingApproval":
            then = f"waiting for approval ({result.message})"
        else:
            then = f"delivered: {result.result if result else 'not delivered'}"
        fields = "; ".join(f"{f.ref.kind}/{f.ref.name} {f.path} {f.desired} -> {f.live}" for f in adoption.fields)
        self.outbox.call(
            "chat_postMessage",
            channel=body["container"]["channel_id"],
            thread_ts=body["container"]["message_ts"],
            text=blocks.escape(
                f"{actor.split(' ')[0]} kept the live values of {app} in {env} in Git, commit "
                f"{adoption.commit[:12]} ({fields}); {then}"
            ),
        )

    # ------------------------------------------------------------ approvals

    def _decide(self, body: dict, action: dict, respond) -> None:
        user = body["user"]["id"]
        actor = actor_of(user, body["user"].get("username") or body["user"].get("name"))
        value = json.loads(action["value"])
        channel = body["container"]["channel_id"]
        release = Release(
            "change" if value.get("kind") == "change" else "deploy",
            value["app"],
            value["env"],
            value["version"],
            value.get("previous"),
            value["requester"],
            channel,
            strategy=value.get("strategy", "direct"),
            steps=self._steps(value["app"]) if value.get("strategy") == "canary" else (),
            production=self._production(value["env"]),
            ts=body["container"]["message_ts"],
            request_id=value.get("request"),
            revision=value.get("revision") or "",
            title=value.get("title") or "",
            author=value.get("author") or "",
            asked_in_slack=value.get("slack", True) is True,
        )
        if not release.request_id:
            raise GitOpsError("this button belongs to no request; use /gitops approve or reject with the version")
        if action["action_id"] == REJECT:
            self.access.require(user, release.env, "approver")
            request = self.engine.reject(
                release.app, release.env, request=release.request_id, version=release.version, actor=actor
            )
            release.phase, release.decided = "Rejected", f"{request.state} by <@{user}>"
            self.tracker.show(release)
            return
        self._approve(release, user, actor, respond)

    def _steps(self, app: str) -> tuple[str, ...]:
        """The canary's steps as the release message lists them (read here, never from a button's value)."""
        canary = self.engine.config.apps[app].canary if app in self.engine.config.apps else None
        return tuple(step.describe() for step in canary.steps) if canary else ()

    def _approve(self, release: Release, user: str, actor: str, respond, *, typed_in: str | None = None) -> None:
        """Approve through the engine (which refuses the requester), then tell: the button's message shows who
        approved, or (``typed_in``: approved by command) a new release message does, and the asker gets its link."""
        self.access.require(user, release.env, "approver")
        key = ("approve", release.app, release.env, release.version)
        if not self.in_flight.claim(key):
            raise GitOpsError(
                f"the deploy of {release.app} {release.version} to {release.env} is already being approved"
            )
        try:
            try:
                result = self.engine.approve(
                    release.app,
                    release.env,
                    request=release.request_id,
                    version=release.version,
                    actor=actor,
                    progress=self.tracker.progress(release),
                )
            except Exception:
                self.outbox.discard(release)  # nothing approved: no message, and its progress lines go
                raise
            release.decided = f"Approved by <@{user}>"
            release.version, release.previous = result.version, result.previous
            if result.rollout is not None and not release.steps:  # approved by command: the plan is not at hand
                release.strategy, release.steps = "canary", self._steps(release.app)
            if typed_in is not None:
                self._open(release, respond, typed_in=typed_in)
            self._follow(release, result)
        finally:
            self.in_flight.release(key)


def _failure(error: Exception) -> str:
    return str(error) if isinstance(error, GitOpsError) else "gitopsctl failed unexpectedly; the error is in its log"


def _request_key(body: dict) -> str | None:
    """What identifies a request across Slack's retries and replays: its trigger (or event) ID."""
    key = body.get("trigger_id") or body.get("event_id")
    return str(key) if key else None


def _tell(respond, text: str) -> None:
    """One ephemeral sentence to whoever acted (through the response URL Slack gave with their command or click:
    it works in any conversation, even where the bot is not a member)."""
    try:
        respond(response_type="ephemeral", replace_original=False, text=text)
    except Exception as e:  # the response URL expired or was used up: the log is all that is left
        log.warning("could not tell the person who acted (%s): %s", e, text)


def _short(value: Any) -> str:
    from gitopsctl.engine import MISSING

    if value is MISSING or value is None:
        return "<absent>"
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."
