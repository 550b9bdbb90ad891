"""NGINX ingress: a canary Ingress (``nginx.ingress.kubernetes.io/canary-weight``) beside the app's own."""

from __future__ import annotations

from typing import Any

from .routes import RouteRouter

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


class NginxRouter(RouteRouter):
    api_version = "networking.k8s.io/v1"
    kind = "Ingress"

    def route(self, weight: int) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self._metadata({CANARY: "true", CANARY_WEIGHT: str(weight)}),
            "spec": {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": self.canary_service, "port": {"number": self.port()}}
                                    },
                                }
                            ]
                        }
                    }
                ],
            },
        }

    def read_weight(self, route: dict[str, Any]) -> int | None:
        value = ((route.get("metadata") or {}).get("annotations") or {}).get(CANARY_WEIGHT)
        try:  # a hand-edited "25.0" or a typo must not stop an abort from sending traffic back
            return round(float(value)) if value is not None else None
        except (TypeError, ValueError):
            return None
