"""The bot over Socket Mode keeps serving across Slack's `disconnect` and takes a button click as an envelope."""

from __future__ import annotations

import git
import pytest

from bot.serve import Serve, Tokens
from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, release_root, release_state, root_blocks, root_ts


@pytest.mark.timeout(120)
def test_the_bot_reconnects_after_disconnect_and_an_approve_click_over_socket_mode_deploys(fleet):
    with SlackStandIn(SECRET) as slack:
        engine = fleet.reload(ROLES.format(api=slack.api_url))
        tokens = Tokens("xoxb-test-token", None, "xapp-1-A0GITOPS-test")
        serve = Serve(engine, mode="socket", token=tokens, channel_interval=0.2).start()
        try:
            slack.socket_mode.wait_for(opened=1)
            slack.socket_mode.disconnect("refresh_requested")
            slack.socket_mode.wait_for(opened=2, connected=1)  # a new connection, the old one closed

            ack = slack.socket_command("/deploy", "trade-service prod v1.4.2", user="UALICE", user_name="alice")
            assert ack["payload"]["response_type"] == "ephemeral"
            root = release_root(slack, "Deploy trade-service v1.4.2 to prod")
            pending = release_state(slack, root, "Waiting for approval")
            approve = next(
                e
                for b in root_blocks(pending)
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"] == "gitops_approve"
            )
            assert not git.Repo(fleet.repo.url).commit("main").message.startswith("Deploy trade-service v1.4.2")

            clicked = slack.socket_click(
                "gitops_approve",
                approve["value"],
                user="UBOB",
                user_name="bob",
                message_ts=root_ts(root),
                channel=root.response["channel"],
            )
            assert clicked["envelope_id"]
            done = release_state(slack, root, "Deployed", timeout=60)
            assert "Approved by <@UBOB>" in str(done.params["blocks"])
            assert "Approved-by: bob (UBOB)" in git.Repo(fleet.repo.url).commit("main").message
        finally:
            serve.stop()
