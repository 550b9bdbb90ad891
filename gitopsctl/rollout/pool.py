"""Every active rollout reconciled side by side in a bounded pool: what the controller runs each pass.

A rollout held up (a metric provider that does not answer) keeps its worker and
is skipped by later passes until it returns, while every other rollout moves on.
``stop()`` ends the reconciles under way at their next wait (gitopsctl/waits.py),
as a leader that steps down or shuts down must: each rollout's record says where
it got to, and the next leader carries on from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from .. import waits
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
        self._stop = threading.Event()

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
                self._running[key] = self._pool.submit(self._one, *key, self._stop)
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

    def stop(self) -> None:
        """Stop the reconciles under way at their next wait and return once they have ended; a later ``run``
        starts afresh."""
        with self._lock:
            self._stop.set()
            pool, self._pool, self._stop = self._pool, None, threading.Event()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._running = {key: f for key, f in self._running.items() if not f.done()}

    def _one(self, app: str, env: str, stop: threading.Event) -> Rollout | None:
        """One rollout's reconcile; whatever goes wrong is logged here and the rollout is tried next pass."""
        try:
            with waits.stoppable(stop):
                return self.rollouts.reconcile(app, env)
        except waits.Stopped:
            return None  # stopped at a wait: the record says where it got to
        except PolicyError:
            return None  # another controller acted first; the next pass sees its result
        except GitOpsError as e:  # one broken rollout never holds up the others
            log.warning("cannot reconcile %s in %s: %s", app, env, e)
        except Exception:  # a bug in one rollout's reconcile must not stop the controller
            log.exception("reconciling %s in %s failed unexpectedly", app, env)
        return None
