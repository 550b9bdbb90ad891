"""Quarantine: a version that was aborted or rolled back anywhere is refused everywhere until a person lifts it.

A version is an image tag; a change that kept the tag (a new env var, new
resources) is known by its pod template's digest (``template-<digest>``). Each
entry keeps the numbers that failed, so a refusal can quote them. One ConfigMap
in the namespace where replicas meet, so every replica and front end sees the
same list; lifting needs a reason, and the last lifts are kept beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from .client import Cluster
from .stored import RecordStore

STORE = "gitopsctl-quarantine"
LIFTED = "lifted"  # the data key of the last lifts, newest first
LIFTS_KEPT = 20
ATTEMPTS = 5


@dataclass(frozen=True)
class Quarantined:
    app: str
    version: str  # an image tag, or "template-<digest>"
    env: str  # where it failed
    reason: str  # what failed, with its numbers
    by: str
    at: str
    lifted_by: str = ""
    lifted_reason: str = ""

    def describe(self) -> str:
        return f"{self.app} {self.version} is quarantined since it failed in {self.env} ({self.reason}; {self.at})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {f.name for f in fields(Quarantined)}
log = logging.getLogger(__name__)


def template_version(digest: str) -> str:
    return f"template-{digest}"


def _key(app: str, version: str) -> str:
    """A ConfigMap key (``[-._a-zA-Z0-9]+``) for any version, a digest-pinned ``sha256:...`` one included."""
    return f"{app}.{hashlib.sha256(version.encode()).hexdigest()[:20]}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(value: Any) -> Quarantined | None:
    """One entry as written by any replica: unknown fields (a newer one's) ignored, a damaged one skipped."""
    try:
        data = json.loads(value) if isinstance(value, str) else value
        return Quarantined(**{k: str(v) for k, v in data.items() if k in _FIELDS})
    except (TypeError, ValueError, AttributeError):
        log.warning("skipping a damaged quarantine entry")
        return None


def _parse_data(data: dict[str, str]) -> tuple[dict[str, Quarantined], list[Quarantined]]:
    data = dict(data)
    try:
        lifts = json.loads(data.pop(LIFTED, "[]"))
    except ValueError:
        lifts = []
    lifted = [e for e in map(_entry, lifts if isinstance(lifts, list) else []) if e is not None]
    entries = {key: e for key, e in ((k, _entry(v)) for k, v in data.items()) if e is not None}
    return entries, lifted


def read_all(cluster: Cluster, namespace: str) -> list[Quarantined]:
    entries, _ = _parse_data(RecordStore(cluster, namespace).read(STORE).data)
    return sorted(entries.values(), key=lambda q: (q.app, q.at))


def lifted(cluster: Cluster, namespace: str) -> list[Quarantined]:
    return _parse_data(RecordStore(cluster, namespace).read(STORE).data)[1]


def find(entries: list[Quarantined], app: str, versions: list[str]) -> Quarantined | None:
    """The entry that refuses any of ``versions`` of ``app`` (its tag, its template), or None."""
    return next((q for q in entries if q.app == app and q.version in versions), None)


def _change(cluster: Cluster, namespace: str, edit) -> Any:
    """Read, edit, write with the resourceVersion read; another writer in between means read again."""

    def edited(data: dict[str, str]) -> tuple[dict[str, str], Any]:
        entries, lifts = _parse_data(data)
        result = edit(entries, lifts)
        written = {
            **{key: json.dumps(q.as_dict()) for key, q in entries.items()},
            LIFTED: json.dumps([q.as_dict() for q in lifts[:LIFTS_KEPT]]),
        }
        return written, result

    return RecordStore(cluster, namespace).change(STORE, {"gitopsctl.io/quarantine": "true"}, edited)


def add(cluster: Cluster, namespace: str, app: str, version: str, *, env: str, reason: str, by: str) -> Quarantined:
    """Quarantine ``version`` of ``app``; an entry already there keeps its first failure."""

    def edit(entries: dict[str, Quarantined], lifts: list[Quarantined]) -> Quarantined:
        key = _key(app, version)
        entries.setdefault(key, Quarantined(app, version, env, reason, by, _now()))
        return entries[key]

    return _change(cluster, namespace, edit)


def lift(cluster: Cluster, namespace: str, app: str, version: str, *, by: str, reason: str) -> Quarantined | None:
    """Lift the quarantine of ``version``, keeping who lifted it and why; None when it was not quarantined."""

    def edit(entries: dict[str, Quarantined], lifts: list[Quarantined]) -> Quarantined | None:
        entry = entries.pop(_key(app, version), None)
        if entry is None:
            return None
        done = Quarantined(**{**entry.as_dict(), "lifted_by": by, "lifted_reason": reason})
        lifts.insert(0, done)
        return done

    return _change(cluster, namespace, edit)
