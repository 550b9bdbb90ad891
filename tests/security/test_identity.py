"""Attack 4: identity was whatever you typed (--actor, $GITOPSCTL_ACTOR), and a Slack ID never equalled a CLI name.

Now the CLI and the console act as the user the cluster says their credentials
are (SelfSubjectReview), Slack users as their user ID, and ``[people]`` says
which identities are one person, so four-eyes holds across front ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import git
import pytest

from gitopsctl import config as config_module
from gitopsctl.engine import Engine
from tests.bot.conftest import DAVE, Bot, start_bot

PROD_APPROVAL = """
[environments.prod.approval]
required = 1
users = ["bob", "mallory"]
"""


def cli(fleet, user: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``gitopsctl`` in a new process with ``user``'s own kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_for(user)), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def head(fleet) -> git.Commit:
    return git.Repo(fleet.repo.url).commit("main")


def test_the_cli_has_no_actor_flag_and_ignores_the_old_variable(fleet):
    fleet.reload(PROD_APPROVAL)
    before = head(fleet).hexsha
    typed = cli(fleet, "mallory", "deploy", "trade-service", "dev", "v1.4.2", "--actor", "bob")
    assert typed.returncode == 2 and "unrecognized arguments: --actor bob" in typed.stderr

    asked = cli(fleet, "mallory", "deploy", "trade-service", "prod", "v1.4.2", "--yes")
    assert asked.returncode == 0 and "waiting for" in asked.stdout, asked.stderr
    posing = cli(fleet, "mallory", "approve", "trade-service", "prod", "--yes", env={"GITOPSCTL_ACTOR": "bob"})
    assert posing.returncode == 2
    assert "mallory asked for this deploy; someone else must approve it" in posing.stderr
    assert head(fleet).hexsha == before  # nothing deployed
    assert fleet.engine.pending("trade-service", "prod").approvals == []

    approved = cli(fleet, "bob", "approve", "trade-service", "prod", "--yes")
    assert approved.returncode == 0, approved.stderr
    trailers = head(fleet).message
    assert "Deployed-by: mallory" in trailers and "Approved-by: bob" in trailers


def test_the_cli_acts_as_whoever_the_cluster_says(fleet):
    shown = cli(fleet, "alice@example.com", "whoami")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        "dev",
        "alice@example.com",
        "staging",
        "alice@example.com",
        "prod",
        "alice@example.com",
    ]


def test_an_engine_without_an_actor_acts_as_its_credentials(fleet):
    engine = Engine(config_module.load(str(fleet.config_for("erin"))))
    result = engine.deploy("trade-service", "dev", "v1.4.2")
    assert result.status == "Deployed"
    assert "Deployed-by: erin" in head(fleet).message
    assert engine.history("trade-service", "dev")[0].actor == "erin"


PEOPLE = """
[people.dave]
slack = "UDAVE"
kube = ["dave"]

[people.bob]
slack = "UBOB"
kube = ["bob"]
"""


@pytest.fixture
def bot_with_people(fleet) -> Iterator[Bot]:
    fleet.config_path.write_text(fleet.config_path.read_text() + PEOPLE)
    yield from start_bot(fleet)


@pytest.fixture
def bot_without_people(fleet) -> Iterator[Bot]:
    yield from start_bot(fleet)


def _asked_in_slack(bot: Bot) -> None:
    bot.command("/deploy", "trade-service prod v1.4.2", user=DAVE)
    root = bot.root("Deploy trade-service v1.4.2 to prod")
    bot.root_state(root, "Waiting for approval")


def test_one_person_cannot_ask_in_slack_and_approve_from_the_cli(bot_with_people):
    bot = bot_with_people
    _asked_in_slack(bot)
    before = bot.head().hexsha
    refused = cli(bot.fleet, "dave", "approve", "trade-service", "prod", "--yes")
    assert refused.returncode == 2
    assert "dave asked for this deploy; someone else must approve it" in refused.stderr
    assert bot.head().hexsha == before

    approved = cli(bot.fleet, "bob", "approve", "trade-service", "prod", "--yes")  # bob is listed by his Slack ID
    assert approved.returncode == 0, approved.stderr
    assert "Approved-by: bob" in bot.head().message


def test_identities_not_known_to_be_different_people_cannot_approve_each_other(bot_without_people):
    bot = bot_without_people
    _asked_in_slack(bot)
    before = bot.head().hexsha
    refused = cli(bot.fleet, "dave", "approve", "trade-service", "prod", "--yes")
    assert refused.returncode == 2 and "cannot tell whether they are two people" in refused.stderr
    assert "list both identities under [people]" in refused.stderr
    assert bot.head().hexsha == before
    assert bot.fleet.engine.pending("trade-service", "prod").approvals == []


def test_people_must_not_share_an_identity(tmp_path):
    path = tmp_path / "gitopsctl.toml"
    path.write_text(
        '[git]\nurl = "/tmp/x"\n[environments.dev]\ncontext = "c"\n[apps.a]\npath = "apps/a/{env}"\n'
        '[people.alice]\nslack = "U1ALICE"\nkube = ["alice"]\n[people.mallory]\nkube = ["alice"]\n'
        '[people.nobody]\n[people.typo]\nslack = "alice"\n'
    )
    with pytest.raises(config_module.ConfigError) as e:
        config_module.load(str(path))
    text = str(e.value)
    assert "people.mallory: cluster user alice is already alice's; one identity belongs to one person" in text
    assert "people.nobody: name at least one identity" in text
    assert 'people.typo.slack: must be a Slack user ID like U024BE7LH (got "alice")' in text


def test_slack_roles_may_name_people(tmp_path):
    path = tmp_path / "gitopsctl.toml"
    path.write_text(
        '[git]\nurl = "/tmp/x"\n[environments.prod]\ncontext = "c"\n[apps.a]\npath = "apps/a/{env}"\n'
        '[people.alice]\nslack = "U1ALICE"\nkube = ["alice"]\n[people.ci]\nkube = ["ci-bot"]\n'
        '[slack.roles.prod]\napprovers = ["alice", "U2BOB"]\n'
    )
    assert config_module.load(str(path)).slack.roles_for("prod").approvers == ("U1ALICE", "U2BOB")
    path.write_text(path.read_text().replace('"U2BOB"', '"ci"'))
    with pytest.raises(config_module.ConfigError, match=r'approvers\[1\]: "ci" has no slack ID under \[people.ci\]'):
        config_module.load(str(path))
