"""Deploy policy: freeze windows, approvals and who may give them; small pure functions.

State that must be shared by every front end (pending requests, ad-hoc freezes)
lives in ConfigMaps in the environment's namespace (see promotion.py).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from .config import DAYS as DAY_NAMES
from .config import Config, Environment, FreezeWindow


@dataclass(frozen=True)
class Freeze:
    name: str
    reason: str
    until: datetime | None  # None: until unfrozen by hand


def window_active(window: FreezeWindow, now: datetime) -> datetime | None:
    """When ``window`` ends if it is active at ``now`` (aware datetime), else None. Windows may cross midnight."""
    tz = zoneinfo.ZoneInfo(window.timezone)
    local = now.astimezone(tz)
    start = time.fromisoformat(window.start)
    end = time.fromisoformat(window.end)
    for day_offset in (0, -1):
        day = (local + timedelta(days=day_offset)).date()
        if DAY_NAMES[day.weekday()] not in window.days:
            continue
        begins = datetime.combine(day, start, tz)
        ends = datetime.combine(day if end > start else day + timedelta(days=1), end, tz)
        if begins <= local < ends:
            return ends
    return None


def active_freeze(env: Environment, now: datetime, manual: Freeze | None) -> Freeze | None:
    if manual is not None and (manual.until is None or manual.until > now):
        return manual
    for window in env.freeze:
        ends = window_active(window, now)
        if ends is not None:
            return Freeze(window.name, window.reason, ends)
    return None


_SLACK_ACTOR = re.compile(r"\(([UW][A-Z0-9]{2,})\)$")


def identity(actor: str) -> str:
    """Who an actor is: the Slack user ID of ``"alice (U024BE7LH)"`` (names can be changed, IDs cannot), else the actor."""
    match = _SLACK_ACTOR.search(actor)
    return match.group(1) if match else actor


def same_person(a: str, b: str) -> bool:
    return identity(a) == identity(b)


def may_approve(config: Config, env: Environment, actor: str) -> bool:
    """Listed as an approver of ``env`` (by name, or Slack ID for Slack users), directly or through a group.

    With no approvers listed, anyone but the requester may approve.
    """
    approval = env.approval
    if not approval.users and not approval.groups:
        return True
    listed = set(approval.users).union(*(config.groups.get(g, ()) for g in approval.groups))
    return identity(actor) in listed


def approvers_text(env: Environment) -> str:
    parts = list(env.approval.users) + [f"the {g} group" for g in env.approval.groups]
    return ", ".join(parts) or "anyone but the requester"
