"""The engine: the one facade the CLI, the console and the bot call.

Synchronous and thread-safe; front ends call it from worker threads. It holds
no deployment state of its own: Git holds what should run, the cluster holds
what runs and the records of what was done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .cluster import quarantine, records
from .cluster.claims import Claims
from .cluster.client import Cluster
from .cluster.locks import Locks
from .config import App, Config, Environment
from .drift.incidents import DriftReports
from .drift.model import AppDrift, DriftReport
from .drift.scan import scan_fleet
from .drift.settle import Incident
from .errors import GitOpsError, PolicyError, UsageError
from .fleet import Cell, FleetView, LiveFleet, snapshot
from .identity import Actor
from .metrics import Metrics
from .release.adoptions import Adoption, Adoptions
from .release.following import Following, Outcome
from .release.history import GitRelease, releases
from .release.incident_mode import IncidentMode, Moment
from .release.promotions import Promotions
from .release.requests import PENDING, Request
from .rollout.controller import Rollouts
from .rollout.pool import ReconcilePool
from .rollout.record import Rollout
from .rollout.replays import ReplayReport, Replays
from .source.commits import Commit
from .source.images import check_version
from .sync.diff import MISSING, describe
from .sync.pending import Pending
from .sync.service import DiffResult, StatusRow, SyncResult, Syncs
from .workspace import Workspace

log = logging.getLogger(__name__)

# The front door: front ends import the Engine and what it answers with from here, and nothing deeper.
Quarantined = quarantine.Quarantined
__all__ = [
    "MISSING",
    "PENDING",
    "Actor",
    "Adoption",
    "AppDrift",
    "Cell",
    "Claims",
    "Commit",
    "DiffResult",
    "DriftReport",
    "DriftReports",
    "Engine",
    "FleetView",
    "GitRelease",
    "Incident",
    "IncidentMode",
    "LiveFleet",
    "Moment",
    "Outcome",
    "Pending",
    "Quarantined",
    "ReplayReport",
    "Request",
    "Rollout",
    "StatusRow",
    "SyncResult",
    "check_version",
    "describe",
]
SYNCED, OUT_OF_SYNC = "Synced", "OutOfSync"


class Engine:
    def __init__(self, config: Config) -> None:
        self.workspace = Workspace(config)
        self.config = config
        self.repo, self.renderer, self.writer = self.workspace.repo, self.workspace.renderer, self.workspace.writer
        self.metrics = Metrics()
        self.syncs = Syncs(self.workspace, rolling=lambda app, env: self.rollouts.active(app, env) is not None)
        self.promotions = Promotions(self)
        self._subscribers: list[Callable[[Any, str], None]] = []
        self.rollouts = Rollouts(self, notify=self._publish)
        self.following = Following(self)
        self.adoptions = Adoptions(self, self.promotions.deliveries)
        self.replays = Replays(self)
        self.incidents = self.promotions.incidents  # incident mode: an environment handed to its responders
        self._lock = threading.Lock()
        self._reconcile = ReconcilePool(self.rollouts, self.pairs)

    # ------------------------------------------------------------ events

    def subscribe(self, callback: Callable[[Any, str], None]) -> Callable[[], None]:
        """Call ``callback(rollout, text)`` on every change of phase, step, weight and every measurement (front
        ends subscribe: Slack, the console); returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _publish(self, rollout: Any, text: str) -> None:
        for callback in list(self._subscribers):
            try:
                callback(rollout, text)
            except Exception:  # a broken subscriber must never stop a rollout
                log.exception("a rollout event subscriber failed")

    # ------------------------------------------------------------ lookups

    def resolve(self, app: str, env: str) -> tuple[App, Environment]:
        return self.workspace.resolve(app, env)

    def pairs(self, app: str | None = None, env: str | None = None) -> list[tuple[App, Environment]]:
        return self.workspace.pairs(app, env)

    def cluster(self, env: Environment) -> Cluster:
        return self.workspace.cluster(env)

    # ------------------------------------------------------------ reads

    def status(self, app: str | None = None, env: str | None = None) -> list[StatusRow]:
        """Every app/environment's version, sync state and health; one app's failure stays in its row."""
        return self.syncs.status(app, env)

    def diff(self, app: str, env: str, revision: str | None = None) -> DiffResult:
        return self.syncs.diff(app, env, revision)

    def history(self, app: str, env: str) -> list[records.HistoryEntry]:
        spec, environment = self.resolve(app, env)
        return records.read(self.cluster(environment), spec.name, environment.name, environment.namespace).history

    def releases(self, app: str, env: str, limit: int = 30) -> list[GitRelease]:
        """The Git history of an app in an environment: deploys, promotions, rollbacks, with who did and approved them."""
        spec, environment = self.resolve(app, env)
        return releases(self.repo, spec.path_for(environment.name), limit)

    def drift(self, env: str | None = None, apps: tuple[str, ...] = ()) -> DriftReport:
        """Live changes made outside Git, for the fleet or one environment, with one LIST per kind and namespace."""
        return scan_fleet(self.workspace, env, apps)

    def fleet(self) -> FleetView:
        """Every app in every environment: version, sync, health, rollout, lock, freeze, approval; a few LISTs."""
        return snapshot(self)

    def live_fleet(self, on_change: Callable[[], None] | None = None) -> LiveFleet:
        """The fleet for a reader that refreshes often: lists kept current by watches, each cell's work redone only
        when its inputs change; ``snapshot()`` reads it, ``stop()`` ends its watches."""
        return LiveFleet(self, on_change)

    def locks(self) -> list:
        """Every app/environment lock currently held, across the fleet."""
        seen, found = set(), []
        for environment in self.config.environments.values():
            cluster = self.cluster(environment)
            key = (id(cluster), environment.namespace)
            if key not in seen:
                seen.add(key)
                found += Locks(cluster, environment.namespace).held()
        return found

    # ------------------------------------------------------------ writes

    def deploy(
        self,
        app: str,
        env: str,
        version: str | None = None,
        *,
        actor: str | None = None,
        break_glass: bool = False,
        reason: str = "",
        timeout: float = 300.0,
        wait: bool = False,
        progress: Callable[[str], None] | None = None,
    ):
        """Deploy ``version`` (default: what runs Healthy upstream) under policy: a Git commit, then a sync or a canary."""
        return self._counted(
            self.metrics.deploys,
            app,
            env,
            self.promotions.deploy,
            app,
            env,
            version,
            actor=actor or self.whoami(env),
            break_glass=break_glass,
            reason=reason,
            timeout=timeout,
            wait=wait,
            progress=progress,
        )

    def plan(
        self,
        app: str,
        env: str,
        version: str | None = None,
        *,
        actor: str | None = None,
        break_glass: bool = False,
        reason: str = "",
    ):
        """What ``deploy`` would do after every policy check, writing nothing; raises what ``deploy`` would."""
        return self.promotions.planner.plan(
            app, env, version, actor=actor or self.whoami(env), break_glass=break_glass, reason=reason
        )

    def approve(
        self,
        app: str,
        env: str,
        *,
        request: str | None = None,
        version: str | None = None,
        actor: str | None = None,
        timeout: float = 300.0,
        wait: bool = False,
        progress: Callable[[str], None] | None = None,
    ):
        """Approve the pending request ``request`` (its id; the pending one when None), refused if it was replaced."""
        return self._counted(
            self.metrics.deploys,
            app,
            env,
            self.promotions.approve,
            app,
            env,
            request_id=request,
            version=version,
            actor=actor or self.whoami(env),
            timeout=timeout,
            wait=wait,
            progress=progress,
        )

    def _counted(self, counter, app: str, env: str, operation: Callable[..., Any], *args: Any, **kwargs: Any):
        """Run a deploy-like operation and count its result (refusals count as Refused)."""
        try:
            result = operation(*args, **kwargs)
        except PolicyError:
            counter.labels(app, env, "Refused").inc()
            raise
        except GitOpsError:
            counter.labels(app, env, "Failed").inc()
            raise
        counter.labels(app, env, result.status).inc()
        return result

    def reconcile_rollouts(self, *, wait: bool = True) -> list:
        """Reconcile every active rollout side by side (what the controller runs); ``wait``: for this pass to
        end, else return at once with those that ended since the last call (rollout/pool.py)."""
        return self._reconcile.run(wait=wait)

    def stop_reconciles(self) -> None:
        """Stop the reconciles under way at their next wait (a leader stepping down); the records tell the next."""
        self._reconcile.stop()

    def reject(
        self, app: str, env: str, *, request: str | None = None, version: str | None = None, actor: str | None = None
    ):
        """Reject (or, by the requester, withdraw) the pending request ``request``; refused if it was replaced."""
        return self.promotions.reject(app, env, request_id=request, version=version, actor=actor or self.whoami(env))

    def pending(self, app: str, env: str):
        """The request waiting for approval in ``env``, or None."""
        return self.promotions.pending(*self.resolve(app, env))

    def coordination(self) -> tuple[Cluster, str]:
        """Where replicas of serve meet: the lease's cluster and namespace (leader election, replay claims)."""
        return self.workspace.coordination()

    def claims(self, kind: str, ttl: float) -> Claims:
        """Once-only keys shared by every replica (Slack requests seen, deploys being started), kept ``ttl`` seconds."""
        cluster, namespace = self.coordination()
        return Claims(cluster, namespace, kind, ttl)

    def note_request_message(self, app: str, env: str, request: str, channel: str, ts: str) -> bool:
        """Remember a message that shows a request, so it is updated (buttons gone) when the request ends;
        False when the request is no longer kept (replaced, or ended long ago)."""
        return self.promotions.requests.note_message(app, env, request, channel, ts)

    def whoami(self, env: str) -> str:
        """Who this process acts as in ``env``: what its cluster says of its credentials, never a flag."""
        return self.workspace.whoami(env)

    def adopt(
        self,
        app: str,
        env: str,
        *,
        fields: tuple[str, ...] = (),
        actor: str | None = None,
        dry_run: bool = False,
        timeout: float = 300.0,
    ) -> Adoption:
        """Keep drift: write the live value of drifted fields into Git as a commit and deliver it (``dry_run``:
        what would be written, proven by rendering, nothing written)."""
        if dry_run:
            return self.adoptions.plan(app, env, fields)
        return self.adoptions.adopt(app, env, fields=fields, actor=actor or self.whoami(env), timeout=timeout)

    def rollback(self, app: str, env: str, *, to: str | None = None, actor: str | None = None, timeout: float = 300.0):
        return self._counted(
            self.metrics.rollbacks,
            app,
            env,
            self.promotions.rollback,
            app,
            env,
            to=to,
            actor=actor or self.whoami(env),
            timeout=timeout,
        )

    def freeze(self, env: str, *, duration, reason: str, actor: str | None = None):
        return self.promotions.freezes.freeze(env, duration=duration, reason=reason, actor=actor or self.whoami(env))

    def unfreeze(self, env: str) -> bool:
        return self.promotions.freezes.unfreeze(env)

    def sync(
        self,
        app: str,
        env: str,
        *,
        revision: str | None = None,
        dry_run: bool = False,
        prune: bool = True,
        allow_empty: bool = False,
        wait: bool = False,
        timeout: float = 300.0,
        actor: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> SyncResult:
        """Make ``app`` in ``env`` match Git at ``revision`` (the branch head by default).

        Commits not delivered yet go through the gates a deploy meets (quarantine, freezes, the lock, approvals)
        and, in a canary environment, a change of the pod template starts a canary; a sync that delivers nothing
        new only puts live state back. Refused while a rollout owns the app (its controller syncs).
        """
        spec, environment = self.resolve(app, env)
        if (active := self.rollouts.active(spec, environment)) is not None:
            raise PolicyError(
                f"a rollout of {app} {active.canary_version} in {env} is in progress ({active.phase}, "
                f"{active.weight}% on the canary); promote or abort it first"
            )
        plain = dict(prune=prune, allow_empty=allow_empty, wait=wait, timeout=timeout, progress=progress)
        wanted = self.syncs.pending(spec, environment, revision)
        if dry_run or not wanted.changed:
            return self.syncs.sync(app, env, revision=wanted.wanted, dry_run=dry_run, actor=actor, **plain)
        return self.promotions.deliveries.deliver(spec, environment, wanted, actor=actor or self.whoami(env), **plain)

    def repair(self, app: str, env: str, *, actor: str, timeout: float = 120.0) -> SyncResult | None:
        """Put live state back to what was delivered, never further (self-heal); None when nothing was delivered."""
        spec, environment = self.resolve(app, env)
        wanted = self.syncs.pending(spec, environment)
        if wanted.delivered is None:
            return None
        revision = wanted.wanted if not wanted.changed else wanted.delivered
        return self.syncs.sync(app, env, revision=revision, wait=True, timeout=timeout, actor=actor)

    def pending_change(self, app: str, env: str) -> Pending:
        """Git's side of ``app`` in ``env``: the revision delivered and the commits not delivered yet."""
        spec, environment = self.resolve(app, env)
        return self.syncs.pending(spec, environment)

    def follow(self) -> list[Outcome]:
        """Fetch the branch and deliver new commits where ``sync = "auto"``; promote where ``auto_deploy``."""
        return self.following.follow()

    # ------------------------------------------------------------ quarantine

    def quarantined(self, app: str | None = None) -> list[quarantine.Quarantined]:
        """Versions refused everywhere since they were aborted or rolled back, with the numbers that failed."""
        if app is not None:
            self.pairs(app)
        cluster, namespace = self.coordination()
        return [q for q in quarantine.read_all(cluster, namespace) if app is None or q.app == app]

    def unquarantine(self, app: str, version: str, *, reason: str, actor: str | None = None) -> quarantine.Quarantined:
        """Let ``version`` of ``app`` be delivered again; the reason is kept with who lifted it."""
        self.pairs(app)
        if not " ".join(reason.split()):
            raise UsageError("say why the version may run again: --reason TEXT")
        if not any(q.version == version for q in self.quarantined(app)):
            raise UsageError(f"{app} {version} is not quarantined; see gitopsctl quarantine")
        cluster, namespace = self.coordination()
        who = actor or self.whoami(self.config.promotion_chain[0])
        lifted = quarantine.lift(cluster, namespace, app, version, by=who, reason=" ".join(reason.split())[:500])
        if lifted is None:
            raise UsageError(f"{app} {version} is not quarantined; see gitopsctl quarantine")
        log.info("quarantine of %s %s lifted by %s", app, version, who)
        return lifted
