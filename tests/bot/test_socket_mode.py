"""Socket Mode end to end: the bot dials the local Socket Mode endpoint (as it dials Slack), takes a
slash command as an envelope, acknowledges it with its answer, and deploys."""

from __future__ import annotations

import time

import git
import pytest

from bot.serve import Serve, Tokens
from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, release_root, release_state


@pytest.mark.timeout(90)
def test_a_deploy_over_socket_mode(fleet):
    with SlackStandIn(SECRET) as slack:
        engine = fleet.reload(ROLES.format(api=slack.api_url))
        serve = Serve(
            engine, mode="socket", token=Tokens("xoxb-test-token", None, "xapp-1-A0GITOPS-test"), channel_interval=0.2
        ).start()
        try:
            assert slack.of("apps.connections.open"), "the bot asked Slack where to connect"
            assert slack.socket_mode.connected == 1

            ack = slack.socket_command("/deploy", "trade-service dev v1.4.2", user="UALICE", user_name="alice")
            assert ack["payload"]["response_type"] == "ephemeral"
            release_state(slack, release_root(slack, "Deploy trade-service v1.4.2"), "Deployed")
            assert "Deployed-by: alice (UALICE)" in git.Repo(fleet.repo.url).commit("main").message

            refused = slack.socket_command("/deploy", "no-such-app dev v1", user="UALICE", user_name="alice")
            assert 'unknown app "no-such-app"' in refused["payload"]["text"]
        finally:
            serve.stop()
        deadline = time.monotonic() + 10
        while slack.socket_mode.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slack.socket_mode.connected == 0, "a stopped bot closes its Socket Mode connection"
