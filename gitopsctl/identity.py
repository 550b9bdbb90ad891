"""Who acts: an identity something verifiable vouched for, and the person behind it.

A Slack user is their user ID (Slack signs the request that carries it); a
CLI or console user is the user name their cluster reports for their
credentials (``SelfSubjectReview``, what ``kubectl auth whoami`` prints);
gitopsctl's own actions are ``gitopsctl``. Nothing a user types names them.
A commit's author (``git``) is the one unverified identity: anyone who can
push may write any name, so it only ever names who asked for a change
(a request's requester, who then may not approve it), never who approved.

One person may reach gitopsctl through several of these; ``[people.NAME]``
says which identities are one person, so four-eyes rules hold across front
ends. An identity not listed there is only ever the same person as itself.

Actors travel as text (Git trailers, history, locks): ``"alice (U024BE7LH)"``
for Slack (the display name is cleaned, so it cannot forge the ID part),
the cluster user name for the cluster, ``gitopsctl`` for the engine itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_ACTOR = re.compile(r"^(?P<name>[\w.\-]{1,40}) \((?P<id>[UW][A-Z0-9]{2,})\)$")
_GIT_ACTOR = re.compile(r"^(?P<name>[^<>\n]{0,80}) <(?P<email>[^<>\s]{1,320})>$")
SLACK, KUBE, GIT, GITOPSCTL = "slack", "kube", "git", "gitopsctl"


@dataclass(frozen=True)
class Actor:
    source: str  # slack | kube | gitopsctl
    id: str  # the Slack user ID, the cluster user name, or "gitopsctl"
    name: str = ""  # a display name (Slack only)

    @classmethod
    def slack(cls, user_id: str, name: str | None = None) -> Actor:
        clean = re.sub(r"[^\w.\-]", "", name or "")[:40] or "slack-user"
        return cls(SLACK, user_id, clean)

    @classmethod
    def kube(cls, username: str) -> Actor:
        return cls(KUBE, username)

    @classmethod
    def git(cls, name: str, email: str) -> Actor:
        """A commit's author: ``Name <email>``, as Git writes it."""
        clean = " ".join(re.sub(r"[<>]", "", name).split())[:80]
        return cls(GIT, email.strip().lower(), clean)

    @classmethod
    def parse(cls, text: str) -> Actor:
        """The actor a text names, as written by ``str()``; anything else is a cluster user name."""
        if text == GITOPSCTL:
            return cls(GITOPSCTL, GITOPSCTL)
        match = _SLACK_ACTOR.match(text)
        if match:
            return cls(SLACK, match["id"], match["name"])
        match = _GIT_ACTOR.match(text)
        if match:
            return cls(GIT, match["email"].lower(), match["name"].strip())
        return cls(KUBE, text)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.id}"

    def __str__(self) -> str:
        if self.source == SLACK:
            return f"{self.name} ({self.id})"
        return f"{self.name} <{self.id}>" if self.source == GIT else self.id


def as_actor(actor: Actor | str) -> Actor:
    return actor if isinstance(actor, Actor) else Actor.parse(actor)


def person_of(config: Config, actor: Actor | str) -> str | None:
    """The ``[people]`` name of an actor, when the configuration lists one of its identities."""
    actor = as_actor(actor)
    for name, person in config.people.items():
        if (
            (actor.source == SLACK and actor.id == person.slack)
            or (actor.source == KUBE and actor.id in person.kube)
            or (actor.source == GIT and actor.id in person.git)
        ):
            return name
    return None


def key_of(config: Config, actor: Actor | str) -> str:
    """What two actors must share to be the same person: the person's name, else the identity itself."""
    person = person_of(config, actor)
    return f"person:{person}" if person else as_actor(actor).key


def listed_key(config: Config, entry: str) -> str:
    """The key an entry of an approval list or group stands for: a person, or a Slack user ID or cluster user (and
    so the person who owns that identity, if any)."""
    if entry in config.people:
        return f"person:{entry}"
    if SLACK_USER.match(entry):
        return key_of(config, Actor(SLACK, entry))
    return key_of(config, Actor.kube(entry.removeprefix("kube:")))


def same_person(config: Config, a: Actor | str, b: Actor | str) -> bool:
    return key_of(config, a) == key_of(config, b)


def unknown_across_front_ends(config: Config, a: Actor | str, b: Actor | str) -> bool:
    """Two identities from different front ends, not both in ``[people]``: nobody can tell they are two people."""
    a, b = as_actor(a), as_actor(b)
    unlisted = person_of(config, a) is None or person_of(config, b) is None
    return a.source != b.source and GITOPSCTL not in (a.source, b.source) and unlisted
