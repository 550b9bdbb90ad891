"""Commits as gitopsctl reads them: who asked for a change (trailers first, then the author) and whether
gitopsctl wrote it itself.

A commit gitopsctl writes (a deploy, a rollback, a revert) carries ``Deployed-by``
or ``Rolled-back-by`` trailers and gitopsctl's author address; anyone who can
push could copy both, so this only ever says who asked, never who approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import git

from ..identity import Actor

OWN_TRAILERS = ("Deployed-by", "Rolled-back-by")
TITLE_LIMIT = 200


@dataclass(frozen=True)
class Commit:
    sha: str
    title: str
    author: str  # the actor who asked: the Deployed-by trailer, else the Git author as "Name <email>"
    time: str
    ours: bool  # written by gitopsctl (its trailers and its author address)
    authors: tuple[str, ...] = ()  # everyone the commit names: its Deployed-by trailer and its Git author

    def as_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "title": self.title, "author": self.author, "time": self.time, "ours": self.ours}


def trailers(message: str) -> dict[str, str]:
    """``Key: value`` lines of a commit message's last paragraph."""
    last = message.strip().split("\n\n")[-1]
    pairs = (line.split(": ", 1) for line in last.splitlines() if ": " in line)
    return {key: value for key, value in pairs if key.replace("-", "").isalpha()}


def title_of(message: str) -> str:
    """The first line, on one line and capped: a title is shown in Slack and the console."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    text = " ".join(first.split())
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1] + "…"


def read(commit: git.Commit, own_email: str) -> Commit:
    said = trailers(str(commit.message))
    author = Actor.git(commit.author.name or "", commit.author.email or "")
    ours = any(key in said for key in OWN_TRAILERS) and author.id == own_email.lower()
    return Commit(
        commit.hexsha,
        title_of(str(commit.message)),
        said.get("Deployed-by") or str(author),
        datetime.fromtimestamp(commit.committed_date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ours,
        tuple(dict.fromkeys([*([said["Deployed-by"]] if said.get("Deployed-by") else []), str(author)])),
    )
