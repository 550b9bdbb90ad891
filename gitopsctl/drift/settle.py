"""What one scan means for one app's drift incident: a pure decision over plain values.

``settle`` reads nothing and writes nothing; DriftReports (incidents.py) reads
the incidents, asks ``settle`` for each scanned app, and carries the decision
out: saving, reporting, healing. So every transition is tested in a table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from .model import AppDrift


@dataclass
class Incident:
    app: str
    env: str
    fingerprint: str
    opened_at: str
    objects: int = 0
    scans: int = 1
    reminded: bool = False
    snoozed_until: str | None = None
    ref: dict[str, str] = field(default_factory=dict)  # where the notifier reported it (channel, ts)
    reported: bool = False

    def snoozed(self, now: datetime) -> bool:
        return bool(self.snoozed_until) and datetime.fromisoformat(self.snoozed_until) > now


def fingerprint(drift: AppDrift) -> str:
    """The same objects with the same differences give the same fingerprint."""
    parts = sorted(
        (str(r.ref), r.state, sorted((f.path, json.dumps(f.live, default=str, sort_keys=True)) for f in r.fields))
        for r in drift.resources
    )
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


class Action(StrEnum):
    SKIP = "skip"  # a rollout or a lock is at work: live may differ on purpose, the incident is left as it is
    CLEAN = "clean"  # no drift and no incident: nothing to do
    HEAL = "heal"  # self-heal is on: sync first, then settle again with whether it succeeded
    HEALED = "healed"  # healed before any incident: report it as healed, keep nothing
    OPEN = "open"  # a new incident: save it first, then report it
    REPORT = "report"  # saved by a leader that died before reporting it: report it now
    UNCHANGED = "unchanged"  # the same drift again: count the scan, say nothing
    CHANGED = "changed"  # the drift is different now: update the report
    REMIND = "remind"  # unresolved for reminder_after_scans scans: remind once, unless snoozed
    RESOLVE = "resolve"  # live matches Git again: close the incident
    RESOLVE_HEALED = "resolve-healed"  # self-heal synced it: close the incident as healed


@dataclass(frozen=True)
class Decision:
    action: Action
    incident: Incident | None  # the incident the action is about, as it is after this scan


def settle(
    incident: Incident | None,
    drift: AppDrift | None,
    now: datetime,
    *,
    reminder_after_scans: int,
    lease_duration: float,
    self_heal: bool = False,
    healed: bool | None = None,
    busy: bool = False,
) -> Decision:
    """Decide what a scan of one app means for its incident; never changes the incident given.

    ``healed`` is None until a self-heal was tried, then whether it succeeded.
    """
    if busy:
        return Decision(Action.SKIP, incident)
    if drift is None:
        return Decision(Action.RESOLVE, incident) if incident is not None else Decision(Action.CLEAN, None)
    if self_heal and healed is None:
        return Decision(Action.HEAL, incident)
    if healed:
        if incident is None:
            return Decision(Action.HEALED, _new(drift, now))
        return Decision(Action.RESOLVE_HEALED, incident)
    if incident is None:
        return Decision(Action.OPEN, _new(drift, now))
    if not incident.reported and _orphaned(incident, now, lease_duration):
        return Decision(Action.REPORT, incident)
    scans = incident.scans + 1
    current = fingerprint(drift)
    if current != incident.fingerprint:
        return Decision(
            Action.CHANGED, replace(incident, scans=scans, fingerprint=current, objects=len(drift.resources))
        )
    if scans >= reminder_after_scans and not incident.reminded and not incident.snoozed(now):
        return Decision(Action.REMIND, replace(incident, scans=scans, reminded=True))
    return Decision(Action.UNCHANGED, replace(incident, scans=scans))


def _new(drift: AppDrift, now: datetime) -> Incident:
    return Incident(drift.app, drift.env, fingerprint(drift), now.isoformat(), len(drift.resources))


def _orphaned(incident: Incident, now: datetime, lease_duration: float) -> bool:
    """Saved but never reported, and older than a leader hand-over takes (two lease durations)."""
    return (now - datetime.fromisoformat(incident.opened_at)).total_seconds() > 2 * lease_duration
