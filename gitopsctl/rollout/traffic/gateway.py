"""Gateway API: an HTTPRoute whose backendRefs carry the stable and canary weights."""

from __future__ import annotations

from typing import Any

from .routes import RouteRouter


class GatewayRouter(RouteRouter):
    api_version = "gateway.networking.k8s.io/v1"
    kind = "HTTPRoute"

    def route(self, weight: int) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self._metadata(),
            "spec": {
                "rules": [
                    {
                        "backendRefs": [
                            {"name": self.service_name, "port": self.port(), "weight": 100 - weight},
                            {"name": self.canary_service, "port": self.port(), "weight": weight},
                        ]
                    }
                ]
            },
        }

    def read_weight(self, route: dict[str, Any]) -> int | None:
        for rule in (route.get("spec") or {}).get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if ref.get("name") == self.canary_service:
                    return int(ref.get("weight", 0))
        return None
