"""Slash command text to a Command: parsing only, no Slack and no engine calls.

Everything a user types is checked here before it goes anywhere: names must be
DNS labels in plain ASCII (so look-alike letters are refused, not matched),
versions must be image tags, and the whole text has a length limit. A bad
command is one sentence plus the usage line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitopsctl.durations import parse_duration
from gitopsctl.engine import check_version
from gitopsctl.errors import ManifestError, UsageError

MAX_TEXT = 500
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

USAGE = {
    "deploy": "/deploy APP ENV [VERSION]",
    "rollback": "/rollback APP ENV [VERSION]",
    "status": "/gitops status [APP]",
    "diff": "/gitops diff APP ENV",
    "history": "/gitops history APP ENV",
    "promote": "/gitops promote APP ENV [full]",
    "abort": "/gitops abort APP ENV [reason]",
    "pause": "/gitops pause APP ENV [reason]",
    "resume": "/gitops resume APP ENV [reason]",
    "approve": "/gitops approve APP ENV [VERSION]",
    "reject": "/gitops reject APP ENV [VERSION]",
    "drift": "/gitops drift [ENV]",
    "sync": "/gitops sync APP ENV",
    "freeze": "/gitops freeze ENV DURATION REASON",
    "unfreeze": "/gitops unfreeze ENV",
    "incident": "/gitops incident start ENV INC-ID [DURATION] [@responder ...] | end ENV | status ENV",
    "locks": "/gitops locks",
    "quarantine": "/gitops quarantine [APP]",
    "unquarantine": "/gitops unquarantine APP VERSION REASON (approvers of the environment where it failed)",
    "help": "/gitops help",
}
# the least role each command needs in the environment it touches
ROLE = {
    "deploy": "deployer",
    "rollback": "deployer",
    "status": "viewer",
    "diff": "viewer",
    "history": "viewer",
    "promote": "deployer",
    "abort": "deployer",
    "pause": "deployer",
    "resume": "deployer",
    "approve": "approver",
    "reject": "approver",
    "drift": "viewer",
    "sync": "deployer",
    "freeze": "approver",
    "unfreeze": "approver",
    "incident": "approver",  # starting or ending one; its status is for viewers
    "locks": "viewer",
    "quarantine": "viewer",
    "unquarantine": "approver",  # of the environment where the version failed: checked once that is known
    "help": "viewer",
}
APP_ENV = ("diff", "history", "sync")
APP_ENV_VERSION = ("deploy", "rollback", "approve", "reject")  # a decision names the version it means, if it likes
ROLLOUT_CONTROLS = ("promote", "abort", "pause", "resume")


class CommandError(UsageError):
    """A command that cannot be run as typed: one sentence, and the usage line where it helps."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        usage = USAGE.get(verb or "")
        super().__init__(f"{message}. Usage: `{usage}`" if usage else f"{message}.")


@dataclass(frozen=True)
class Command:
    verb: str
    app: str | None = None
    env: str | None = None
    version: str | None = None
    reason: str = ""
    duration: float | None = None
    full: bool = False
    action: str = ""  # incident: start | end | status
    incident: str = ""
    responders: tuple[str, ...] = ()  # Slack user IDs

    @property
    def role(self) -> str:
        return "viewer" if (self.verb, self.action) == ("incident", "status") else ROLE[self.verb]

    @property
    def usage(self) -> str:
        return USAGE[self.verb]


def _name(value: str, what: str, verb: str) -> str:
    if not _NAME.match(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise CommandError(f"“{shown}” is not a valid {what} name (lowercase letters, digits and dashes)", verb)
    return value


def _version(value: str, verb: str) -> str:
    try:
        check_version(value)
    except ManifestError as e:
        raise CommandError(str(e).rstrip("."), verb) from e
    return value


def typed(text: str) -> str:
    """Command text as the person typed it: Slack sends ``&``, ``<`` and ``>`` as entities (and nothing else)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse(slash: str, text: str) -> Command:
    """``/deploy`` / ``/rollback`` / ``/gitops`` and the text after it, as typed (see ``typed``)."""
    if len(text) > MAX_TEXT:
        raise CommandError(f"that command is {len(text)} characters long; commands are at most {MAX_TEXT}")
    if any(ord(c) < 32 and c not in "\t" for c in text):
        raise CommandError("commands are one line of plain text")
    words = text.split()
    if slash in ("/deploy", "/rollback"):
        verb = slash[1:]
    elif slash == "/gitops":
        if not words:
            return Command("help")
        verb, words = words[0].lower(), words[1:]
        if verb not in USAGE or verb in ("deploy", "rollback"):
            shown = verb if len(verb) <= 20 else verb[:20] + "..."
            raise CommandError(f"“{shown}” is not a /gitops command; try `/gitops help`")
    else:
        raise CommandError(f"{slash} is not a gitopsctl command")
    return _build(verb, words)


_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]{0,80})?>$")
_INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INCIDENT_DEFAULT = 2 * 3600.0


def _incident(words: list[str]) -> Command:
    """``start ENV INC-ID [DURATION] [@responder ...]``, ``end ENV`` or ``status ENV``."""
    verb = "incident"
    if len(words) < 2 or words[0].lower() not in ("start", "end", "status"):
        raise CommandError("say start, end or status, and the environment", verb)
    action, env, rest = words[0].lower(), _name(words[1], "environment", verb), words[2:]
    if action != "start":
        if rest:
            raise CommandError(f"incident {action} takes only the environment", verb)
        return Command(verb, env=env, action=action)
    if not rest or not _INCIDENT_ID.match(rest[0]):
        raise CommandError("give the incident's id after the environment, such as INC-123", verb)
    incident, rest, duration = rest[0], rest[1:], INCIDENT_DEFAULT
    if rest and not rest[0].startswith("<@"):
        try:
            duration = parse_duration(rest[0])
        except ValueError as e:
            raise CommandError(str(e).rstrip("."), verb) from e
        rest = rest[1:]
    responders = []
    for word in rest:
        mention = _MENTION.match(word)
        if mention is None:
            raise CommandError("name responders as @mentions", verb)
        responders.append(mention.group(1))
    return Command(
        verb, env=env, action=action, incident=incident, duration=duration, responders=tuple(dict.fromkeys(responders))
    )


def _build(verb: str, words: list[str]) -> Command:
    if verb in APP_ENV_VERSION:
        if len(words) not in (2, 3):
            raise CommandError("give the app and the environment, and optionally the version", verb)
        version = _version(words[2], verb) if len(words) == 3 else None
        return Command(verb, _name(words[0], "app", verb), _name(words[1], "environment", verb), version)
    if verb in APP_ENV:
        if len(words) != 2:
            raise CommandError("give the app and the environment", verb)
        return Command(verb, _name(words[0], "app", verb), _name(words[1], "environment", verb))
    if verb in ROLLOUT_CONTROLS:
        if len(words) < 2:
            raise CommandError("give the app and the environment", verb)
        app, env, rest = _name(words[0], "app", verb), _name(words[1], "environment", verb), words[2:]
        if verb == "promote":
            if rest not in ([], ["full"]):
                raise CommandError("promote takes only `full` after the environment", verb)
            return Command(verb, app, env, full=bool(rest))
        return Command(verb, app, env, reason=" ".join(rest))
    if verb == "status":
        if len(words) > 1:
            raise CommandError("give at most one app", verb)
        return Command(verb, _name(words[0], "app", verb) if words else None)
    if verb == "quarantine":
        if len(words) > 1:
            raise CommandError("give at most one app", verb)
        return Command(verb, _name(words[0], "app", verb) if words else None)
    if verb == "unquarantine":
        if len(words) < 3:
            raise CommandError("give the app, the version and why it may run again", verb)
        return Command(verb, _name(words[0], "app", verb), version=_version(words[1], verb), reason=" ".join(words[2:]))
    if verb == "drift":
        if len(words) > 1:
            raise CommandError("give at most one environment", verb)
        return Command(verb, env=_name(words[0], "environment", verb) if words else None)
    if verb == "freeze":
        if len(words) < 3:
            raise CommandError("give the environment, how long, and why", verb)
        try:
            duration = parse_duration(words[1])
        except ValueError as e:
            raise CommandError(str(e).rstrip("."), verb) from e
        return Command(verb, env=_name(words[0], "environment", verb), duration=duration, reason=" ".join(words[2:]))
    if verb == "incident":
        return _incident(words)
    if verb == "unfreeze":
        if len(words) != 1:
            raise CommandError("give the environment", verb)
        return Command(verb, env=_name(words[0], "environment", verb))
    if words:
        raise CommandError(f"{verb} takes nothing after it", verb)
    return Command(verb)
