"""Drift latency: from a change made with kubectl to the drift report reaching Slack (the local stand-in).

Real parts: the sandbox cluster and a seeded Git repository; `gitopsctl serve`
as its own process, leading, watching the tracked objects (informers), its
scheduled scan set to 3 minutes so the watch is what is measured. Each run
scales trade-service in dev by hand with kubectl, times the report's arrival
at the stand-in, then syncs and waits for the report to be marked resolved.
Target (issue 6): under 2 s (Argo CD's cycle is up to 3 minutes).
Run: .venv/bin/python bench/drift_latency.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import free_port, metric, sandbox_process, serve_process, wait_until  # noqa: E402
from demo.seed import config_text, seed  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from standins.slack import SlackStandIn  # noqa: E402

RUNS = 5
SECRET = "bench-signing-secret"  # noqa: S105 (shared by the stand-in and serve, on 127.0.0.1)
EXTRA = """
[slack]
api_base_url = "{api}"

[drift]
interval = "3m"
jitter = "0s"

[serve]
lease_duration = "4s"
renew_deadline = "3s"
retry_period = "1s"
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"), SlackStandIn(SECRET) as slack:
            run(tmp, tmp / "cluster" / "kubeconfig", slack)


def scale(kubeconfig: Path, replicas: int) -> None:
    if shutil.which("kubectl"):
        subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "-n", "trading-dev", "scale", "deployment/trade-service"]
            + [f"--replicas={replicas}"],
            check=True,
            capture_output=True,
        )
    else:  # the same change through the API, for machines without kubectl
        from kubernetes import client, config

        api = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
        api.patch_namespaced_deployment("trade-service", "trading-dev", {"spec": {"replicas": replicas}})


def run(tmp: Path, kubeconfig: Path, slack: SlackStandIn) -> None:
    repo = seed(tmp)
    config_path = tmp / "gitopsctl.toml"
    text = config_text(repo.url, kubeconfig, tmp / "cache").replace(
        'namespace = "trading-dev"\n', 'namespace = "trading-dev"\nslack_channel = "#dev"\n'
    )
    config_path.write_text(text + EXTRA.format(api=slack.api_url))
    engine = Engine(config_module.load(str(config_path)))
    for app in engine.config.apps:
        for env in engine.config.environments:
            engine.sync(app, env, wait=True, timeout=60)
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}"
    latencies = []
    with serve_process(config_path, secret=SECRET, slack_port=free_port(), metrics_port=metrics_port):
        wait_until(lambda: metric(url, "gitopsctl_leader") == 1.0, 60, "serve to lead")
        time.sleep(3)  # the watches are started once leading
        for run_number in range(RUNS):
            before = len(slack.calls)
            scale(kubeconfig, 3 + run_number)
            changed = time.monotonic()
            report = wait_until(
                lambda before=before: next(
                    (
                        c
                        for c in slack.calls[before:]
                        if c.method == "chat.postMessage"
                        and "Drift in trade-service (dev)" in str(c.params.get("text"))
                    ),
                    None,
                ),
                30,
                "the drift report",
                0.005,
            )
            latencies.append(report.at - changed)
            engine.sync("trade-service", "dev", wait=True, timeout=60)
            wait_until(
                lambda report=report: any(
                    c.method == "chat.update"
                    and c.params.get("ts") == report.ts
                    and "resolved" in str(c.params.get("text"))
                    for c in slack.calls
                ),
                30,
                "the report to be marked resolved",
            )
            time.sleep(2)  # past the channel's one-message-a-second slot taken by the resolution
    print(f"runs                              {RUNS}  (kubectl scale -> report posted to the Slack stand-in)")
    print(f"drift report latency median       {statistics.median(latencies):.2f} s")
    print(f"drift report latency max          {max(latencies):.2f} s   target < 2 s (scheduled scan: every 3 min)")


if __name__ == "__main__":
    main()
