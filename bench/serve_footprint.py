"""Serve's footprint: 200 apps x 3 environments configured, one drift scan per environment a minute.

Real parts: the sandbox cluster (its own process), a real Git repository with
600 app/environment directories, all synced (by an engine in this process, with
its own cache directory); `gitopsctl serve` as its own process, leading, with
its watches on, started cold: on a new, empty cache directory, as in a pod
whose cache is an emptyDir, so it clones the repository and renders every app
itself. Reports serve's resident memory after the first scans and after the
second round (and its peak, VmHWM, which includes the cold clone and renders),
and CPU seconds per scan (process CPU time between the end of the first round
and the end of the second, over the scans in between; it includes the idle
rollout controller and the watches).
The first round's figures are compared with those of serve started again,
afterwards, on the cache the cold one left (warm: the start this benchmark
used to measure), after its first round. Target (issue 6): RSS under 150 MB,
judged on the cold peak. Run: .venv/bin/python bench/serve_footprint.py
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
from bench.results import Row, ratio, report  # noqa: E402
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


TARGET_MB = 150


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"), SlackStandIn(SECRET) as slack:
            return run(tmp, tmp / "cluster" / "kubeconfig", slack)


def run(tmp: Path, kubeconfig: Path, slack: SlackStandIn) -> int:
    config_path = fleet_repo(tmp, kubeconfig, EXTRA.format(api=slack.api_url))
    engine = Engine(config_module.load(str(config_path)))
    started = time.monotonic()
    for app in engine.config.apps:
        for env in ENVS:
            engine.sync(app, env)
    print(f"synced {APPS * len(ENVS)} app/environment pairs in {time.monotonic() - started:.0f} s")
    # serve gets a configuration naming a new, empty cache directory: cold, as a pod's emptyDir
    cold_cache = tmp / "serve-cache"
    text = config_path.read_text()
    warm_line = f'cache_dir = "{tmp / "cache"}"'
    assert warm_line in text, "fleet_repo's cache_dir line changed"
    serve_config = tmp / "serve.toml"
    serve_config.write_text(text.replace(warm_line, f'cache_dir = "{cold_cache}"'))
    assert not cold_cache.exists()
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}"
    started = time.monotonic()
    with serve_process(serve_config, secret=SECRET, slack_port=free_port(), metrics_port=metrics_port) as serve:
        wait_until(lambda: scans(url) >= len(ENVS), 180, "the first scan of every environment", 0.5)
        first_round = time.monotonic() - started
        first_rss, first_peak = rss_mb(serve.pid)
        cpu_before, scans_before = cpu_seconds(serve.pid), scans(url)
        wait_until(lambda: scans(url) >= 2 * len(ENVS), 180, "the second round of scans", 0.5)
        cpu_after, scans_after = cpu_seconds(serve.pid), scans(url)
        rss, peak = rss_mb(serve.pid)
        scan_wall = sum(metric(url, "gitopsctl_drift_scan_seconds_sum", f'env="{env}"') or 0 for env in ENVS)
    # the alternative, in the same run: serve again, a new process on the cache directory the cold one left (warm)
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}"
    with serve_process(serve_config, secret=SECRET, slack_port=free_port(), metrics_port=metrics_port) as serve:
        wait_until(lambda: scans(url) >= len(ENVS), 180, "the warm serve's first scan of every environment", 0.5)
        warm_rss, warm_peak = rss_mb(serve.pid)
    per_scan = (cpu_after - cpu_before) / max(1, scans_after - scans_before)
    pairs = APPS * len(ENVS)
    setup = f"{APPS} apps x {len(ENVS)} environments = {pairs} pairs ({pairs * 5} objects)"
    rows = [
        Row(
            what=f"serve RSS and peak (VmHWM) after the first scan of every environment; serve a new process on a "
            f"new, empty cache directory (cold; {setup}; first round done {first_round:.0f} s after start)",
            figure=f"{first_rss:.0f} MB, peak {first_peak:.0f} MB",
            ratio="peak "
            + ratio(
                first_peak,
                warm_peak,
                what=f"serve started again on the warm cache the cold one left, at the same point ({warm_rss:.0f} MB, "
                f"peak {warm_peak:.0f} MB), this run",
                lower_is_better=False,
            ),
        ),
        Row(
            what="serve RSS after the second round of scans (one a minute per environment), and its peak (VmHWM) "
            "since the cold start",
            figure=f"{rss:.0f} MB, peak {peak:.0f} MB",
            target=f"peak < {TARGET_MB} MB",
            passed=peak < TARGET_MB,
        ),
        Row(
            what=f"serve CPU seconds per scan (one environment, {APPS} apps; process CPU between the rounds over "
            "the scans between, including the idle rollout controller and the watches)",
            figure=f"{per_scan:.2f} s",
        ),
        Row(
            what="scan wall time, mean over every scan (gitopsctl_drift_scan_seconds; the first includes the cold "
            "clone and renders)",
            figure=f"{scan_wall / max(1, scans_after):.2f} s",
        ),
    ]
    return report("serve_footprint", rows)


if __name__ == "__main__":
    sys.exit(main())
