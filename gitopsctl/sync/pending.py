"""What Git has that the cluster was not given yet: the delivered revision and the commits after it.

Two facts about an app in an environment, never mixed: *OutOfSync* (Git has
commits not delivered yet) and *Drifted* (the live state was changed outside
Git, compared with what was delivered). The delivered revision is the last sync
that succeeded, from the sync record. A pair is OutOfSync when the render at the
wanted revision differs from the render at the delivered one, compared by the
Git tree ids the renders read: a commit to another app changes nothing here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..cluster import records
from ..config import App, Environment
from ..source.commits import Commit, read
from ..source.render import Rendered

if TYPE_CHECKING:
    from ..workspace import Workspace

COMMITS_SHOWN = 20


@dataclass(frozen=True)
class Pending:
    """Git's side of one app in one environment: what is wanted, what was delivered, the commits between."""

    app: str
    env: str
    wanted: str  # the revision asked for: the branch head unless a revision was named
    delivered: str | None  # the last revision a sync delivered successfully; None: never delivered
    changed: bool  # OutOfSync: the manifests at ``wanted`` differ from those at ``delivered``
    commits: tuple[Commit, ...] = ()  # newest first, at most COMMITS_SHOWN
    failed: records.HistoryEntry | None = None  # the last attempt to deliver ``wanted``, when it failed

    @property
    def baseline(self) -> str:
        """What live is compared with to find drift: what was delivered (Git's head when nothing was)."""
        return self.delivered or self.wanted

    def as_dict(self) -> dict[str, Any]:
        return {
            "wanted": self.wanted,
            "delivered": self.delivered,
            "out_of_sync": self.changed,
            "commits": [c.as_dict() for c in self.commits],
            "last_attempt_failed": self.failed.message if self.failed else None,
        }


def delivered(record: records.SyncRecord) -> str | None:
    """The revision of the last sync that succeeded."""
    return next((h.revision for h in record.history if h.result == "Succeeded"), None)


def paths_read(rendered: Rendered) -> list[str]:
    """The repository directories a render read (a kustomize app may read bases outside its own, a chart the
    directories its symlinks lead to): the ``path=id`` parts of its cache key, after the kind, path (and release)."""
    exported = {"kustomize": 2, "helm": 3}.get(rendered.cache_key[0]) if rendered.cache_key else None
    if exported is not None:
        return [part.split("=", 1)[0] for part in rendered.cache_key[exported:]]
    return [rendered.path]


def pending(workspace: Workspace, app: App, env: Environment, record: records.SyncRecord, wanted: str) -> Pending:
    """OutOfSync or not, and the commits not delivered yet (touching any directory the render reads)."""
    repo = workspace.repo
    base = delivered(record)
    if base is not None and not repo.has(base):
        base = None  # rewritten away upstream: nothing known to be delivered can be compared
    after = workspace.render(app, env, wanted, shared=True)  # only its key and whether it has objects are read
    if base is None:
        changed = bool(after.objects)
    else:
        changed = base != wanted and workspace.render(app, env, base, shared=True).cache_key != after.cache_key
    commits: tuple[Commit, ...] = ()
    if changed:
        own = workspace.config.git.author_email
        found = repo.between(base, wanted, paths_read(after), COMMITS_SHOWN)
        commits = tuple(read(c, own) for c in found)
    last = record.last
    failed = last if last is not None and last.revision == wanted and last.result != "Succeeded" else None
    return Pending(app.name, env.name, wanted, base, changed, commits, failed)


def _canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _without_labels(obj: dict[str, Any]) -> dict[str, Any]:
    """Annotations stay: many change behaviour (a load balancer made public, an ingress's auth, a DNS name)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "labels"}
    return {**obj, "metadata": meta}


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", ""))


def changes_what_runs(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """Whether a change does more than relabel: an object added or removed, or anything but the objects' own
    labels changed. Only a change that does not may skip approvals."""
    old = {_identity(o): _canonical(_without_labels(o)) for o in before}
    new = {_identity(o): _canonical(_without_labels(o)) for o in after}
    return old != new


def workload(objects: list[dict[str, Any]], container: str) -> dict[str, Any] | None:
    """The Deployment that runs the app's container: the one a canary is made of."""
    for obj in objects:
        if obj.get("kind") == "Deployment":
            containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            if any(c.get("name") == container for c in containers):
                return obj
    return None


def template_digest(deployment: dict[str, Any] | None) -> str:
    """A short digest of a Deployment's pod template: what a canary of a non-image change is known by."""
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    return hashlib.sha256(_canonical(template).encode()).hexdigest()[:12]
