"""Serve's footprint: 200 apps x 3 environments configured, one drift scan per environment a minute.

Real parts: the sandbox cluster (its own process), a real Git repository with
600 app/environment directories, all synced; `gitopsctl serve` as its own
process, leading, with its watches on. Prints serve's resident memory after the
first scans and after the second round, and CPU seconds per scan (process CPU
time between the end of the first round and the end of the second, over the
scans in between; it includes the idle rollout controller and the watches).
Target (issue 6): RSS under 150 MB. Run: .venv/bin/python bench/serve_footprint.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.drift_scan import APPS, ENVS, fleet_repo  # noqa: E402
from bench.harness import free_port, metric, sandbox_process, serve_process, wait_until  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from standins.slack import SlackStandIn  # noqa: E402

SECRET = "bench-signing-secret"  # noqa: S105 (shared by the stand-in and serve, on 127.0.0.1)
EXTRA = """
[slack]
api_base_url = "{api}"

[drift]
interval = "1m"
jitter = "0s"
"""


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def scans(url: str) -> int:
    return int(sum(metric(url, "gitopsctl_drift_scan_seconds_count", f'env="{env}"') or 0 for env in ENVS))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"), SlackStandIn(SECRET) as slack:
            run(tmp, tmp / "cluster" / "kubeconfig", slack)


def run(tmp: Path, kubeconfig: Path, slack: SlackStandIn) -> None:
    config_path = fleet_repo(tmp, kubeconfig, EXTRA.format(api=slack.api_url))
    engine = Engine(config_module.load(str(config_path)))
    started = time.monotonic()
    for app in engine.config.apps:
        for env in ENVS:
            engine.sync(app, env)
    print(f"synced {APPS * len(ENVS)} app/environment pairs in {time.monotonic() - started:.0f} s")
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}"
    with serve_process(config_path, secret=SECRET, slack_port=free_port(), metrics_port=metrics_port) as serve:
        wait_until(lambda: scans(url) >= len(ENVS), 180, "the first scan of every environment", 0.5)
        first_rss, _ = rss_mb(serve.pid)
        cpu_before, scans_before = cpu_seconds(serve.pid), scans(url)
        wait_until(lambda: scans(url) >= 2 * len(ENVS), 180, "the second round of scans", 0.5)
        cpu_after, scans_after = cpu_seconds(serve.pid), scans(url)
        rss, peak = rss_mb(serve.pid)
        scan_wall = sum(metric(url, "gitopsctl_drift_scan_seconds_sum", f'env="{env}"') or 0 for env in ENVS)
    per_scan = (cpu_after - cpu_before) / max(1, scans_after - scans_before)
    print(
        f"apps x environments configured    {APPS} x {len(ENVS)} = {APPS * len(ENVS)}  ({APPS * len(ENVS) * 5} objects)"
    )
    print(f"serve RSS after the first scans   {first_rss:.0f} MB")
    print(f"serve RSS after the second round  {rss:.0f} MB (peak {peak:.0f} MB)   target < 150 MB")
    print(
        f"CPU seconds per scan              {per_scan:.2f} s  (one environment, 200 apps; includes idle jobs and watches)"
    )
    print(f"scan wall time, mean              {scan_wall / max(1, scans_after):.2f} s")


if __name__ == "__main__":
    main()
