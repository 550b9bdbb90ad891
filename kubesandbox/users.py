"""Who a bearer token belongs to: the sandbox's users, as a static token file gives kube-apiserver.

The admin token (the ``token`` file) is ``sandbox-admin`` in ``system:masters``;
more users, each with a random token, live in ``users.json`` (0600) so a
restarted sandbox keeps them. As kube-apiserver does, every authenticated user
is also in ``system:authenticated``. Tokens are compared in constant time.

ServiceAccount tokens come from the TokenRequest API (``kubectl create token``):
each names its ServiceAccount by namespace, name and uid and expires; the
server honours it only while that very ServiceAccount exists, as bound tokens
on a real cluster. They are kept in ``serviceaccount-tokens.json`` (0600).
What a user may do is RBAC's decision (see rbac.py).
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gitopsctl.errors import UsageError

ADMIN = "sandbox-admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"

# DNS names and e-mail addresses; no ':' so nobody poses as a "system:" identity
_USERNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@+-]{0,251}[A-Za-z0-9])?")
_GROUP = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@+:-]{0,251}[A-Za-z0-9])?")


SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
MAX_TOKEN_SECONDS = 48 * 3600  # kube-apiserver's --service-account-max-token-expiration default
MIN_TOKEN_SECONDS = 600


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...]
    # (namespace, name, uid) of the ServiceAccount a bound token was issued for
    service_account: tuple[str, str, str] | None = None


def service_account_user(namespace: str, name: str, uid: str | None = None) -> UserInfo:
    """The identity kube-apiserver gives a ServiceAccount's token."""
    return UserInfo(
        f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        (namespace, name, uid) if uid else None,
    )


def check_user(name: object, groups: Iterable[object] = ()) -> tuple[str, tuple[str, ...]]:
    """A valid (username, groups) pair, or UsageError naming what is wrong."""
    if not isinstance(name, str) or not _USERNAME.fullmatch(name):
        raise UsageError(
            f"sandbox user name {name!r} is not valid: use letters, digits and . _ @ + - "
            "(a DNS name or an e-mail address), at most 253 characters"
        )
    if name == ADMIN:
        raise UsageError(f"sandbox user name {ADMIN!r} is the sandbox's own admin; choose another name")
    if isinstance(groups, str):
        raise UsageError(f"the groups of sandbox user {name} must be a list of names, not the string {groups!r}")
    checked: list[str] = []
    for group in groups:
        if not isinstance(group, str) or not _GROUP.fullmatch(group):
            raise UsageError(
                f"group {group!r} of sandbox user {name} is not valid: use letters, digits and . _ @ + - :"
            )
        if group not in checked and group != AUTHENTICATED:
            checked.append(group)
    return name, tuple(checked)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


class Users:
    """The token table: the admin plus the users in ``path``."""

    def __init__(self, path: Path, admin_token: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._admin_token = admin_token
        self._users: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (token, groups)
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            for name, entry in stored.items():
                name, groups = check_user(name, entry["groups"])
                self._users[name] = (entry["token"], groups)
        self._sa_path = path.with_name("serviceaccount-tokens.json")
        # token -> (namespace, name, uid, expiry as a Unix time, the (plural, name, uid) it is bound to or None)
        self._sa_tokens: dict[str, tuple[str, str, str, float, tuple[str, str, str] | None]] = {}
        if self._sa_path.exists():
            now = time.time()
            for token, entry in json.loads(self._sa_path.read_text(encoding="utf-8")).items():
                ns, name, uid, expiry, *rest = entry
                if expiry > now:
                    bound = tuple(rest[0]) if rest and rest[0] else None
                    self._sa_tokens[token] = (ns, name, uid, expiry, bound)

    def add(self, name: str, groups: Iterable[str] = ()) -> None:
        """Add a user with a fresh token, or set an existing user's groups (its token stays)."""
        name, checked = check_user(name, groups)
        with self._lock:
            token = self._users[name][0] if name in self._users else secrets.token_urlsafe(32)
            self._users[name] = (token, checked)
            stored = {n: {"token": t, "groups": list(g)} for n, (t, g) in self._users.items()}
            _write_private(self.path, json.dumps(stored, indent=2) + "\n")

    def names(self) -> list[str]:
        with self._lock:
            return list(self._users)

    def token_of(self, name: str) -> str:
        with self._lock:
            if name == ADMIN:
                return self._admin_token
            if name not in self._users:
                known = ", ".join([ADMIN, *self._users])
                raise UsageError(f"the sandbox has no user {name!r}; it has {known}")
            return self._users[name][0]

    def issue_token(
        self, namespace: str, name: str, uid: str, seconds: int, bound: tuple[str, str, str] | None = None
    ) -> tuple[str, float, int]:
        """A new token for a ServiceAccount (bound to a pod or secret if ``bound``), valid for ``seconds``
        clamped as kube-apiserver clamps it; returns the token, when it expires and the seconds granted."""
        seconds = max(MIN_TOKEN_SECONDS, min(seconds, MAX_TOKEN_SECONDS))
        token, expiry = secrets.token_urlsafe(32), time.time() + seconds
        with self._lock:
            now = time.time()
            self._sa_tokens = {t: entry for t, entry in self._sa_tokens.items() if entry[3] > now}
            self._sa_tokens[token] = (namespace, name, uid, expiry, bound)
            _write_private(self._sa_path, json.dumps({t: list(e) for t, e in self._sa_tokens.items()}) + "\n")
        return token, expiry, seconds

    def bound_object(self, token: str) -> tuple[str, str, str] | None:
        """The (plural, name, uid) a ServiceAccount token is bound to, if any."""
        with self._lock:
            entry = self._sa_tokens.get(token)
        return entry[4] if entry else None

    def authenticate(self, token: str) -> UserInfo | None:
        """The user a bearer token belongs to, or None; every entry is compared, so timing tells nothing.

        A ServiceAccount token's user carries the account's uid: the caller must check that
        account still exists before trusting it."""
        given = token.encode()
        found = None
        with self._lock:
            entries = [(ADMIN, self._admin_token, (MASTERS,)), *((n, t, g) for n, (t, g) in self._users.items())]
            sa_entries = list(self._sa_tokens.items())
        for name, known, groups in entries:
            if hmac.compare_digest(given, known.encode()) and found is None:
                found = UserInfo(name, (*groups, AUTHENTICATED))
        now = time.time()
        for known, (namespace, name, uid, expiry, _bound) in sa_entries:
            if hmac.compare_digest(given, known.encode()) and found is None and expiry > now:
                found = service_account_user(namespace, name, uid)
        return found
