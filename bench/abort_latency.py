"""Abort latency: with a 2 s analysis interval, from the canary starting to serve errors to all traffic back on stable.

Real parts: the sandbox, a real Git repository, the traffic simulator and the
real Prometheus server (1 s scrape). The sandbox runs in this process, not as
its own: the traffic simulator reads the sandbox's store in-process (which pods
are Ready, at which weight), so it cannot sit beside a separate sandbox process.
The engine (deploy, the rollout and its analysis) runs in this process too.
A watcher thread samples the cluster every 50 ms: t0 is the first moment a
ready canary pod of the `-bad` version takes traffic, t1 the first moment no
canary pod is ready any more.

Compared, as ratios, with what the two usual controllers' own rules give for the
same template (interval 2 s, failure_limit 0: abort on the first failed
measurement, no initial delay):
- Argo Rollouts: an AnalysisRun fails after failureLimit + 1 failed measurements,
  one per interval: (failureLimit 0 + 1) x 2 s = 2 s.
- Flagger: a canary is rolled back once its failed checks reach the threshold,
  one check per interval: threshold x interval, with threshold 1 (Flagger's
  default, GetAnalysisThreshold in pkg/apis/flagger/v1beta1/canary.go, and the
  template's equivalent: roll back on the first failed check) = 1 x 2 s = 2 s.
  Flagger itself raises any interval under 10 s to 10 s; the formula uses 2 s.
Both formulas count detection only; the figure measured here also includes
moving the traffic back and the canary pods going away.
Target (issue 4): every run at most one interval + 2 s. Run: .venv/bin/python bench/abort_latency.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import Row, ratio, report  # noqa: E402
from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from kubesandbox import Sandbox, Timing  # noqa: E402
from standins.prometheus import PrometheusServer  # noqa: E402
from standins.traffic import TrafficSimulator, tracks  # noqa: E402

INTERVAL = 2.0
FAILURE_LIMIT = 0  # the template's (gitopsctl's default, as Argo Rollouts' failureLimit default)
FLAGGER_THRESHOLD = 1  # Flagger's default threshold, and the template's equivalent (the first failed check)
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


def main() -> int:
    figures = []
    for run in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            seconds = one_run(Path(tmp), "v1.4.2-bad")
            figures.append(seconds)
            print(f"run {run + 1}: canary serving errors -> all traffic on stable in {seconds:.2f} s", flush=True)
    median, worst = statistics.median(figures), max(figures)
    target = INTERVAL + 2
    argo = (FAILURE_LIMIT + 1) * INTERVAL
    flagger = FLAGGER_THRESHOLD * INTERVAL
    what = (
        f"a canary's breach to all traffic on stable (sandbox, traffic simulator and engine in this process; "
        f"real Prometheus; analysis interval {INTERVAL:g} s, failure_limit {FAILURE_LIMIT}), median of {RUNS}"
    )
    rows = [
        Row(
            what=what,
            figure=f"{median:.2f} s (worst {worst:.2f} s)",
            target=f"every run <= {target:g} s (one interval + 2 s)",
            ratio=ratio(
                median,
                argo,
                what=f"Argo Rollouts' (failureLimit {FAILURE_LIMIT} + 1) x {INTERVAL:g} s = {argo:g} s "
                "(detection only)",
            ),
            passed=worst <= target,
        ),
        Row(
            what="the same median against Flagger's rule for the same template",
            figure=f"{median:.2f} s",
            ratio=ratio(
                median,
                flagger,
                what=f"Flagger's threshold {FLAGGER_THRESHOLD} (its default) x {INTERVAL:g} s = {flagger:g} s "
                "(detection only; Flagger's own minimum interval is 10 s)",
            ),
        ),
    ]
    return report("abort_latency", rows)


if __name__ == "__main__":
    sys.exit(main())
