"""Sync records in the cluster: each app/environment's history and inventory.

One ConfigMap per app/environment (``gitopsctl-sync-<app>-<env>`` in the
environment's namespace) holds the last 20 syncs and the inventory of objects
the last sync left behind, which is what prune trusts. Every front end reads the
same record, so no local database is needed. Writes are read-modify-write with
the resourceVersion; a 409 re-reads and tries again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import ClusterError
from ..source.manifests import ObjectRef
from .client import Cluster
from .stored import RecordStore

HISTORY_LIMIT = 20
RECORD_LABEL = "gitopsctl.io/record"


@dataclass(frozen=True)
class HistoryEntry:
    revision: str
    version: str | None
    actor: str
    time: str
    result: str  # Succeeded | Failed
    applied: int
    unchanged: int
    pruned: int
    health: str
    message: str = ""
    hooks: tuple[str, ...] = ()  # "<phase> <kind> <name> <result>", in the order they ran

    @property
    def hooks_shown(self) -> str:
        """The hooks in a few words: "PreSync ok, PostSync failed"."""
        return ", ".join(f"{h.split(' ')[0]} {'ok' if h.endswith(' Succeeded') else 'failed'}" for h in self.hooks)


@dataclass
class SyncRecord:
    app: str
    env: str
    history: list[HistoryEntry] = field(default_factory=list)
    inventory: list[ObjectRef] = field(default_factory=list)

    @property
    def last(self) -> HistoryEntry | None:
        return self.history[0] if self.history else None


def record_name(app: str, env: str) -> str:
    return f"gitopsctl-sync-{app}-{env}"


def _parse(app: str, env: str, cm: dict[str, Any] | None) -> SyncRecord:
    return SyncRecord(app, env) if cm is None else _parse_data(app, env, cm.get("data") or {})


def _parse_data(app: str, env: str, data: dict[str, str]) -> SyncRecord:
    try:
        history = [_entry(entry) for entry in json.loads(data.get("history", "[]"))]
        inventory = [ObjectRef(*ref) for ref in json.loads(data.get("inventory", "[]"))]
    except (TypeError, ValueError, AttributeError) as e:
        raise ClusterError(
            f"the sync record {record_name(app, env)} is damaged ({e}); delete it to start a fresh history"
        ) from e
    return SyncRecord(app, env, history, inventory)


def _entry(entry: dict[str, Any]) -> HistoryEntry:
    """One history entry; the keys a newer gitopsctl added are left for it."""
    known = {f.name for f in fields(HistoryEntry)}
    fields_of = {k: v for k, v in entry.items() if k in known}
    if "hooks" in fields_of:
        fields_of["hooks"] = tuple(str(h) for h in fields_of["hooks"])
    return HistoryEntry(**fields_of)


def read(cluster: Cluster, app: str, env: str, namespace: str) -> SyncRecord:
    return _parse(app, env, cluster.get("v1", "ConfigMap", record_name(app, env), namespace))


def read_all(
    cluster: Cluster, namespace: str, parsed: dict[str, tuple[str, SyncRecord]] | None = None
) -> dict[tuple[str, str], SyncRecord]:
    """Every sync record in a namespace, with one LIST.

    ``parsed``: for a reader that reads often (the console), each ConfigMap's record by its name, with the
    resourceVersion it was parsed at; a record whose ConfigMap did not change is not parsed again. Such records
    are shared and must not be changed."""
    records = {}
    for cm in cluster.list("v1", "ConfigMap", namespace, label_selector=f"{RECORD_LABEL}=sync"):
        meta = cm["metadata"]
        labels = meta.get("labels") or {}
        app, env = labels.get("gitopsctl.io/app"), labels.get("gitopsctl.io/env")
        if not (app and env):
            continue
        name, version = f"{namespace}/{meta.get('name')}", meta.get("resourceVersion") or ""
        known = parsed.get(name) if parsed is not None and version else None
        if known is not None and known[0] == version:
            records[(app, env)] = known[1]
            continue
        records[(app, env)] = _parse(app, env, cm)
        if parsed is not None and version:
            parsed[name] = (version, records[(app, env)])
    return records


def write(
    cluster: Cluster, namespace: str, app: str, env: str, entry: HistoryEntry, inventory: list[ObjectRef]
) -> SyncRecord:
    """Prepend ``entry`` to the history (keeping 20) and replace the inventory."""
    name = record_name(app, env)

    def edit(data: dict[str, str]) -> tuple[dict[str, str], SyncRecord]:
        record = _parse_data(app, env, data)
        record.history = [entry, *record.history][:HISTORY_LIMIT]
        record.inventory = sorted(set(inventory), key=lambda r: r.identity)
        written = {
            "history": json.dumps([asdict(h) for h in record.history]),
            "inventory": json.dumps([[r.api_version, r.kind, r.namespace, r.name] for r in record.inventory]),
        }
        return written, record

    labels = {RECORD_LABEL: "sync", "gitopsctl.io/app": app, "gitopsctl.io/env": env}
    return RecordStore(cluster, namespace).change(name, labels, edit)
