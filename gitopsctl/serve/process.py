"""The Slack-free core of ``gitopsctl serve``: leader election, the scheduler's jobs, the watches and /metrics.

Where reports go is a ``Notifier`` (Slack's, in the bot; the log's, without
it), so ``--slack-mode off`` runs without any front end. Every replica serves
/metrics; only the leader runs the jobs (drift scans, the rollout controller,
expiry, summaries, the poll of Git) and the watches that report hand-made
changes in seconds. With ``[git] webhook_secret`` set, ``port`` also answers
push webhooks at POST /hooks/git (unless ``port`` is None: then the caller
serves ``self.hooks`` on its own listener, as the bot does beside Slack's).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ..drift.incidents import DriftReports, LogNotifier, Notifier
from ..drift.watch import DriftWatcher
from ..metrics import MetricsServer
from .follow import Follower
from .http import GitHooks, Listener, Routes
from .leader import LeaderElector
from .scheduler import Scheduler

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger("gitopsctl.serve")


class Service:
    def __init__(
        self,
        engine: Engine,
        notifier: Notifier | None = None,
        *,
        metrics_port: int | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.engine = engine
        serve = engine.config.serve
        self.notifier = notifier = notifier or LogNotifier()
        self.reports = DriftReports(engine, notifier)
        self.leader = LeaderElector(engine.coordination()[0], serve, on_started=self._lead, on_stopped=self._follow)
        self.follower = Follower(self.follow_git, self.leader.leading)
        self.scheduler = Scheduler(engine, self.reports, notifier, poll=self.follower.run)
        self.watcher = DriftWatcher(engine, self.reports.check) if serve.watch else None
        git = engine.config.git
        self.hooks = GitHooks(git.webhook_secret.resolve(), git, self.follower) if git.webhook_secret else None
        self.http = Listener(host, port, Routes(self.hooks)) if self.hooks is not None and port is not None else None
        port_for_metrics = serve.metrics_port if metrics_port is None else metrics_port
        self.metrics = (
            MetricsServer(engine.metrics, serve.metrics_address, port_for_metrics, ready=self.ready)
            if port_for_metrics
            else None
        )
        self._started = False

    def ready(self) -> bool:
        return self._started

    def follow_git(self) -> list:
        """Fetch and deliver (the engine), then report each outcome not reported before; one failed report
        never keeps the others from being sent."""
        outcomes = self.engine.follow()
        for outcome in outcomes:
            if outcome.new:
                try:
                    self.notifier.change_followed(outcome)
                except Exception:
                    log.exception("cannot report %s of %s in %s", outcome.state, outcome.app, outcome.env)
        return outcomes

    def start(self) -> Service:
        if self.metrics is not None:
            self.metrics.start()
        if self.http is not None:
            self.http.start()
        self.scheduler.start()
        self.leader.start()
        self._started = True
        return self

    def stop(self) -> None:
        self._started = False
        self.leader.stop()
        self.follower.stop()
        self.scheduler.stop()
        self.engine.stop_reconciles()
        if self.http is not None:
            self.http.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.metrics is not None:
            self.metrics.stop()

    def _lead(self) -> None:
        self.engine.metrics.leader.set(1)
        self.scheduler.lead()
        if self.watcher is not None:
            threading.Thread(target=self._watch, name="drift-watch-start", daemon=True).start()

    def _watch(self) -> None:
        try:
            if self.leader.leading.is_set():
                self.watcher.start()
        except Exception:  # the scheduled scans still cover it
            log.exception("cannot start watching for hand-made changes")

    def _follow(self) -> None:
        self.engine.metrics.leader.set(0)
        self.scheduler.follow()
        self.engine.stop_reconciles()  # only a leader acts on rollouts
        if self.watcher is not None:
            self.watcher.stop()
