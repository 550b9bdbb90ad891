"""Drift incidents: one report per incident, kept in the cluster so no replica reports it twice.

A scan (scheduled, or a check started by a watch event) compares the fleet with
Git. Drift in an app that has no open incident opens one and is reported once
(or, with ``self_heal``, put back to what was delivered, never to a newer
commit, and reported as healed); the same drift on the
next scan is not reported again; drift that changes updates the report; after
``reminder_after_scans`` unresolved scans a reminder is sent (unless snoozed);
when the app matches Git again the report is marked resolved and the incident
closed. Incidents live in one ConfigMap per environment, written with the
resourceVersion read, so a new leader continues where the last one stopped. An
incident is saved before it is reported; one a dead leader saved but never
reported is reported by the next leader after two lease durations.

Apps with a rollout in progress or a held lock are skipped: their live state
is expected to differ while the operation runs. What each scan means is
decided by the pure ``settle`` (settle.py); this module reads the incidents,
carries the decisions out and writes them back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from ..cluster.locks import Locks
from ..cluster.stored import RecordStore
from ..errors import ClusterError, GitOpsError
from ..rollout import record as rollout_records
from .model import AppDrift
from .settle import Action, Incident, settle

if TYPE_CHECKING:
    from ..engine import Engine, SyncResult
    from ..release.following import Outcome
    from ..release.incident_mode import IncidentMode, Moment
    from ..release.requests import Request
    from ..rollout.record import Rollout

log = logging.getLogger(__name__)
STORE = "gitopsctl-drift-incidents"
SELF_HEAL_ACTOR = "gitopsctl self-heal"
MATCHES_GIT = "live matches Git again"


class Notifier(Protocol):
    """Where drift reports go (Slack in `gitopsctl serve`, the log without it)."""

    def drift_opened(self, incident: Incident, drift: AppDrift, healed: SyncResult | None) -> dict[str, str]: ...

    def drift_details(self, incident: Incident, drift: AppDrift) -> None: ...

    def drift_changed(self, incident: Incident, drift: AppDrift, *, reminder: bool) -> None: ...

    def drift_resolved(self, incident: Incident, how: str) -> None: ...

    def summary(self, env: str, lines: list[str]) -> None: ...

    def request_ended(self, request: Request) -> bool:
        """Show that an approval request ended where it was shown (its buttons removed); True when done."""
        ...

    def change_followed(self, outcome: Outcome) -> None:
        """Say what following Git did with a change (delivered, a canary started, awaiting approval, held, failed)."""
        ...

    def incident_reminder(self, mode: IncidentMode) -> None:
        """Remind the environment's channel that it is in incident mode (every 30 minutes while it lasts)."""
        ...

    def incident_ended(self, mode: IncidentMode, timeline: list[Moment]) -> None:
        """Say an incident mode ended, with its timeline for the postmortem."""
        ...

    def rollout_shown(self, rollout: Rollout) -> set[str]:
        """Bring the messages noted on a rollout and on those it replaced to their state (the replica that posted
        them may be gone); the deploy commits of those whose every message now shows its end."""
        ...


class LogNotifier:
    """Reports drift to the log, for serve without Slack."""

    def drift_opened(self, incident: Incident, drift: AppDrift, healed: SyncResult | None) -> dict[str, str]:
        what = "healed" if healed is not None else "found"
        log.warning("drift %s: %s in %s, %d objects", what, drift.app, drift.env, len(drift.resources))
        return {}

    def drift_details(self, incident: Incident, drift: AppDrift) -> None:
        for resource in drift.resources:
            log.warning(
                "  %s %s%s", resource.ref, resource.state, f" by {resource.changed_by}" if resource.changed_by else ""
            )

    def drift_changed(self, incident: Incident, drift: AppDrift, *, reminder: bool) -> None:
        log.warning("drift %s: %s in %s", "still unresolved" if reminder else "changed", drift.app, drift.env)

    def drift_resolved(self, incident: Incident, how: str) -> None:
        log.info("drift resolved: %s in %s (%s)", incident.app, incident.env, how)

    def summary(self, env: str, lines: list[str]) -> None:
        log.info("summary of %s: %s", env, "; ".join(lines))

    def request_ended(self, request: Request) -> bool:
        log.info("the %s ended: %s", request.describe(), request.ended)
        return True

    def rollout_shown(self, rollout: Rollout) -> set[str]:
        """Nothing is shown anywhere but the log, which had every event as it happened."""
        ended = set() if rollout.active else {rollout.deploy_commit}
        return ended | {str(e.get("deploy_commit")) for e in rollout.earlier}

    def change_followed(self, outcome: Outcome) -> None:
        log.info("Git change %s of %s in %s: %s", outcome.state, outcome.app, outcome.env, outcome.message)

    def incident_reminder(self, mode: IncidentMode) -> None:
        log.warning("%s is still in %s", mode.env, mode.shown)

    def incident_ended(self, mode: IncidentMode, timeline: list[Moment]) -> None:
        log.info(
            "incident mode for %s in %s ended (%s); %d actions in its timeline",
            mode.id,
            mode.env,
            mode.ended_by,
            len(timeline),
        )


def _now() -> datetime:
    return datetime.now(UTC)


class DriftReports:
    def __init__(self, engine: Engine, notifier: Notifier) -> None:
        self.engine = engine
        self.notifier = notifier
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in engine.config.environments}

    # ------------------------------------------------------------ scans

    def scan(self, env: str) -> int:
        """Scan a whole environment and report what changed since the last scan; the number of drifted objects."""
        started = time.monotonic()
        report = self.engine.drift(env)
        self.engine.metrics.scan_seconds.labels(env).observe(time.monotonic() - started)
        self.engine.metrics.drift_objects.labels(env).set(report.objects)
        scanned = {app for app, e in report.clean if e == env} | {d.app for d in report.drifted}
        self._settle(env, {d.app: d for d in report.drifted}, scanned)
        return report.objects

    def check(self, app: str, env: str, how: str = MATCHES_GIT) -> None:
        """Scan one app in one environment (a watch event said something changed, or someone synced it)."""
        report = self.engine.drift(env, (app,))
        self._settle(env, {d.app: d for d in report.drifted if d.env == env}, {app}, how)

    def snooze(self, app: str, env: str, seconds: float) -> Incident | None:
        """No reminders for this incident until the time is up; the report itself stays."""
        with self._locks[env]:
            incidents, version = self._read(env)
            incident = incidents.get(app)
            if incident is not None:
                incident.snoozed_until = (_now() + timedelta(seconds=seconds)).isoformat()
                self._write(env, incidents, version)
            return incident

    def open_incidents(self, env: str) -> dict[str, Incident]:
        return self._read(env)[0]

    # ------------------------------------------------------------ settling

    def _busy(self, env: str) -> set[str]:
        """Apps whose live state may differ on purpose now: a rollout in progress or an operation holding the lock."""
        environment = self.engine.config.environments[env]
        cluster = self.engine.cluster(environment)
        busy = {i.app for i in Locks(cluster, environment.namespace).held() if i.env == env}
        rollouts = rollout_records.read_all(cluster, environment.namespace)  # one LIST, not a GET per app
        return busy | {app for (app, e), rollout in rollouts.items() if e == env and rollout.active}

    def _settle(self, env: str, drifted: dict[str, AppDrift], scanned: set[str], how: str = MATCHES_GIT) -> None:
        """Settle each scanned app (see settle.py) and carry the decisions out, saving once at the end."""
        config = self.engine.config
        rules = {
            "reminder_after_scans": config.drift.reminder_after_scans,
            "lease_duration": config.serve.lease_duration,
            # no self-heal in incident mode: the responders' hand fixes stay
            "self_heal": config.environments[env].self_heal
            and self.engine.promotions.incidents.active(config.environments[env]) is None,
        }
        with self._locks[env]:
            incidents, version = self._read(env)
            busy = self._busy(env) if drifted or incidents else set()
            now = _now()
            for app in sorted(scanned):
                drift = drifted.get(app)
                decision = settle(incidents.get(app), drift, now, busy=app in busy, **rules)
                healed = None
                if decision.action is Action.HEAL:
                    healed = self._heal(app, env)
                    succeeded = healed is not None and healed.result == "Succeeded"
                    decision = settle(incidents.get(app), drift, now, healed=succeeded, **rules)
                incident = decision.incident
                match decision.action:
                    case Action.RESOLVE:
                        self.notifier.drift_resolved(incident, self._how_resolved(app, env, how))
                        del incidents[app]
                    case Action.RESOLVE_HEALED:
                        self.notifier.drift_resolved(incident, f"healed automatically by {SELF_HEAL_ACTOR}")
                        del incidents[app]
                    case Action.HEALED:  # reported, never kept: there is nothing left to resolve
                        incident = replace(incident, ref=self.notifier.drift_opened(incident, drift, healed) or {})
                        self.notifier.drift_details(incident, drift)
                    case Action.OPEN:
                        # saved before it is reported: a leader killed in between leaves no report to repeat
                        incidents[app] = incident
                        version = self._write(env, incidents, version)
                        if version is None:
                            return  # another replica wrote the incidents meanwhile: it is leading now
                        version = self._report(env, incidents, incident, drift, version)
                    case Action.REPORT:  # it may, rarely, be reported twice
                        version = self._report(env, incidents, incident, drift, version)
                    case Action.CHANGED | Action.REMIND:
                        incidents[app] = incident
                        self.notifier.drift_changed(incident, drift, reminder=decision.action is Action.REMIND)
                    case Action.UNCHANGED:
                        incidents[app] = incident
            self._write(env, incidents, version)

    def _how_resolved(self, app: str, env: str, how: str) -> str:
        """``how``, unless drift ended because someone kept it in Git (an adoption): then who, and the commit."""
        if how != MATCHES_GIT:
            return how
        try:
            return self.engine.adoptions.kept(app, env) or how
        except GitOpsError as e:  # the report is resolved all the same; only its wording is plainer
            log.warning("cannot tell whether %s in %s was adopted: %s", app, env, e)
            return how

    def _report(
        self, env: str, incidents: dict[str, Incident], incident: Incident, drift: AppDrift, version: str | None
    ) -> str | None:
        """Post the report, save where it went at once, then the details (the slow part) in its thread."""
        incident.ref = self.notifier.drift_opened(incident, drift, None) or {}
        incident.reported = True
        version = self._write(env, incidents, version)
        self.notifier.drift_details(incident, drift)
        return version

    def _heal(self, app: str, env: str) -> SyncResult | None:
        try:
            return self.engine.repair(app, env, timeout=120, actor=SELF_HEAL_ACTOR)  # never a Git change
        except GitOpsError as e:
            log.warning("self-heal of %s in %s failed: %s", app, env, e)
            return None

    # ------------------------------------------------------------ the store

    def _read(self, env: str) -> tuple[dict[str, Incident], str | None]:
        environment = self.engine.config.environments[env]
        cm = self.engine.cluster(environment).get("v1", "ConfigMap", STORE, environment.namespace)
        if cm is None:
            return {}, None
        incidents = {app: Incident(**json.loads(text)) for app, text in (cm.get("data") or {}).items()}
        return incidents, cm["metadata"]["resourceVersion"]

    def _write(self, env: str, incidents: dict[str, Incident], version: str | None) -> str | None:
        """Save with the resourceVersion read; the new one, or None when another replica wrote first."""
        environment = self.engine.config.environments[env]
        store = RecordStore(self.engine.cluster(environment), environment.namespace)
        data = {app: json.dumps(asdict(i)) for app, i in incidents.items()}
        try:
            return store.write(STORE, {"gitopsctl.io/drift": "true"}, data, version)
        except ClusterError as e:  # a conflict included
            # another leader wrote in between (a hand-over): its view wins, the next scan settles the rest
            log.warning("drift incidents of %s changed under us (%s); the next scan settles it", env, e)
            return None
