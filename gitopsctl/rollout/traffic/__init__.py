"""Traffic routers: how a canary weight becomes traffic; one module each behind one Protocol.

``replicas`` needs no mesh (the weight is the replica ratio); ``istio``
(VirtualService), ``gateway`` (HTTPRoute) and ``nginx`` (canary Ingress) set
route weights on an object of their own.
"""

from __future__ import annotations

from typing import Protocol


class TrafficRouter(Protocol):
    canary: str  # the canary Deployment's name
    namespace: str

    def set_weight(self, weight: int) -> None:
        """Send ``weight`` percent of traffic to the canary (0 sends it all to stable)."""
        ...

    def verify_weight(self, weight: int) -> bool:
        """True once the traffic really follows ``weight`` (e.g. the pods are ready)."""
        ...

    def remove(self) -> None:
        """Remove everything the router created; traffic all on stable."""
        ...
