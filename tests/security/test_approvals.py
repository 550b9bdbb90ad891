"""Attack 3: an old Approve button approved whatever was pending now. A decision binds to the request it was shown."""

from __future__ import annotations

from collections.abc import Iterator

import git
import pytest

from gitopsctl.errors import PolicyError
from tests.bot.conftest import BOB, DAVE, Bot, root_blocks, root_ts, shown, start_bot
from tests.conftest import wait_for

PROD_APPROVAL = """
[environments.prod.approval]
required = 1
users = ["bob", "carol"]
"""


@pytest.fixture
def bot(fleet) -> Iterator[Bot]:
    yield from start_bot(fleet)


def _head(fleet) -> str:
    return git.Repo(fleet.repo.url).commit("main").hexsha


def _buttons(call) -> list[str]:
    return [e["action_id"] for b in root_blocks(call) if b["type"] == "actions" for e in b["elements"]]


def test_a_decision_on_an_expired_request_never_approves_its_replacement(fleet):
    engine = fleet.reload(PROD_APPROVAL)
    first = engine.deploy("trade-service", "prod", "v1.4.2", actor="dave").request
    assert engine.promotions.expire(approval_ttl=-1)  # nobody approved it in time
    second = engine.deploy("trade-service", "prod", "v6.6.6-unreviewed", actor="dave").request
    before = _head(fleet)

    with pytest.raises(PolicyError) as refused:
        engine.approve("trade-service", "prod", request=first.id, version="v1.4.2", actor="bob")
    assert str(refused.value).startswith(
        "that request (v1.4.2) expired or was replaced; the pending one is v6.6.6-unreviewed, asked by dave"
    )
    with pytest.raises(PolicyError, match=r"that request \(v1.4.2\) expired or was replaced"):
        engine.reject("trade-service", "prod", request=first.id, version="v1.4.2", actor="bob")

    assert _head(fleet) == before  # nothing committed
    assert engine.pending("trade-service", "prod").id == second.id  # still waiting, unapproved
    assert engine.pending("trade-service", "prod").approvals == []


def test_a_decision_after_the_request_ended_says_so_and_changes_nothing(fleet):
    engine = fleet.reload(PROD_APPROVAL)
    request = engine.deploy("trade-service", "prod", "v1.4.2", actor="dave").request
    engine.reject("trade-service", "prod", request=request.id, actor="carol")
    before = _head(fleet)
    with pytest.raises(PolicyError, match=r"that request \(v1.4.2\) for trade-service in prod is no longer pending"):
        engine.approve("trade-service", "prod", request=request.id, version="v1.4.2", actor="bob")
    assert _head(fleet) == before and engine.pending("trade-service", "prod") is None


def _pending_root(bot: Bot, version: str):
    """A request shown in Slack, its message noted on it (the bot notes it once Slack has taken the post)."""
    bot.command("/deploy", f"trade-service prod {version}", user=DAVE)
    root = bot.root(f"Deploy trade-service {version} to prod")
    waiting = bot.root_state(root, "Waiting for approval")
    engine = bot.fleet.engine
    wait_for(
        lambda: any(m["ts"] == root_ts(root) for m in getattr(engine.pending("trade-service", "prod"), "messages", [])),
        timeout=30,
        message="the request's message noted on it",
    )
    return root, waiting


def test_an_old_approve_button_is_refused_after_expiry_and_loses_its_buttons(bot):
    root, waiting = _pending_root(bot, "v1.4.2")
    bot.fleet.engine.promotions.expire(approval_ttl=-1)
    bot.serve.scheduler.expire()  # the leader's job: every message of an ended request is updated
    expired = bot.root_state(root, "Expired")
    assert _buttons(expired) == [] and "Not approved in time" in shown(expired)

    _pending_root(bot, "v6.6.6-unreviewed")
    before = bot.head().hexsha
    bot.click("gitops_approve", waiting, user=BOB)  # the button as it was on the first message
    refusal = bot.ephemeral("that request (v1.4.2) expired or was replaced")
    assert "the pending one is v6.6.6-unreviewed, asked by dave (UDAVE)" in str(refusal.params["text"])
    engine = bot.fleet.engine
    assert bot.head().hexsha == before
    assert engine.pending("trade-service", "prod").version == "v6.6.6-unreviewed"
    assert engine.pending("trade-service", "prod").approvals == []


def test_after_a_typed_reject_the_old_buttons_are_gone_and_act_on_nothing(bot):
    root, waiting = _pending_root(bot, "v1.4.2")
    bot.command("/gitops", "reject trade-service prod", user=BOB)
    bot.serve.scheduler.expire()
    rejected = bot.root_state(root, "Rejected")
    assert _buttons(rejected) == [] and "Rejected by bob (UBOB)" in shown(rejected)

    _pending_root(bot, "v6.6.6-unreviewed")
    before = bot.head().hexsha
    bot.click("gitops_reject", waiting, user=BOB)
    bot.ephemeral("that request (v1.4.2) expired or was replaced")
    assert bot.head().hexsha == before
    assert bot.fleet.engine.pending("trade-service", "prod").version == "v6.6.6-unreviewed"


def test_a_typed_approve_names_the_version_it_means(bot):
    _pending_root(bot, "v6.6.6-unreviewed")
    before = bot.head().hexsha
    bot.command("/gitops", "approve trade-service prod v1.4.2", user=BOB)
    bot.ephemeral("that request (v1.4.2) expired or was replaced; the pending one is v6.6.6-unreviewed")
    assert bot.head().hexsha == before
