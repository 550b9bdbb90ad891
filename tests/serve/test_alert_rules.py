"""The alert rules shipped for gitopsctl itself: valid for Prometheus, firing when they should, quiet otherwise."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from gitopsctl.metrics import Metrics
from tests.conftest import require_prometheus

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    require_prometheus()  # Debian's prometheus package ships promtool
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with the prometheus package"
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid_prometheus_rules():
    checked = _promtool("check", "rules", "gitopsctl-alerts.yml")
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_each_alert_fires_on_its_series_and_only_then():
    tested = _promtool("test", "rules", "gitopsctl-alerts_test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_the_rules_only_use_metrics_gitopsctl_exports():
    from bot.delivery import SlackStats  # the bot's figures join the process's registry

    registry = Metrics().registry
    SlackStats(registry)
    exported = (
        {sample.name for family in registry.collect() for sample in family.samples}
        | {f.name for f in registry.collect()}
        | {f"{f.name}_count" for f in registry.collect()}
    )
    exported |= {f"{f.name}_total" for f in registry.collect() if f.type == "counter"}
    used = set(re.findall(r"\bgitopsctl_[a-z_]+", (RULES / "gitopsctl-alerts.yml").read_text()))
    assert used <= exported, f"rules use metrics nothing exports: {used - exported}"
