"""One lock per app/environment: a coordination.k8s.io Lease, visible to every front end.

A lock names its holder (who, on which host and process), what it is for and
since when. It is renewed while held and expires on its own if the holder dies
(``leaseDurationSeconds``), so a crashed process never blocks a team for long.
Taking an expired lock is an optimistic update on the Lease's resourceVersion,
so two processes racing for it never both win.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ApiStatusError, ClusterError, ConflictError, LockedError
from .client import Cluster

LOCK_LABEL = "gitopsctl.io/lock"
DEFAULT_TTL = 30  # renewed every 10 s while held; a holder killed mid-operation blocks others for 30 s at most


def lock_name(app: str, env: str) -> str:
    return f"gitopsctl-lock-{app}-{env}"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class LockInfo:
    app: str
    env: str
    holder: str
    actor: str
    operation: str
    since: datetime
    expires: datetime

    def describe(self) -> str:
        return (
            f"{self.app} in {self.env} is locked by {self.actor} ({self.operation}) since "
            f"{self.since:%H:%M:%S} UTC; it is released when that finishes, or expires at "
            f"{self.expires:%H:%M:%S} UTC if its process died"
        )


def _info(lease: dict[str, Any]) -> LockInfo | None:
    spec = lease.get("spec") or {}
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    labels = (lease.get("metadata") or {}).get("labels") or {}
    renewed = _parse(spec.get("renewTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return None
    return LockInfo(
        app=labels.get("gitopsctl.io/app", ""),
        env=labels.get("gitopsctl.io/env", ""),
        holder=spec["holderIdentity"],
        actor=annotations.get("gitopsctl.io/actor", spec["holderIdentity"]),
        operation=annotations.get("gitopsctl.io/operation", "an operation"),
        since=_parse(spec.get("acquireTime")) or renewed,
        expires=renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or DEFAULT_TTL)),
    )


class Locks:
    def __init__(self, cluster: Cluster, namespace: str, *, ttl: int = DEFAULT_TTL) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.ttl = ttl
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def _body(
        self, app: str, env: str, actor: str, operation: str, acquired: datetime, resource_version: str | None
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": lock_name(app, env),
            "namespace": self.namespace,
            "labels": {LOCK_LABEL: "true", "gitopsctl.io/app": app, "gitopsctl.io/env": env},
            "annotations": {"gitopsctl.io/actor": actor, "gitopsctl.io/operation": operation},
        }
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.ttl,
                "acquireTime": _stamp(acquired),
                "renewTime": _stamp(_now()),
            },
        }

    def acquire(self, app: str, env: str, *, actor: str, operation: str) -> None:
        """Take the lock, or raise LockedError naming who holds it, for what, since when."""
        name = lock_name(app, env)
        current = self.cluster.get("coordination.k8s.io/v1", "Lease", name, self.namespace)
        try:
            if current is None:
                self.cluster.ensure_namespace(self.namespace)
                self.cluster.create(self._body(app, env, actor, operation, _now(), None))
                return
            info = _info(current)
            if info is not None and info.holder != self.identity and info.expires > _now():
                raise LockedError(info.describe())
            self.cluster.replace(self._body(app, env, actor, operation, _now(), current["metadata"]["resourceVersion"]))
        except ConflictError as e:  # someone else took it between our read and our write
            latest = self.cluster.get("coordination.k8s.io/v1", "Lease", name, self.namespace)
            info = _info(latest) if latest else None
            raise LockedError(
                info.describe() if info else f"{app} in {env} was locked by another operation just now"
            ) from e
        except ApiStatusError as e:
            raise ClusterError(f"cannot take the lock for {app} in {env}: {e.message}") from e

    def renew(self, app: str, env: str) -> bool:
        """Extend a lock we hold; False when it is no longer ours."""
        current = self.cluster.get("coordination.k8s.io/v1", "Lease", lock_name(app, env), self.namespace)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        current["spec"]["renewTime"] = _stamp(_now())
        try:
            self.cluster.replace(current)
        except ConflictError:
            return False
        return True

    def release(self, app: str, env: str) -> None:
        current = self.cluster.get("coordination.k8s.io/v1", "Lease", lock_name(app, env), self.namespace)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        current["spec"].pop("holderIdentity", None)
        current["spec"]["renewTime"] = None
        try:
            self.cluster.replace(current)
        except ConflictError:
            pass  # taken over since we read it: no longer ours to release
        except ApiStatusError as e:
            raise ClusterError(f"cannot release the lock for {app} in {env}: {e.message}") from e

    @contextmanager
    def hold(self, app: str, env: str, *, actor: str, operation: str) -> Iterator[None]:
        """Hold the lock for the block, renewing it in the background; released at the end."""
        self.acquire(app, env, actor=actor, operation=operation)
        stop = threading.Event()

        def renew_until_done() -> None:
            while not stop.wait(self.ttl / 3):
                try:
                    if not self.renew(app, env):
                        return
                except ClusterError:
                    continue  # try again next period; the lease outlives a few missed renewals

        renewer = threading.Thread(target=renew_until_done, daemon=True, name=f"lock-{app}-{env}")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join(timeout=5)
            self.release(app, env)

    def held(self) -> list[LockInfo]:
        """Locks currently held in this namespace."""
        now = _now()
        infos = [
            _info(lease)
            for lease in self.cluster.list("coordination.k8s.io/v1", "Lease", self.namespace, f"{LOCK_LABEL}=true")
        ]
        return sorted((i for i in infos if i is not None and i.expires > now), key=lambda i: (i.app, i.env))
