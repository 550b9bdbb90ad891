"""The rollout record: everything a rollout needs to continue, kept in the cluster.

One ConfigMap per app/environment. ``reconcile()`` in any process reads it, takes
the next idempotent step and writes it back with the resourceVersion it read, so
two controllers never both act and a process killed at any point loses nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from ..analysis.measurement import Measurement
from ..cluster.client import Cluster
from ..cluster.stored import RecordStore
from ..errors import ConflictError, PolicyError

PENDING, PROGRESSING, PAUSED, PROMOTED, ABORTED, FAILED = (
    "Pending",
    "Progressing",
    "Paused",
    "Promoted",
    "Aborted",
    "Failed",
)
ACTIVE = frozenset({PENDING, PROGRESSING, PAUSED})
MEASUREMENT_HISTORY = 100
EVENT_HISTORY = 50
EARLIER_KEPT = 20  # how the last rollouts ended, for the leader's notes and for analysis replays
RECORD_LABEL = "gitopsctl.io/rollout"


@dataclass
class Rollout:
    app: str
    env: str
    phase: str
    stable_version: str
    canary_version: str
    deploy_commit: str
    actor: str
    started_at: str
    step: int = 0
    weight: int = 0
    step_started_at: str | None = None
    paused_by_hand: bool = False
    promote_full: bool = False
    message: str = ""
    revert_commit: str | None = None
    base_commit: str | None = None  # the revision delivered before the rollout: what an abort syncs back to
    change: str = ""  # that change's commit title
    template: str = ""  # the digest of the canary's pod template (what quarantine knows a same-tag change by)
    # an abort under way, saved before it touches anything: a process killed during it is finished by the next
    aborting: str = ""  # why (the revert commit's title says it)
    abort_reason: str = ""  # what the person typed
    abort_actor: str = ""
    measurements: list[Measurement] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    # where front ends show this rollout (opaque to the engine), so any replica can bring those messages to its
    # end; settled once they show it
    messages: list[dict[str, Any]] = field(default_factory=list)
    messages_settled: bool = False
    # how the rollouts this one replaced ended, newest first, with their notes while they do not show it yet:
    # a front end still following one of them (or the leader) learns its end from here
    earlier: list[dict[str, Any]] = field(default_factory=list)
    resource_version: str | None = None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    @property
    def ended_at(self) -> str:
        """When it ended (its last event's time); empty while it runs."""
        return "" if self.active or not self.events else self.events[-1].split(" ", 1)[0]

    def note(self, text: str, at: str) -> None:
        self.events = [*self.events, f"{at} {text}"][-EVENT_HISTORY:]

    def measured(self, measurement: Measurement) -> None:
        self.measurements = [*self.measurements, measurement][-MEASUREMENT_HISTORY:]

    def outcome(self) -> dict[str, Any]:
        """How it ended, as a newer record keeps it in ``earlier`` (its notes while they do not show it yet)."""
        return {
            "deploy_commit": self.deploy_commit,
            "phase": self.phase,
            "weight": self.weight,
            "step": self.step,
            "message": self.message,
            "stable_version": self.stable_version,
            "canary_version": self.canary_version,
            "revert_commit": self.revert_commit,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "notes": [] if self.messages_settled else list(self.messages),
        }

    def replacing(self, previous: Rollout | None) -> None:
        """Keep how ``previous`` (and those it replaced) ended, up to ``EARLIER_KEPT``, with the notes of each
        that do not show its end yet."""
        if previous is None or previous.active:
            return
        self.earlier = [previous.outcome(), *previous.earlier][:EARLIER_KEPT]

    def ended_as(self, commit: str | None) -> Rollout | None:
        """The rollout of ``commit`` as it ended, if this record replaced it (or is it, ended)."""
        if commit == self.deploy_commit:
            return None if self.active else self
        for entry in self.earlier:
            if entry.get("deploy_commit") == commit:
                return Rollout(
                    self.app,
                    self.env,
                    str(entry.get("phase", "")),
                    str(entry.get("stable_version", "")),
                    str(entry.get("canary_version", "")),
                    str(commit),
                    "",
                    "",
                    step=int(entry.get("step") or 0),
                    weight=int(entry.get("weight") or 0),
                    message=str(entry.get("message") or ""),
                    revert_commit=entry.get("revert_commit"),
                )
        return None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("resource_version")
        return data


FIELDS = frozenset(f.name for f in fields(Rollout))


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """How a record writes a moment: events and step starts sort as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_name(app: str, env: str) -> str:
    return f"gitopsctl-rollout-{app}-{env}"


class RolloutChanged(PolicyError):
    """The record was written by someone else (the controller, another replica) since it was read."""


def read(cluster: Cluster, app: str, env: str, namespace: str) -> Rollout | None:
    cm = cluster.get("v1", "ConfigMap", record_name(app, env), namespace)
    return None if cm is None else _parse(cm)


def read_all(cluster: Cluster, namespace: str) -> dict[tuple[str, str], Rollout]:
    """The latest rollout of every app/environment in a namespace, with one LIST."""
    found = {}
    for cm in cluster.list("v1", "ConfigMap", namespace, label_selector=f"{RECORD_LABEL}=true"):
        rollout = _parse(cm)
        found[(rollout.app, rollout.env)] = rollout
    return found


def _parse(cm: dict[str, Any]) -> Rollout:
    data = json.loads((cm.get("data") or {}).get("rollout", "{}"))
    data["measurements"] = [Measurement(**m) for m in data.get("measurements", [])]
    # a record written by a newer version (replicas mid-upgrade) has fields this one does not know: kept out
    rollout = Rollout(**{k: v for k, v in data.items() if k in FIELDS})
    rollout.resource_version = cm["metadata"]["resourceVersion"]
    return rollout


def write(cluster: Cluster, namespace: str, rollout: Rollout) -> Rollout:
    """Save with the resourceVersion read; a 409 means another controller acted first."""
    labels = {RECORD_LABEL: "true", "gitopsctl.io/app": rollout.app, "gitopsctl.io/env": rollout.env}
    data = {"rollout": json.dumps(rollout.as_dict())}
    try:
        version = RecordStore(cluster, namespace).write(
            record_name(rollout.app, rollout.env), labels, data, rollout.resource_version
        )
    except ConflictError as e:
        raise RolloutChanged(
            f"the rollout of {rollout.app} in {rollout.env} was changed by someone else just now; look again"
        ) from e
    rollout.resource_version = version
    return rollout
