"""A canary with the replicas traffic router, judged by the web metrics provider: Promoted, or Aborted and reverted."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cluster.conftest import APP, ENV, IMAGE, READY_TIMEOUT, REPLICAS, STABLE, ClusterFleet

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

CANARY = "3.9"  # another real tag of the same image, so canary pods start on a real cluster too
CANARY_TOML = """
[analysis.templates.success-rate]
provider = "web"
url = "{url}/success-rate"
query = "data.success_rate"
interval = "1s"
count = 3
success_condition = "result >= 0.95"
failure_limit = 0

[apps.{app}.canary]
traffic_router = "replicas"
steps = [{{ set_weight = 50 }}, {{ analysis = "success-rate" }}, {{ set_weight = 100 }}]
"""


class Metrics:
    """The metrics the analysis reads, served by this test process on 127.0.0.1.

    The engine runs in this process, so it reaches 127.0.0.1 whatever the cluster is; a server in the
    cluster (a pod) would not be reachable from here without a port-forward or an ingress. What is
    tested is the engine's path from measurement to verdict to traffic and Git, not where numbers come from.
    """

    def __init__(self, success_rate: float) -> None:
        self.success_rate = success_rate
        self.asked = 0
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                metrics.asked += 1
                body = json.dumps({"data": {"success_rate": metrics.success_rate}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    served = Metrics(success_rate=0.999)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def canary_fleet(cluster_fleet: ClusterFleet, metrics: Metrics) -> ClusterFleet:
    """The app synced and Healthy on its stable version, its environment on canary rollouts."""
    engine = cluster_fleet.reload(strategy="canary", extra=CANARY_TOML.format(url=metrics.url, app=APP))
    synced = engine.sync(APP, ENV, wait=True, timeout=READY_TIMEOUT)
    assert synced.health == "Healthy", synced.message
    return cluster_fleet


def test_a_canary_with_good_metrics_is_promoted(canary_fleet, metrics):
    fleet = canary_fleet
    result = fleet.engine.deploy(APP, ENV, CANARY, actor="alice", wait=True, timeout=2 * READY_TIMEOUT)
    assert (result.status, result.rollout.phase) == ("Deployed", "Promoted"), result.message
    events = " | ".join(result.rollout.events)
    for expected in ("canary weight set to 50%", "analysis success-rate passed", "canary weight set to 100%"):
        assert expected in events, events
    assert [m.phase for m in result.rollout.measurements] == ["Successful"] * 3
    assert metrics.asked >= 3
    assert fleet.image() == f"{IMAGE}:{CANARY}"
    assert fleet.deployment(f"{APP}-canary") is None
    assert fleet.head().hexsha == result.commit
    assert fleet.engine.diff(APP, ENV).in_sync
    assert fleet.deployment().spec.replicas == REPLICAS


def test_a_canary_with_bad_metrics_is_aborted_and_reverted_in_git(canary_fleet, metrics):
    fleet = canary_fleet
    metrics.success_rate = 0.5
    result = fleet.engine.deploy(APP, ENV, CANARY, actor="alice", wait=True, timeout=2 * READY_TIMEOUT)
    assert (result.status, result.rollout.phase) == ("Aborted", "Aborted"), result.message
    assert re.fullmatch(r"success-rate 0\.5 < 0\.95 at 50% traffic", result.message), result.message
    assert any(m.phase == "Failed" for m in result.rollout.measurements)

    revert = fleet.head()
    assert revert.message.startswith(f"Roll back {APP} {ENV} to {STABLE}: success-rate 0.5 < 0.95"), revert.message
    assert revert.parents[0].hexsha == result.commit == result.rollout.deploy_commit
    assert result.rollout.revert_commit == revert.hexsha
    assert f"image: {IMAGE}:{STABLE}" in fleet.repo.read(f"apps/{APP}/{ENV}/deployment.yaml")

    assert fleet.image() == f"{IMAGE}:{STABLE}"
    assert fleet.deployment(f"{APP}-canary") is None
    assert fleet.deployment().spec.replicas == REPLICAS
    assert fleet.engine.diff(APP, ENV).in_sync, "Git and the cluster agree after the abort"
    assert [q.version for q in fleet.engine.quarantined(APP)] == [CANARY]
