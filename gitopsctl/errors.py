"""gitopsctl's own errors; front ends show ``str(error)``, one sentence saying what to do.

    GitOpsError
     └── ConfigError          the configuration file is missing or invalid (lists every problem)

Library errors are wrapped with ``raise ... from e`` so the cause stays visible in logs.
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
