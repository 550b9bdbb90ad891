"""Incident mode: an environment handed to its responders while an incident lasts.

While it lasts, nothing happens there by itself (the leader delivers no Git change, promotes nothing upstream's
health would promote, and self-heal puts no drift back), and the named responders deploy and roll back without
a second approval or a freeze's break-glass, each such commit recorded with an ``Incident:`` trailer. Everyone
else meets the usual gates. It ends by hand or by itself; then its timeline (every action taken in the
environment meanwhile, from every front end: Git's commits, syncs, rollouts) is what the postmortem starts from.

One ConfigMap per environment (``gitopsctl-incident-ENV``); a second incident in the same environment is
refused while one lasts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..cluster import records
from ..cluster.stored import RecordStore
from ..config import Environment
from ..errors import ConflictError, NotFoundError, PolicyError, SourceError, UsageError
from ..identity import key_of, listed_key
from ..rollout import record as rollout_records
from ..source.commits import title_of, trailers

if TYPE_CHECKING:
    from ..cluster.client import Cluster
    from ..engine import Engine

INCIDENT_LABEL = "gitopsctl.io/incident"
INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LONGEST = timedelta(days=7)
REMIND_EVERY = timedelta(minutes=30)
TIMELINE_COMMITS = 200


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IncidentMode:
    env: str
    id: str
    responders: tuple[str, ...]
    started_by: str
    started_at: datetime
    until: datetime
    reminded_at: datetime | None = None
    git_head: str = ""  # the branch's head when it started: its timeline's commits are those after it
    ended_at: datetime | None = None
    ended_by: str = ""

    def over(self, now: datetime) -> bool:
        return self.until <= now

    @property
    def shown(self) -> str:
        return f"incident {self.id} (responders: {', '.join(self.responders)}; until {self.until:%H:%M} UTC)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "id": self.id,
            "responders": list(self.responders),
            "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
            "until": self.until.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "ended_by": self.ended_by or None,
        }


@dataclass(frozen=True)
class Moment:
    """One line of an incident's timeline: when, who, what, which commit."""

    at: datetime
    who: str
    what: str
    commit: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "who": self.who, "what": self.what, "commit": self.commit or None}


def _parse(env: str, data: dict[str, str]) -> IncidentMode | None:
    try:
        return IncidentMode(
            env,
            data["id"],
            tuple(json.loads(data.get("responders") or "[]")),
            data.get("started_by", ""),
            datetime.fromisoformat(data["started_at"]),
            datetime.fromisoformat(data["until"]),
            datetime.fromisoformat(data["reminded_at"]) if data.get("reminded_at") else None,
            data.get("git_head", ""),
        )
    except (KeyError, ValueError, TypeError):
        return None  # a record a person edited into nonsense is no incident; `incident start` replaces it


def _data(mode: IncidentMode) -> dict[str, str]:
    return {
        "id": mode.id,
        "responders": json.dumps(list(mode.responders)),
        "started_by": mode.started_by,
        "started_at": mode.started_at.isoformat(),
        "until": mode.until.isoformat(),
        **({"reminded_at": mode.reminded_at.isoformat()} if mode.reminded_at else {}),
        **({"git_head": mode.git_head} if mode.git_head else {}),
    }


class IncidentModes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _name(env: Environment) -> str:
        return f"gitopsctl-incident-{env.name}"

    def _store(self, env: Environment) -> RecordStore:
        return RecordStore(self.engine.cluster(env), env.namespace)

    def current(self, env: Environment, reads: Cluster | None = None) -> IncidentMode | None:
        """The incident ``env`` is in, if any, over or not (``reads``: the live fleet's watched lists)."""
        cm = (reads or self.engine.cluster(env)).get("v1", "ConfigMap", self._name(env), env.namespace)
        return _parse(env.name, dict(cm.get("data") or {})) if cm else None

    def active(self, env: Environment, reads: Cluster | None = None) -> IncidentMode | None:
        """The incident ``env`` is in now: one whose time is up no longer counts, even before it is ended."""
        mode = self.current(env, reads)
        return mode if mode is not None and not mode.over(_now()) else None

    def responding(self, env: Environment, actor: str) -> IncidentMode | None:
        """The incident in which ``actor`` is a responder in ``env`` now, if any."""
        mode = self.active(env)
        if mode is None:
            return None
        config = self.engine.config
        return mode if key_of(config, actor) in {listed_key(config, r) for r in mode.responders} else None

    def refuse_automatic(self, env: Environment, what: str) -> None:
        if (mode := self.active(env)) is not None:
            raise PolicyError(f"{env.name} is in {mode.shown}: {what} is paused until it ends")

    def start(
        self, env_name: str, incident: str, *, responders: tuple[str, ...], duration: timedelta, actor: str
    ) -> IncidentMode:
        env = self.engine.workspace.environment(env_name)
        if not INCIDENT_ID.match(incident or ""):
            raise UsageError(
                f"{incident!r} is not an incident id: letters, digits, '.', '_' and '-', at most 64, such as INC-123"
            )
        if not timedelta(seconds=1) <= duration <= LONGEST:
            raise UsageError("an incident lasts between 1s and 7d (--for); end it earlier with `incident end`")
        for responder in responders:
            if not re.fullmatch(r"[\w.@:-]{1,100}", responder):
                raise UsageError(f"{responder!r} is not a person, a Slack user ID or a cluster user name")
        now = _now()
        try:  # where its timeline's commits start; Git being away never keeps responders from starting
            self.engine.repo.fetch(force=True)
            head = self.engine.repo.resolve()
        except SourceError:
            head = ""
        responding = tuple(dict.fromkeys(responders or (actor,)))
        mode = IncidentMode(env.name, incident, responding, actor, now, now + duration, git_head=head)
        store, name = self._store(env), self._name(env)
        current = store.read(name)
        running = _parse(env.name, current.data)
        if running is not None and not running.over(now):
            raise PolicyError(f"{env.name} is already in {running.shown}, started by {running.started_by}")
        try:
            store.write(name, {INCIDENT_LABEL: "true", "gitopsctl.io/env": env.name}, _data(mode), current.version)
        except (ConflictError, NotFoundError) as e:
            raise PolicyError(f"someone started or ended an incident in {env.name} just now; look and try again") from e
        return mode

    def end(self, env_name: str, *, actor: str) -> tuple[IncidentMode, list[Moment]]:
        """End it now (or record that its time ran out); the ended incident and its timeline."""
        env = self.engine.workspace.environment(env_name)
        mode = self.current(env)
        if mode is None:
            raise UsageError(f"{env.name} is not in incident mode")
        now = _now()
        ended = replace(
            mode, ended_at=min(now, mode.until), ended_by=actor if not mode.over(now) else "its time ran out"
        )
        self.engine.cluster(env).delete("v1", "ConfigMap", self._name(env), env.namespace)
        return ended, self.timeline(ended)

    def expire(self) -> list[tuple[IncidentMode, list[Moment]]]:
        """End every incident whose time is up: each with its timeline, to be posted."""
        ended = []
        for env in self.engine.config.environments.values():
            mode = self.current(env)
            if mode is not None and mode.over(_now()):
                ended.append(self.end(env.name, actor="its time ran out"))
        return ended

    def due_reminders(self) -> list[IncidentMode]:
        """Incidents not reminded of for REMIND_EVERY (marked reminded now: each reminder goes out once)."""
        due, now = [], _now()
        for env in self.engine.config.environments.values():
            mode = self.active(env)
            if mode is None or now - (mode.reminded_at or mode.started_at) < REMIND_EVERY:
                continue
            reminded = replace(mode, reminded_at=now)
            store = self._store(env)
            try:
                store.write(
                    self._name(env), {INCIDENT_LABEL: "true"}, _data(reminded), store.read(self._name(env)).version
                )
            except (ConflictError, NotFoundError):
                continue  # ended or changed meanwhile: no reminder for what is no longer so
            due.append(reminded)
        return due

    def timeline(self, mode: IncidentMode) -> list[Moment]:
        """Every action taken in the environment during ``mode``, oldest first: Git's commits to its apps' paths
        (with who asked and who approved, from their trailers), syncs (any front end's, from the sync records),
        rollout events, and the incident's own start and end."""
        engine, env = self.engine, self.engine.workspace.environment(mode.env)
        end = mode.ended_at or _now()
        inside = lambda at: mode.started_at <= at <= end  # noqa: E731
        # Git and the sync records keep whole seconds: what they stamp with the second it started is inside
        whole_second = mode.started_at.replace(microsecond=0)
        moments = [Moment(mode.started_at, mode.started_by, f"started incident mode for {mode.id}")]
        paths = [app.path_for(env.name) for app in engine.config.apps.values() if env.name in app.environments]
        try:
            engine.repo.fetch(force=True)  # the last commits of the incident, however recently fetched before
            commits = engine.repo.between(mode.git_head or None, engine.repo.resolve(), paths, TIMELINE_COMMITS)
        except SourceError as e:  # the rest of the timeline is still told, and that Git's part is missing
            commits = []
            moments.append(Moment(end, "gitopsctl", f"Git's commits are missing here: {e}"))
        for commit in commits:
            at = datetime.fromtimestamp(commit.committed_date, UTC)
            # after the head it started at; without one, by time (Git keeps whole seconds)
            if (mode.git_head or whole_second <= at) and at <= end:
                at = max(at, mode.started_at)  # made after it started, in the second it started
                said = trailers(str(commit.message))
                who = said.get("Deployed-by") or said.get("Rolled-back-by") or said.get("Adopted-by")
                approved = f" (approved by {said['Approved-by']})" if said.get("Approved-by") else ""
                what = _printable(f"commit: {title_of(str(commit.message))}{approved}")
                moments.append(Moment(at, _printable(who or str(commit.author.name)), what, commit.hexsha))
        cluster = engine.cluster(env)
        for (app, _), record in records.read_all(cluster, env.namespace).items():
            for entry in record.history:
                at = _moment(entry.time)
                if at is not None and whole_second <= at <= end:
                    what = f"synced {app} ({entry.version or '-'}): {entry.result}, health {entry.health}"
                    moments.append(Moment(max(at, mode.started_at), entry.actor, what, entry.revision))
        for (app, _), rollout in rollout_records.read_all(cluster, env.namespace).items():
            for event in rollout.events:
                stamp, _, text = event.partition(" ")
                at = _moment(stamp)
                if at is not None and inside(at):
                    moments.append(Moment(at, "gitopsctl", f"rollout of {app} {rollout.canary_version}: {text}"))
        if mode.ended_at is not None:
            moments.append(Moment(mode.ended_at, mode.ended_by, f"ended incident mode for {mode.id}"))
        return sorted(moments, key=lambda m: m.at)


def _moment(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _printable(text: str) -> str:
    """Text from Git, as any front end may show it: no control characters to drive a terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)
