"""Git changes in Slack: what the leader delivered, held or asked approval for, /gitops sync's new results,
and the quarantine commands, through the running bot and the Slack stand-in."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from types import SimpleNamespace

import git
import pytest

from demo.seed import deployment_yaml
from gitopsctl.cluster import quarantine
from gitopsctl.engine import Outcome
from gitopsctl.serve.process import Service
from tests.bot.conftest import ALICE, BOB, CAROL, release_root, root_blocks, shown, start_bot
from tests.conftest import Fleet, wait_for

CHANNELS = {"dev": "#dev", "staging": "#staging", "prod": "#prod"}


def push(fleet: Fleet, env: str, tag: str, message: str, author: str = "CI Bot", email: str = "ci@example.com") -> str:
    """A CI-style commit (not gitopsctl's) that bumps trade-service's tag in ``env``."""
    rel = f"apps/trade-service/{env}/deployment.yaml"
    replicas = {"dev": 1, "staging": 2, "prod": 3}[env]
    (fleet.repo.work_path / rel).write_text(
        deployment_yaml("trade-service", f"registry.local/trade-service:{tag}", replicas)
    )
    fleet.repo.work.index.add([rel])
    who = git.Actor(author, email)
    sha = fleet.repo.work.index.commit(message, author=who, committer=who).hexsha
    fleet.repo.work.remote("origin").push("main:main").raise_if_error()
    return sha


def image(fleet: Fleet, env: str) -> str:
    deployment = fleet.apps.read_namespaced_deployment("trade-service", f"trading-{env}")
    return deployment.spec.template.spec.containers[0].image.rsplit(":", 1)[1]


def _follow_bot(fleet: Fleet, auto: tuple[str, ...]):
    text = fleet.config_path.read_text()
    for env, channel in CHANNELS.items():
        extra = f'slack_channel = "{channel}"\n' + ('sync = "auto"\n' if env in auto else "")
        text = text.replace(f'namespace = "trading-{env}"\n', f'namespace = "trading-{env}"\n{extra}')
    # bob approves from Slack what CI pushed: both listed, so gitopsctl can tell them apart
    people = '\n[people.bob]\nslack = "UBOB"\n\n[people.ci]\ngit = ["ci@example.com"]\n'
    fleet.config_path.write_text(text + people)
    engine = fleet.reload()
    for env in ("dev", "prod"):
        for app in ("trade-service", "pricing-api", "ledger-worker"):
            engine.sync(app, env, wait=True, timeout=30)
    return start_bot(fleet)


@pytest.fixture
def following(fleet):
    yield from _follow_bot(fleet, auto=("dev", "prod"))


@pytest.fixture
def manual(fleet):
    yield from _follow_bot(fleet, auto=())


def _follow(bot) -> None:
    """One run of the leader's follow (what a webhook or the poll starts), reported through the bot's notifier."""
    wait_for(bot.serve.leader.leading.is_set, 20, message="this replica to lead")
    bot.serve.follower.run()


def _roots(bot, channel: str, startswith: str) -> list:
    return [
        c
        for c in bot.slack.of("chat.postMessage")
        if c.params.get("channel") == channel
        and not c.params.get("thread_ts")
        and str(c.params.get("text", "")).startswith(startswith)
    ]


def test_a_delivered_change_is_one_message_with_its_commit_and_hostile_text_is_escaped(following):
    bot = following
    sha = push(
        bot.fleet,
        "dev",
        "v1.4.2",
        "Bump <!channel> *now* <https://evil.example|click>\n\nDeployed-by: <!here> UBOB",
    )
    _follow(bot)
    root = release_root(bot.slack, "Deliver trade-service")
    assert root.params["channel"] == "#dev"
    seen = shown(root)
    assert f"`{sha[:12]}`" in seen and "Delivered" in seen
    assert "1 applied (Deployment/trade-service), 2 unchanged, 0 pruned; health " in seen
    assert "&lt;!channel&gt;" in seen and "&lt;!here&gt; UBOB" in seen
    for forged in ("<!channel>", "<!here>", "<https://evil", "<@UBOB>"):
        assert forged not in seen
    assert image(bot.fleet, "dev") == "v1.4.2"
    _follow(bot)  # nothing new: said once
    assert len(_roots(bot, "#dev", "Deliver trade-service")) == 1


def test_a_change_waiting_for_approval_is_approved_with_its_buttons_and_a_held_one_says_why_once(following):
    bot = following
    sha = push(bot.fleet, "prod", "v1.4.2", "Bump trade-service in prod")
    _follow(bot)
    root = release_root(bot.slack, "Deliver trade-service")
    assert root.params["channel"] == "#prod"
    seen = shown(root)
    assert "Waiting for approval" in seen and f"`{sha[:12]}`" in seen
    assert "asked by CI Bot &lt;ci@example.com&gt;" in seen  # a Git author is text, never a mention
    assert {e["action_id"] for b in root_blocks(root) if b["type"] == "actions" for e in b["elements"]} == {
        "gitops_approve",
        "gitops_reject",
    }
    assert image(bot.fleet, "prod") == "v1.4.1"
    bot.click("gitops_approve", root, user=BOB)
    done = bot.root_state(root, "Delivered")
    assert "Approved by <@UBOB>" in shown(done)
    assert image(bot.fleet, "prod") == "v1.4.2"

    bot.fleet.engine.freeze("prod", duration=timedelta(hours=2), reason="release night", actor="carol")
    push(bot.fleet, "prod", "v1.4.3", "Bump trade-service to v1.4.3")
    _follow(bot)
    held = bot.slack.wait("chat.postMessage", lambda c: "is held in prod" in str(c.params.get("text", "")))
    assert "prod is frozen (manual: release night" in html.unescape(shown(held))
    _follow(bot)
    assert len(_roots(bot, "#prod", "trade-service is held in prod")) == 1
    assert image(bot.fleet, "prod") == "v1.4.2"


def test_gitops_sync_of_a_change_needing_approval_shows_the_request_and_reject_delivers_nothing(manual):
    bot = manual
    sha = push(bot.fleet, "prod", "v1.4.2", "Bump trade-service in prod")
    bot.command("/gitops", "sync trade-service prod", user=ALICE)
    root = bot.root("Deliver trade-service")
    seen = shown(root)
    assert "Waiting for approval" in seen and "asked by <@UALICE>" in seen and f"`{sha[:12]}`" in seen
    bot.click("gitops_reject", root, user=BOB)
    bot.root_state(root, "Rejected")
    assert bot.fleet.engine.pending("trade-service", "prod") is None
    assert image(bot.fleet, "prod") == "v1.4.1"
    # the request is shown in prod's channel, once: manual, so the leader posts nothing of its own
    assert [c.ts for c in _roots(bot, "#prod", "Deliver")] == [root.ts]


def test_quarantine_is_listed_and_only_an_approver_where_it_failed_lifts_it(bot):
    cluster, namespace = bot.fleet.engine.coordination()
    quarantine.add(
        cluster, namespace, "trade-service", "v1.4.2-bad", env="prod", reason="success-rate 0.82 < 0.95", by="gitopsctl"
    )
    bot.command("/gitops", "quarantine")
    listed = html.unescape(json.dumps(bot.ephemeral("Quarantined versions").params))
    assert "v1.4.2-bad" in listed and "success-rate 0.82 < 0.95" in listed
    bot.command("/gitops", "unquarantine trade-service v1.4.2-bad fixed it", user=CAROL)
    bot.ephemeral("you are not an approver in prod")
    assert [q.version for q in bot.fleet.engine.quarantined()] == ["v1.4.2-bad"]
    bot.command("/gitops", "unquarantine trade-service v1.4.2-bad the leak is fixed", user=BOB)
    lifted = bot.slack.wait("response_url", lambda c: "lifted the quarantine" in c.params.get("text", ""))
    assert lifted.params["response_type"] == "in_channel" and "the leak is fixed" in lifted.params["text"]
    assert bot.fleet.engine.quarantined() == []
    bot.command("/gitops", "quarantine trade-service")
    bot.ephemeral("No version of trade-service is quarantined.")


def test_gitops_sync_of_a_pod_template_change_in_a_canary_environment_is_approved_then_followed(canary_bot):
    bot = canary_bot
    sha = push(bot.fleet, "prod", "v1.4.2", "Bump trade-service in prod")
    bot.command("/gitops", "sync trade-service prod", user=ALICE)
    root = bot.root("Deliver trade-service")
    pending = shown(root)
    assert "Waiting for approval" in pending and "34% traffic → analysis success-rate" in pending
    bot.click("gitops_approve", root, user=BOB)
    bot.root_state(root, "Progressing", timeout=30)
    promoted = bot.root_state(root, "Promoted", timeout=90)
    assert "▰▰▰▰▰▰▰▰▰▰ 100%" in shown(promoted) and f"`{sha[:12]}`" in shown(promoted)
    assert "canary weight set to 34%" in bot.thread(root)
    assert image(bot.fleet, "prod") == "v1.4.2"


def test_serve_reports_each_new_outcome_once_and_a_failed_report_never_stops_the_others():
    outcomes = [
        Outcome("trade-service", "dev", "a" * 40, "Delivered", "synced"),
        Outcome("pricing-api", "dev", "a" * 40, "Held", "dev is frozen", new=False),  # reported before
        Outcome("ledger-worker", "dev", "a" * 40, "Delivered", "synced"),
    ]
    reported = []

    def change_followed(outcome):
        reported.append(outcome.app)
        if outcome.app == "trade-service":
            raise RuntimeError("Slack is down")

    service = SimpleNamespace(
        engine=SimpleNamespace(follow=lambda: outcomes), notifier=SimpleNamespace(change_followed=change_followed)
    )
    assert Service.follow_git(service) == outcomes
    assert reported == ["trade-service", "ledger-worker"]
