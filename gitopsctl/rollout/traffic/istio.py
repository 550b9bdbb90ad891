"""Istio: a VirtualService whose HTTP route splits between the stable and canary Services by weight."""

from __future__ import annotations

from typing import Any

from .routes import RouteRouter


class IstioRouter(RouteRouter):
    api_version = "networking.istio.io/v1"
    kind = "VirtualService"

    def route(self, weight: int) -> dict[str, Any]:
        host = self.service_name
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self._metadata(),
            "spec": {
                "hosts": [host],
                "http": [
                    {
                        "name": "gitopsctl-canary",
                        "route": [
                            {"destination": {"host": host, "port": {"number": self.port()}}, "weight": 100 - weight},
                            {
                                "destination": {"host": self.canary_service, "port": {"number": self.port()}},
                                "weight": weight,
                            },
                        ],
                    }
                ],
            },
        }

    def read_weight(self, route: dict[str, Any]) -> int | None:
        for http in (route.get("spec") or {}).get("http") or []:
            for r in http.get("route") or []:
                if (r.get("destination") or {}).get("host") == self.canary_service:
                    return int(r.get("weight", 0))
        return None
