"""What is live for an app: one LIST per kind and namespace, objects nobody tracks, and objects of other apps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..cluster.client import Cluster
from ..config import App, Environment
from ..errors import ClusterError
from ..source.manifests import ObjectRef
from .prepare import BoundaryError, Refusal
from .tracking import TRACKED_SELECTOR, TRACKING_ANNOTATION, owner_of, tracking_id


@dataclass
class Observation:
    """Live objects found by LISTs, indexed by identity; ``lists`` counts the LIST calls made."""

    live: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    lists: int = 0

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.live.get(ref.identity)


def observe(cluster: Cluster, refs: Iterable[ObjectRef], label_selector: str = TRACKED_SELECTOR) -> Observation:
    """One LIST per (apiVersion, kind, namespace) covering ``refs``, never one GET per object."""
    groups: dict[tuple[str, str, str], None] = {}
    for ref in refs:
        groups[(ref.api_version, ref.kind, ref.namespace)] = None
    observation = Observation()
    for api_version, kind, namespace in groups:
        try:
            items = cluster.list(api_version, kind, namespace or None, label_selector=label_selector)
        except ClusterError as e:
            if "does not serve" in str(e):
                continue  # the kind (a CRD not yet applied) has nothing live
            raise
        observation.lists += 1
        for item in items:
            observation.live[ObjectRef.of(item).identity] = item
    return observation


def find_untracked(cluster: Cluster, desired: list[dict[str, Any]], observation: Observation) -> None:
    """Desired objects the tracked LIST did not find may exist without our label (made by hand, or label removed)."""
    for obj in desired:
        ref = ObjectRef.of(obj)
        if observation.get(ref) is None:
            try:
                live = cluster.get(ref.api_version, ref.kind, ref.name, ref.namespace or None)
            except ClusterError as e:
                if "does not serve" in str(e):
                    continue
                raise
            if live is not None:
                observation.live[ref.identity] = live


# ------------------------------------------------------------------ plan


def foreign(desired: list[dict[str, Any]], observation: Observation, app: App, env: Environment) -> list[Refusal]:
    """Desired objects that live already tracked for another app/environment: never adopted, changed or pruned here."""
    found = []
    own = tracking_id(app.name, env.name)
    for obj in desired:
        live = observation.get(ObjectRef.of(obj))
        owner = owner_of(live) if live is not None else None
        if owner is not None and owner != own:
            owner_app, _, owner_env = owner.partition("/")
            found.append(
                Refusal(
                    ObjectRef.of(obj),
                    f"{ObjectRef.of(obj)} belongs to {owner_app} in {owner_env}, so {app.name} in {env.name} may not "
                    f"take it over; remove it from one app's manifests (or, to hand it over, remove its "
                    f"{TRACKING_ANNOTATION} annotation)",
                )
            )
    return found


def refuse_foreign(desired: list[dict[str, Any]], observation: Observation, app: App, env: Environment) -> None:
    """Raise BoundaryError naming each desired object another app/environment already tracks, and its owner."""
    if refusals := foreign(desired, observation, app, env):
        raise BoundaryError(f"{app.name} in {env.name}", refusals)
