"""An aborted rollout's revert commit: what it delivered undone in Git, exactly once.

The commit says why (title), who (``Rolled-back-by``) and what it reverts
(``Reverts: <deploy commit>``): an abort killed after its push finds its own
revert again by that trailer rather than committing a second one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import App, Environment
from ..errors import SourceError
from ..source.commits import trailers
from ..source.images import set_version
from ..source.manifests import image_repository
from ..source.repo import GitRepository
from ..source.writer import GitWriter
from .record import Rollout

log = logging.getLogger(__name__)


def revert(
    writer: GitWriter,
    repo: GitRepository,
    app: App,
    env: Environment,
    rollout: Rollout,
    stable: dict[str, Any],
    *,
    why: str,
    reason: str,
    actor: str,
) -> str | None:
    """The revert commit's SHA: pushed now, or found as an earlier attempt pushed it; None when nothing of the
    change is below the app's path (a base other environments share)."""
    path = app.path_for(env.name)
    said = {"Reverts": rollout.deploy_commit, "Rolled-back-by": actor, "Deployed-by": rollout.actor, "Reason": reason}
    title = f"Roll back {app.name} {env.name}" + ("" if rollout.change else f" to {rollout.stable_version}")
    base, repository = rollout.base_commit, _repository(stable, app.container)

    def change(root: Path) -> list[Path]:
        """What the rollout delivered undone below the app's path (other paths of the same commit, and other
        files of this one, left alone); a record from before bases were kept sets the version back instead."""
        if base:
            return writer.undo(root, base, rollout.deploy_commit, path)
        where = app.version_at(env.name)
        return [set_version(root / path, app.container, rollout.stable_version, repository, version_path=where).path]

    try:
        return writer.commit(change, f"{title}: {why}", said)
    except SourceError as e:
        if "nothing to commit" not in str(e):
            raise
        return _earlier(repo, app, env, rollout)


def _earlier(repo: GitRepository, app: App, env: Environment, rollout: Rollout) -> str | None:
    """The revert an earlier attempt pushed before it was killed, so the record still names it."""
    try:
        repo.fetch(force=True)
        found = repo.between(rollout.deploy_commit, repo.resolve(None), [app.path_for(env.name)], limit=200)
    except SourceError as e:  # the abort goes on; only the record misses the revert's name
        log.warning("cannot look for the revert of %s in %s: %s", app.name, env.name, e)
        return None
    for commit in found:
        said = trailers(commit.message)
        if said.get("Reverts") == rollout.deploy_commit and said.get("Rolled-back-by"):
            return commit.hexsha
    return None


def _repository(workload: dict[str, Any], container: str) -> str | None:
    for c in workload["spec"]["template"]["spec"].get("containers") or []:
        if c.get("name") == container:
            return image_repository(str(c.get("image", "")))
    return None
