"""Helpers for engine tests (the fleet fixture itself is in tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json

from kubernetes.client import ApiClient

from tests.conftest import Fleet


def _contents(obj) -> str:
    """A digest of what a write could change: everything but status and the bookkeeping.

    The sandbox's controllers keep updating a Deployment's status (and so its
    resourceVersion) after a sync; "nothing was changed" means nobody wrote the
    object's labels, annotations, spec or data.
    """
    body = ApiClient().sanitize_for_serialization(obj)
    body.pop("status", None)
    for key in ("resourceVersion", "managedFields"):
        body["metadata"].pop(key, None)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def all_objects(fleet: Fleet, namespace: str) -> dict[str, str]:
    """name -> contents digest of every ConfigMap, Secret, Service and Deployment in a namespace."""
    found = {}
    for item in fleet.core.list_namespaced_config_map(namespace).items:
        found[f"cm/{item.metadata.name}"] = _contents(item)
    for item in fleet.core.list_namespaced_secret(namespace).items:
        found[f"secret/{item.metadata.name}"] = _contents(item)
    for item in fleet.core.list_namespaced_service(namespace).items:
        found[f"svc/{item.metadata.name}"] = _contents(item)
    for item in fleet.apps.list_namespaced_deployment(namespace).items:
        found[f"deploy/{item.metadata.name}"] = _contents(item)
    return found
