"""The rollout controller loop: reconcile every active rollout, every few seconds, until stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import GitOpsError

if TYPE_CHECKING:
    from ..engine import Engine
    from .record import Rollout

log = logging.getLogger(__name__)


class ReconcileLoop:
    def __init__(
        self, engine: Engine, interval: float = 2.0, on_finished: Callable[[Rollout], None] | None = None
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.on_finished = on_finished or (lambda rollout: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Reconcile in the calling thread until ``stop()``; a failed pass is logged and the next one runs."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                for rollout in self.engine.reconcile_rollouts(wait=False):
                    if rollout is not None and not rollout.active:
                        self.on_finished(rollout)
            except GitOpsError as e:
                log.warning("reconcile failed: %s", e)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> ReconcileLoop:
        self._thread = threading.Thread(target=self.run, name="rollout-controller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reconciling: the loop at once, the reconciles under way at their next wait."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.engine.stop_reconciles()
