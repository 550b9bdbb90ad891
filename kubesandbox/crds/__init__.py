"""Published CRDs (trimmed, sources in each file) of the custom kinds the engine writes.

Tests and demos install these instead of schema-less stand-ins, so a route object a real mesh or
gateway would refuse is refused by the sandbox too.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

VIRTUAL_SERVICES = "virtualservices.networking.istio.io"
DESTINATION_RULES = "destinationrules.networking.istio.io"
HTTP_ROUTES = "httproutes.gateway.networking.k8s.io"


def load(name: str) -> dict[str, Any]:
    """The CRD manifest named ``name`` (``<plural>.<group>``)."""
    return yaml.safe_load(resources.files(__package__).joinpath(f"{name}.yaml").read_text())
