"""What the bot refuses: forged requests, retries, people without the role, hostile text."""

from __future__ import annotations

import json
import threading

import pytest

from tests.bot.conftest import CAROL, DAVE, shown


def _deploys(bot) -> list[str]:
    return [c.message.splitlines()[0] for c in bot.head().repo.iter_commits("main") if c.message.startswith("Deploy ")]


@pytest.mark.parametrize(
    ("how", "options"),
    [
        ("a bad signature", {"headers": {"X-Slack-Signature": "v0=" + "0" * 64}}),
        ("a timestamp older than 5 minutes", {"age": 6 * 60}),
        ("no signature at all", {"sign": False}),
    ],
)
def test_requests_not_signed_by_slack_get_401_and_do_nothing(bot, how, options):
    before = bot.head().hexsha
    reply = bot.command("/deploy", "trade-service dev v1.4.2", **options)
    assert reply.status == 401, how
    assert bot.slack.of("chat.postMessage") == [] and bot.slack.of("response_url") == []
    assert bot.head().hexsha == before


def test_a_retried_command_gives_exactly_one_deploy(bot):
    body_options = {"trigger": "1337.42.retry-me"}
    first = bot.command("/deploy", "trade-service dev v1.4.2", **body_options)
    retry = bot.command(
        "/deploy",
        "trade-service dev v1.4.2",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        **body_options,
    )
    assert first.status == retry.status == 200
    root = bot.root("Deploy trade-service v1.4.2 to dev")
    bot.root_state(root, "Deployed")
    roots = [c for c in bot.slack.of("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(roots) == 1
    assert _deploys(bot) == ["Deploy trade-service v1.4.2 to dev (was v1.4.1)"]


def test_the_same_deploy_asked_twice_at_once_runs_once(bot):
    # the API server slows the deploy's writes, so the second ask surely comes while the first is running
    bot.fleet.sandbox.faults.add(verbs=["patch"], resource="deployments", namespace="trading-dev", latency=1.5, count=4)
    replies = []
    threads = [
        threading.Thread(target=lambda: replies.append(bot.command("/deploy", "trade-service dev v1.4.2")))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [r.status for r in replies] == [200, 200]
    bot.ephemeral("a deploy of trade-service v1.4.2 to dev is already being started")
    bot.root_state(bot.root("Deploy trade-service v1.4.2 to dev"), "Deployed")
    roots = [c for c in bot.slack.of("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(roots) == 1
    assert _deploys(bot) == ["Deploy trade-service v1.4.2 to dev (was v1.4.1)"]


def test_someone_without_the_role_is_refused_and_nothing_changes(canary_bot):
    bot = canary_bot
    before = bot.head().hexsha
    bot.command("/deploy", "trade-service prod v1.4.2", user=CAROL)
    refusal = bot.ephemeral("you are not a deployer in prod")
    assert refusal.params["response_type"] == "ephemeral"
    assert "slack.roles.prod.deployers" in refusal.params["text"]
    assert bot.head().hexsha == before
    assert [c for c in bot.slack.of("chat.postMessage")] == []


def test_a_member_of_a_listed_user_group_may_deploy(canary_bot):
    bot = canary_bot
    bot.command("/deploy", "pricing-api prod v2.1.0", user=DAVE)
    root = bot.root("Deploy pricing-api v2.1.0 to prod")
    assert "Waiting for approval" in shown(bot.root_state(root, "Waiting for approval"))
    assert bot.slack.of("usergroups.users.list")[0].params["usergroup"] == "SONCALL"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("trade-service; rm -rf /", "give the app and the environment"),
        ("trade-service dev $(id)", "is not a valid version"),
        ("trade-service dev --upload-pack=touch", "is not a valid version"),
        ("trаde-service dev v1.4.2", "is not a valid app name"),  # Cyrillic а
        ("trade-service dev v1.4.2 " + "x" * 10_000, "commands are at most 500"),
        ("../../etc dev v1", "is not a valid app name"),
        ("no-such-app dev v1", 'unknown app "no-such-app"'),
    ],
)
def test_hostile_or_wrong_text_gets_one_sentence_and_changes_nothing(bot, text, says):
    before = bot.head().hexsha
    reply = bot.command("/deploy", text)
    assert reply.status == 200
    answer = json.loads(reply.body)
    assert answer["response_type"] == "ephemeral" and says in answer["text"]
    assert len(answer["text"]) < 400
    assert bot.head().hexsha == before and bot.slack.of("chat.postMessage") == []


def test_help_lists_every_command(bot):
    answer = json.loads(bot.command("/gitops", "help").body)
    text = json.dumps(answer["blocks"])
    for usage in ("/deploy APP ENV [VERSION]", "/gitops freeze ENV DURATION REASON", "/gitops approve APP ENV"):
        assert usage in text


def test_a_slack_name_cannot_forge_a_git_trailer(bot):
    bot.command("/deploy", "trade-service dev v1.4.2", user=("UEVE", "eve\nApproved-by: ceo"))
    bot.root_state(bot.root("Deploy trade-service v1.4.2 to dev"), "Deployed")
    message = bot.head().message
    assert "Deployed-by: eveApproved-byceo (UEVE)" in message
    assert "\nApproved-by:" not in message
