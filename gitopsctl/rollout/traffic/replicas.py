"""Weights without a mesh: one Service selects stable and canary pods; the weight is the replica ratio.

Replica counts are rounded as Argo Rollouts does for a basic canary: the canary
gets ceil(replicas x weight / 100) and stable ceil(replicas x (100 - weight) / 100),
so stable never drops below what the weight leaves it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...errors import NotFoundError

if TYPE_CHECKING:
    from ...cluster.client import Cluster


def replica_counts(replicas: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replica counts for ``weight`` percent to the canary."""
    canary = math.ceil(replicas * weight / 100)
    stable = math.ceil(replicas * (100 - weight) / 100)
    return stable, canary


class ReplicasRouter:
    def __init__(self, cluster: Cluster, namespace: str, stable: str, canary: str, replicas: int) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.stable = stable
        self.canary = canary
        self.replicas = replicas

    def _scale(self, name: str, replicas: int) -> None:
        try:
            self.cluster.patch("apps/v1", "Deployment", name, self.namespace, {"spec": {"replicas": replicas}})
        except NotFoundError:
            if replicas:
                raise  # a missing Deployment already runs none: an abort after the canary is gone goes on to stable

    def set_weight(self, weight: int) -> None:
        stable, canary = replica_counts(self.replicas, weight)
        self._scale(self.canary, canary)
        self._scale(self.stable, max(stable, 0))

    def verify_weight(self, weight: int) -> bool:
        stable_want, canary_want = replica_counts(self.replicas, weight)
        for name, want in ((self.canary, canary_want), (self.stable, stable_want)):
            dep = self.cluster.get("apps/v1", "Deployment", name, self.namespace)
            if dep is None:
                return want == 0
            status = dep.get("status") or {}
            if status.get("readyReplicas", 0) != want and not (want == 0 and not status.get("readyReplicas")):
                return False
        return True

    def remove(self) -> None:
        self._scale(self.stable, self.replicas)
