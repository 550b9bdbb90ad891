"""Reading one TOML table: typed reads that record every problem against its key path, and the value checks.

A check takes a value and returns what is wrong with it, or None; the reader
files that under the key. Keys never read are reported as unknown, with a
"did you mean", so a typo never passes silently.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..durations import parse_duration
from .model import SecretRef

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,})$")

Check = Callable[[str], str | None]


class Reader:
    """Reads one TOML table, recording errors against its key path and flagging unknown keys."""

    def __init__(self, data: Any, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        self.data = data if isinstance(data, dict) else {}
        self.seen: set[str] = set()
        if not isinstance(data, dict):
            self.error(None, f"must be a table (got {_type_name(data)})")

    def where(self, key: str | None) -> str:
        if key is None:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str | None, message: str) -> None:
        self.errors.append(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def _typed(self, key: str, kinds: tuple[type, ...], label: str, required: bool, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.error(key, "required key is missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds:
            self.error(key, f"must be {label} (got {_type_name(value)})")
            return default
        if not isinstance(value, kinds):
            self.error(key, f"must be {label} (got {_type_name(value)})")
            return default
        return value

    def string(
        self, key: str, *, required: bool = False, default: str | None = None, check: Check | None = None
    ) -> str | None:
        value = self._typed(key, (str,), "a string", required, default)
        if isinstance(value, str) and key in self.data:
            if required and not value.strip():
                self.error(key, "must not be empty")
                return default
            if check is not None and (problem := check(value)):
                self.error(key, problem)
                return default
        return value

    def integer(self, key: str, *, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._typed(key, (int,), "a whole number", False, default)
        out_of_range = (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
        if key in self.data and isinstance(value, int) and out_of_range:
            self.error(key, _range_message(minimum, maximum, value))
            return default
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        return self._typed(key, (bool,), "true or false", False, default)

    def duration(self, key: str, *, default: float | None, required: bool = False) -> float | None:
        value = self._typed(key, (str,), 'a duration such as "30s" or "2m"', required, None)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as e:
            self.error(key, str(e))
            return default

    def strings(self, key: str, *, default: tuple[str, ...] = (), check: Check | None = None) -> tuple[str, ...]:
        value = self._typed(key, (list,), "a list of strings", False, None)
        if value is None:
            return default
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.errors.append(f"{self.where(key)}[{i}]: must be a string (got {_type_name(item)})")
            elif check is not None and (problem := check(item)):
                self.errors.append(f"{self.where(key)}[{i}]: {problem}")
            else:
                out.append(item)
        return tuple(out)

    def file_path(self, key: str, base_dir: Path) -> Path | None:
        """A path; a relative one is relative to the configuration file's folder, not the working directory."""
        value = self.string(key)
        if not value:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else base_dir / path

    def secret(self, key: str) -> SecretRef | None:
        """A ``${NAME}`` reference: the value itself never lives in the file."""
        value = self.string(key)
        if value is None:
            return None
        match = _ENV_REF.match(value)
        if not match:
            self.error(
                key,
                'must be an environment variable reference such as "${SLACK_BOT_TOKEN}"; '
                "secrets never live in the configuration file",
            )
            return None
        return SecretRef(match.group(1), self.where(key))

    def table(self, key: str, *, required: bool = False) -> Reader | None:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.error(key, "required table is missing")
            return None
        return Reader(self.data[key], self.where(key), self.errors)

    def finish(self) -> None:
        known = sorted(self.seen)
        for key in self.data:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f' (did you mean "{hint[0]}"?)' if hint else f" (known keys: {', '.join(known)})"
                self.error(key, "unknown key" + suggestion)


def named_tables(reader: Reader | None, what: str) -> dict[str, Reader]:
    """The ``[TABLE.NAME]`` sub-tables by name, each name checked as a DNS label."""
    if reader is None:
        return {}
    out = {}
    for name in reader.data:
        sub = reader.table(name)
        if (problem := dns_label_problem(name)) is not None:
            reader.error(name, f"{what} name {problem}")
        out[name] = sub
    reader.finish()
    return out


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _range_message(minimum: int | None, maximum: int | None, value: int) -> str:
    if minimum is not None and maximum is not None:
        return f"must be between {minimum} and {maximum} (got {value})"
    if minimum is not None:
        return f"must be at least {minimum} (got {value})"
    return f"must be at most {maximum} (got {value})"


# ------------------------------------------------------------------ value checks: the problem, or None


def dns_label_problem(value: str) -> str | None:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        return (
            f'"{value}" is not a valid name: use lower-case letters, digits and "-", '
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return None


def slack_channel_problem(value: str) -> str | None:
    return (
        None
        if _CHANNEL.match(value)
        else f'"{value}" is not a Slack channel: use "#name" or a channel ID such as C0123456'
    )


def kind_problem(value: str) -> str | None:
    return None if _KIND.match(value) else f'"{value}" is not a Kubernetes kind such as Deployment or ClusterRole'


def url_problem(value: str) -> str | None:
    return None if re.match(r"^https?://[^\s]+$", value) else f'"{value}" is not an http(s) URL'


def timezone_problem(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f'"{value}" is not a known time zone (use an IANA name such as Europe/London)'
    return None


def condition_problem(value: str) -> str | None:
    # imported here: the analysis package sits above the configuration it reads
    from ..analysis.conditions import ConditionError, compile_condition

    try:
        compile_condition(value)
    except ConditionError as e:
        return str(e)
    return None


def cron_problem(value: str) -> str | None:
    from apscheduler.triggers.cron import CronTrigger  # only configurations with a cron pay for apscheduler

    try:
        CronTrigger.from_crontab(value)
    except ValueError as e:
        return f'"{value}" is not a cron expression ({e})'
    return None
