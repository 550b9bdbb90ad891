"""Several serve replicas: one leader runs the jobs; a killed leader hands over; nothing is reported twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from standins.slack import SlackStandIn
from tests.bot.conftest import ROLES, SECRET, free_port
from tests.conftest import wait_for
from tests.serve.conftest import SERVE, metric, with_channels

LEASE = 4.0
RETRY = 1.0


def _replica(fleet, port: int, metrics_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), "serve", "--slack-mode", "http"]
        + ["--port", str(port), "--metrics-port", str(metrics_port)],
        env={**os.environ, "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _incidents(fleet) -> str:
    found = fleet.core.list_namespaced_config_map(
        "trading-dev", field_selector="metadata.name=gitopsctl-drift-incidents"
    )
    return str(found.items[0].data) if found.items else ""


def _answers_help(slack) -> bool:
    try:
        return slack.command("/gitops", "help", user="UALICE", user_name="alice").status == 200
    except OSError:  # not listening yet
        return False


def _leader(url: str) -> float | None:
    try:
        return metric(url, "gitopsctl_leader")
    except OSError:
        return None


def _scans(url: str) -> float | None:
    """How many drift scans of dev this replica finished (its /metrics)."""
    try:
        return metric(url, "gitopsctl_drift_scan_seconds_count", 'env="dev"')
    except OSError:
        return None


def test_one_leader_runs_the_jobs_and_a_killed_leader_hands_over_without_double_reports(fleet):
    with_channels(fleet)
    with SlackStandIn(SECRET) as slack:
        engine = fleet.reload(ROLES.format(api=slack.api_url).replace("metrics_port = 0\n", "") + SERVE)
        for app in engine.config.apps:
            for env in ("dev", "staging", "prod"):
                engine.sync(app, env, wait=True, timeout=30)
        ports = [(free_port(), free_port()) for _ in range(2)]
        replicas = [_replica(fleet, port, metrics) for port, metrics in ports]
        urls = [f"http://127.0.0.1:{metrics}" for _, metrics in ports]
        try:
            wait_for(lambda: sorted(_leader(u) or 0 for u in urls) == [0.0, 1.0], 30, 0.2, "exactly one leader")
            leader = next(i for i, u in enumerate(urls) if _leader(u) == 1.0)
            follower = 1 - leader

            fleet.apps.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": 3}})
            slack.wait("chat.postMessage", lambda c: "Drift in trade-service (dev)" in str(c.params.get("text")), 15)
            wait_for(lambda: '"reported": true' in _incidents(fleet), 10, 0.05, "the incident saved as reported")

            # every replica answers Slack, the follower too
            slack.bot_url = f"http://127.0.0.1:{ports[follower][0]}/slack/events"
            wait_for(lambda: _answers_help(slack), 30, 0.2, "the follower to answer Slack (its server may start last)")

            replicas[leader].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            wait_for(lambda: _leader(urls[follower]) == 1.0, LEASE + 10, 0.1, "the follower to take over")
            handover = time.monotonic() - killed
            print(f"leadership handed over {handover:.1f}s after the leader was killed (lease {LEASE:g}s)")
            assert handover <= LEASE + 2 * RETRY

            # the new leader's scans see the same drift: two of its scans of dev, and no second report
            wait_for(lambda: (_scans(urls[follower]) or 0) >= 2, 30, 0.1, "two scans of dev by the new leader")
            roots = [
                c
                for c in slack.of("chat.postMessage")
                if not c.params.get("thread_ts") and "Drift in trade-service (dev)" in str(c.params.get("text"))
            ]
            assert len(roots) == 1
        finally:
            for replica in replicas:
                if replica.poll() is None:
                    replica.send_signal(signal.SIGTERM)
            for replica in replicas:
                replica.wait(timeout=60)


def test_a_stopped_leader_hands_over_at_once(fleet):
    with SlackStandIn(SECRET) as slack:
        fleet.reload(ROLES.format(api=slack.api_url).replace("metrics_port = 0\n", "") + SERVE)
        ports = [(free_port(), free_port()) for _ in range(2)]
        replicas = [_replica(fleet, port, metrics) for port, metrics in ports]
        urls = [f"http://127.0.0.1:{metrics}" for _, metrics in ports]
        try:
            wait_for(lambda: sorted(_leader(u) or 0 for u in urls) == [0.0, 1.0], 30, 0.2, "exactly one leader")
            leader = next(i for i, u in enumerate(urls) if _leader(u) == 1.0)
            replicas[leader].send_signal(signal.SIGTERM)
            assert replicas[leader].wait(timeout=30) == 0
            stopped = time.monotonic()
            wait_for(lambda: _leader(urls[1 - leader]) == 1.0, LEASE + 10, 0.1, "the other replica to lead")
            print(f"leadership handed over {time.monotonic() - stopped:.1f}s after a graceful stop")
            assert time.monotonic() - stopped <= 2 * RETRY + 1
            assert urllib.request.urlopen(f"{urls[1 - leader]}/readyz", timeout=5).status == 200  # noqa: S310
        finally:
            for replica in replicas:
                if replica.poll() is None:
                    replica.send_signal(signal.SIGTERM)
                    replica.wait(timeout=60)


def test_a_stopped_follower_never_takes_a_lease_freed_after_it_stopped(fleet):
    """stop() ends a follower's acquire loop too: its thread exits, and the freed lease goes to nobody."""
    from gitopsctl.serve.leader import LeaderElector

    serve = fleet.engine.config.serve
    cluster = fleet.engine.coordination()[0]
    started: list[str] = []
    leader = LeaderElector(cluster, serve, lambda: started.append("a"), lambda: None, identity="a").start()
    wait_for(leader.leading.is_set, 20, message="a to lead")
    follower = LeaderElector(cluster, serve, lambda: started.append("b"), lambda: None, identity="b").start()
    follower.stop()
    leader.stop()
    wait_for(
        lambda: not follower._thread.is_alive(), 3 * serve.retry_period + 5, message="the follower's thread to end"
    )
    assert started == ["a"] and not follower.leading.is_set()
