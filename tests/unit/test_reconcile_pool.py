"""The controller's pool: reconciles side by side, and stopped at their next wait when the controller stops."""

from __future__ import annotations

import threading
import time

from gitopsctl import waits
from gitopsctl.config.model import App, Environment
from gitopsctl.rollout.pool import ReconcilePool

APP = App("web", "apps/web/{env}", "web", ("prod",))
PROD = Environment("prod", "c", "prod", strategy="canary")


class Draining:
    """A rollout whose reconcile waits (as a drain does) until it is stopped, then one that ends at once."""

    def __init__(self) -> None:
        self.started, self.calls, self.stopped = threading.Event(), 0, 0

    def active(self, app, env):
        return "running"

    def reconcile(self, app, env):
        self.calls += 1
        if self.calls > 1:
            return f"reconciled {app} in {env}"
        self.started.set()
        try:
            while True:
                waits.sleep(0.05)
        except waits.Stopped:
            self.stopped += 1
            raise


def test_stop_ends_a_reconcile_waiting_at_once_and_a_later_pass_starts_afresh():
    rollouts = Draining()
    pool = ReconcilePool(rollouts, lambda: [(APP, PROD)])
    assert pool.run(wait=False) == []
    assert rollouts.started.wait(5)
    started = time.monotonic()
    pool.stop()
    assert time.monotonic() - started < 2 and rollouts.stopped == 1
    assert pool.run(wait=True) == ["reconciled web in prod"]  # the stopped one left nothing behind
    pool.stop()


def test_a_pass_skips_a_rollout_still_being_reconciled():
    rollouts = Draining()
    pool = ReconcilePool(rollouts, lambda: [(APP, PROD)])
    pool.run(wait=False)
    assert rollouts.started.wait(5)
    assert pool.run(wait=False) == [] and rollouts.calls == 1  # not started twice while the first waits
    pool.stop()
