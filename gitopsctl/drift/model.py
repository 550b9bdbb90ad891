"""What a drift scan finds, as plain values: the scan makes them, incidents decide on them, front ends render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sync.diff import ResourceDiff


@dataclass
class AppDrift:
    app: str
    env: str
    resources: list[ResourceDiff]

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "env": self.env, "resources": [r.as_dict() for r in self.resources]}


@dataclass(frozen=True)
class AppError:
    """An app that could not be rendered or compared in an environment: the scan went on without it."""

    app: str
    env: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "env": self.env, "error": self.error}


@dataclass
class DriftReport:
    drifted: list[AppDrift] = field(default_factory=list)
    clean: list[tuple[str, str]] = field(default_factory=list)
    requests: int = 0
    errors: list[AppError] = field(default_factory=list)

    @property
    def objects(self) -> int:
        return sum(len(d.resources) for d in self.drifted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drifted": [d.as_dict() for d in self.drifted],
            "clean": [{"app": app, "env": env} for app, env in self.clean],
            "errors": [e.as_dict() for e in self.errors],
        }
