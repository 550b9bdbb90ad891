"""The sync service: status, diff and sync of one app in one environment, on one shared observation.

Each of them renders the app, reads its sync record, observes the live objects
(one LIST per kind and namespace), finds untracked and foreign objects and
compares: ``observe`` does that once, in one place. Status and diff keep the
two facts apart (pending.py): OutOfSync is Git ahead of what was delivered;
Drifted is live changed away from what was delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..cluster import health as health_checks
from ..cluster import records
from ..cluster.client import Cluster
from ..cluster.health import HEALTHY, UNKNOWN
from ..config import App, Environment
from ..errors import ClusterError, GitOpsError, SourceError, SyncRefusedError
from ..source.commits import Commit
from ..source.manifests import ObjectRef, find_version
from . import diff as diffing
from .apply import assess, execute, wait_healthy
from .compare import Target, compare_target, scaled_by_canary, without_canary_scale
from .hooks import POST_SYNC, PRE_SYNC, SYNC_FAIL, Hook, HookRun, PhaseRunner
from .observe import Observation, find_untracked, observe, refuse_foreign
from .pending import Pending, pending
from .plan import Plan, make_plan, missing_namespaces, refuse_unsafe_prune, validate

if TYPE_CHECKING:
    from ..workspace import Workspace

SYNCED, OUT_OF_SYNC = "Synced", "OutOfSync"
CLEAN, DRIFTED = "Clean", "Drifted"

log = logging.getLogger(__name__)


@dataclass
class StatusRow:
    app: str
    env: str
    version: str | None
    revision: str | None  # the revision last delivered
    sync: str  # Synced | OutOfSync (Git has commits not delivered) | Unknown
    health: str
    message: str = ""
    drift: str = CLEAN  # Clean | Drifted (live changed outside Git) | Unknown
    commits: list[Commit] = field(default_factory=list)  # the commits not delivered yet, newest first
    error: str = ""  # why the app could not be rendered or compared here (the rest of the fleet still is)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "version": self.version,
            "revision": self.revision,
            "sync": self.sync,
            "drift": self.drift,
            "health": self.health,
            "message": self.message,
            "pending_commits": [c.as_dict() for c in self.commits],
            "error": self.error or None,
        }


@dataclass
class DiffResult:
    """What a sync would change (``resources``: Git at ``revision`` against live), split into its two causes:
    ``git`` (what Git changed since the delivered revision) and ``drift`` (what was changed live outside Git)."""

    app: str
    env: str
    revision: str
    resources: list[diffing.ResourceDiff]
    pending: Pending | None = None
    git: list[diffing.ResourceDiff] = field(default_factory=list)
    drift: list[diffing.ResourceDiff] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.resources

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "revision": self.revision,
            "in_sync": self.in_sync,
            "out_of_sync": bool(self.pending and self.pending.changed),
            "drifted": bool(self.drift),
            "delivered": self.pending.delivered if self.pending else None,
            "pending_commits": [c.as_dict() for c in self.pending.commits] if self.pending else [],
            "resources": [r.as_dict() for r in self.resources],
            "git_changes": [r.as_dict() for r in self.git],
            "live_changes": [r.as_dict() for r in self.drift],
        }


@dataclass
class SyncResult:
    app: str
    env: str
    revision: str
    result: (
        str  # Succeeded | Failed; a Git change delivered through its gates: Progressing (a canary) | PendingApproval
    )
    applied: list[ObjectRef] = field(default_factory=list)
    unchanged: int = 0
    pruned: list[ObjectRef] = field(default_factory=list)
    health: str = UNKNOWN
    message: str = ""
    dry_run: bool = False
    version: str | None = None
    rollout: Any = None  # the canary a Git change started
    request: Any = None  # the approval request a Git change is waiting on
    commits: list[Commit] = field(default_factory=list)  # the Git commits this sync delivered
    hooks: list[HookRun] = field(default_factory=list)  # what each hook did, in the order they ran

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "revision": self.revision,
            "result": self.result,
            "hooks": [h.as_dict() for h in self.hooks],
            "applied": len(self.applied),
            "unchanged": self.unchanged,
            "pruned": len(self.pruned),
            "health": self.health,
            "message": self.message,
            "dry_run": self.dry_run,
            "version": self.version,
            "rollout_phase": self.rollout.phase if self.rollout is not None else None,
            "request": self.request.id if self.request is not None else None,
            "commits": [c.as_dict() for c in self.commits],
        }


class Syncs:
    def __init__(self, workspace: Workspace, rolling: Callable[[App, Environment], bool]) -> None:
        """``rolling``: whether a canary of the app runs in the environment now (the rollouts are above this
        layer), asked only when the app's Deployment is scaled away from Git."""
        self.workspace = workspace
        self.rolling = rolling

    def _outside_git(
        self, app: App, env: Environment, differences: list[diffing.ResourceDiff]
    ) -> list[diffing.ResourceDiff]:
        """What changed live outside Git: ``differences`` from what was delivered, less a running canary's
        scaling of stable."""
        if any(scaled_by_canary(app, env, r) for r in differences) and self.rolling(app, env):
            return without_canary_scale(app, env, differences)
        return differences

    def observe(
        self, app: App, env: Environment, sha: str, record: records.SyncRecord | None = None
    ) -> tuple[list[dict[str, Any]], records.SyncRecord, Observation, list[diffing.ResourceDiff]]:
        """(desired objects, sync record, live observation, differences): what status and diff both need."""
        cluster = self.workspace.cluster(env)
        _, desired = self.workspace.desired(app, env, sha)
        if record is None:
            record = records.read(cluster, app.name, env.name, env.namespace)
        observation = observe(cluster, [ObjectRef.of(o) for o in desired] + record.inventory)
        find_untracked(cluster, desired, observation)
        refuse_foreign(desired, observation, app, env)
        differences = compare_target(Target(app, env, desired, record.inventory), observation.live)
        return desired, record, observation, differences

    def status(self, app: str | None = None, env: str | None = None) -> list[StatusRow]:
        sha = self.workspace.repo.resolve()
        rows = []
        for spec, environment in self.workspace.pairs(app, env):
            try:
                rows.append(self._status_row(spec, environment, sha))
            except (ClusterError, SourceError) as e:  # one app's broken or refused manifests stay in its row
                row = StatusRow(spec.name, environment.name, None, None, UNKNOWN, UNKNOWN, str(e), UNKNOWN)
                row.error = str(e)
                rows.append(row)
        return rows

    def pending(self, app: App, env: Environment, revision: str | None = None) -> Pending:
        """Git's side: the revision wanted (the branch head by default), the one delivered, the commits between."""
        cluster = self.workspace.cluster(env)
        record = records.read(cluster, app.name, env.name, env.namespace)
        return pending(self.workspace, app, env, record, self.workspace.repo.resolve(revision))

    def _status_row(self, app: App, env: Environment, sha: str) -> StatusRow:
        record = records.read(self.workspace.cluster(env), app.name, env.name, env.namespace)
        wanted = pending(self.workspace, app, env, record, sha)
        if wanted.changed and wanted.delivered is not None:
            self.observe(app, env, sha, record)  # a Git change refused (boundary, another app's object) shows here
        desired, record, observation, differences = self.observe(app, env, wanted.baseline, record)
        differences = self._outside_git(app, env, differences)
        health, message = health_checks.overall(
            ((str(ObjectRef.of(o)), observation.get(ObjectRef.of(o))) for o in desired), self.workspace.config.health
        )
        live_objects = [o for o in (observation.get(ObjectRef.of(d)) for d in desired) if o is not None]
        version = find_version(live_objects, app.container)
        if wanted.failed is not None and not message:
            message = f"the last sync of {wanted.wanted[:12]} failed: {wanted.failed.message}"
        return StatusRow(
            app.name,
            env.name,
            version,
            wanted.delivered,
            OUT_OF_SYNC if wanted.changed else SYNCED,
            health if desired else HEALTHY,
            message,
            DRIFTED if differences and wanted.delivered else CLEAN,
            list(wanted.commits),
        )

    def diff(self, app: str, env: str, revision: str | None = None) -> DiffResult:
        """What a sync to ``revision`` would change, and why: Git's undelivered change, and live drift."""
        spec, environment = self.workspace.resolve(app, env)
        cluster = self.workspace.cluster(environment)
        sha = self.workspace.repo.resolve(revision)
        record = records.read(cluster, spec.name, environment.name, environment.namespace)
        wanted = pending(self.workspace, spec, environment, record, sha)
        desired, _, observation, resources = self.observe(spec, environment, sha, record)
        result = DiffResult(app, env, sha, resources, wanted)
        if wanted.delivered is None:
            return result  # nothing delivered yet: all of it is Git's change, none of it drift
        _, baseline = self.workspace.desired(spec, environment, wanted.delivered)
        baseline_differences = compare_target(Target(spec, environment, baseline, record.inventory), observation.live)
        result.drift = self._outside_git(spec, environment, baseline_differences)
        if wanted.changed:
            as_live = {ObjectRef.of(o).identity: o for o in baseline}
            result.git = compare_target(Target(spec, environment, desired, record.inventory), as_live)
        return result

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
        """Make ``app`` in ``env`` match Git at ``revision`` (the branch head by default); no rollout guard here."""
        progress = progress or (lambda _message: None)
        spec, environment = self.workspace.resolve(app, env)
        cluster = self.workspace.cluster(environment)
        sha = self.workspace.repo.resolve(revision)
        rendered, desired = self.workspace.desired(spec, environment, sha)
        version = find_version(desired, spec.container)
        record = records.read(cluster, spec.name, environment.name, environment.namespace)
        result = SyncResult(app, env, sha, "Succeeded", dry_run=dry_run, version=version)
        inventory = [ObjectRef.of(o) for o in desired] + record.inventory  # what a failed sync may have touched
        started, hooks = False, []
        runner = PhaseRunner(cluster, progress, timeout, self.workspace.config.health)
        try:
            hooks = self.workspace.hooks(spec, environment, sha)
            observation = observe(cluster, [ObjectRef.of(o) for o in desired] + record.inventory)
            find_untracked(cluster, desired, observation)
            plan = make_plan(desired, observation, observation.live.values(), spec, environment)
            refuse_unsafe_prune(rendered, plan, prune=prune, allow_empty=allow_empty, app=app, env=env)
            absent = missing_namespaces(cluster, plan)
            validate(cluster, plan, absent, [h.obj for h in hooks])
            result.unchanged = len(plan.unchanged)
            if dry_run:
                result.applied = [ObjectRef.of(o) for o in plan.writes]
                result.pruned = [ObjectRef.of(o) for o in plan.prune] if prune else []
                result.health, result.message = (
                    UNKNOWN,
                    "dry run: nothing was changed" + (f"; {len(hooks)} hook(s) would run" if hooks else ""),
                )
                return result
            progress(
                f"syncing {app} to {env} at {sha[:12]}: {len(plan.writes)} to apply, {len(plan.unchanged)} unchanged, "
                f"{len(plan.prune) if prune else 0} to prune" + (f", {len(hooks)} hook(s)" if hooks else "")
            )
            started = True
            kept = [] if prune else [ObjectRef.of(o) for o in plan.prune]
            if self._run(cluster, plan, hooks, runner, result, prune, absent, wait, timeout, progress):
                inventory = [ObjectRef.of(o) for o in desired] + kept
        except GitOpsError as e:
            # a sync the cluster failed, at whichever step (the server-side dry run, an apply, the wait), is in
            # history as Failed; one refused for its input (a boundary, an unsafe prune) changed nothing at all
            result.result, result.message = "Failed", str(e)
            result.hooks = runner.runs
            if not dry_run and (started or (isinstance(e, ClusterError) and not isinstance(e, SyncRefusedError))):
                try:
                    if started:
                        self._sync_failed(runner, hooks, result)
                    self._record(cluster, environment, result, actor, inventory)
                except GitOpsError as unrecorded:  # the API still failing: the caller hears the first error
                    log.warning("the failed sync of %s in %s could not be recorded: %s", app, env, unrecorded)
            raise
        if result.result == "Failed":
            self._sync_failed(runner, hooks, result)
        result.hooks = runner.runs
        self._record(cluster, environment, result, actor, inventory)
        return result

    def _run(
        self,
        cluster: Cluster,
        plan: Plan,
        hooks: list[Hook],
        runner: PhaseRunner,
        result: SyncResult,
        prune: bool,
        absent: list[str],
        wait: bool,
        timeout: float,
        progress: Callable[[str], None],
    ) -> bool:
        """PreSync hooks, the waves (with their Sync hooks), prune, then Healthy and the PostSync hooks.

        True once every wave is applied and pruning is done (what the app holds is then exactly Git's).
        """
        rules = self.workspace.config.health
        if (failed := runner.phase(PRE_SYNC, hooks)) is not None:
            result.result = "Failed"
            result.message = f"PreSync hook {failed.ref} failed: {failed.message}; nothing else was applied"
            return False
        done = execute(
            cluster,
            plan,
            prune=prune,
            progress=progress,
            create_namespaces=absent,
            hooks=hooks,
            runner=runner,
            settle=lambda members: wait_healthy(cluster, members, timeout, progress, rules),
        )
        result.applied, result.pruned = done.applied, done.pruned
        if done.failure:
            result.result, result.message = "Failed", done.failure
            return False
        post_sync = any(POST_SYNC in h.phases for h in hooks)
        if not (wait or post_sync):
            result.health, result.message = assess(cluster, plan.desired, rules)
            return True
        result.health, result.message = wait_healthy(cluster, plan.desired, timeout, progress, rules)
        if result.health != HEALTHY:
            result.result = "Failed"
            why = f" ({result.message})" if result.message else ""
            result.message = f"not Healthy after the sync{why}" + ("; PostSync hooks did not run" if post_sync else "")
        elif (failed := runner.phase(POST_SYNC, hooks)) is not None:
            result.result = "Failed"
            result.message = f"PostSync hook {failed.ref} failed: {failed.message}"
        return True

    def _sync_failed(self, runner: PhaseRunner, hooks: list[Hook], result: SyncResult) -> None:
        """SyncFail hooks, once a started sync has failed; their own failure is added to the message."""
        try:
            failed = runner.phase(SYNC_FAIL, hooks)
        except GitOpsError as e:
            result.message += f"; the SyncFail hooks could not run: {e}"
            return
        if failed is not None:
            result.message += f"; SyncFail hook {failed.ref} failed too: {failed.message}"

    def _record(
        self, cluster: Cluster, env: Environment, result: SyncResult, actor: str | None, inventory: list[ObjectRef]
    ) -> None:
        entry = records.HistoryEntry(
            revision=result.revision,
            version=result.version,
            actor=actor or self.workspace.whoami(env.name),
            time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            result=result.result,
            applied=len(result.applied),
            unchanged=result.unchanged,
            pruned=len(result.pruned),
            health=result.health,
            message=result.message,
            hooks=tuple(f"{r.phase} {r.ref.kind} {r.ref.name} {r.result}" for r in result.hooks),
        )
        records.write(cluster, env.namespace, result.app, env.name, entry, inventory)
