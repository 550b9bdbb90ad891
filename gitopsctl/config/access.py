"""Who is who and who may do what: ``[people.*]`` and ``[slack]`` with its roles per environment."""

from __future__ import annotations

import re

from ..identity import SLACK_USER
from .model import DEFAULT_SLACK_API, Environment, Person, SlackConfig, SlackRoles
from .reader import Reader, named_tables, slack_channel_problem, url_problem

_KUBE_USER = re.compile(r"^[^\x00-\x20\x7f]{1,253}$")
_EMAIL = re.compile(r"^[^@<>\s]{1,64}@[^@<>\s]{1,253}$")
_SLACK_MEMBER = re.compile(r"^(\*|[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,})$")


def read_people(reader: Reader | None) -> dict[str, Person]:
    """``[people.NAME]``: each identity belongs to one person at most, or approvals could not tell people apart."""
    people: dict[str, Person] = {}
    owners: dict[str, str] = {}
    for name, sub in named_tables(reader, "person").items():
        slack = sub.string(
            "slack",
            check=lambda v: None if SLACK_USER.match(v) else f'must be a Slack user ID like U024BE7LH (got "{v}")',
        )
        kube = sub.strings(
            "kube", check=lambda v: None if _KUBE_USER.match(v) else f'must be a cluster user name (got "{v}")'
        )
        git = sub.strings(
            "git", check=lambda v: None if _EMAIL.match(v) else f'must be a commit author e-mail address (got "{v}")'
        )
        identities = [f"slack {slack}"] if slack else []
        identities += [f"cluster user {k}" for k in kube] + [f"git author {g.lower()}" for g in git]
        for identity in identities:
            if identity in owners:
                sub.error(None, f"{identity} is already {owners[identity]}'s; one identity belongs to one person")
            owners.setdefault(identity, name)
        if not slack and not kube and not git:
            sub.error(None, "name at least one identity: slack (a user ID), kube (cluster user names) or git (e-mails)")
        sub.finish()
        people[name] = Person(name, slack, kube, tuple(g.lower() for g in git))
    return people


def read_slack(reader: Reader, environments: dict[str, Environment], people: dict[str, Person]) -> SlackConfig:
    """``[slack]``: the bot's credentials as references, where it posts, and who may do what per environment."""
    slack = SlackConfig(
        bot_token=reader.secret("bot_token"),
        signing_secret=reader.secret("signing_secret"),
        app_token=reader.secret("app_token"),
        api_base_url=reader.string("api_base_url", default=DEFAULT_SLACK_API, check=url_problem) or DEFAULT_SLACK_API,
        default_channel=reader.string("default_channel", check=slack_channel_problem),
        roles=_slack_roles(reader.table("roles"), environments, people),
    )
    reader.finish()
    return slack


def _slack_member(value: str) -> str | None:
    if _SLACK_MEMBER.match(value):
        return None
    return (
        f'"{value}" is not a Slack user ID (U...), user group ID (S...), "*" or a name from [people]; '
        'find IDs in a profile\'s "Copy member ID"'
    )


def _slack_roles(
    reader: Reader | None, environments: dict[str, Environment], people: dict[str, Person]
) -> dict[str, SlackRoles]:
    """Roles per environment; a person from ``[people]`` stands for their Slack user ID."""
    roles: dict[str, SlackRoles] = {}

    def member(value: str) -> str | None:
        if value in people:
            return None if people[value].slack else f'"{value}" has no slack ID under [people.{value}]'
        return _slack_member(value)

    def members(table: Reader, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        named = table.strings(key, default=default, check=member)
        return tuple(people[m].slack or m if m in people else m for m in named)

    if reader is None:
        return roles
    for env in reader.data:
        if env not in environments:
            reader.error(env, f'"{env}" is not an environment defined under [environments]')
            reader.raw(env)
            continue
        table = reader.table(env)
        assert table is not None
        roles[env] = SlackRoles(
            viewers=members(table, "viewers", ("*",)),
            deployers=members(table, "deployers"),
            approvers=members(table, "approvers"),
        )
        table.finish()
    reader.finish()
    return roles
