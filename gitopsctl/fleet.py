"""The whole fleet at a glance, for the console: every app in every environment from a few LISTs.

Per cluster, one LIST per (kind, namespace) of tracked objects (as a drift scan)
and per namespace one LIST each of sync records, rollout records, locks and
approval requests; per environment the freeze. Nothing is fetched per app, so
the fleet's size changes the work little.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .cluster import health as health_checks
from .cluster import records
from .cluster.client import Cluster
from .cluster.listers import Listers
from .cluster.locks import Locks
from .config import HealthRule
from .drift import scan as drifting
from .errors import ClusterError, SourceError
from .release import policy
from .release.following import HELD, Followed
from .release.requests import REQUEST_LABEL, Request, request_of
from .rollout import record as rollout_records
from .source.commits import Commit
from .source.manifests import ObjectRef, find_version
from .sync import BoundaryError, find_untracked, foreign, observe
from .sync.compare import without_canary_scale
from .sync.pending import Pending
from .sync.pending import delivered as delivered_of
from .sync.pending import pending as pending_change
from .sync.tracking import tracking_id

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
    incident: str | None = None  # the incident its environment is in (incident mode), by its id
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


class LiveFleet:
    """The fleet for a reader that refreshes often (the console), at a fraction of a full read's cost.

    Lists come from watched stores (cluster/listers.py) instead of LISTs, and each cell's work (renders, pending
    commits, the comparison with live, health) is redone only when its inputs changed: Git's head, the cell's sync
    record, or the resourceVersion of a live object it has. A refresh of an unchanged 600-cell fleet then costs
    lookups. ``on_change`` (settable at any time) is called from a watch thread whenever the cluster changes
    something listed: a reader may refresh then instead of waiting for its period.
    """

    def __init__(self, engine: Engine, on_change: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_change = on_change
        self._listers: dict[int, Listers] = {}
        self._memo = _Memo()
        self._lock = threading.Lock()
        self._stopped = False  # a snapshot after stop() reads the cluster itself and starts no watch

    def snapshot(self) -> FleetView:
        with self._lock:
            view = snapshot(self.engine, self._reads, self._memo)
            for lister in self._listers.values():
                if self._stopped:  # stopped while this read ran: its lists are not followed
                    lister.stop()
                else:
                    lister.follow()
            return view

    def stop(self) -> None:
        """At once, even while a snapshot runs (a console quitting does not wait for a slow cluster)."""
        self._stopped = True
        for lister in list(self._listers.values()):
            lister.stop()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _reads(self, cluster: Cluster) -> Cluster | Listers:
        if self._stopped:
            return cluster
        if id(cluster) not in self._listers:
            self._listers[id(cluster)] = Listers(cluster, self._changed)
        return self._listers[id(cluster)]


@dataclass
class _GitSide:
    """One cell's Git: the head's objects, what is pending, and the objects live is compared with (or a refusal).
    What every snapshot looks up is kept ready: ``objects`` (of both) and their identities, and one ref per
    (apiVersion, kind, namespace) they have, for the lists."""

    head: list = field(default_factory=list)
    wanted: Pending | None = None
    desired: list = field(default_factory=list)
    refusal: str = ""
    objects: tuple[dict, ...] = ()
    ids: tuple[tuple[str, str, str, str], ...] = ()
    kinds: dict[tuple[str, str, str], ObjectRef] = field(default_factory=dict)


@dataclass
class _Judged:
    """One cell against live: a boundary refusal, or drift, version and health."""

    refusal: str = ""
    drifted: int = 0
    version: str | None = None
    health: str = health_checks.UNKNOWN
    message: str = ""


@dataclass
class _Memo:
    """Each cell's work by its inputs; an entry not used by the last snapshot is forgotten."""

    git: dict[tuple, _GitSide] = field(default_factory=dict)
    judged: dict[tuple, _Judged] = field(default_factory=dict)
    records: dict[str, tuple[str, records.SyncRecord]] = field(default_factory=dict)  # see records.read_all


def _versions(live: dict, ids: tuple) -> tuple[str | None, ...]:
    """The resourceVersion of each object live (None: not there); an object the API server answered always has one."""
    return tuple(None if (o := live.get(i)) is None else o["metadata"].get("resourceVersion") for i in ids)


def _git_side(engine: Engine, spec, environment, record, sha: str, known: dict, memo: dict) -> tuple[tuple, _GitSide]:
    key = (spec.name, environment.name, sha, delivered_of(record), record.last)
    found = known.get(key)
    if found is None:
        found = _GitSide()
        try:
            _, found.head = engine.workspace.desired(spec, environment, sha)
            found.wanted = pending_change(engine.workspace, spec, environment, record, sha)
            found.desired = found.head
            if found.wanted.changed and found.wanted.delivered is not None:
                _, found.desired = engine.workspace.desired(spec, environment, found.wanted.delivered)
            found.objects = (*found.desired, *found.head)
            refs = [ObjectRef.of(o) for o in found.objects]
            found.ids = tuple(ref.identity for ref in refs)
            found.kinds = {(ref.api_version, ref.kind, ref.namespace): ref for ref in refs}
        except SourceError as e:  # refused or broken manifests are this cell's problem, not the whole fleet's
            found = _GitSide(wanted=found.wanted, refusal=str(e))  # the commits waiting are still shown
    memo[key] = found
    return key, found


def _judge(
    target: drifting.Target,
    head: list,
    observation,
    tracked: dict,
    delivered: bool,
    rolling: bool,
    rules: Mapping[str, HealthRule],
) -> _Judged:
    if refusals := foreign(head, observation, target.app, target.env):
        return _Judged(refusal=str(BoundaryError(f"{target.app.name} in {target.env.name}", refusals)))
    differences = drifting.compare_target(target, observation.live, tracked)
    if rolling:  # a canary scaling stable is not drift; a hand change made meanwhile is
        differences = without_canary_scale(target.app, target.env, differences)
    live = [o for o in (observation.get(ObjectRef.of(d)) for d in target.desired) if o is not None]
    health, message = health_checks.overall(
        ((str(ObjectRef.of(o)), observation.get(ObjectRef.of(o))) for o in target.desired), rules
    )
    return _Judged("", len(differences) if delivered else 0, find_version(live, target.app.container), health, message)


def snapshot(
    engine: Engine, reads: Callable[[Cluster], Cluster | Listers] | None = None, memo: _Memo | None = None
) -> FleetView:
    """Every cell of the fleet; ``reads`` and ``memo`` are a LiveFleet's (a plain read LISTs and works afresh)."""
    reads_of = reads or (lambda cluster: cluster)
    memo = memo or _Memo()
    known_git, known_judged = memo.git, memo.judged
    memo.git, memo.judged = {}, {}
    sha = engine.repo.resolve()
    config = engine.config
    targets_by_cluster: dict[int, list[tuple[drifting.Target, tuple, _GitSide]]] = {}
    per_namespace: dict[tuple[int, str], dict] = {}
    cells: dict[tuple[str, str], Cell] = {}
    errors: list[str] = []
    unreachable: dict[str, str] = {}
    read_by_cluster: dict[int, Cluster | Listers] = {}
    for spec, environment in engine.pairs():
        cluster = engine.cluster(environment)
        read = read_by_cluster.setdefault(id(cluster), reads_of(cluster))
        key = (id(cluster), environment.namespace)
        if key not in per_namespace:
            try:
                per_namespace[key] = {
                    "records": records.read_all(read, environment.namespace, memo.records),
                    "rollouts": rollout_records.read_all(read, environment.namespace),
                    "locks": {(i.app, i.env): i for i in Locks(read, environment.namespace).held()},
                    "followed": engine.following.held(environment, read),
                    "requests": {
                        (r.app, r.env): r
                        for r in map(
                            request_of,
                            read.list("v1", "ConfigMap", environment.namespace, label_selector=REQUEST_LABEL),
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
        git_key, git = _git_side(engine, spec, environment, record, sha, known_git, memo.git)
        wanted = git.wanted
        if not git.refusal:
            target = drifting.Target(spec, environment, git.desired, record.inventory)
            targets_by_cluster.setdefault(id(cluster), []).append((target, git_key, git))
        followed = (known.get("followed") or {}).get(spec.name) or Followed()
        lock = (known.get("locks") or {}).get((spec.name, environment.name))
        changed = wanted is not None and wanted.changed
        cells[(spec.name, environment.name)] = Cell(
            spec.name,
            environment.name,
            None,
            health_checks.UNKNOWN if not known or git.refusal else "OutOfSync" if changed else "Synced",
            health_checks.UNKNOWN,
            git.refusal,
            rollout=(known.get("rollouts") or {}).get((spec.name, environment.name)),
            steps=len(spec.canary.steps) if spec.canary else 0,
            locked_by=f"{lock.actor} ({lock.operation})" if lock else None,
            pending=(known.get("requests") or {}).get((spec.name, environment.name)),
            commits=tuple(wanted.commits) if wanted is not None else (),
            held=followed.message if followed.state == HELD and changed and followed.revision == sha else "",
        )
    in_use = {id(r) for known in per_namespace.values() for r in (known.get("records") or {}).values()}
    memo.records = {name: entry for name, entry in memo.records.items() if id(entry[1]) in in_use}
    now = datetime.now(UTC)
    for environment in config.environments.values():
        try:
            cluster = engine.cluster(environment)
            read = read_by_cluster.setdefault(id(cluster), reads_of(cluster))
            freeze = policy.active_freeze(environment, now, engine.promotions.manual_freeze(environment, read))
            incident = engine.promotions.incidents.active(environment, read)
        except ClusterError:
            continue
        for cell in cells.values():
            if cell.env == environment.name:
                cell.frozen = (f"{freeze.name}: {freeze.reason}" if freeze.reason else freeze.name) if freeze else None
                cell.incident = incident.id if incident else None
    for cluster_id, judged in targets_by_cluster.items():
        read = read_by_cluster[cluster_id]
        try:
            kinds: dict[tuple[str, str, str], ObjectRef] = {}
            for _, _, git in judged:
                kinds.update(git.kinds)
            observation = observe(read, kinds.values())
            live = observation.live
            versions = [_versions(live, git.ids) for _, _, git in judged]
            unseen = [
                obj
                for (_, _, git), found in zip(judged, versions, strict=True)
                if None in found
                for obj, version in zip(git.objects, found, strict=True)
                if version is None
            ]
            if unseen:  # made by hand without our label, or not there at all: read one by one, from the cluster
                find_untracked(read.cluster if isinstance(read, Listers) else read, unseen, observation)
                versions = [_versions(live, git.ids) for _, _, git in judged]
        except ClusterError as e:
            errors.append(str(e))
            continue
        tracked = drifting.by_tracking_id(live)
        for (target, git_key, git), found_versions in zip(judged, versions, strict=True):
            cell = cells[(target.app.name, target.env.name)]
            if cell.sync == health_checks.UNKNOWN:
                continue
            own = tracking_id(target.app.name, target.env.name)
            live_key = (
                git_key,
                cell.rolling,
                found_versions,
                tuple(sorted(o["metadata"].get("resourceVersion") or "" for o in tracked.get(own, []))),
            )
            found = known_judged.get(live_key) or _judge(
                target,
                git.head,
                observation,
                tracked,
                git.wanted is not None and git.wanted.delivered is not None,
                cell.rolling,
                engine.config.health,
            )
            memo.judged[live_key] = found
            if found.refusal:
                cell.message, cell.sync = found.refusal, health_checks.UNKNOWN
                continue
            cell.drifted, cell.version, cell.health, cell.message = (
                found.drifted,
                found.version,
                found.health,
                found.message,
            )
    apps = sorted(config.apps)
    envs = [e for e in config.promotion_chain]
    return FleetView(apps, envs, cells, sha, now, errors, unreachable)
