"""Faults on demand: the sandbox answers as a struggling kube-apiserver does, for the requests a rule matches.

A rule matches requests by Kubernetes verb (get, list, watch, create, update,
patch, delete, deletecollection), resource (the plural, ``deployments`` or
``deployments/status``), namespace, name and user, each a shell-style pattern
(``*`` by default). A matching request is delayed by ``latency`` seconds, then
answered with ``status`` (409 Conflict, 429 TooManyRequests with
``Retry-After``, 500, 503, 504, as kube-apiserver's ``Status``), or has its
connection dropped without an answer (``drop``), or goes through after the
delay. A rule ends after ``count`` matching requests or ``seconds`` seconds,
whichever comes first (neither: until removed).

Rules are added in process (``Sandbox.faults.add(...)``) or through the admin
endpoint ``/sandbox/faults`` (``gitopsctl sandbox fault``): POST a rule as JSON,
GET lists them with how often each fired, DELETE removes all (or
``/sandbox/faults/ID`` one). Only the sandbox's admin may use it.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ApiError, bad_request

FAULTS_PATH = "/sandbox/faults"  # fault injection (see faults.py)

VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})
STATUSES = {
    409: ("Conflict", "Operation cannot be fulfilled: the object has been modified (injected fault)"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}
MAX_LATENCY = 120.0


@dataclass
class Fault:
    id: str
    verbs: tuple[str, ...] = ("*",)
    resource: str = "*"
    namespace: str = "*"
    name: str = "*"
    user: str = "*"
    status: int | None = None
    retry_after: int = 1
    latency: float = 0.0
    drop: bool = False
    count: int | None = None
    seconds: float | None = None
    fired: int = 0
    added: float = field(default_factory=time.monotonic)

    def live(self, now: float) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        return self.seconds is None or now - self.added < self.seconds

    def matches(self, verb: str, resource: str, namespace: str, name: str, user: str) -> bool:
        return (
            ("*" in self.verbs or verb in self.verbs)
            and fnmatch.fnmatchcase(resource, self.resource)
            and fnmatch.fnmatchcase(namespace, self.namespace)
            and fnmatch.fnmatchcase(name, self.name)
            and fnmatch.fnmatchcase(user, self.user)
        )

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        reason, message = STATUSES[self.status]
        headers = {"Retry-After": str(self.retry_after)} if self.status == 429 else None
        return ApiError(self.status, reason, message, headers=headers)

    def as_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown.pop("added")
        shown["verbs"] = list(self.verbs)
        return shown


class Faults:
    """The rules in force; ``fire`` picks the first live rule that matches a request and counts it."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        *,
        verbs: tuple[str, ...] | list[str] | str = "*",
        resource: str = "*",
        namespace: str = "*",
        name: str = "*",
        user: str = "*",
        status: int | None = None,
        retry_after: int = 1,
        latency: float = 0.0,
        drop: bool = False,
        count: int | None = None,
        seconds: float | None = None,
    ) -> Fault:
        """Add a rule; a bad one is refused with one sentence (``bad_request``), nothing added."""
        verbs = (verbs,) if isinstance(verbs, str) else tuple(verbs)
        unknown = [v for v in verbs if v != "*" and v not in VERBS]
        if unknown or not verbs:
            raise bad_request(f"unknown verb {unknown[0] if unknown else '(none)'}; use {', '.join(sorted(VERBS))}")
        if status is not None and status not in STATUSES:
            raise bad_request(f"status {status} is not one the sandbox injects; use {', '.join(map(str, STATUSES))}")
        if drop and status is not None:
            raise bad_request("a fault either answers a status or drops the connection, not both")
        if not 0 <= latency <= MAX_LATENCY:
            raise bad_request(f"latency must be between 0 and {MAX_LATENCY:g} seconds")
        if count is not None and count < 1:
            raise bad_request("count must be at least 1")
        if seconds is not None and seconds <= 0:
            raise bad_request("seconds must be more than 0")
        if retry_after < 0:
            raise bad_request("retry_after must not be negative")
        for pattern in (resource, namespace, name, user):
            if not isinstance(pattern, str) or not pattern or len(pattern) > 253:
                raise bad_request("resource, namespace, name and user are patterns of 1 to 253 characters")
        with self._lock:
            rule = Fault(
                f"f{next(self._ids)}",
                verbs,
                resource,
                namespace,
                name,
                user,
                status,
                retry_after,
                latency,
                drop,
                count,
                seconds,
            )
            self._rules.append(rule)
            return rule

    def add_json(self, body: Any) -> Fault:
        """A rule from the admin endpoint's JSON body (its fields are ``add``'s)."""
        if not isinstance(body, dict):
            raise bad_request("a fault is a JSON object")
        allowed = {"verbs", "resource", "namespace", "name", "user", "status", "retry_after", "latency", "drop"}
        allowed |= {"count", "seconds"}
        extra = sorted(set(body) - allowed)
        if extra:
            raise bad_request(f"unknown field {extra[0]!r} in a fault; fields: {', '.join(sorted(allowed))}")
        try:
            return self.add(**body)
        except TypeError as e:
            raise bad_request(f"a fault's fields have the wrong types: {e}") from e

    def remove(self, fault_id: str | None = None) -> int:
        """Remove one rule (or all); how many were removed."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if fault_id is not None and r.id != fault_id]
            return before - len(self._rules)

    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def fire(self, verb: str, resource: str, namespace: str, name: str, user: str) -> Fault | None:
        """The rule this request meets (counted), or None; rules that ended are forgotten."""
        now = time.monotonic()
        with self._lock:
            self._rules = [r for r in self._rules if r.live(now)]
            for rule in self._rules:
                if rule.matches(verb, resource, namespace, name, user):
                    rule.fired += 1
                    return rule
        return None
