"""Deploy policy: freeze windows, approvals and who may give them; small pure functions.

State that must be shared by every front end (pending requests, ad-hoc freezes)
lives in ConfigMaps in the environment's namespace (see promotion.py).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from ..config import DAYS as DAY_NAMES
from ..config import Config, Environment, FreezeWindow
from ..identity import Actor, as_actor, key_of, listed_key, same_person, unknown_across_front_ends


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


def may_approve(config: Config, env: Environment, actor: Actor | str) -> bool:
    """Listed as an approver of ``env`` (a person, a Slack user ID or a cluster user), directly or through a group.

    With no approvers listed, anyone but the requester may approve.
    """
    approval = env.approval
    if not approval.users and not approval.groups:
        return True
    listed = set(approval.users).union(*(config.groups.get(g, ()) for g in approval.groups))
    return key_of(config, actor) in {listed_key(config, entry) for entry in listed}


def approval_problem(
    config: Config,
    env: Environment,
    request_requester: str,
    approvals: list[str],
    actor: Actor | str,
    *,
    what: str = "deploy",
) -> str | None:
    """Why ``actor`` may not approve a request (a ``what``), in one sentence; None when they may."""
    actor = as_actor(actor)
    if same_person(config, actor, request_requester):
        return f"{actor} asked for this {what}; someone else must approve it"
    if unknown_across_front_ends(config, actor, request_requester):
        return (
            f"{request_requester} asked from another front end than {actor}, and gitopsctl cannot tell whether they "
            "are two people; list both identities under [people] in the configuration"
        )
    if not may_approve(config, env, actor):
        return f"{actor} may not approve deploys to {env.name}; approvers: {approvers_text(env)}"
    if any(same_person(config, actor, a) for a in approvals):
        return f"{actor} has already approved this request"
    return None


def approvers_text(env: Environment) -> str:
    parts = list(env.approval.users) + [f"the {g} group" for g in env.approval.groups]
    return ", ".join(parts) or "anyone but the requester"
