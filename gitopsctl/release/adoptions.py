"""Adopting drift into Git ("keep this hotfix"): the live value of drifted fields written back into the app's
manifests as one commit, then delivered through the environment's gates like any change to Git.

Each field is found on its line (source/adopt.py) and the edit is proven by rendering before anything is
committed: the app's render in this environment must change by exactly the adopted fields, and every other
environment's render must not change at all. A line that other environments also render (a kustomize base), a
value set again later in the render (a patch, a transformer), or a field no line writes (a generated one, a name
a prefix changed) is refused, saying where the value would have to change. Secrets are never written: their
values would be in Git in clear. The commit carries ``Adopted-from-live-by`` (the field managers that made the
change, from managedFields) and ``Adopted-by`` (who kept it).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import App, Environment
from ..errors import GitOpsError, ManifestError, PolicyError, SourceError, UsageError
from ..source import adopt
from ..source.commits import trailers
from ..source.manifests import ObjectRef
from ..source.safety import write_inside
from ..sync.diff import MISSING, FieldChange, ResourceDiff
from ..sync.service import SyncResult

if TYPE_CHECKING:
    from pathlib import Path

    from ..drift.model import AppDrift
    from ..engine import Engine
    from .deliveries import Deliveries


@dataclass(frozen=True)
class AdoptedField:
    ref: ObjectRef
    path: str
    desired: Any
    live: Any
    where: str  # file and line written

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.ref.kind,
            "name": self.ref.name,
            "path": self.path,
            "from": self.desired,
            "to": self.live,
            "where": self.where,
        }


@dataclass
class Adoption:
    """What an adoption wrote (``commit`` is empty for a plan) and how its delivery went."""

    app: str
    env: str
    fields: list[AdoptedField]
    managers: list[str]
    commit: str = ""
    result: SyncResult | None = None
    undelivered: str = ""  # why the commit, made, was not delivered (a gate after it, a lock): it waits in Git
    edits: dict[str, str] = field(default_factory=dict)  # file -> its new text

    @property
    def title(self) -> str:
        if len(self.fields) == 1:
            f = self.fields[0]
            return f"Adopt {self.app} {self.env}: {f.ref.kind}/{f.ref.name} {f.path} {f.desired} -> {f.live}"
        return f"Adopt {self.app} {self.env}: {len(self.fields)} fields changed by hand"

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "env": self.env,
            "commit": self.commit,
            "fields": [f.as_dict() for f in self.fields],
            "adopted_from_live_by": self.managers,
            "result": self.result.result if self.result else None,
            "undelivered": self.undelivered or None,
        }


def _selected(drift: AppDrift, fields: tuple[str, ...]) -> list[tuple[ResourceDiff, FieldChange]]:
    """The drifted fields to adopt: all of them, or those named (``PATH`` or ``Kind/name:PATH``); refused, with
    what could be named, when a name matches nothing or something cannot be adopted."""
    chosen: list[tuple[ResourceDiff, FieldChange]] = []
    problems: list[str] = []
    names = set(fields)
    for resource in drift.resources:
        ref = f"{resource.ref.kind}/{resource.ref.name}"
        named = [f for f in resource.fields if not names or {f.path, f"{ref}:{f.path}"} & names]
        if fields and not named:
            continue
        names -= {n for f in named for n in (f.path, f"{ref}:{f.path}")}
        if resource.ref.kind == "Secret":
            problems.append(f"{ref} is a Secret: gitopsctl never writes a Secret's values to Git in clear")
        elif resource.state != "changed":
            how = {"missing": "was deleted", "extra": "exists only in the cluster"}.get(resource.state, "is refused")
            problems.append(f"{ref} {how}: only changed fields can be adopted; change Git by hand")
        for change in named:
            if change.live is MISSING or not adopt.scalar(change.live) or not adopt.scalar(change.desired):
                problems.append(f"{ref} {change.path} is not a one-line value both in Git and live; change it by hand")
            else:
                chosen.append((resource, change))
    if names:
        known = ", ".join(f"{r.ref.kind}/{r.ref.name}:{f.path}" for r in drift.resources for f in r.fields)
        raise UsageError(
            f"no drifted field {sorted(names)[0]!r} in {drift.app} {drift.env}; drifted: {known or 'none'}"
        )
    if problems:
        more = "" if fields else "; adopt the other fields alone with --fields"
        raise PolicyError(f"cannot adopt {drift.app} in {drift.env}: {problems[0]}{more}")
    return chosen


def _canonical(objects: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True, default=str) for o in objects)


def _set(objects: list[dict[str, Any]], ref: ObjectRef, path: tuple[str, ...], value: Any) -> bool:
    """Set ``path`` (managedFields elements) of the object ``ref`` in a render; False when it is not there."""
    for obj in objects:
        if obj.get("kind") != ref.kind or (obj.get("metadata") or {}).get("name") != ref.name:
            continue
        node: Any = obj
        for element in path[:-1]:
            kind, _, rest = element.partition(":")
            if kind == "f" and isinstance(node, dict) and rest in node:
                node = node[rest]
            elif kind == "k" and isinstance(node, list):
                wanted = json.loads(rest)
                node = next((i for i in node if isinstance(i, dict) and wanted.items() <= i.items()), None)
            else:
                return False
        last = path[-1].partition(":")[2]
        if isinstance(node, dict) and last in node:
            node[last] = value
            return True
    return False


class Adoptions:
    def __init__(self, engine: Engine, deliveries: Deliveries) -> None:
        self.engine = engine
        self.deliveries = deliveries

    def plan(self, app: str, env: str, fields: tuple[str, ...] = ()) -> Adoption:
        """What adopting would write, proven by rendering; refused (nothing written) as the module says."""
        spec, environment = self.engine.resolve(app, env)
        report = self.engine.drift(env, (app,))
        if report.errors:
            raise SourceError(f"cannot adopt {app} in {env}: {report.errors[0].error}")
        drift = next((d for d in report.drifted if d.app == app and d.env == env), None)
        if drift is None:
            raise UsageError(f"{app} in {env} matches what Git delivered: there is no drift to adopt")
        chosen = _selected(drift, fields)
        self.deliveries.refuse_undelivered(spec, environment, "adopt")
        return self._prove(spec, environment, drift, chosen)

    def _prove(
        self, spec: App, env: Environment, drift: AppDrift, chosen: list[tuple[ResourceDiff, FieldChange]]
    ) -> Adoption:
        renderer, repo = self.engine.workspace.renderer, self.engine.repo
        sha = repo.resolve()
        path = spec.path_for(env.name)
        files = renderer.sources(sha, path)
        texts = {f: (repo.read_file(sha, f) or b"").decode("utf-8", "replace") for f in files}
        others = {e: spec.path_for(e) for e in spec.environments if e != env.name}
        before_others = {}
        for other, other_path in others.items():
            try:
                before_others[other] = _canonical(renderer.render_with(sha, other_path, {}))
            except ManifestError:  # it does not render now either: nothing an edit could break
                continue
        current = list(renderer.render_with(sha, path, {}))
        edits: dict[str, str] = {}
        adopted = []
        for resource, change in chosen:
            expected = copy.deepcopy(current)
            if not _set(expected, resource.ref, change.fields_v1, change.live):
                raise PolicyError(
                    f"{resource.ref.kind}/{resource.ref.name} {change.path} is not in {spec.name}'s render at "
                    f"{sha[:12]}; change Git by hand"
                )
            ref = resource.ref
            spots = [
                s for f in files for s in adopt.find(f, edits.get(f, texts[f]), ref.kind, ref.name, change.fields_v1)
            ]
            refusals = []
            for spot in spots:
                trial = {**edits, spot.file: adopt.edit(edits.get(spot.file, texts[spot.file]), spot, change.live)}
                encoded = {k: v.encode("utf-8") for k, v in trial.items()}
                try:
                    after = renderer.render_with(sha, path, encoded)
                except ManifestError as e:
                    refusals.append(f"{spot.shown()} cannot hold it ({e})")
                    continue
                if _canonical(after) != _canonical(expected):
                    refusals.append(f"{spot.shown()} is set again later in the render (a patch or a transformer)")
                    continue
                shared = [
                    e
                    for e, rendered in before_others.items()
                    if _canonical(renderer.render_with(sha, others[e], encoded)) != rendered
                ]
                if shared:
                    refusals.append(f"{spot.shown()} is also rendered in {', '.join(shared)}")
                    continue
                edits, current = trial, list(after)
                adopted.append(AdoptedField(resource.ref, change.path, change.desired, change.live, spot.shown()))
                break
            else:
                where = "; ".join(refusals) or f"no line of {path} writes it (generated, or renamed by the render)"
                raise PolicyError(
                    f"cannot adopt {resource.ref.kind}/{resource.ref.name} {change.path} in {env.name}: {where}; "
                    f"set it for {env.name} alone by hand, in a file only {env.name} renders (a patch in {path})"
                )
        managers = sorted({r.changed_by for r, _ in chosen if r.changed_by})
        return Adoption(spec.name, env.name, adopted, managers, edits=edits)

    def kept(self, app: str, env: str) -> str | None:
        """How drift ended when the revision delivered is an adoption: who kept it, in which commit."""
        spec, environment = self.engine.resolve(app, env)
        delivered = self.engine.syncs.pending(spec, environment).delivered
        commits = self.engine.repo.log(delivered, "", 1) if delivered else []
        adopted_by = trailers(str(commits[0].message)).get("Adopted-by") if commits else None
        return f"kept in Git: adopted by {adopted_by} in {delivered[:12]}" if adopted_by and delivered else None

    def adopt(
        self, app: str, env: str, *, fields: tuple[str, ...] = (), actor: str, timeout: float = 300.0
    ) -> Adoption:
        """Plan, check the gates that come before a commit, commit the edits, then deliver them like any change."""
        spec, environment = self.engine.resolve(app, env)
        if (active := self.engine.rollouts.active(spec, environment)) is not None:
            raise PolicyError(f"a rollout of {app} {active.canary_version} in {env} is in progress; it owns the app")
        if self.deliveries.incidents.responding(environment, actor) is None:  # a responder keeps a fix in a freeze
            self.deliveries.refuse_frozen(environment, automatic=False)
        adoption = self.plan(app, env, fields)
        sha = self.engine.repo.resolve()
        originals = {f: self.engine.repo.read_file(sha, f) or b"" for f in adoption.edits}

        def change(root: Path) -> list[Path]:
            written = []
            for file, text in adoption.edits.items():
                target = root / file
                if not target.is_file() or target.read_bytes() != originals[file]:
                    raise SourceError(f"{file} changed in Git meanwhile; adopt again to see the drift as it is now")
                write_inside(root, target, text.encode("utf-8"))
                written.append(target)
            return written

        trailers = {"Adopted-from-live-by": ", ".join(adoption.managers) or "unknown", "Adopted-by": actor}
        adoption.commit = self.engine.workspace.writer.commit(change, adoption.title, trailers)
        self.engine.repo.fetch(force=True)
        try:
            adoption.result = self.engine.sync(
                app, env, revision=adoption.commit, actor=actor, wait=True, timeout=timeout
            )
        except GitOpsError as e:  # committed all the same: said, never raised as if nothing had been written
            adoption.undelivered = str(e)
        return adoption
