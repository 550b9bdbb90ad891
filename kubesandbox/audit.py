"""The server's own record of every request, in kube-apiserver's audit event format.

A request count that only the client keeps is the client's claim; the audit log
is the server's. Each answered request becomes one ``audit.k8s.io/v1`` Event at
the ``Metadata`` level (who, verb, object, response code, when received and when
answered; never a body, so no secret reaches it), stage ``ResponseComplete``.
Events are kept in memory (the newest ``KEPT``, as compact JSON, the user agent
and URI cut short as upstream cuts them, so no client can make it grow without
bound) for the admin's ``GET /sandbox/audit?after=N`` and, when a path is given,
appended to a JSON lines file as ``--audit-log-path`` makes kube-apiserver do.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KEPT = 50_000
MAX_USER_AGENT = 1024  # apiserver/pkg/audit/request.go's maxUserAgentLength
MAX_URI = 4096


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "...TRUNCATED"


def _micro(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Audit:
    """Append-only audit events, numbered from 1 so a reader can ask for those after the last it saw."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._events: deque[tuple[int, str]] = deque(maxlen=KEPT)
        self._seq = 0
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115 - closed by close()

    def record(
        self,
        *,
        uri: str,
        verb: str,
        user: tuple[str, tuple[str, ...]] | None,
        impersonated: tuple[str, tuple[str, ...]] | None,
        object_ref: dict[str, str] | None,
        code: int,
        received: float,
        answered: float,
        source_ip: str,
        user_agent: str,
    ) -> None:
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": str(uuid.uuid4()),
            "stage": "ResponseComplete",
            "requestURI": _cut(uri, MAX_URI),
            "verb": verb,
            "user": {"username": user[0], "groups": list(user[1])} if user else {"username": "system:anonymous"},
            "sourceIPs": [source_ip],
            "userAgent": _cut(user_agent, MAX_USER_AGENT),
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": _micro(received),
            "stageTimestamp": _micro(answered),
        }
        if impersonated:
            event["impersonatedUser"] = {"username": impersonated[0], "groups": list(impersonated[1])}
        if object_ref:
            event["objectRef"] = object_ref
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self._seq += 1
            self._events.append((self._seq, line))
            if self._file:
                self._file.write(line + "\n")
                self._file.flush()

    def after(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        """The events numbered above ``seq`` still kept, and the newest number (to ask from next time)."""
        with self._lock:
            newest, lines = self._seq, [line for n, line in self._events if n > seq]
        return newest, [json.loads(line) for line in lines]

    def close(self) -> None:
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None
