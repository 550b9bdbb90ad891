"""Who may do what from Slack: roles per environment from ``[slack.roles.ENV]``.

Members are user IDs, user group IDs (resolved with ``usergroups.users.list``,
cached for a minute) or ``*``. User groups need a paid Slack plan: on a free
one the lookup fails (``plan_upgrade_required``); a failed lookup is cached as
long as a good one, so role checks do not call a Tier 2 method every time, and
its members count as nobody (or as the members last read), never everybody. This is the bot's own check, made before the
engine is called; the engine still applies its policy (approvers listed for the
environment, never the requester) whatever the bot decided.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from gitopsctl.config import SlackConfig
from gitopsctl.errors import PolicyError

from .delivery import Budget

log = logging.getLogger(__name__)
GROUP_TTL = 60.0


class NotAllowed(PolicyError):
    """The Slack user does not hold the role the command needs in that environment."""


class Access:
    def __init__(
        self, slack: SlackConfig, client: WebClient, ttl: float = GROUP_TTL, budget: Budget | None = None
    ) -> None:
        self.slack = slack
        self.client = client
        self.ttl = ttl
        self.budget = budget
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def allows(self, user: str, env: str, role: str) -> bool:
        for member in self.slack.roles_for(env).members(role):
            if member in ("*", user):
                return True
            if member.startswith("S") and user in self._group(member):
                return True
        return False

    def require(self, user: str, env: str, role: str) -> None:
        if not self.allows(user, env, role):
            raise NotAllowed(
                f"you are not {_article(role)} {role} in {env}; "
                f"ask an admin to add you to slack.roles.{env}.{role}s in gitopsctl's configuration"
            )

    def _group(self, group: str) -> frozenset[str]:
        with self._lock:
            cached = self._groups.get(group)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
        if self.budget is not None:
            self.budget.acquire("usergroups.users.list")
        try:
            users = frozenset(self.client.usergroups_users_list(usergroup=group)["users"])
        except SlackApiError as e:
            log.warning("cannot read the members of user group %s: %s", group, e.response.get("error"))
            users = cached[1] if cached else frozenset()  # the last known members, or nobody: never everybody
        with self._lock:
            self._groups[group] = (time.monotonic(), users)
        return users


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"
