"""The engine: the one facade the CLI, the console and the bot call.

Synchronous and thread-safe; front ends call it from worker threads. It holds
no deployment state of its own: Git holds what should run, the cluster holds
what runs and the records of what was done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import sync as syncing
from .cluster import health as health_checks
from .cluster import records
from .cluster.client import Cluster
from .cluster.health import HEALTHY, UNKNOWN
from .config import App, Config, Environment
from .drift import scan as drifting
from .errors import ClusterError, GitOpsError, ManifestError, PolicyError, UsageError
from .metrics import Metrics
from .release.history import GitRelease, releases
from .release.promotions import Promotions
from .rollout.controller import Rollouts
from .source.manifests import ObjectRef, find_version
from .sync import diff as diffing
from .workspace import Workspace

log = logging.getLogger(__name__)
SYNCED, OUT_OF_SYNC = "Synced", "OutOfSync"


@dataclass
class StatusRow:
    app: str
    env: str
    version: str | None
    revision: str | None
    sync: str
    health: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "version": self.version,
            "revision": self.revision,
            "sync": self.sync,
            "health": self.health,
            "message": self.message,
        }


@dataclass
class DiffResult:
    app: str
    env: str
    revision: str
    resources: list[diffing.ResourceDiff]

    @property
    def in_sync(self) -> bool:
        return not self.resources

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "revision": self.revision,
            "in_sync": self.in_sync,
            "resources": [r.as_dict() for r in self.resources],
        }


@dataclass
class SyncResult:
    app: str
    env: str
    revision: str
    result: str  # Succeeded | Failed
    applied: list[ObjectRef] = field(default_factory=list)
    unchanged: int = 0
    pruned: list[ObjectRef] = field(default_factory=list)
    health: str = UNKNOWN
    message: str = ""
    dry_run: bool = False
    version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "revision": self.revision,
            "result": self.result,
            "applied": len(self.applied),
            "unchanged": self.unchanged,
            "pruned": len(self.pruned),
            "health": self.health,
            "message": self.message,
            "dry_run": self.dry_run,
            "version": self.version,
        }


class Engine:
    def __init__(self, config: Config) -> None:
        self.workspace = Workspace(config)
        self.config = config
        self.repo, self.renderer, self.writer = self.workspace.repo, self.workspace.renderer, self.workspace.writer
        self.metrics = Metrics()
        self.promotions = Promotions(self)
        self._subscribers: list[Callable[[Any, str], None]] = []
        self.rollouts = Rollouts(self, notify=self._publish)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ events

    def subscribe(self, callback: Callable[[Any, str], None]) -> Callable[[], None]:
        """Call ``callback(rollout, text)`` on every change of phase, step, weight and every measurement.

        Front ends (Slack, the console) subscribe; returns a function that unsubscribes.
        """
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

    def _desired(self, app: App, env: Environment, sha: str):
        return self.workspace.desired(app, env, sha)

    # ------------------------------------------------------------ reads

    def status(self, app: str | None = None, env: str | None = None) -> list[StatusRow]:
        sha = self.repo.resolve()
        rows = []
        for spec, environment in self.pairs(app, env):
            try:
                rows.append(self._status_row(spec, environment, sha))
            except (ClusterError, ManifestError) as e:  # one app's broken or refused manifests stay in its row
                rows.append(StatusRow(spec.name, environment.name, None, None, UNKNOWN, UNKNOWN, str(e)))
        return rows

    def _status_row(self, app: App, env: Environment, sha: str) -> StatusRow:
        cluster = self.cluster(env)
        rendered, desired = self._desired(app, env, sha)
        record = records.read(cluster, app.name, env.name, env.namespace)
        target = drifting.Target(app, env, desired, record.inventory)
        observation = syncing.observe(cluster, [ObjectRef.of(o) for o in desired] + record.inventory)
        syncing.find_untracked(cluster, desired, observation)
        syncing.refuse_foreign(desired, observation, app, env)
        differences = drifting.compare_target(target, observation.live)
        health, message = HEALTHY, ""
        for obj in desired:
            result = health_checks.assess(observation.get(ObjectRef.of(obj)))
            if health_checks.worst([health, result.status]) != health:
                health, message = result.status, f"{ObjectRef.of(obj)}: {result.message}"
        live_objects = [o for o in (observation.get(ObjectRef.of(d)) for d in desired) if o is not None]
        version = find_version(live_objects, app.container)
        last = record.last
        return StatusRow(
            app.name,
            env.name,
            version,
            last.revision if last else None,
            OUT_OF_SYNC if differences else SYNCED,
            health if desired else HEALTHY,
            message,
        )

    def diff(self, app: str, env: str, revision: str | None = None) -> DiffResult:
        spec, environment = self.resolve(app, env)
        sha = self.repo.resolve(revision)
        cluster = self.cluster(environment)
        _, desired = self._desired(spec, environment, sha)
        record = records.read(cluster, spec.name, environment.name, environment.namespace)
        target = drifting.Target(spec, environment, desired, record.inventory)
        observation = syncing.observe(cluster, [ObjectRef.of(o) for o in desired] + record.inventory)
        syncing.find_untracked(cluster, desired, observation)
        syncing.refuse_foreign(desired, observation, spec, environment)
        return DiffResult(app, env, sha, drifting.compare_target(target, observation.live))

    def history(self, app: str, env: str) -> list[records.HistoryEntry]:
        spec, environment = self.resolve(app, env)
        return records.read(self.cluster(environment), spec.name, environment.name, environment.namespace).history

    def releases(self, app: str, env: str, limit: int = 30) -> list[GitRelease]:
        """The Git history of an app in an environment: deploys, promotions, rollbacks, with who did and approved them."""
        spec, environment = self.resolve(app, env)
        return releases(self.repo, spec.path_for(environment.name), limit)

    def drift(self, env: str | None = None, apps: tuple[str, ...] = ()) -> drifting.DriftReport:
        for name in apps:
            if name not in self.config.apps:
                raise UsageError(f'unknown app "{name}"; known apps: {", ".join(sorted(self.config.apps))}')
        sha = self.repo.resolve()
        clusters = {id(self.cluster(e)): self.cluster(e) for _, e in self.pairs(None, env)}
        before = {key: cluster.requests for key, cluster in clusters.items()}
        by_cluster: dict[int, tuple[Cluster, list[drifting.Target]]] = {}
        record_cache: dict[tuple[int, str], dict[tuple[str, str], records.SyncRecord]] = {}
        refused: list[drifting.AppDrift] = []
        for spec, environment in self.pairs(None, env):
            if apps and spec.name not in apps:
                continue
            cluster = self.cluster(environment)
            key = (id(cluster), environment.namespace)
            if key not in record_cache:
                record_cache[key] = records.read_all(cluster, environment.namespace)
            record = record_cache[key].get((spec.name, environment.name)) or records.SyncRecord(
                spec.name, environment.name
            )
            try:
                _, desired = self._desired(spec, environment, sha)
            except syncing.BoundaryError as e:  # reported in the app's row; the rest of the fleet is still scanned
                resources = [diffing.ResourceDiff(r.ref, "refused", reason=r.reason) for r in e.refusals]
                refused.append(drifting.AppDrift(spec.name, environment.name, resources))
                continue
            by_cluster.setdefault(id(cluster), (cluster, []))[1].append(
                drifting.Target(spec, environment, desired, record.inventory)
            )
        report = drifting.DriftReport(drifted=refused)
        for cluster, targets in by_cluster.values():
            part = drifting.scan(cluster, targets)
            report.drifted += part.drifted
            report.clean += part.clean
        report.requests = sum(cluster.requests - before[key] for key, cluster in clusters.items())
        return report

    def fleet(self):
        """Every app in every environment: version, sync, health, rollout, lock, freeze, approval; a few LISTs."""
        from .fleet import snapshot

        return snapshot(self)

    def locks(self) -> list:
        """Every app/environment lock currently held, across the fleet."""
        from .cluster.locks import Locks

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

    def reconcile_rollouts(self) -> list:
        """One reconcile of every active rollout (what the controller loop runs)."""
        done = []
        for spec, environment in self.pairs():
            if environment.strategy == "canary" and self.rollouts.active(spec, environment) is not None:
                try:
                    done.append(self.rollouts.reconcile(spec.name, environment.name))
                except PolicyError:
                    continue  # another controller acted first; the next pass sees its result
                except GitOpsError as e:  # one broken rollout never holds up the others
                    log.warning("cannot reconcile %s in %s: %s", spec.name, environment.name, e)
        return done

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

    def note_request_message(self, app: str, env: str, request: str, channel: str, ts: str) -> None:
        """Remember a message that shows a request, so it is updated (buttons gone) when the request ends."""
        self.promotions.requests.note_message(app, env, request, channel, ts)

    def whoami(self, env: str) -> str:
        """Who this process acts as in ``env``: what its cluster says of its credentials, never a flag."""
        return self.workspace.whoami(env)

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
        _rollout: bool = False,
    ) -> SyncResult:
        """Make ``app`` in ``env`` match Git at ``revision`` (the branch head by default)."""
        progress = progress or (lambda _message: None)
        spec, environment = self.resolve(app, env)
        cluster = self.cluster(environment)
        if not _rollout and (active := self.rollouts.active(spec, environment)) is not None:
            raise PolicyError(
                f"a rollout of {app} {active.canary_version} in {env} is in progress ({active.phase}, "
                f"{active.weight}% on the canary); promote or abort it first"
            )
        sha = self.repo.resolve(revision)
        rendered, desired = self._desired(spec, environment, sha)
        version = find_version(desired, spec.container)
        record = records.read(cluster, spec.name, environment.name, environment.namespace)
        observation = syncing.observe(cluster, [ObjectRef.of(o) for o in desired] + record.inventory)
        syncing.find_untracked(cluster, desired, observation)
        plan = syncing.make_plan(desired, observation, observation.live.values(), spec, environment)
        syncing.refuse_unsafe_prune(rendered, plan, prune=prune, allow_empty=allow_empty, app=app, env=env)
        absent = syncing.missing_namespaces(cluster, plan)
        syncing.validate(cluster, plan, absent)
        result = SyncResult(app, env, sha, "Succeeded", unchanged=len(plan.unchanged), dry_run=dry_run, version=version)
        if dry_run:
            result.applied = [ObjectRef.of(o) for o in plan.writes]
            result.pruned = [ObjectRef.of(o) for o in plan.prune] if prune else []
            result.health, result.message = UNKNOWN, "dry run: nothing was changed"
            return result
        progress(
            f"syncing {app} to {env} at {sha[:12]}: {len(plan.writes)} to apply, {len(plan.unchanged)} unchanged, "
            f"{len(plan.prune) if prune else 0} to prune"
        )
        try:
            result.applied, result.pruned = syncing.execute(
                cluster, plan, prune=prune, progress=progress, create_namespaces=absent
            )
            kept = [] if prune else [ObjectRef.of(o) for o in plan.prune]
            inventory = [ObjectRef.of(o) for o in desired] + kept
            if wait:
                result.health, result.message = syncing.wait_healthy(cluster, desired, timeout, progress)
                if result.health != HEALTHY:
                    result.result = "Failed"
                    result.message = (
                        f"not Healthy after the sync ({result.message})"
                        if result.message
                        else "not Healthy after the sync"
                    )
            else:
                result.health, result.message = syncing.assess(cluster, desired)
        except GitOpsError as e:
            result.result, result.message = "Failed", str(e)
            inventory = [ObjectRef.of(o) for o in desired] + record.inventory
            self._record(cluster, environment, result, actor, inventory)
            raise
        self._record(cluster, environment, result, actor, inventory)
        return result

    def _record(
        self, cluster: Cluster, env: Environment, result: SyncResult, actor: str | None, inventory: list[ObjectRef]
    ) -> None:
        entry = records.HistoryEntry(
            revision=result.revision,
            version=result.version,
            actor=actor or self.whoami(env.name),
            time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            result=result.result,
            applied=len(result.applied),
            unchanged=result.unchanged,
            pruned=len(result.pruned),
            health=result.health,
            message=result.message,
        )
        records.write(cluster, env.namespace, result.app, env.name, entry, inventory)
