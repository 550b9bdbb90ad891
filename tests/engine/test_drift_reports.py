"""Drift incidents without Slack: what is reported, when, and what a new leader does with a half-reported one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gitopsctl.drift.incidents import DriftReports
from gitopsctl.drift.settle import fingerprint


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def drift_opened(self, incident, drift, healed):
        self.events.append(("healed" if healed else "opened", incident.app, incident.env))
        return {"channel": "#dev", "ts": f"{len(self.events)}.0"}

    def drift_details(self, incident, drift):
        pass

    def drift_changed(self, incident, drift, *, reminder):
        self.events.append(("reminder" if reminder else "changed", incident.app, incident.env))

    def drift_resolved(self, incident, how):
        self.events.append(("resolved", incident.app, how))

    def summary(self, env, lines):
        self.events.append(("summary", env, "; ".join(lines)))


def _scale(fleet, replicas: int) -> None:
    fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": replicas}})


def test_one_report_per_incident_a_change_an_update_then_a_reminder_then_resolution(fleet):
    engine = fleet.reload("\n[drift]\nreminder_after_scans = 3\n")
    for app in engine.config.apps:
        engine.sync(app, "dev", wait=True, timeout=30)
    recorder = Recorder()
    reports = DriftReports(engine, recorder)
    assert reports.scan("dev") == 0 and recorder.events == []
    _scale(fleet, 3)
    assert reports.scan("dev") == 1
    reports.scan("dev")
    assert recorder.events == [("opened", "trade-service", "dev")]
    _scale(fleet, 4)  # the same incident, drifting differently
    reports.scan("dev")
    reports.scan("dev")
    assert recorder.events[1:] == [("changed", "trade-service", "dev"), ("reminder", "trade-service", "dev")]
    reports.scan("dev")
    assert len(recorder.events) == 3  # one reminder only
    engine.sync("trade-service", "dev", wait=True, timeout=30)
    reports.check("trade-service", "dev", how="synced by bob")
    assert recorder.events[-1] == ("resolved", "trade-service", "synced by bob")
    assert reports.open_incidents("dev") == {}


def test_an_incident_saved_but_never_reported_is_reported_by_the_next_leader(fleet):
    engine = fleet.reload()
    for app in engine.config.apps:
        engine.sync(app, "dev", wait=True, timeout=30)
    _scale(fleet, 3)
    first = DriftReports(engine, Recorder())
    first.scan("dev")
    incident = first.open_incidents("dev")["trade-service"]
    assert incident.reported and incident.ref == {"channel": "#dev", "ts": "1.0"}

    # as if the leader died between saving the incident and posting it, just now: not reported again yet
    store, version = first._read("dev")
    store["trade-service"] = replace(incident, reported=False, ref={})
    first._write("dev", store, version)
    recorder = Recorder()
    DriftReports(engine, recorder).scan("dev")
    assert recorder.events == []
    # ...and after two lease durations it is
    store, version = first._read("dev")
    old = (datetime.now(UTC) - timedelta(seconds=3 * engine.config.serve.lease_duration)).isoformat()
    store["trade-service"] = replace(store["trade-service"], opened_at=old)
    first._write("dev", store, version)
    DriftReports(engine, recorder).scan("dev")
    assert recorder.events == [("opened", "trade-service", "dev")]


def test_apps_in_a_rollout_or_under_a_lock_are_not_reported(fleet):
    from gitopsctl.cluster.locks import Locks

    engine = fleet.reload()
    for app in engine.config.apps:
        engine.sync(app, "dev", wait=True, timeout=30)
    _scale(fleet, 3)
    recorder = Recorder()
    cluster = engine.cluster(engine.config.environments["dev"])
    with Locks(cluster, "trading-dev").hold("trade-service", "dev", actor="erin", operation="deploy v2"):
        DriftReports(engine, recorder).scan("dev")
    assert recorder.events == []
    DriftReports(engine, recorder).scan("dev")
    assert recorder.events == [("opened", "trade-service", "dev")]


def test_the_fingerprint_follows_what_differs():
    from gitopsctl.drift.model import AppDrift
    from gitopsctl.source.manifests import ObjectRef
    from gitopsctl.sync.diff import FieldChange, ResourceDiff

    def drift(live):
        change = FieldChange("spec.replicas", "/spec/replicas", 1, live)
        return AppDrift("a", "dev", [ResourceDiff(ObjectRef("apps/v1", "Deployment", "ns", "a"), "changed", [change])])

    assert fingerprint(drift(3)) == fingerprint(drift(3)) != fingerprint(drift(4))


def test_the_summary_counts_each_environment_from_one_fleet_snapshot(fleet):
    from gitopsctl.serve.scheduler import Scheduler

    engine = fleet.reload()
    for app in engine.config.apps:
        engine.sync(app, "dev", wait=True, timeout=30)
    _scale(fleet, 3)
    recorder = Recorder()
    reports = DriftReports(engine, recorder)
    reports.scan("dev")
    Scheduler(engine, reports, recorder).summary()
    summaries = {env: text for kind, env, text in recorder.events if kind == "summary"}
    assert summaries["dev"] == (  # in sync with Git (nothing undelivered), and drifted by hand: two facts
        "3/3 apps in sync; drifted: trade-service; not Healthy: none; rollouts in progress: none"
    )
    assert summaries["prod"].startswith("0/3 apps in sync")
