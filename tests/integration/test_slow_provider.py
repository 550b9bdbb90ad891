"""A metric provider that does not answer holds up only its own rollout: the controller reconciles side by side."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gitopsctl.rollout.loop import ReconcileLoop
from tests.conftest import wait_for

SLOW_SECONDS = 8.0
SLOW = """
[analysis.templates.slow-rate]
provider = "web"
url = "{url}/rate"
query = "value"
interval = "1s"
count = 1
success_condition = "result >= 0.95"

[apps.trade-service.canary]
steps = [{{ set_weight = 50 }}, {{ analysis = "slow-rate" }}, {{ set_weight = 100 }}]

[apps.pricing-api.canary]
steps = [{{ set_weight = 50 }}, {{ set_weight = 100 }}]

[apps.ledger-worker.canary]
steps = [{{ set_weight = 50 }}, {{ pause = "1s" }}, {{ set_weight = 100 }}]
"""


class SlowMetrics:
    """A JSON endpoint that answers ``{"value": 1}`` only after SLOW_SECONDS: a provider in trouble."""

    def __init__(self) -> None:
        self.asked = 0
        self.answered = 0
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                metrics.asked += 1
                time.sleep(SLOW_SECONDS)
                body = json.dumps({"value": 1}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                metrics.answered += 1

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def test_a_rollout_waiting_on_a_slow_provider_never_holds_up_another(fleet):
    metrics = SlowMetrics()
    text = fleet.config_path.read_text().replace(
        'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
    )
    fleet.config_path.write_text(text + SLOW.format(url=metrics.url))
    engine = fleet.reload()
    for app in ("trade-service", "ledger-worker"):
        engine.sync(app, "prod", wait=True, timeout=30)
    engine.deploy("trade-service", "prod", "v1.4.2", actor="alice")
    engine.deploy("ledger-worker", "prod", "v1.0.5", actor="alice")
    loop = ReconcileLoop(engine, 0.2).start()
    try:
        wait_for(lambda: metrics.asked == 1, 20, message="trade-service's analysis to ask the slow provider")
        asked_at = time.monotonic()
        wait_for(
            lambda: engine.rollouts.get("ledger-worker", "prod").phase == "Promoted",
            SLOW_SECONDS - 1,
            message="ledger-worker promoted while trade-service's provider has not answered",
        )
        assert metrics.answered == 0 and time.monotonic() - asked_at < SLOW_SECONDS
        assert engine.rollouts.get("trade-service", "prod").phase == "Progressing"
        wait_for(lambda: engine.rollouts.get("trade-service", "prod").phase == "Promoted", 60)
    finally:
        loop.stop()
        metrics.server.shutdown()
