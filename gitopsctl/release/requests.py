"""Approval requests: one pending per app and environment, kept in the cluster where every front end sees it.

A request has an id and a version; a decision binds to the request the person
was shown (``bound``), never to one that replaced it. An ended request is kept
as ended until the leader has updated the messages that show it; one that no
message showed yet is kept a while (``NOTE_GRACE``), since a front end notes
its message only once Slack has taken it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..cluster.stored import RecordStore
from ..config import App, Environment
from ..errors import ConflictError, NotFoundError, PolicyError, UsageError

if TYPE_CHECKING:
    from ..engine import Engine

REQUEST_LABEL = "gitopsctl.io/request"
ENDED_LABEL = "gitopsctl.io/request-ended"
PENDING = "PendingApproval"
STAMP = "%Y-%m-%dT%H:%M:%SZ"
NOTE_GRACE = 600.0  # seconds an ended request waits for a message posted before it ended to be noted


@dataclass
class Request:
    """A deploy (or a break-glass override of a freeze) waiting for approval."""

    id: str
    app: str
    env: str
    version: str
    previous: str | None
    requester: str
    requested_at: str
    required: int
    break_glass: bool = False
    reason: str = ""
    approvals: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)  # where front ends show it: {"channel", "ts"}
    state: str = PENDING  # PendingApproval | Approved | Rejected | Withdrawn | Expired | Superseded
    ended: str = ""  # how it ended, in words: "rejected by bob (U0B0B)"
    revision: str = ""  # a Git change waiting to be delivered: its commit (a deploy writes its own commit)
    change: str = ""  # that commit's title
    authors: list[str] = field(default_factory=list)  # everyone the change's commits name: none of them approves
    ended_at: str = ""  # when it ended (UTC, as requested_at)

    def describe(self) -> str:
        if self.revision:
            return (
                f"delivery of {self.app} {self.revision[:12]} ({self.change or self.version}) to {self.env} "
                f"requested by {self.requester} at {self.requested_at}"
            )
        what = "break-glass deploy" if self.break_glass else "deploy"
        return f"{what} of {self.app} {self.version} to {self.env} requested by {self.requester} at {self.requested_at}"


def request_of(cm: dict[str, Any]) -> Request:
    """The request kept in a ``gitopsctl-request-*`` ConfigMap."""
    return Request(**json.loads((cm.get("data") or {}).get("request", "{}")))


def _now() -> datetime:
    return datetime.now(UTC)


def _age(stamp: str, now: datetime | None = None) -> float:
    """Seconds since ``stamp``; a record older than this field (no stamp) counts as long ago."""
    if not stamp:
        return float("inf")
    return ((now or _now()) - datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)).total_seconds()


class Requests:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _request_name(self, app: str, env: str) -> str:
        return f"gitopsctl-request-{app}-{env}"

    def pending(self, app: App, env: Environment) -> Request | None:
        cm = self.engine.cluster(env).get("v1", "ConfigMap", self._request_name(app.name, env.name), env.namespace)
        return request_of(cm) if cm else None

    def bound(self, app: App, env: Environment, request_id: str | None, version: str | None = None) -> Request:
        """The pending request, refused unless it is the one the person saw (by id, and version when given).

        An old Approve button, or a command typed while another request replaced
        the one read, must never act on whatever is pending now.
        """
        request = self.pending(app, env)
        seen = f"that request ({version})" if version else "that request" if request_id else None
        if request is None:
            if seen:
                raise PolicyError(
                    f"{seen} for {app.name} in {env.name} is no longer pending: it was approved, rejected or expired"
                )
            raise UsageError(f"there is no pending request for {app.name} in {env.name}")
        if (request_id and request.id != request_id) or (version and request.version != version):
            raise PolicyError(
                f"{seen or 'that request'} expired or was replaced; the pending one is {request.version}, "
                f"asked by {request.requester} (request {request.id}); look at it before you decide"
            )
        return request

    def note_message(self, app_name: str, env_name: str, request_id: str, channel: str, ts: str) -> bool:
        """Remember where a front end shows a request, so its buttons go when the request ends, whoever ends it.

        A front end notes its message after posting it, so the request may have ended meanwhile: the note then
        goes to its ended record (whose messages the leader updates), and a request is never brought back to
        pending by a write that read it before it ended (the write is bound to the version it read). False when
        neither record is there any more (replaced, or ended longer than ``NOTE_GRACE`` ago).
        """
        app, env = self.engine.resolve(app_name, env_name)
        cluster = self.engine.cluster(env)
        store = RecordStore(cluster, env.namespace)
        note = {"channel": channel, "ts": ts}
        for _ in range(5):
            for name in (self._request_name(app.name, env.name), f"gitopsctl-request-ended-{request_id}"):
                cm = cluster.get("v1", "ConfigMap", name, env.namespace)
                request = request_of(cm) if cm else None
                if cm is None or request is None or request.id != request_id:
                    continue
                request.messages.append(note)
                labels = cm["metadata"].get("labels") or {}
                data = {"request": json.dumps(asdict(request))}
                try:  # bound to the version read: a concurrent end wins
                    store.write(name, labels, data, cm["metadata"]["resourceVersion"])
                    return True
                except (ConflictError, NotFoundError):
                    break  # it changed or ended since it was read: read again
            else:
                return False
        return False

    def end(self, env: Environment, request: Request, state: str, how: str, *, notify: bool = True) -> None:
        """Drop the pending request, keeping it as ended for the leader to update the messages that show it
        (``notify`` False: the front end that ended it updates its own message)."""
        request.state, request.ended = state, how
        request.ended_at = _now().strftime(STAMP)
        if notify:
            RecordStore(self.engine.cluster(env), env.namespace).write(
                f"gitopsctl-request-ended-{request.id}",
                {ENDED_LABEL: "true", "gitopsctl.io/app": request.app, "gitopsctl.io/env": request.env},
                {"request": json.dumps(asdict(request))},
                None,
            )
        self.drop(request.app, env)

    def _ended(self) -> list[tuple[Request, str]]:
        """Requests that ended (approved, rejected, withdrawn, expired) whose messages may still show buttons,
        with the resourceVersion each was read at."""
        found = []
        for env in self._namespaces():
            for cm in self.engine.cluster(env).list("v1", "ConfigMap", env.namespace, label_selector=ENDED_LABEL):
                found.append((request_of(cm), cm["metadata"]["resourceVersion"]))
        return found

    def sweep(self, show_ended: Callable[[Request], bool]) -> int:
        """Bring every message of an ended request to its end (``show_ended``: True when all are done) and forget
        the requests that are done; how many were forgotten.

        One that no message showed is forgotten after ``NOTE_GRACE``, so a message posted just before the end
        still loses its buttons. A note written meanwhile keeps the record (the delete is bound to the version
        read), and the next sweep shows that message too.
        """
        forgotten = 0
        for request, version in self._ended():
            done = show_ended(request) if request.messages else _age(request.ended_at) > NOTE_GRACE
            if not done:
                continue
            env = self.engine.workspace.environment(request.env)
            try:
                self.engine.cluster(env).delete(
                    "v1", "ConfigMap", f"gitopsctl-request-ended-{request.id}", env.namespace, resource_version=version
                )
                forgotten += 1
            except ConflictError:
                continue  # a message was noted since it was read
        return forgotten

    def _namespaces(self) -> list[Environment]:
        """One environment per (cluster, namespace): requests of environments sharing one are listed once."""
        seen, out = set(), []
        for env in self.engine.config.environments.values():
            key = (env.context, env.kubeconfig, env.namespace)
            if key not in seen:
                seen.add(key)
                out.append(env)
        return out

    def save(self, env: Environment, request: Request, replace: bool) -> None:
        store = RecordStore(self.engine.cluster(env), env.namespace)
        name = self._request_name(request.app, request.env)
        labels = {REQUEST_LABEL: "deploy", "gitopsctl.io/app": request.app, "gitopsctl.io/env": request.env}
        try:
            store.write(
                name, labels, {"request": json.dumps(asdict(request))}, store.read(name).version if replace else None
            )
        except (ConflictError, NotFoundError) as e:
            raise PolicyError(
                f"another request for {request.app} in {request.env} was made at the same moment; look at it and try again"
            ) from e

    def drop(self, app: str, env: Environment) -> None:
        self.engine.cluster(env).delete("v1", "ConfigMap", self._request_name(app, env.name), env.namespace)

    def expire(self, approval_ttl: float) -> list[str]:
        """End requests older than ``approval_ttl`` seconds, as Expired; returns what ended, in words."""
        now, dropped = _now(), []
        for env in self.engine.config.environments.values():
            cluster = self.engine.cluster(env)
            for cm in cluster.list("v1", "ConfigMap", env.namespace, label_selector=REQUEST_LABEL):
                request = request_of(cm)
                if _age(request.requested_at, now) > approval_ttl:
                    self.end(env, request, "Expired", "not approved in time")
                    dropped.append(f"the {request.describe()}, not approved in time")
        return dropped
