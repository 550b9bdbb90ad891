"""Freezes set by hand (``gitopsctl freeze``): a ConfigMap per environment, lifted by hand or when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..cluster.stored import RecordStore
from ..config import Environment
from ..errors import ConflictError, NotFoundError, PolicyError, UsageError
from . import policy

if TYPE_CHECKING:
    from ..cluster.client import Cluster
    from ..engine import Engine

FREEZE_LABEL = "gitopsctl.io/freeze"


def _now() -> datetime:
    return datetime.now(UTC)


class Freezes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def manual(self, env: Environment, reads: Cluster | None = None) -> policy.Freeze | None:
        """The freeze set by hand on ``env``, if any (windows from the configuration are policy's); ``reads``: where
        to read it instead of the cluster itself (the live fleet's watched lists)."""
        cm = (reads or self.engine.cluster(env)).get("v1", "ConfigMap", f"gitopsctl-freeze-{env.name}", env.namespace)
        if not cm:
            return None
        data = cm.get("data") or {}
        until = datetime.fromisoformat(data["until"]) if data.get("until") else None
        return policy.Freeze("manual", f"{data.get('reason', '')} (frozen by {data.get('by', 'someone')})", until)

    def freeze(self, env_name: str, *, duration: timedelta, reason: str, actor: str) -> policy.Freeze:
        env = self.engine.workspace.environment(env_name)
        if not reason:
            raise UsageError("a freeze needs --reason saying why")
        until = _now() + duration
        store = RecordStore(self.engine.cluster(env), env.namespace)
        name = f"gitopsctl-freeze-{env.name}"
        data = {"until": until.isoformat(), "reason": reason, "by": actor}
        try:  # a later freeze replaces the one before, whoever set it
            store.write(name, {FREEZE_LABEL: "true", "gitopsctl.io/env": env.name}, data, store.read(name).version)
        except (ConflictError, NotFoundError) as e:
            raise PolicyError(f"{env.name} was frozen or unfrozen by someone else just now; look and try again") from e
        return policy.Freeze("manual", reason, until)

    def unfreeze(self, env_name: str) -> bool:
        env = self.engine.workspace.environment(env_name)
        return self.engine.cluster(env).delete("v1", "ConfigMap", f"gitopsctl-freeze-{env.name}", env.namespace)

    def expire(self) -> list[str]:
        """Lift manual freezes that have ended; returns what ended, in words."""
        now, dropped = _now(), []
        for env in self.engine.config.environments.values():
            freeze = self.manual(env)
            if freeze is not None and freeze.until is not None and freeze.until <= now:
                self.unfreeze(env.name)
                dropped.append(f"the freeze of {env.name} ({freeze.reason}), which ended at {freeze.until:%H:%M} UTC")
        return dropped
