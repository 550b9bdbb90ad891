"""One broken app never blinds the fleet: status, drift, the fleet snapshot and the CLI report it in its row."""

from __future__ import annotations

import json
import subprocess
import sys

import git


def _break_pricing_api_in_dev(fleet) -> None:
    """A pusher's symlink out of the repository in one app's path: refused, as it must be."""
    link = fleet.repo.work_path / "apps/pricing-api/dev/secrets.yaml"
    link.symlink_to("/etc/passwd")
    fleet.repo.work.index.add(["apps/pricing-api/dev/secrets.yaml"])
    who = git.Actor("Mallory", "mallory@example.com")
    fleet.repo.work.index.commit("Add secrets", author=who, committer=who)
    fleet.repo.work.remote("origin").push("main:main").raise_if_error()


def test_status_drift_and_the_fleet_report_a_broken_app_in_its_row_and_every_other_app_as_usual(fleet):
    for app in ("trade-service", "pricing-api", "ledger-worker"):
        fleet.engine.sync(app, "dev", wait=True, timeout=30)
    _break_pricing_api_in_dev(fleet)

    rows = {(r.app, r.env): r for r in fleet.engine.status()}
    assert len(rows) == 9
    broken = rows[("pricing-api", "dev")]
    assert broken.sync == "Unknown" and "symlink" in broken.message
    assert rows[("trade-service", "dev")].health == "Healthy" and rows[("ledger-worker", "dev")].sync == "Synced"

    report = fleet.engine.drift("dev")
    assert [(e.app, e.env) for e in report.errors] == [("pricing-api", "dev")] and "symlink" in report.errors[0].error
    assert not report.drifted and ("trade-service", "dev") in report.clean

    cells = fleet.engine.fleet().cells
    assert "symlink" in cells[("pricing-api", "dev")].message
    assert cells[("trade-service", "dev")].health == "Healthy"


def test_the_cli_lists_healthy_apps_beside_a_broken_one_and_says_so_in_its_exit_code(fleet):
    for app in ("trade-service", "ledger-worker"):
        fleet.engine.sync(app, "dev", wait=True, timeout=30)
    _break_pricing_api_in_dev(fleet)
    done = subprocess.run(
        [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), "status", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = json.loads(done.stdout)
    assert len(rows) == 9, done.stderr
    assert next(r for r in rows if r["app"] == "trade-service" and r["env"] == "dev")["health"] == "Healthy"
    broken = next(r for r in rows if r["app"] == "pricing-api" and r["env"] == "dev")
    assert "symlink" in broken["message"]
    assert done.returncode == 1, "some apps in error"
