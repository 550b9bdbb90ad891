"""With SLACK_BOT_TOKEN set, `gitopsctl demo` runs the bot over the demo's world: /deploy works, drift is reported."""

from __future__ import annotations

import dataclasses

import pytest

from demo import slack as demo_slack
from demo.world import DemoWorld
from gitopsctl.engine import Engine
from standins.slack import SlackStandIn
from tests.bot.conftest import SECRET, free_port, release_root, release_state, shown


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["socket", "http"])
def test_the_demo_bot_deploys_from_slack_and_reports_drift_to_the_demo_channel(mode, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-demo-token")
    if mode == "socket":  # with an app token the demo uses Socket Mode: no public URL needed
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A0GITOPS-demo")
        monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    else:
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
        monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with (
        SlackStandIn(SECRET) as slack,
        DemoWorld(lambda text: None, analysis_provider="web", slack_channel="#gitopsctl-demo") as world,
    ):
        cfg = world.engine.config  # only the Web API address differs from what the demo writes: Slack is local here
        world.engine = Engine(
            dataclasses.replace(cfg, slack=dataclasses.replace(cfg.slack, api_base_url=slack.api_url))
        )
        server, where = demo_slack.start(world.engine, free_port())
        try:
            # anyone in the workspace may deploy in the demo's own sandbox
            if mode == "socket":
                assert where == "Slack over Socket Mode"
                ack = slack.socket_command(
                    "/deploy", "trade-service dev v1.5.0", user="UNEWCOMER", user_name="newcomer"
                )
                assert ack["payload"]["response_type"] == "ephemeral"
            else:
                assert where.startswith("Slack over HTTP at http://127.0.0.1:")
                slack.bot_url = server.server.url
                reply = slack.command("/deploy", "trade-service dev v1.5.0", user="UNEWCOMER", user_name="newcomer")
                assert reply.status == 200
            root = release_root(slack, "Deploy trade-service v1.5.0")
            assert root.response["channel"] == slack.channel_id("#gitopsctl-demo")  # the demo's channel, not DMs
            release_state(slack, root, "Deployed")
            assert world.engine.status("trade-service", "dev")[0].version == "v1.5.0"

            world.make_drift()  # the bot's serve is the demo's controller: its watches report to the demo channel
            report = slack.wait(
                "chat.postMessage",
                lambda c: c.params.get("channel") == "#gitopsctl-demo" and "Drift in trade-service" in shown(c),
                30,
            )
            assert "spec.replicas" in shown(report) and "prod" in shown(report)
        finally:
            server.stop()
