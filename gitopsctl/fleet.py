"""The whole fleet at a glance, for the console: every app in every environment from a few LISTs.

Per cluster, one LIST per (kind, namespace) of tracked objects (as a drift scan)
and per namespace one LIST each of sync records, rollout records, locks and
approval requests; per environment the freeze. Nothing is fetched per app, so
the fleet's size changes the work little.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .cluster import health as health_checks
from .cluster import records
from .cluster.locks import Locks
from .drift import scan as drifting
from .errors import ClusterError, SourceError
from .release import policy
from .release.following import HELD, Followed
from .release.requests import REQUEST_LABEL, Request, request_of
from .rollout import record as rollout_records
from .source.commits import Commit
from .source.manifests import ObjectRef, find_version
from .sync import BoundaryError, find_untracked, foreign, observe
from .sync.pending import pending as pending_change

if TYPE_CHECKING:
    from .engine import Engine
    from .rollout.record import Rollout


@dataclass
class Cell:
    app: str
    env: str
    version: str | None
    sync: str  # Synced | OutOfSync (Git has commits not delivered) | Unknown
    health: str
    message: str = ""
    drifted: int = 0  # objects changed live outside Git (against what was delivered)
    rollout: Rollout | None = None  # the latest rollout, active or not
    steps: int = 0
    locked_by: str | None = None
    frozen: str | None = None
    pending: Request | None = None
    commits: tuple[Commit, ...] = ()  # not delivered yet, newest first
    held: str = ""  # why the leader has not delivered them (frozen, quarantined, ...), as it last reported

    @property
    def rolling(self) -> bool:
        return self.rollout is not None and self.rollout.active


@dataclass
class FleetView:
    apps: list[str]
    envs: list[str]
    cells: dict[tuple[str, str], Cell]
    revision: str
    taken_at: datetime
    errors: list[str]
    unreachable: dict[str, str] = field(default_factory=dict)  # environment -> why its cluster could not be read

    def cell(self, app: str, env: str) -> Cell | None:
        return self.cells.get((app, env))


def snapshot(engine: Engine) -> FleetView:
    sha = engine.repo.resolve()
    config = engine.config
    targets_by_cluster: dict[int, list[drifting.Target]] = {}
    per_namespace: dict[tuple[int, str], dict] = {}
    cells: dict[tuple[str, str], Cell] = {}
    errors: list[str] = []
    unreachable: dict[str, str] = {}
    delivered_by_cell: dict[tuple[str, str], str | None] = {}
    wanted_by_cell: dict[tuple[str, str], list] = {}  # Git's head: what a refusal is shown for
    pairs = engine.pairs()
    for spec, environment in pairs:
        cluster = engine.cluster(environment)
        key = (id(cluster), environment.namespace)
        if key not in per_namespace:
            try:
                per_namespace[key] = {
                    "records": records.read_all(cluster, environment.namespace),
                    "rollouts": rollout_records.read_all(cluster, environment.namespace),
                    "locks": {(i.app, i.env): i for i in Locks(cluster, environment.namespace).held()},
                    "followed": engine.following.held(environment),
                    "requests": {
                        (r.app, r.env): r
                        for r in map(
                            request_of,
                            cluster.list("v1", "ConfigMap", environment.namespace, label_selector=REQUEST_LABEL),
                        )
                    },
                }
            except ClusterError as e:
                per_namespace[key] = {}
                errors.append(f"{environment.name}: {e}")
                unreachable[environment.name] = str(e)
        known = per_namespace[key]
        record = (known.get("records") or {}).get((spec.name, environment.name)) or records.SyncRecord(
            spec.name, environment.name
        )
        refusal, commits, delivered, changed = "", (), None, False
        try:
            _, desired = engine.workspace.desired(spec, environment, sha)
            wanted_by_cell[(spec.name, environment.name)] = desired
            wanted = pending_change(engine.workspace, spec, environment, record, sha)
            commits, delivered, changed = wanted.commits, wanted.delivered, wanted.changed
            if wanted.changed and wanted.delivered is not None:
                _, desired = engine.workspace.desired(spec, environment, wanted.delivered)
            targets_by_cluster.setdefault(id(cluster), []).append(
                drifting.Target(spec, environment, desired, record.inventory)
            )
        except SourceError as e:  # refused or broken manifests are this cell's problem, not the whole fleet's
            refusal = str(e)
        followed = (known.get("followed") or {}).get(spec.name) or Followed()
        lock = (known.get("locks") or {}).get((spec.name, environment.name))
        cells[(spec.name, environment.name)] = Cell(
            spec.name,
            environment.name,
            None,
            health_checks.UNKNOWN if not known or refusal else "Synced",
            health_checks.UNKNOWN,
            refusal,
            rollout=(known.get("rollouts") or {}).get((spec.name, environment.name)),
            steps=len(spec.canary.steps) if spec.canary else 0,
            locked_by=f"{lock.actor} ({lock.operation})" if lock else None,
            pending=(known.get("requests") or {}).get((spec.name, environment.name)),
            commits=tuple(commits),
            held=followed.message if followed.state == HELD and changed and followed.revision == sha else "",
        )
        cells[(spec.name, environment.name)].sync = (
            cells[(spec.name, environment.name)].sync if not known or refusal else "OutOfSync" if changed else "Synced"
        )
        delivered_by_cell[(spec.name, environment.name)] = delivered
    now = datetime.now(UTC)
    for environment in config.environments.values():
        try:
            freeze = policy.active_freeze(environment, now, engine.promotions.manual_freeze(environment))
        except ClusterError:
            continue
        if freeze is not None:
            for cell in cells.values():
                if cell.env == environment.name:
                    cell.frozen = f"{freeze.name}: {freeze.reason}" if freeze.reason else freeze.name
    for targets in targets_by_cluster.values():
        cluster = engine.cluster(targets[0].env)
        try:
            heads = [o for t in targets for o in wanted_by_cell.get((t.app.name, t.env.name), [])]
            observation = observe(
                cluster, [ObjectRef.of(o) for t in targets for o in t.desired] + [ObjectRef.of(o) for o in heads]
            )
            find_untracked(cluster, [o for t in targets for o in t.desired] + heads, observation)
        except ClusterError as e:
            errors.append(str(e))
            continue
        tracked = drifting.by_tracking_id(observation.live)
        for target in targets:
            cell = cells[(target.app.name, target.env.name)]
            if cell.sync == health_checks.UNKNOWN:
                continue
            head = wanted_by_cell.get((cell.app, cell.env), target.desired)
            if refusals := foreign(head, observation, target.app, target.env):
                cell.message = str(BoundaryError(f"{cell.app} in {cell.env}", refusals))
                cell.sync = health_checks.UNKNOWN
                continue
            differences = drifting.compare_target(target, observation.live, tracked)
            cell.drifted = len(differences) if delivered_by_cell.get((cell.app, cell.env)) else 0
            live = [o for o in (observation.get(ObjectRef.of(d)) for d in target.desired) if o is not None]
            cell.version = find_version(live, target.app.container)
            health, message = health_checks.HEALTHY, ""
            for obj in target.desired:
                result = health_checks.assess(observation.get(ObjectRef.of(obj)))
                if health_checks.worst([health, result.status]) != health:
                    health, message = result.status, f"{ObjectRef.of(obj)}: {result.message}"
            cell.health, cell.message = health, message
    apps = sorted(config.apps)
    envs = [e for e in config.promotion_chain]
    return FleetView(apps, envs, cells, sha, now, errors, unreachable)
