"""Traffic routers: how a canary weight becomes traffic; one module each behind one Protocol, one registry.

``replicas`` needs no mesh (the weight is the replica ratio); ``istio``
(VirtualService), ``gateway`` (HTTPRoute) and ``nginx`` (canary Ingress) set
route weights on an object of their own. ``ROUTERS`` is what the controller
builds from; the configuration (the bottom layer, so it cannot import this)
checks names against ``config.TRAFFIC_ROUTERS``, and a test holds the two
equal. It imports nothing heavy (the cluster client only for type checking).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .gateway import GatewayRouter
from .istio import IstioRouter
from .nginx import NginxRouter
from .replicas import ReplicasRouter
from .routes import RouteRouter

if TYPE_CHECKING:
    from ...cluster.client import Cluster


class TrafficRouter(Protocol):
    canary: str  # the canary Deployment's name
    stable: str
    namespace: str
    scale_down_delay: float  # seconds to wait after traffic left the canary before its pods go

    def set_weight(self, weight: int) -> None:
        """Send ``weight`` percent of traffic to the canary (0 sends it all to stable)."""
        ...

    def verify_weight(self, weight: int) -> bool:
        """True once the traffic really follows ``weight`` (e.g. the pods are ready)."""
        ...

    def remove(self) -> None:
        """Remove everything the router created; traffic all on stable."""
        ...


ROUTES: dict[str, type[RouteRouter]] = {"istio": IstioRouter, "gateway": GatewayRouter, "nginx": NginxRouter}
ROUTERS = ("replicas", *ROUTES)  # every router name, the default first


def needs_service(kind: str) -> bool:
    """Whether the ``kind`` router copies the app's Service from Git (the route-based ones do)."""
    return kind in ROUTES


def build(
    kind: str,
    cluster: Cluster,
    namespace: str,
    stable: str,
    canary: str,
    replicas: int,
    *,
    service: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    scale_down_delay: float = 0.0,
    gateway: tuple[str, str] | None = None,
) -> TrafficRouter:
    """The ``kind`` router for the ``stable`` and ``canary`` Deployments; ``service`` when ``needs_service(kind)``.

    ``scale_down_delay`` is for the route-based routers only: the pods behind a Service are the endpoints at
    once, but a mesh's or an ingress's proxies learn a new route some seconds later."""
    if kind == "replicas":
        return ReplicasRouter(cluster, namespace, stable, canary, replicas)
    router = ROUTES[kind](cluster, namespace, stable, canary, replicas, service or {}, labels or {})
    router.scale_down_delay = scale_down_delay
    if isinstance(router, GatewayRouter) and gateway:
        router.gateway = gateway
    return router
