"""Abort latency: with a 2 s analysis interval, from the canary starting to serve errors to all traffic back on stable.

Real parts: the sandbox, a real Git repository, the traffic simulator and the
real Prometheus server (1 s scrape). A watcher thread samples the cluster every
50 ms: t0 is the first moment a ready canary pod of the `-bad` version takes
traffic, t1 the first moment no canary pod is ready any more.
Target (issue 4): at most one interval + 2 s. Run: .venv/bin/python bench/abort_latency.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from kubesandbox import Sandbox, Timing  # noqa: E402
from standins.prometheus import PrometheusServer  # noqa: E402
from standins.traffic import TrafficSimulator, tracks  # noqa: E402

INTERVAL = 2.0
RUNS = 3
TEMPLATE = """
[prometheus]
url = "{url}"

[analysis.templates.success-rate]
query = 'sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary",code!~"5.."}}[3s])) / sum(rate(http_requests_total{{app="{{{{app}}}}",env="{{{{env}}}}",track="canary"}}[3s]))'
interval = "{interval}s"
count = 5
success_condition = "result >= 0.95"
inconclusive_limit = 20

[apps.trade-service.canary]
steps = [{{ set_weight = 34 }}, {{ analysis = "success-rate" }}, {{ set_weight = 100 }}]
[apps.pricing-api.canary]
steps = [{{ set_weight = 100 }}]
[apps.ledger-worker.canary]
steps = [{{ set_weight = 100 }}]
"""


def one_run(root: Path, version: str) -> float:
    with Sandbox.start(root / "cluster", timing=Timing(ready_delay=0.5)) as sandbox:
        simulator = TrafficSimulator(sandbox.store).start()
        with PrometheusServer(root / "prometheus", [simulator.target]).start() as prometheus:
            repo = seed(root)
            path = root / "gitopsctl.toml"
            text = config_text(repo.url, sandbox.kubeconfig, root / "cache")
            text = text.replace(
                'namespace = "trading-prod"\nstrategy = "direct"', 'namespace = "trading-prod"\nstrategy = "canary"'
            )
            path.write_text(text + TEMPLATE.format(url=prometheus.url, interval=int(INTERVAL)))
            engine = Engine(config_module.load(str(path)))
            engine.sync("trade-service", "prod", wait=True, timeout=30)
            serving: dict[str, float] = {}
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    canary = [
                        t
                        for t in tracks(sandbox.store)
                        if t.app == "trade-service" and t.env == "prod" and t.track == "canary"
                    ]
                    now = time.monotonic()
                    if canary and canary[0].ready and canary[0].weight > 0:
                        serving.setdefault("t0", now)
                    elif "t0" in serving:
                        serving.setdefault("t1", now)
                        return
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            result = engine.deploy("trade-service", "prod", version, actor="bench", wait=True, timeout=120)
            watcher.join(timeout=10)
            stop.set()
            simulator.stop()
            assert result.rollout.phase == "Aborted", result.message
            return serving["t1"] - serving["t0"]


def main() -> None:
    figures = []
    for run in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            seconds = one_run(Path(tmp), "v1.4.2-bad")
            figures.append(seconds)
            print(f"run {run + 1}: canary serving errors -> all traffic on stable in {seconds:.2f} s")
    print(
        f"analysis interval {INTERVAL:g} s; abort latency median {statistics.median(figures):.2f} s, "
        f"max {max(figures):.2f} s; target <= {INTERVAL + 2:g} s"
    )


if __name__ == "__main__":
    main()
