"""The rollout record: everything a rollout needs to continue, kept in the cluster.

One ConfigMap per app/environment. ``reconcile()`` in any process reads it, takes
the next idempotent step and writes it back with the resourceVersion it read, so
two controllers never both act and a process killed at any point loses nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..analysis.measurement import Measurement
from ..cluster.client import Cluster
from ..errors import ApiStatusError, ClusterError, ConflictError, PolicyError

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
    measurements: list[Measurement] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    resource_version: str | None = None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def note(self, text: str, at: str) -> None:
        self.events = [*self.events, f"{at} {text}"][-EVENT_HISTORY:]

    def measured(self, measurement: Measurement) -> None:
        self.measurements = [*self.measurements, measurement][-MEASUREMENT_HISTORY:]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("resource_version")
        return data


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
    rollout = Rollout(**data)
    rollout.resource_version = cm["metadata"]["resourceVersion"]
    return rollout


def write(cluster: Cluster, namespace: str, rollout: Rollout) -> Rollout:
    """Save with the resourceVersion read; a 409 means another controller acted first."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": record_name(rollout.app, rollout.env),
            "namespace": namespace,
            "labels": {RECORD_LABEL: "true", "gitopsctl.io/app": rollout.app, "gitopsctl.io/env": rollout.env},
        },
        "data": {"rollout": json.dumps(rollout.as_dict())},
    }
    try:
        if rollout.resource_version is None:
            saved = cluster.create(body)
        else:
            body["metadata"]["resourceVersion"] = rollout.resource_version
            saved = cluster.replace(body)
    except ConflictError as e:
        raise RolloutChanged(
            f"the rollout of {rollout.app} in {rollout.env} was changed by someone else just now; look again"
        ) from e
    except ApiStatusError as e:
        raise ClusterError(f"cannot save the rollout record: {e.message}") from e
    rollout.resource_version = saved["metadata"]["resourceVersion"]
    return rollout
