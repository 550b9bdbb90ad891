"""The bot in a workspace as strict as Slack's: channels it is not in, 429s, Block Kit's limits, entities.

Each test runs the bot in HTTP mode against the strict stand-in (``standins/slack.py``), which refuses what
Slack refuses: the stand-in's stored messages are what people would see.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.bot.conftest import ALICE, BOB, Bot, start_bot
from tests.conftest import wait_for

CHANNELS = {"dev": "#dev", "staging": "#staging", "prod": "#prod"}
APPS = ("trade-service", "pricing-api", "ledger-worker")


def _with_channels(fleet, extra: str = ""):
    """The fleet with each environment's releases shown in its own channel (the stand-in's C0DEV, C0STAGING…)."""
    text = fleet.config_path.read_text()
    for env, channel in CHANNELS.items():
        text = text.replace(
            f'namespace = "trading-{env}"\n', f'namespace = "trading-{env}"\nslack_channel = "{channel}"\n'
        )
    fleet.config_path.write_text(text + extra)
    engine = fleet.reload()
    for env in CHANNELS:  # delivered before approvals are configured (start_bot adds them)
        for app in APPS:
            engine.sync(app, env, wait=True, timeout=30)
    return start_bot(fleet)


@pytest.fixture
def channelled(fleet):
    yield from _with_channels(fleet)


def _version(bot: Bot, app: str, env: str) -> str:
    return bot.fleet.engine.status(app, env)[0].version


def _refused(bot: Bot, *errors: str) -> list:
    return [c for c in bot.slack.refused if c.response.get("error") in errors]


def _undeliverable(bot: Bot, method: str, error: str) -> float:
    value = bot.fleet.engine.metrics.registry.get_sample_value(
        "gitopsctl_slack_undeliverable_total", {"method": method, "error": error}
    )
    return value or 0.0


@pytest.mark.parametrize("where", ["private channel", "direct message", "channel without the bot"])
def test_a_deploy_typed_where_the_bot_is_not_is_deployed_and_shown_in_the_environments_channel(channelled, where):
    bot = channelled
    typed_in = {
        "private channel": lambda: bot.slack.add_channel("incident-42", private=True, members=[ALICE[0]]),
        "direct message": lambda: bot.slack.add_dm(ALICE[0], BOB[0]),
        "channel without the bot": lambda: bot.slack.add_channel("random", members=[ALICE[0]]),
    }[where]()
    assert bot.command("/deploy", "trade-service dev v1.4.2", channel=typed_in).status == 200
    root = bot.root("Deploy trade-service v1.4.2 to dev")
    assert root.response["channel"] == "C0DEV"
    bot.root_state(root, "Deployed")
    assert _version(bot, "trade-service", "dev") == "v1.4.2"
    pointer = bot.ephemeral("is followed")
    assert f"https://sandbox.slack.com/archives/C0DEV/p{root.ts.replace('.', '')}" in pointer.params["text"]
    assert not _refused(bot, "not_in_channel", "channel_not_found")  # it never tried where it could not post


def test_where_slack_refuses_the_message_the_deploy_goes_on_and_the_asker_is_told_what_to_do(bot):
    # no channel configured anywhere: the message goes where the command was typed, a channel without the bot
    random = bot.slack.add_channel("random", members=[ALICE[0]])
    bot.command("/deploy", "trade-service dev v1.4.2", channel=random)
    told = bot.ephemeral("goes on, but Slack did not take its message")
    assert "gitopsctl is not in <#" in told.params["text"] and "invite @gitopsctl" in told.params["text"]
    wait_for(lambda: _version(bot, "trade-service", "dev") == "v1.4.2", 30, message="the deploy to happen anyway")
    assert _undeliverable(bot, "chat.postMessage", "not_in_channel") == 1

    secret = bot.slack.add_channel("secret", private=True, members=[ALICE[0]])
    bot.command("/deploy", "pricing-api dev v2.1.1", channel=secret)
    assert "(a private channel or a direct message it is not in" in bot.ephemeral("gitopsctl cannot see").params["text"]
    wait_for(lambda: _version(bot, "pricing-api", "dev") == "v2.1.1", 30, message="the second deploy too")


def test_an_approval_typed_where_nothing_can_be_posted_still_deploys_and_the_approver_hears_why(channelled):
    bot = channelled
    bot.command("/deploy", "trade-service prod v1.4.2", user=ALICE)
    bot.root_state(bot.root("Deploy trade-service v1.4.2 to prod"), "Waiting for approval")
    bot.slack.archive("#prod")
    bob_dm = bot.slack.add_dm(BOB[0], ALICE[0])
    bot.command("/gitops", "approve trade-service prod", user=BOB, channel=bob_dm)
    told = bot.ephemeral("goes on, but Slack did not take")
    assert "#prod is archived" in told.params["text"]
    wait_for(lambda: _version(bot, "trade-service", "prod") == "v1.4.2", 30, message="the approved deploy")
    assert "Approved-by: bob (UBOB)" in bot.head().message


def test_with_every_third_chat_call_answered_429_every_release_ends_in_its_final_state_with_buttons_while_waiting(
    channelled,
):
    bot = channelled
    bot.slack.throttle("chat.postMessage", every=3)
    bot.slack.throttle("chat.update", every=3)
    asks = [
        (app, env, version)
        for env in CHANNELS
        for app, version in zip(APPS, ("v1.4.2", "v2.1.1", "v1.0.5"), strict=True)
    ]
    asks.append(("trade-service", "dev", "v1.4.3"))
    with ThreadPoolExecutor(9) as pool:
        replies = list(pool.map(lambda a: bot.command("/deploy", f"{a[0]} {a[1]} {a[2]}"), asks[:9]))
    assert all(r.status == 200 for r in replies)

    def final(channel: str, startswith: str, ends: str) -> dict | None:
        for message in bot.slack.messages(channel):
            if message["text"].startswith(startswith) and not message.get("thread_ts"):
                return message if message["text"].endswith(ends) else None
        return None

    # the tenth, once the first deploy of trade-service in dev has finished (its lock released, its message final)
    wait_for(lambda: final("#dev", "Deploy trade-service v1.4.2 to dev", "Deployed"), 60, message="the first")
    bot.command("/deploy", "trade-service dev v1.4.3")

    for app, env, version in asks:
        ends = "Waiting for approval" if env == "prod" else "Deployed"
        wait_for(
            lambda app=app, env=env, version=version, ends=ends: final(
                CHANNELS[env], f"Deploy {app} {version} to {env}", ends
            ),
            90,
            message=f"{app} {version} in {env} to show {ends}",
        )
    for app, _, version in asks[6:9]:  # prod: each approval message carries its buttons
        waiting = final("#prod", f"Deploy {app} {version} to prod", "Waiting for approval")
        assert waiting is not None
        buttons = {e["action_id"] for b in waiting["blocks"] if b["type"] == "actions" for e in b["elements"]}
        assert buttons == {"gitops_approve", "gitops_reject"}
    assert _refused(bot, "ratelimited"), "the stand-in answered 429s"
    registry = bot.fleet.engine.metrics.registry
    assert (registry.get_sample_value("gitopsctl_slack_ratelimited_total", {"method": "chat.postMessage"}) or 0) > 0
    assert not [m for m in registry.collect() if m.name == "gitopsctl_slack_undeliverable" and m.samples]


def test_an_oversized_step_list_and_the_longest_version_never_make_slack_refuse_the_approval_message(fleet):
    steps = ", ".join(f'{{ set_weight = {w} }}, {{ pause = "1s" }}' for w in range(1, 100))
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    canaries = "".join(f"\n[apps.{app}.canary]\nsteps = [{steps}]\n" for app in APPS)
    fleet.config_path.write_text(text + canaries)
    version = "v1.4.2-" + "rc" * 60  # 127 characters: the longest tag Docker allows is 128
    for bot in start_bot(fleet):
        bot.command("/deploy", f"trade-service prod {version}")
        root = bot.root("Deploy trade-service")
        waiting = bot.root_state(root, "Waiting for approval")
        assert not _refused(bot, "invalid_blocks")
        buttons = [e for b in waiting.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert len(buttons) == 2 and all(len(b["value"]) <= 2000 for b in buttons)
        strategy = next(b for b in waiting.params["blocks"] if b["type"] == "context")["elements"][0]["text"]
        assert strategy.startswith("Strategy: canary: 1% traffic → pause 1s → 2% traffic") and "…" in strategy


def test_a_reason_with_ampersands_and_angle_brackets_is_stored_as_typed(bot):
    bot.command("/gitops", "freeze prod 2h A & B <release night>", user=ALICE)
    said = bot.ephemeral("prod is frozen until")
    assert "A &amp; B &lt;release night&gt;" in said.params["text"]  # shown once-escaped: Slack shows A & B <…>
    freeze = bot.fleet.core.read_namespaced_config_map("gitopsctl-freeze-prod", "trading-prod")
    assert freeze.data["reason"] == "A & B <release night>"
