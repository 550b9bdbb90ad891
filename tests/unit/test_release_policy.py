"""The release policy's decisions as tables of plain values: freeze windows, freezes, who may approve.

What ``plan`` and ``approve`` refuse with, decided by pure functions over the
configuration and the clock: no sandbox, no Git.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from gitopsctl.config import Environment, FreezeWindow
from gitopsctl.config.parse import parse
from gitopsctl.release.policy import Freeze, active_freeze, approval_problem, window_active

NIGHT = FreezeWindow("night", ("mon", "tue", "wed", "thu", "fri"), "22:00", "06:00", "Europe/London", "batch runs")
FRIDAY = FreezeWindow("friday", ("fri",), "15:00", "23:59", "America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("window", "now", "ends"),
    [
        pytest.param(NIGHT, "2026-12-01T23:30+00:00", "2026-12-02T06:00+00:00", id="inside-before-midnight"),
        pytest.param(NIGHT, "2026-12-02T05:59+00:00", "2026-12-02T06:00+00:00", id="inside-after-midnight"),
        pytest.param(NIGHT, "2026-12-02T06:00+00:00", None, id="the-end-is-not-inside"),
        pytest.param(NIGHT, "2026-12-01T21:59+00:00", None, id="before-the-start"),
        pytest.param(NIGHT, "2026-12-06T23:00+00:00", None, id="saturday-night-is-not-listed"),
        pytest.param(NIGHT, "2026-12-05T03:00+00:00", "2026-12-05T06:00+00:00", id="saturday-morning-ends-fridays"),
        pytest.param(NIGHT, "2026-07-01T21:30+00:00", "2026-07-02T05:00+00:00", id="summer-time-in-london"),
        pytest.param(FRIDAY, "2026-12-04T20:30+00:00", "2026-12-05T04:59+00:00", id="new-york-friday-afternoon"),
        pytest.param(FRIDAY, "2026-12-04T19:59+00:00", None, id="new-york-before-three"),
    ],
)
def test_freeze_windows(window: FreezeWindow, now: str, ends: str | None) -> None:
    found = window_active(window, at(now))
    assert (found.astimezone(UTC) if found else None) == (at(ends) if ends else None)


NOW = at("2026-12-01T23:30+00:00")  # a Tuesday night: inside NIGHT
FROZEN_BY_HAND = Freeze("manual", "incident 4411", NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    ("windows", "manual", "expected"),
    [
        pytest.param((), None, None, id="nothing"),
        pytest.param((NIGHT,), None, "night", id="a-window"),
        pytest.param((NIGHT,), FROZEN_BY_HAND, "manual", id="by-hand-wins"),
        pytest.param((), Freeze("manual", "done", NOW - timedelta(seconds=1)), None, id="by-hand-expired"),
        pytest.param((), Freeze("manual", "until lifted", None), "manual", id="by-hand-until-lifted"),
        pytest.param((FRIDAY,), None, None, id="another-days-window"),
    ],
)
def test_active_freeze(windows, manual, expected) -> None:
    env = Environment("prod", "ctx", freeze=windows)
    found = active_freeze(env, NOW, manual)
    assert (found.name if found else None) == expected


CONFIG = parse(
    tomllib.loads(
        """
        [git]
        url = "https://git.example.com/gitops.git"
        [environments.prod]
        context = "prod"
        [environments.prod.approval]
        required = 1
        users = ["bob"]
        groups = ["sre"]
        [environments.dev]
        context = "dev"
        [groups]
        sre = ["carol", "UDAVE"]
        [people.alice]
        slack = "UALICE"
        kube = ["alice@corp"]
        [people.bob]
        slack = "UBOB"
        kube = ["bob@corp"]
        [apps.web]
        path = "apps/web/{env}"
        """
    )
)
PROD, DEV = CONFIG.environments["prod"], CONFIG.environments["dev"]


@pytest.mark.parametrize(
    ("env", "requester", "approvals", "actor", "says"),
    [
        pytest.param(PROD, "alice (UALICE)", [], "bob (UBOB)", None, id="a-listed-person"),
        pytest.param(PROD, "alice (UALICE)", [], "bob@corp", None, id="the-same-person-from-the-cli"),
        pytest.param(PROD, "alice (UALICE)", [], "alice@corp", "asked for this deploy", id="no-self-approval-across"),
        pytest.param(PROD, "alice (UALICE)", [], "dave (UDAVE)", None, id="through-a-group"),
        pytest.param(PROD, "alice (UALICE)", [], "erin (UERIN)", "may not approve deploys to prod", id="not-listed"),
        pytest.param(PROD, "alice (UALICE)", ["bob@corp"], "bob (UBOB)", "already approved", id="twice-is-once"),
        pytest.param(
            PROD, "mallory@corp", [], "dave (UDAVE)", "cannot tell whether they are two people", id="unknown-pair"
        ),
        pytest.param(DEV, "erin (UERIN)", [], "frank (UFRANK)", None, id="no-list-anyone-but-the-requester"),
        pytest.param(DEV, "erin (UERIN)", [], "erin (UERIN)", "someone else must approve", id="not-the-requester"),
    ],
)
def test_who_may_approve(env: Environment, requester: str, approvals: list[str], actor: str, says: str | None):
    problem = approval_problem(CONFIG, env, requester, approvals, actor)
    assert (problem is None) if says is None else (problem is not None and says in problem), problem
