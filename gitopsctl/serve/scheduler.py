"""The jobs `gitopsctl serve` runs while it leads (APScheduler 3.x).

- a drift scan per environment, on the configured interval (with jitter) or cron
- the rollout controller: every active rollout reconciled every few seconds, and the messages front ends
  noted on rollouts brought to their state (the replica that posted one may be gone)
- expiry: stale approval requests and ended freezes removed
- a summary per environment on the configured cron
- a poll of the Git branch every ``[git] poll_interval`` (none when 0), delivering what is due

Every job coalesces and runs one instance at a time: a scan that overruns never
stacks up, and runs missed while paused or down become one. The scheduler runs
only while this replica leads; ``pause()`` stops new runs at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..cluster import claims
from ..drift.incidents import DriftReports, Notifier
from ..errors import GitOpsError

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger(__name__)
EXPIRY_INTERVAL = 30.0


class Scheduler:
    def __init__(
        self, engine: Engine, reports: DriftReports, notifier: Notifier, *, poll: Callable[[], None] | None = None
    ) -> None:
        self.engine = engine
        self.reports = reports
        self.notifier = notifier
        self.scans = 0
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}, timezone="UTC"
        )
        drift = engine.config.drift
        for env in engine.config.environments:
            if drift.cron:
                trigger = CronTrigger.from_crontab(drift.cron, timezone="UTC")
                trigger.jitter = int(drift.jitter) or None
            else:
                trigger = IntervalTrigger(seconds=drift.interval or 180.0, jitter=int(drift.jitter) or None)
            self._scheduler.add_job(self.scan, trigger, args=[env], id=f"drift-{env}", name=f"drift scan of {env}")
        self._scheduler.add_job(
            self.reconcile, IntervalTrigger(seconds=engine.config.serve.reconcile_interval), id="reconcile"
        )
        self._scheduler.add_job(  # its own job: Slack being slow never holds the rollout controller up
            self.show_rollouts, IntervalTrigger(seconds=engine.config.serve.reconcile_interval), id="show-rollouts"
        )
        self._scheduler.add_job(self.expire, IntervalTrigger(seconds=EXPIRY_INTERVAL), id="expire")
        if poll is not None and engine.config.git.poll_interval:
            self._scheduler.add_job(
                poll, IntervalTrigger(seconds=engine.config.git.poll_interval), id="poll-git", name="poll of Git"
            )
        if drift.summary_cron:
            self._scheduler.add_job(
                self.summary, CronTrigger.from_crontab(drift.summary_cron, timezone="UTC"), id="summary"
            )

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Scheduler:
        self._scheduler.start(paused=True)
        return self

    def lead(self) -> None:
        """Run the jobs; the scans, the reconcile loop and the poll start at once, not after their first interval."""
        for job in self._scheduler.get_jobs():
            if job.id.startswith("drift-") or job.id in ("reconcile", "show-rollouts", "poll-git"):
                job.modify(next_run_time=_utcnow())
        self._scheduler.resume()

    def follow(self) -> None:
        if self._scheduler.state == STATE_RUNNING:
            self._scheduler.pause()

    def stop(self) -> None:
        self._scheduler.shutdown(wait=False)

    # ------------------------------------------------------------ jobs

    def scan(self, env: str) -> None:
        try:
            self.reports.scan(env)
            self.scans += 1
        except GitOpsError as e:
            log.warning("drift scan of %s failed: %s", env, e)

    def reconcile(self) -> None:
        started = time.monotonic()
        try:
            self.engine.reconcile_rollouts(wait=False)  # a rollout held up by its provider holds up no other
        except GitOpsError as e:
            log.warning("reconcile failed: %s", e)
        self.engine.metrics.reconcile_seconds.observe(time.monotonic() - started)

    def show_rollouts(self) -> None:
        """Every message a front end noted on a rollout follows it to its end, though the replica that posted
        it may have died; once one shows the end, it is left alone."""
        try:
            noted = self.engine.rollouts.shown()
        except GitOpsError as e:
            log.warning("cannot read which rollouts are shown: %s", e)
            return
        for rollout in noted:
            try:
                if shown := self.notifier.rollout_shown(rollout):
                    self.engine.rollouts.settle_messages(rollout, shown)
            except GitOpsError as e:
                log.warning("cannot settle the messages of %s in %s: %s", rollout.app, rollout.env, e)
            except Exception:  # one message must not keep the others from being updated
                log.exception("cannot update the messages of %s in %s", rollout.app, rollout.env)

    def expire(self) -> None:
        """Drop old requests and freezes; then update every message of an ended request, whoever ended it."""
        try:
            for what in self.engine.promotions.expire(approval_ttl=self.engine.config.serve.approval_ttl):
                log.info("expired: %s", what)
            self.engine.promotions.requests.sweep(self.notifier.request_ended)
            claims.sweep(*self.engine.coordination())
        except GitOpsError as e:
            log.warning("expiry failed: %s", e)
        self.incidents()

    def incidents(self) -> None:
        """End incident modes whose time is up, posting their timelines; remind of those still on."""
        try:
            for mode, timeline in self.engine.incidents.expire():
                self.notifier.incident_ended(mode, timeline)
            for mode in self.engine.incidents.due_reminders():
                self.notifier.incident_reminder(mode)
        except GitOpsError as e:
            log.warning("incident mode upkeep failed: %s", e)

    def summary(self) -> None:
        """Per environment: apps in sync, drifted, not Healthy, rollouts in progress; from one fleet snapshot."""
        try:
            view = self.engine.fleet()
        except GitOpsError as e:
            log.warning("summary failed: %s", e)
            return
        for env in view.envs:
            cells = [c for c in view.cells.values() if c.env == env]
            in_sync = sum(1 for c in cells if c.sync == "Synced")
            degraded = [f"{c.app} ({c.health})" for c in cells if c.health != "Healthy"]
            drifted = sorted(self.reports.open_incidents(env))
            rolling = [
                f"{c.app} {c.rollout.canary_version} ({c.rollout.phase}, {c.rollout.weight}%)"
                for c in cells
                if c.rolling and c.rollout is not None
            ]
            lines = [
                f"{in_sync}/{len(cells)} apps in sync",
                f"drifted: {', '.join(drifted) or 'none'}",
                f"not Healthy: {', '.join(degraded) or 'none'}",
                f"rollouts in progress: {', '.join(rolling) or 'none'}",
            ]
            self.notifier.summary(env, lines)


def _utcnow():
    from datetime import UTC, datetime

    return datetime.now(UTC)
