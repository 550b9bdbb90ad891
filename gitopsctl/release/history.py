"""An app's release history as Git tells it: deploys, promotions and rollbacks, with who asked and who approved
(from the commits' trailers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..source.repo import GitRepository


@dataclass(frozen=True)
class GitRelease:
    commit: str
    time: str
    kind: str  # Deploy | Rollback | Change
    title: str
    actor: str
    approvers: str


def _trailers(message: str) -> dict[str, str]:
    """``Key: value`` lines of a commit message's last paragraph."""
    last = message.strip().split("\n\n")[-1]
    pairs = (line.split(": ", 1) for line in last.splitlines() if ": " in line)
    return {key: value for key, value in pairs if key.replace("-", "").isalpha()}


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
            else "Change"
        )
        found.append(
            GitRelease(
                commit.hexsha,
                datetime.fromtimestamp(commit.committed_date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                kind,
                title,
                trailers.get("Rolled-back-by") or trailers.get("Deployed-by") or commit.author.name,
                trailers.get("Approved-by", ""),
            )
        )
    return found
