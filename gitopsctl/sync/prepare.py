"""Rendered objects made ready to apply: namespaces set, tracking added, and the boundary checked.

The boundary, like Argo CD's AppProject destinations and resource allow-lists:
an app in an environment may place namespaced objects only in the environment's
``allowed_namespaces`` (its ``namespace`` always), cluster-scoped objects only of
the environment's ``cluster_resources`` kinds (a Namespace object also only if
it is one of the allowed namespaces), and, when the app lists ``kinds``, only
those kinds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..cluster.client import Cluster
from ..config import App, Environment
from ..errors import ManifestError
from ..source.manifests import ObjectRef, check_duplicates
from ..source.render import Rendered
from . import diff as diffing
from .hooks import is_hook, wave_of
from .tracking import APP_LABEL, ENV_LABEL, MANAGED_BY, MANAGED_BY_LABEL, TRACKING_ANNOTATION, tracking_id


@dataclass(frozen=True)
class Refusal:
    """One object an app/environment may not touch, and the rule that says so."""

    ref: ObjectRef
    reason: str


class BoundaryError(ManifestError):
    """Objects outside an app/environment's boundary, or tracked by another one; nothing was applied.

    ``refusals`` names every object refused, so status, diff and drift can show each in the app's row.
    """

    def __init__(self, where: str, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        others = ", ".join(str(r.ref) for r in refusals[1:])
        more = f"; also refused: {others}" if others else ""
        super().__init__(f"{where}: {refusals[0].reason}{more}")


def allowed_namespaces(env: Environment) -> tuple[str, ...]:
    """The environment's own namespace first (always allowed: objects without one land there), then the others."""
    return tuple(dict.fromkeys((env.namespace, *env.allowed_namespaces)))


def boundary_problem(obj: dict[str, Any], namespaced: bool, app: App, env: Environment) -> str | None:
    """Why ``obj`` lies outside what ``app`` may touch in ``env``, or None when it is inside."""
    ref = ObjectRef.of(obj)
    if app.kinds is not None and ref.kind not in app.kinds:
        return (
            f"{ref} is a {ref.kind}, not one of the kinds {app.name} may hold ({', '.join(app.kinds)}); "
            f"add it to apps.{app.name}.kinds if this app really owns it"
        )
    namespaces = allowed_namespaces(env)
    if not namespaced and ref.kind not in env.cluster_resources:
        return (
            f"{ref} is cluster-scoped and {env.name} allows no cluster-scoped {ref.kind} "
            f"(cluster_resources: {', '.join(env.cluster_resources) or 'none'}); "
            f'add "{ref.kind}" to environments.{env.name}.cluster_resources if this app really owns it'
        )
    hint = f"add it to environments.{env.name}.allowed_namespaces if this app really owns it"
    if ref.kind == "Namespace" and ref.api_version == "v1" and ref.name not in namespaces:
        return f"{ref} is not one of the namespaces {env.name} allows ({', '.join(namespaces)}); {hint}"
    if namespaced and ref.namespace not in namespaces:
        return (
            f"{ref} is in namespace {ref.namespace}, outside the namespaces {env.name} allows "
            f"({', '.join(namespaces)}); {hint}"
        )
    return None


# ------------------------------------------------------------------ desired


def crd_scopes(objects: Iterable[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """(apiVersion, kind) -> namespaced, for kinds defined by CRDs in the same manifests."""
    scopes = {}
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            for version in spec.get("versions") or []:
                api_version = f"{spec.get('group')}/{version.get('name')}"
                scopes[(api_version, (spec.get("names") or {}).get("kind", ""))] = (
                    spec.get("scope", "Namespaced") == "Namespaced"
                )
    return scopes


def prepare(
    rendered: Rendered, app: App, env: Environment, cluster: Cluster, *, hooks: bool = False
) -> list[dict[str, Any]]:
    """Desired objects as they will be applied: namespace defaulted, tracking label and annotation added.

    Hooks (and objects marked Skip) are checked like the rest but left out: ``hooks=True`` returns only them.
    """
    scopes = crd_scopes(rendered.objects)
    desired, hook_objects, refusals = [], [], []
    for obj in rendered.objects:
        obj = diffing.normalize_desired(obj)
        key = (obj["apiVersion"], obj["kind"])
        namespaced = scopes[key] if key in scopes else cluster.namespaced(*key)
        meta = obj.setdefault("metadata", {})
        if namespaced:
            meta["namespace"] = meta.get("namespace") or env.namespace
        elif meta.pop("namespace", None):
            raise ManifestError(f"{rendered.path}: {obj['kind']} {meta['name']} is cluster-scoped but sets a namespace")
        if problem := boundary_problem(obj, namespaced, app, env):
            refusals.append(Refusal(ObjectRef.of(obj), problem))
        labels = meta.setdefault("labels", {})
        labels.update({MANAGED_BY_LABEL: MANAGED_BY, APP_LABEL: app.name, ENV_LABEL: env.name})
        meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id(app.name, env.name)
        wave_of(obj)  # a wave that is not a number is refused here, where status shows it
        (hook_objects if is_hook(obj) else desired).append(obj)
    if refusals:
        raise BoundaryError(rendered.path, refusals)
    check_duplicates(desired, rendered.path)
    return hook_objects if hooks else desired


# ------------------------------------------------------------------ observe
