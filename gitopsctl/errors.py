"""gitopsctl's own errors; front ends show ``str(error)``, one sentence saying what to do.

    GitOpsError
     ├── ConfigError          the configuration file is missing or invalid (lists every problem)
     ├── UsageError           a request names an unknown app or environment, or a bad value
     │    └── WebhookRefused       a push webhook refused before anything is fetched (serve/webhooks.py; HTTP status)
     ├── SourceError          the GitOps repository cannot be read, or what it holds is refused
     │    ├── UnsafeInputError     a repo URL, ref or path that could reach a shell, an option or outside the repo
     │    └── ManifestError        manifests that cannot be rendered or are refused (size, aliases, duplicates)
     ├── ClusterError         the cluster cannot be reached or refused a request
     │    ├── ApiStatusError       the API server answered an error status (``status``, its ``message``)
     │    │    ├── NotFoundError        404: no such object (or kind)
     │    │    └── ConflictError        409: it changed since it was read, or it already exists
     │    └── SyncRefusedError     a sync that would do harm (pruning everything) and was not allowed
     ├── ProviderError        a metric provider could not answer (the analysis records a Measurement in Error)
     └── PolicyError          the request is understood but not allowed now
          └── LockedError          another operation holds the app/environment's lock

Library errors are wrapped with ``raise ... from e`` so the cause stays visible in logs; the kubernetes
client's ``ApiException`` is mapped once, where the cluster layer calls it (``cluster/client.py``), so nothing
above that layer knows the library.
"""

from __future__ import annotations


class GitOpsError(Exception):
    """Base of every error gitopsctl reports to a person."""


class ConfigError(GitOpsError):
    """The configuration is missing or invalid; ``problems`` has one line per error."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        count = len(problems)
        super().__init__(
            f"{count} configuration error{'s' if count != 1 else ''}{where}:\n" + "\n".join(f"  {p}" for p in problems)
        )


class UsageError(GitOpsError):
    """The request itself is wrong: an unknown app or environment, a malformed value."""


class SourceError(GitOpsError):
    """The GitOps repository cannot be read at the requested revision."""


class UnsafeInputError(SourceError):
    """Input that could reach a shell, a Git option or a path outside the repository; refused."""


class ManifestError(SourceError):
    """An app's manifests cannot be rendered, or are refused before anything is applied."""


class ClusterError(GitOpsError):
    """The cluster could not be reached, or it refused a request."""


class ApiStatusError(ClusterError):
    """The API server refused a request with an error status; ``message`` is what it said."""

    def __init__(self, status: int, message: str, what: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"cannot {what}: {message}")


class NotFoundError(ApiStatusError):
    """404: the object (or its kind) does not exist."""


class ConflictError(ApiStatusError):
    """409: the object changed since it was read, or it already exists."""


class SyncRefusedError(ClusterError):
    """A sync that would do harm unless explicitly allowed (for example pruning everything an app has)."""


class ProviderError(GitOpsError):
    """A metric query that could not be answered; the analysis records it as a Measurement in Error, never a success."""


class PolicyError(GitOpsError):
    """Understood but not allowed now: locked, frozen, not approved, not permitted."""


class LockedError(PolicyError):
    """Another operation holds the app/environment's lock; the message names who, for what, since when."""
