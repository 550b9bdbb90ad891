"""A release followed in Slack reaches its end in its message though the replica that posted it was killed."""

from __future__ import annotations

import signal

from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, free_port
from tests.conftest import wait_for
from tests.serve.conftest import metric, with_channels
from tests.serve.test_leadership import _leader, _replica

STEPS = '[{ set_weight = 50 }, { pause = "4s" }, { set_weight = 100 }]'


def _answers(slack) -> bool:
    try:
        return slack.command("/gitops", "help", user="UALICE", user_name="alice").status == 200
    except OSError:
        return False


def _root(slack, phase: str) -> list[dict]:
    return [
        m
        for m in slack.messages("#staging")
        if str(m.get("text", "")).startswith(f"Deploy trade-service v1.4.2 to staging: {phase}")
    ]


def test_the_leader_finishes_the_message_of_a_release_whose_replica_was_killed(fleet):
    with_channels(fleet)
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-staging"\nslack_channel = "#staging"\nself_heal = true\nstrategy = "direct"',
        'namespace = "trading-staging"\nslack_channel = "#staging"\nself_heal = true\nstrategy = "canary"',
    )
    text += "".join(
        f"\n[apps.{app}.canary]\nsteps = {STEPS}\n" for app in ("trade-service", "pricing-api", "ledger-worker")
    )
    fleet.config_path.write_text(text)
    with SlackStandIn(SECRET) as slack:
        engine = fleet.reload(ROLES.format(api=slack.api_url).replace("metrics_port = 0\n", ""))
        assert engine.config.environments["staging"].strategy == "canary"
        engine.sync("trade-service", "staging", wait=True, timeout=30)
        ports = [(free_port(), free_port()) for _ in range(2)]
        replicas = [_replica(fleet, port, metrics) for port, metrics in ports]
        urls = [f"http://127.0.0.1:{metrics}" for _, metrics in ports]
        try:
            wait_for(lambda: sorted(_leader(u) or 0 for u in urls) == [0.0, 1.0], 30, 0.2, "exactly one leader")
            follower = 1 - next(i for i, u in enumerate(urls) if _leader(u) == 1.0)
            slack.bot_url = f"http://127.0.0.1:{ports[follower][0]}/slack/events"
            wait_for(lambda: _answers(slack), 30, 0.2, "the follower to answer Slack")
            reply = slack.command("/deploy", "trade-service staging v1.4.2", user="UALICE", user_name="alice")
            assert reply.status == 200
            wait_for(
                lambda: (r := engine.rollouts.get("trade-service", "staging")) is not None and r.messages,
                30,
                0.1,
                "the release message noted on the rollout",
            )
            assert engine.rollouts.get("trade-service", "staging").active
            replicas[follower].send_signal(signal.SIGKILL)  # it posted the message and was following it
            replicas[follower].wait(timeout=10)
            wait_for(lambda: _root(slack, "Promoted"), 60, 0.2, "the root message to show Promoted")
            (root,) = [m for m in slack.messages("#staging") if "Deploy trade-service v1.4.2" in str(m.get("text"))]
            assert "Promoted" in str(root.get("text"))
            wait_for(
                lambda: engine.rollouts.get("trade-service", "staging").messages_settled,
                20,
                0.2,
                "the leader to leave the finished message alone",
            )
            updates = len(slack.of("chat.update"))
            leader_url = urls[1 - follower]
            passes = metric(leader_url, "gitopsctl_reconcile_seconds_count") or 0
            wait_for(
                lambda: (metric(leader_url, "gitopsctl_reconcile_seconds_count") or 0) >= passes + 4,
                20,
                0.2,
                "more passes of the leader's reconcile job",
            )
            assert len(slack.of("chat.update")) == updates  # a settled message is not updated again
        finally:
            for replica in replicas:
                if replica.poll() is None:
                    replica.send_signal(signal.SIGTERM)
                    replica.wait(timeout=60)
