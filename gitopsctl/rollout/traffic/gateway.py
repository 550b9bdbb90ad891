"""Gateway API: an HTTPRoute, attached to the app's Gateway, whose backendRefs carry the stable and canary weights.

A route names its Gateway in ``parentRefs``; without one it attaches to
nothing and no traffic is split, so the configuration requires ``gateway``."""

from __future__ import annotations

from typing import Any

from .routes import RouteRouter


class GatewayRouter(RouteRouter):
    api_version = "gateway.networking.k8s.io/v1"
    kind = "HTTPRoute"
    gateway: tuple[str, str] = ("", "")  # (namespace, name); set by ``traffic.build`` from the app's canary

    def route(self, weight: int) -> dict[str, Any]:
        namespace, name = self.gateway
        parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self._metadata(),
            "spec": {
                "parentRefs": [{**parent, "namespace": namespace} if namespace else parent],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": self.service_name, "port": self.port(), "weight": 100 - weight},
                            {"name": self.canary_service, "port": self.port(), "weight": weight},
                        ]
                    }
                ],
            },
        }

    def read_weight(self, route: dict[str, Any]) -> int | None:
        for rule in (route.get("spec") or {}).get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if ref.get("name") == self.canary_service:
                    return int(ref.get("weight", 0))
        return None
