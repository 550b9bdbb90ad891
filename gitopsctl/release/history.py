"""An app's release history as Git tells it: deploys, promotions and rollbacks, with who asked and who approved
(from the commits' trailers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..source.commits import trailers as _trailers
from ..source.repo import GitRepository


@dataclass(frozen=True)
class GitRelease:
    commit: str
    time: str
    kind: str  # Deploy | Rollback | Adopt (a hand-made change kept in Git) | Change
    title: str
    actor: str
    approvers: str


def releases(repo: GitRepository, path: str, limit: int = 30) -> list[GitRelease]:
    """The last ``limit`` commits that touched ``path`` on the branch, newest first."""
    found = []
    for commit in repo.log(repo.resolve(), path, limit):
        trailers = _trailers(commit.message)
        title = commit.message.splitlines()[0] if commit.message else ""
        kind = (
            "Rollback"
            if title.startswith("Roll back")
            else "Deploy"
            if title.startswith(("Deploy ", "Break-glass deploy "))
            else "Adopt"
            if title.startswith("Adopt ") and "Adopted-by" in trailers
            else "Change"
        )
        found.append(
            GitRelease(
                commit.hexsha,
                datetime.fromtimestamp(commit.committed_date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                kind,
                title,
                trailers.get("Rolled-back-by")
                or trailers.get("Deployed-by")
                or trailers.get("Adopted-by")
                or commit.author.name,
                trailers.get("Approved-by", ""),
            )
        )
    return found
