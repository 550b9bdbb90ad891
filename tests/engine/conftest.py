"""Helpers for engine tests (the fleet fixture itself is in tests/conftest.py)."""

from __future__ import annotations

from tests.conftest import Fleet


def all_objects(fleet: Fleet, namespace: str) -> dict[str, str]:
    """name -> resourceVersion of every ConfigMap, Secret, Service and Deployment in a namespace."""
    found = {}
    for item in fleet.core.list_namespaced_config_map(namespace).items:
        found[f"cm/{item.metadata.name}"] = item.metadata.resource_version
    for item in fleet.core.list_namespaced_secret(namespace).items:
        found[f"secret/{item.metadata.name}"] = item.metadata.resource_version
    for item in fleet.core.list_namespaced_service(namespace).items:
        found[f"svc/{item.metadata.name}"] = item.metadata.resource_version
    for item in fleet.apps.list_namespaced_deployment(namespace).items:
        found[f"deploy/{item.metadata.name}"] = item.metadata.resource_version
    return found
