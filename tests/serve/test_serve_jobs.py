"""Serve's other jobs: metrics that move with deploys, and rollouts driven to their end without anyone watching."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

from bot.serve import Serve
from tests.bot.conftest import ALICE
from tests.conftest import wait_for
from tests.serve.conftest import metric

DEPLOYED = 'app="trade-service",env="dev",result="Deployed"'


def test_metrics_count_deploys_and_say_who_leads(served):
    assert metric(served.metrics_url, "gitopsctl_deploys_total", DEPLOYED) is None
    wait_for(lambda: metric(served.metrics_url, "gitopsctl_leader") == 1.0, 10)
    served.command("/deploy", "trade-service dev v1.4.2", user=ALICE)
    served.root_state(served.root("Deploy trade-service v1.4.2 to dev"), "Deployed")
    assert metric(served.metrics_url, "gitopsctl_deploys_total", DEPLOYED) == 1.0
    served.command("/deploy", "trade-service dev v1.4.2-nope!")  # refused by the parser: not counted
    served.command("/rollback", "trade-service dev")
    served.root_state(served.root("Roll back trade-service"), "Deployed")
    assert metric(served.metrics_url, "gitopsctl_rollbacks_total", DEPLOYED) == 1.0
    assert metric(served.metrics_url, "gitopsctl_drift_scan_seconds_count", 'env="dev"') >= 1
    for path in ("/healthz", "/readyz"):
        assert urllib.request.urlopen(served.metrics_url + path, timeout=5).status == 200  # noqa: S310


SERVE_ONLY = """
[serve]
reconcile_interval = "500ms"
lease_duration = "4s"
renew_deadline = "3s"
retry_period = "1s"
metrics_port = 0
watch = false
"""


def test_a_rollout_started_from_the_cli_is_driven_to_its_end_by_serve(canary):
    fleet = canary.fleet
    engine = fleet.reload(SERVE_ONLY)
    serve = Serve(engine, mode="off").start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), "deploy", "trade-service", "prod"]
            + ["v1.4.2", "--yes"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and "Progressing" in done.stdout, done.stdout + done.stderr
        rollout = wait_for(
            lambda: (r := engine.rollouts.get("trade-service", "prod")) is not None and not r.active and r, 90, 0.5
        )
        assert rollout.phase == "Promoted"
        labels = {"app": "trade-service", "env": "prod", "phase": "Promoted"}
        assert engine.metrics.registry.get_sample_value("gitopsctl_rollout_phase", labels) == 1
    finally:
        serve.stop()
