"""What a scan means for an app's drift incident: every transition of the pure settle(), in a table."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gitopsctl.drift.model import AppDrift
from gitopsctl.drift.settle import Action, Decision, Incident, fingerprint, settle
from gitopsctl.source.manifests import ObjectRef
from gitopsctl.sync.diff import FieldChange, ResourceDiff

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LEASE = 15.0  # seconds; an unreported incident is an orphan after two of them
RULES = {"reminder_after_scans": 3, "lease_duration": LEASE}


def drift(replicas: int = 3, *, objects: int = 1) -> AppDrift:
    change = FieldChange("spec.replicas", "/spec/replicas", 1, replicas)
    resources = [
        ResourceDiff(ObjectRef("apps/v1", "Deployment", "trading-dev", f"app-{i}"), "changed", [change])
        for i in range(objects)
    ]
    return AppDrift("trade-service", "dev", resources)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


def fp(replicas: int = 3, *, objects: int = 1) -> str:
    return fingerprint(drift(replicas, objects=objects))


SNOOZED = (NOW + timedelta(hours=1)).isoformat()
ORPHAN = ago(2 * LEASE + 1)  # saved by a leader that died before reporting it
REPORTED = Incident(
    "trade-service", "dev", fp(), ago(600), objects=1, ref={"channel": "#dev", "ts": "1.0"}, reported=True
)
NEW = Incident("trade-service", "dev", fp(), NOW.isoformat(), objects=1)


def reported(**changes) -> Incident:
    return replace(REPORTED, **changes)


def unreported(**changes) -> Incident:
    return replace(REPORTED, reported=False, ref={}, **changes)


HEAL = {"self_heal": True}
CASES = [
    # (what happens, incident, drift, options, action, incident after)
    ("nothing drifted, nothing open", None, None, {}, Action.CLEAN, None),
    ("live matches Git again: resolved", reported(), None, {}, Action.RESOLVE, reported()),
    ("busy (rollout or lock): drift not reported", None, drift(), {"busy": True}, Action.SKIP, None),
    ("busy: an open incident is not resolved either", reported(), None, {"busy": True}, Action.SKIP, reported()),
    ("new drift opens an incident, not yet reported", None, drift(), {}, Action.OPEN, NEW),
    ("new drift of two objects", None, drift(objects=2), {}, Action.OPEN, replace(NEW, fingerprint=fp(objects=2), objects=2)),
    ("the same drift again: counted, not reported", reported(), drift(), {}, Action.UNCHANGED, reported(scans=2)),
    ("different drift updates the report", reported(), drift(4), {}, Action.CHANGED, reported(scans=2, fingerprint=fp(4))),
    ("a change wins over a due reminder", reported(scans=2), drift(4), {}, Action.CHANGED, reported(scans=3, fingerprint=fp(4))),
    ("a change counts its objects", reported(), drift(objects=2), {}, Action.CHANGED, reported(scans=2, fingerprint=fp(objects=2), objects=2)),
    ("reminder_after_scans reached: remind", reported(scans=2), drift(), {}, Action.REMIND, reported(scans=3, reminded=True)),
    ("past it, not reminded yet: remind", reported(scans=7), drift(), {}, Action.REMIND, reported(scans=8, reminded=True)),
    ("reminded once: never again", reported(scans=3, reminded=True), drift(), {}, Action.UNCHANGED, reported(scans=4, reminded=True)),
    ("reminder_after_scans = 1", reported(), drift(), {"reminder_after_scans": 1}, Action.REMIND, reported(scans=2, reminded=True)),
    ("snoozed: no reminder", reported(scans=2, snoozed_until=SNOOZED), drift(), {}, Action.UNCHANGED, reported(scans=3, snoozed_until=SNOOZED)),
    ("snooze over: the reminder comes", reported(scans=2, snoozed_until=ago(1)), drift(), {}, Action.REMIND, reported(scans=3, snoozed_until=ago(1), reminded=True)),
    ("snoozed, a change is still reported", reported(snoozed_until=SNOOZED), drift(4), {}, Action.CHANGED, reported(scans=2, fingerprint=fp(4), snoozed_until=SNOOZED)),
    ("snoozed, resolved all the same", reported(snoozed_until=SNOOZED), None, {}, Action.RESOLVE, reported(snoozed_until=SNOOZED)),
    ("orphan (older than two leases): report it", unreported(opened_at=ORPHAN), drift(), {}, Action.REPORT, unreported(opened_at=ORPHAN)),
    ("orphan whose drift changed: report it", unreported(opened_at=ORPHAN), drift(4), {}, Action.REPORT, unreported(opened_at=ORPHAN)),
    ("unreported, two leases old exactly: not yet", unreported(opened_at=ago(2 * LEASE)), drift(), {}, Action.UNCHANGED, unreported(opened_at=ago(2 * LEASE), scans=2)),
    ("unreported, saved just now: left to its leader", unreported(opened_at=ago(1)), drift(), {}, Action.UNCHANGED, unreported(opened_at=ago(1), scans=2)),
    ("orphan whose drift is gone: resolved", unreported(opened_at=ORPHAN), None, {}, Action.RESOLVE, unreported(opened_at=ORPHAN)),
    ("self-heal: heal before anything is opened", None, drift(), HEAL, Action.HEAL, None),
    ("self-heal: heal an open incident too", reported(), drift(), HEAL, Action.HEAL, reported()),
    ("self-heal, no drift: resolved, not healed", reported(), None, HEAL, Action.RESOLVE, reported()),
    ("self-heal, nothing open or drifted", None, None, HEAL, Action.CLEAN, None),
    ("self-heal, busy: skipped, not healed", None, drift(), {**HEAL, "busy": True}, Action.SKIP, None),
    ("healed, no incident: reported as healed", None, drift(), {**HEAL, "healed": True}, Action.HEALED, NEW),
    ("healed, incident open: closed as healed", reported(), drift(), {**HEAL, "healed": True}, Action.RESOLVE_HEALED, reported()),
    ("heal failed, no incident: opens one", None, drift(), {**HEAL, "healed": False}, Action.OPEN, NEW),
    ("heal failed, incident open: counted", reported(), drift(), {**HEAL, "healed": False}, Action.UNCHANGED, reported(scans=2)),
    ("heal failed, reminder due: remind", reported(scans=2), drift(), {**HEAL, "healed": False}, Action.REMIND, reported(scans=3, reminded=True)),
    ("heal failed, orphan: report it", unreported(opened_at=ORPHAN), drift(), {**HEAL, "healed": False}, Action.REPORT, unreported(opened_at=ORPHAN)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("incident", "found", "options", "action", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_settle(incident, found, options, action, after):
    given = copy.deepcopy(incident)
    assert settle(incident, found, NOW, **{**RULES, **options}) == Decision(action, after)
    assert incident == given  # the incident given is never changed


def test_a_reminder_comes_once_on_the_scan_reminder_after_scans_names():
    actions, incident = [], None
    for _ in range(6):
        decision = settle(incident, drift(), NOW, reminder_after_scans=3, lease_duration=LEASE)
        actions.append(decision.action)
        incident = replace(decision.incident, reported=True) if decision.action is Action.OPEN else decision.incident
    assert actions == ["open", "unchanged", "remind", "unchanged", "unchanged", "unchanged"]
    assert incident.scans == 6


def test_the_fingerprint_ignores_order_and_follows_live_values():
    two = drift(objects=2)
    assert fingerprint(two) == fingerprint(AppDrift("trade-service", "dev", two.resources[::-1]))
    assert fingerprint(drift(3)) != fingerprint(drift(4))
