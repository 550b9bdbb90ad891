"""The one store behind every record gitopsctl keeps in the cluster: a ConfigMap of JSON texts, written with the
resourceVersion it was read at (optimistic concurrency, as controllers do).

Sync history, rollout records, approval requests, drift incidents, the quarantine list and what following Git
delivered all go through it: a write that lost a race raises ``ConflictError`` (``change`` reads again and
retries), any other refusal is a ``ClusterError`` naming the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ApiStatusError, ClusterError, ConflictError, NotFoundError
from .client import Cluster

T = TypeVar("T")
ATTEMPTS = 5


@dataclass(frozen=True)
class Stored:
    data: dict[str, str]  # the ConfigMap's data: JSON texts by key
    version: str | None  # the resourceVersion read; None when the record does not exist yet


class RecordStore:
    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def read(self, name: str) -> Stored:
        cm = self.cluster.get("v1", "ConfigMap", name, self.namespace)
        if cm is None:
            return Stored({}, None)
        return Stored(dict(cm.get("data") or {}), cm["metadata"]["resourceVersion"])

    def write(self, name: str, labels: dict[str, str], data: dict[str, str], version: str | None) -> str:
        """Create (``version`` None) or replace the record as read at ``version``; the new resourceVersion.

        ``ConflictError``: someone wrote it since (or created it first); ``NotFoundError``: deleted since."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
            "data": data,
        }
        try:
            if version is None:
                self.cluster.ensure_namespace(self.namespace)
                saved = self.cluster.create(body)
            else:
                body["metadata"]["resourceVersion"] = version
                saved = self.cluster.replace(body)
        except (ConflictError, NotFoundError):
            raise
        except ApiStatusError as e:
            raise ClusterError(f"cannot save the record {name} in {self.namespace}: {e.message}") from e
        return saved["metadata"]["resourceVersion"]

    def change(
        self, name: str, labels: dict[str, str], edit: Callable[[dict[str, str]], tuple[dict[str, str], T]]
    ) -> T:
        """Read, ``edit`` (the data read -> the data to write, and a result), write; read again after a race."""
        for _ in range(ATTEMPTS):
            current = self.read(name)
            data, result = edit(dict(current.data))
            try:
                self.write(name, labels, data, current.version)
                return result
            except ConflictError:
                continue
        raise ClusterError(f"the record {name} in {self.namespace} kept changing under us; try again")
