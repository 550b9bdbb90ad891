"""Every active rollout reconciled side by side in a bounded pool: what the controller runs each pass.

A rollout held up (a metric provider that does not answer) keeps its worker and
is skipped by later passes until it returns, while every other rollout moves on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from ..config import App, Environment
from ..errors import GitOpsError, PolicyError
from .controller import Rollouts
from .record import Rollout

log = logging.getLogger(__name__)
WORKERS = 8  # rollouts reconciled at once; more wait for a free worker, never for a slow one


class ReconcilePool:
    def __init__(self, rollouts: Rollouts, pairs: Callable[[], list[tuple[App, Environment]]]) -> None:
        self.rollouts = rollouts
        self.pairs = pairs
        self._running: dict[tuple[str, str], Future] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def run(self, *, wait: bool) -> list[Rollout]:
        """Start a reconcile of each active rollout not still running. ``wait``: return when this pass is over;
        otherwise at once, with the rollouts whose reconcile ended since the last call."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="reconcile")
            for spec, environment in self.pairs():
                key = (spec.name, environment.name)
                if key in self._running or environment.strategy != "canary":
                    continue
                try:
                    if self.rollouts.active(spec, environment) is None:
                        continue
                except GitOpsError as e:  # its cluster away: the others are still reconciled
                    log.warning("cannot read the rollout of %s in %s: %s", spec.name, environment.name, e)
                    continue
                self._running[key] = self._pool.submit(self._one, *key)
            running = list(self._running.values())
        if wait:
            futures_wait(running)
        done = []
        with self._lock:
            for key, future in list(self._running.items()):
                if future.done():
                    del self._running[key]
                    if (rollout := future.result()) is not None:
                        done.append(rollout)
        return done

    def _one(self, app: str, env: str) -> Rollout | None:
        """One rollout's reconcile; whatever goes wrong is logged here and the rollout is tried next pass."""
        try:
            return self.rollouts.reconcile(app, env)
        except PolicyError:
            return None  # another controller acted first; the next pass sees its result
        except GitOpsError as e:  # one broken rollout never holds up the others
            log.warning("cannot reconcile %s in %s: %s", app, env, e)
        except Exception:  # a bug in one rollout's reconcile must not stop the controller
            log.exception("reconciling %s in %s failed unexpectedly", app, env)
        return None
