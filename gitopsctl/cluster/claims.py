"""Keys claimed once across every replica for a while: Slack requests already answered, deploys being started.

A claim is a ConfigMap created under a name derived from the key; the API
server makes creation atomic, so of two replicas claiming the same key at the
same moment exactly one succeeds. A claim lasts ``ttl`` seconds (Slack's
signature window, for requests); an expired one is taken over with a
resourceVersion precondition, so a takeover too happens once. Keys are hashed:
names stay valid and nothing a user typed is stored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ApiStatusError, ClusterError, ConflictError
from .client import Cluster

CLAIM_LABEL = "gitopsctl.io/claim"


class Claims:
    def __init__(self, cluster: Cluster, namespace: str, kind: str, ttl: float) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.kind = kind  # a DNS label: "slack-request", "deploy"
        self.ttl = ttl
        self._namespace_ready = False

    def _name(self, key: str) -> str:
        return f"gitopsctl-{self.kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    def _body(self, key: str, now: datetime, resource_version: str | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self._name(key),
            "namespace": self.namespace,
            "labels": {CLAIM_LABEL: self.kind},
        }
        if resource_version:
            metadata["resourceVersion"] = resource_version
        expires = (now + timedelta(seconds=self.ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"expires": expires}}

    def first(self, key: str) -> bool:
        """True for the one caller, in any replica, that claims ``key`` while no live claim holds it."""
        if not self._namespace_ready:
            self.cluster.ensure_namespace(self.namespace)
            self._namespace_ready = True
        now = datetime.now(UTC)
        try:
            self.cluster.create(self._body(key, now))
            return True
        except ConflictError:
            pass  # held already: it may have expired
        except ApiStatusError as e:
            raise ClusterError(f"cannot record a {self.kind} claim: {e.message}") from e
        held = self.cluster.get("v1", "ConfigMap", self._name(key), self.namespace)
        if held is None:  # released in between: claim it again, once
            return self._retake(key, now, None)
        if _expires(held) > now:
            return False
        return self._retake(key, now, held["metadata"]["resourceVersion"])

    def _retake(self, key: str, now: datetime, resource_version: str | None) -> bool:
        try:
            if resource_version is None:
                self.cluster.create(self._body(key, now))
            else:
                self.cluster.replace(self._body(key, now, resource_version))
        except ConflictError:
            return False  # another replica took it first
        except ApiStatusError as e:
            raise ClusterError(f"cannot record a {self.kind} claim: {e.message}") from e
        return True

    def release(self, key: str) -> None:
        self.cluster.delete("v1", "ConfigMap", self._name(key), self.namespace)


def sweep(cluster: Cluster, namespace: str) -> int:
    """Delete every expired claim in ``namespace``, of any kind; returns how many (the leader runs it)."""
    now, swept = datetime.now(UTC), 0
    for cm in cluster.list("v1", "ConfigMap", namespace, label_selector=CLAIM_LABEL):
        if _expires(cm) <= now:
            swept += cluster.delete("v1", "ConfigMap", cm["metadata"]["name"], namespace)
    return swept


def _expires(cm: dict[str, Any]) -> datetime:
    try:
        return datetime.strptime((cm.get("data") or {})["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)  # unreadable: expired
