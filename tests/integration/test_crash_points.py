"""A process killed (SIGKILL) right after each externally visible action of a rollout loses nothing.

Each test arms one fail point (gitopsctl/failpoints.py) in a child process, sees it
die by SIGKILL there, starts a controller without it and checks what an on-call
engineer would: the release ends as it should, Git and the cluster agree, every
step and commit happened exactly once, nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import git
import pytest

from gitopsctl.errors import LockedError, PolicyError
from gitopsctl.failpoints import ENVIRONMENT
from tests.conftest import wait_for

APP, ENV = "trade-service", "prod"


def _gitopsctl(fleet, *args: str, failpoint: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT}
    if failpoint:
        env[ENVIRONMENT] = failpoint
    return subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "--config", str(fleet.config_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _killed_at(process: subprocess.Popen, point: str, timeout: float = 90) -> None:
    """The process died by SIGKILL: the fail point was reached (a mistyped one never fires)."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the process never reached {point}")
    assert process.returncode == -signal.SIGKILL, f"{point}: exit {process.returncode}\n{err[-2000:]}"


def _finish(fleet, until: str):
    """A new controller, without the fail point, takes the rollout to its end."""
    controller = _gitopsctl(fleet, "controller", "--interval", "0.3")
    try:
        return wait_for(
            lambda: (r := fleet.engine.rollouts.get(APP, ENV)) is not None and r.phase == until and r,
            timeout=90,
            message=f"the restarted controller to reach {until}",
        )
    finally:
        controller.send_signal(signal.SIGTERM)
        controller.communicate(timeout=20)


def _commits(fleet, prefix: str) -> list[git.Commit]:
    return [c for c in git.Repo(fleet.repo.url).iter_commits("main") if c.message.startswith(prefix)]


def _live(fleet, name: str) -> str | None:
    deployments = {d.metadata.name: d for d in fleet.apps.list_namespaced_deployment("trading-prod").items}
    dep = deployments.get(name)
    return dep.spec.template.spec.containers[0].image if dep else None


def _agrees(fleet, version: str) -> None:
    """Git, the cluster and the record tell one story: the version serves, nothing is pending, nothing left over."""
    assert _live(fleet, APP) == f"registry.local/{APP}:{version}"
    assert _live(fleet, f"{APP}-canary") is None
    (row,) = fleet.engine.status(APP, ENV)
    assert (row.version, row.sync, row.drift, row.error) == (version, "Synced", "Clean", "")
    assert fleet.engine.locks() == []


def _once_each(rollout) -> None:
    events = [e.split(" ", 1)[1] for e in rollout.events]
    weights = [e for e in events if e.startswith("canary weight set to")]
    assert len(weights) == len(set(weights)), weights


@pytest.mark.parametrize("point", ["weight-set", "analysis-measured", "record-saved@2", "promotion-synced"])
def test_a_good_release_killed_at_a_write_point_is_promoted_once(canary, point):
    fleet = canary.fleet
    assert fleet.engine.deploy(APP, ENV, "v1.4.2", actor="alice").status == "Progressing"
    _killed_at(_gitopsctl(fleet, "controller", "--interval", "0.3", failpoint=point), point)
    done = _finish(fleet, "Promoted")
    _once_each(done)
    assert len(_commits(fleet, f"Deploy {APP} v1.4.2")) == 1
    assert _commits(fleet, f"Roll back {APP}") == []
    _agrees(fleet, "v1.4.2")


def test_a_bad_release_killed_after_its_revert_was_pushed_is_reverted_once(canary):
    fleet = canary.fleet
    assert fleet.engine.deploy(APP, ENV, "v1.4.2-bad", actor="alice").status == "Progressing"
    _killed_at(_gitopsctl(fleet, "controller", "--interval", "0.3", failpoint="revert-pushed"), "revert-pushed")
    assert len(_commits(fleet, f"Roll back {APP}")) == 1  # pushed before the kill
    (pushed,) = _commits(fleet, f"Roll back {APP}")
    done = _finish(fleet, "Aborted")
    assert done.revert_commit == pushed.hexsha and len(_commits(fleet, f"Roll back {APP}")) == 1
    _agrees(fleet, "v1.4.1")


def test_an_abort_by_hand_killed_after_its_revert_is_finished_as_it_began(canary):
    fleet = canary.fleet
    engine = fleet.engine
    assert engine.deploy(APP, ENV, "v1.4.2", actor="alice").status == "Progressing"

    def at_34() -> bool:
        engine.rollouts.reconcile(APP, ENV)
        return engine.rollouts.get(APP, ENV).step == 1  # 34% verified, the analysis next

    wait_for(at_34, timeout=60, message="34% of traffic on the canary")
    aborting = _gitopsctl(fleet, "rollout", "abort", APP, ENV, "--reason", "p99 looks odd", failpoint="revert-pushed")
    _killed_at(aborting, "revert-pushed")
    (pushed,) = _commits(fleet, f"Roll back {APP}")
    assert "Reason: p99 looks odd" in pushed.message
    assert engine.rollouts.get(APP, ENV).active  # killed before the record said so
    done = _finish(fleet, "Aborted")
    assert done.revert_commit == pushed.hexsha and len(_commits(fleet, f"Roll back {APP}")) == 1
    assert done.message == "p99 looks odd"  # the person's reason, kept across the kill
    _agrees(fleet, "v1.4.1")


def test_a_deploy_killed_after_creating_its_canary_is_delivered_by_the_next_sync_through_the_canary(canary):
    fleet = canary.fleet
    _killed_at(_gitopsctl(fleet, "deploy", APP, ENV, "v1.4.2", failpoint="canary-created"), "canary-created")
    assert fleet.engine.rollouts.get(APP, ENV) is None  # the process died before the record was written
    (row,) = fleet.engine.status(APP, ENV)
    assert row.sync == "OutOfSync"  # Git has the deploy commit, the cluster does not serve it yet
    assert _live(fleet, APP) == f"registry.local/{APP}:v1.4.1"
    with pytest.raises(LockedError, match="expires at .* if its process died"):
        fleet.engine.sync(APP, ENV, actor="alice")  # the killed deploy's lock, until it expires
    wait_for(lambda: fleet.engine.locks() == [], timeout=45, message="the killed deploy's lock to expire")
    with pytest.raises(PolicyError, match="not delivered yet"):
        fleet.engine.deploy(APP, ENV, "v1.4.2", actor="alice")  # never a second commit, never past the canary
    started = fleet.engine.sync(APP, ENV, actor="alice")
    assert started.rollout is not None and started.rollout.canary_version == "v1.4.2"
    done = _finish(fleet, "Promoted")
    _once_each(done)
    assert len(_commits(fleet, f"Deploy {APP} v1.4.2")) == 1
    _agrees(fleet, "v1.4.2")
