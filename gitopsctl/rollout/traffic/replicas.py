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
    scale_down_delay = 0.0  # the Service's endpoints are its ready pods: nothing else learns the change later

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

    def _read(self, name: str) -> tuple[int, int]:
        """(replicas asked for, ready pods) of a Deployment; (0, 0) when it is gone."""
        dep = self.cluster.get("apps/v1", "Deployment", name, self.namespace)
        if dep is None:
            return 0, 0
        return int((dep.get("spec") or {}).get("replicas", 1)), int((dep.get("status") or {}).get("readyReplicas", 0))

    def set_weight(self, weight: int) -> None:
        """The side that grows is scaled at once; the side that shrinks only as far as the other's ready pods
        cover (as Argo Rollouts keeps a basic canary available), so the Service never runs out of endpoints.
        Called again until ``verify_weight`` holds, it finishes the move as pods become ready."""
        stable_want, canary_want = replica_counts(self.replicas, weight)
        wanted = {self.stable: stable_want, self.canary: canary_want}
        now = {name: self._read(name) for name in wanted}
        for name, want in wanted.items():
            if want >= now[name][0]:
                self._scale(name, want)
        total = stable_want + canary_want
        for name, other in ((self.canary, self.stable), (self.stable, self.canary)):
            asked, ready = now[name]
            if wanted[name] < asked:  # pods of its own that are not ready serve nothing: they need not stay
                self._scale(name, max(wanted[name], min(asked, ready, total - now[other][1])))

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
