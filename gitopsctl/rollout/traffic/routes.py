"""What the route-based routers share: a canary Service, a canary scaled to its share, and a route object.

The route object and the canary Service are gitopsctl's own (labelled with the
app and environment, not tracked in Git), so drift and prune leave them alone
and ``remove()`` deletes them. The canary runs enough replicas for its share;
stable keeps all of its own until promotion.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError

if TYPE_CHECKING:
    from ...cluster.client import Cluster

TRACK_LABEL = "gitopsctl.io/track"


class RouteRouter:
    """Base of the istio, gateway and nginx routers; subclasses build the route object."""

    scale_down_delay = 0.0  # set by ``traffic.build`` from the app's canary

    api_version = ""
    kind = ""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        stable: str,
        canary: str,
        replicas: int,
        service: dict[str, Any],
        labels: dict[str, str],
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.stable = stable
        self.canary = canary
        self.replicas = replicas
        self.service = service  # the app's Service from Git
        self.labels = labels

    @property
    def service_name(self) -> str:
        return self.service["metadata"]["name"]

    @property
    def canary_service(self) -> str:
        return f"{self.service_name}-canary"

    @property
    def route_name(self) -> str:
        return f"{self.service_name}-gitopsctl"

    def port(self) -> int:
        return int(((self.service.get("spec") or {}).get("ports") or [{}])[0].get("port", 80))

    def route(self, weight: int) -> dict[str, Any]:
        raise NotImplementedError

    def read_weight(self, route: dict[str, Any]) -> int | None:
        raise NotImplementedError

    def _canary_service(self) -> dict[str, Any]:
        svc = copy.deepcopy(self.service)
        svc["metadata"] = {"name": self.canary_service, "namespace": self.namespace, "labels": dict(self.labels)}
        spec = svc.setdefault("spec", {})
        spec["selector"] = {**(spec.get("selector") or {}), TRACK_LABEL: "canary"}
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
        return svc

    def set_weight(self, weight: int) -> None:
        """Less to the canary: the route first, then its pods (none to stable: the pods stay for
        ``scale_down_delay``, until the canary is removed). More: its pods first, and the route only once they
        are ready (a mesh answers 503 for a destination without endpoints); called again until
        ``verify_weight`` holds, it moves the route when they are."""
        canary_replicas = math.ceil(self.replicas * weight / 100) if weight else 0
        route = self.cluster.get(self.api_version, self.kind, self.route_name, self.namespace)
        current = (self.read_weight(route) if route is not None else None) or 0
        scale = {"spec": {"replicas": canary_replicas}}
        if weight <= current or (weight == 0 and route is None):
            if route is not None:  # none yet, or removed already: all traffic is on stable
                self.cluster.apply(self.route(weight))
            if weight == 0 and self.scale_down_delay:
                return  # its pods stay until the proxies dropped them (the canary is removed after the delay)
            try:
                self.cluster.patch("apps/v1", "Deployment", self.canary, self.namespace, scale)
            except NotFoundError:
                if canary_replicas:
                    raise  # a canary that is gone runs no pods: nothing to drain
            return
        self.cluster.patch("apps/v1", "Deployment", self.canary, self.namespace, scale)
        self.cluster.apply(self._canary_service())
        canary = self.cluster.get("apps/v1", "Deployment", self.canary, self.namespace) or {}
        ready = (canary.get("status") or {}).get("readyReplicas", 0)
        self.cluster.apply(self.route(weight if ready >= canary_replicas else current))

    def verify_weight(self, weight: int) -> bool:
        route = self.cluster.get(self.api_version, self.kind, self.route_name, self.namespace)
        if route is None or self.read_weight(route) != weight:
            return False
        if weight == 0:
            return True
        canary = self.cluster.get("apps/v1", "Deployment", self.canary, self.namespace) or {}
        return (canary.get("status") or {}).get("readyReplicas", 0) >= math.ceil(self.replicas * weight / 100)

    def remove(self) -> None:
        self.cluster.delete(self.api_version, self.kind, self.route_name, self.namespace)
        self.cluster.delete("v1", "Service", self.canary_service, self.namespace)

    def _metadata(self, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.route_name, "namespace": self.namespace, "labels": dict(self.labels)}
        if annotations:
            meta["annotations"] = annotations
        return meta
