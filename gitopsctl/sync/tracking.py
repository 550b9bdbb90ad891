"""Which app and environment an object belongs to: gitopsctl's labels and the tracking annotation."""

from __future__ import annotations

from typing import Any

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gitopsctl"
APP_LABEL = "gitopsctl.io/app"
ENV_LABEL = "gitopsctl.io/env"
TRACKING_ANNOTATION = "gitopsctl.io/tracking-id"
TRACKED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


def tracking_id(app: str, env: str) -> str:
    return f"{app}/{env}"


def app_selector(app: str, env: str) -> str:
    return f"{TRACKED_SELECTOR},{APP_LABEL}={app},{ENV_LABEL}={env}"


def is_tracked_by(obj: dict[str, Any], app: str, env: str) -> bool:
    meta = obj.get("metadata") or {}
    return (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY and (
        (meta.get("annotations") or {}).get(TRACKING_ANNOTATION) == tracking_id(app, env)
    )


def owner_of(obj: dict[str, Any]) -> str | None:
    """The app/environment a live object is tracked for (its annotation, else gitopsctl's labels), if any."""
    meta = obj.get("metadata") or {}
    if owner := (meta.get("annotations") or {}).get(TRACKING_ANNOTATION):
        return owner
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(APP_LABEL) and labels.get(ENV_LABEL):
        return tracking_id(labels[APP_LABEL], labels[ENV_LABEL])
    return None


# ------------------------------------------------------------------ boundary
