"""Following the Git branch: the leader fetches it and delivers what is due, on a webhook's poke or on the poll.

A poke (a verified push webhook) runs ``follow`` after a short debounce, in a thread of its own, so the webhook is
answered at once. Pokes that arrive while a run is waiting or in progress become one more run after it: a burst of
pushes costs one or two fetches, never one each. The poll (serve's scheduler) calls ``run`` directly. Runs never
overlap, and only the leader runs: a replica that does not lead leaves the change to the leader's next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import GitOpsError

log = logging.getLogger(__name__)
DEBOUNCE = 0.2  # seconds: a host's retries and a push of several refs arrive together


class Follower:
    def __init__(self, follow: Callable[[], list], leading: threading.Event, *, debounce: float = DEBOUNCE) -> None:
        self._follow = follow
        self._leading = leading
        self.debounce = debounce
        self._lock = threading.Lock()
        self._running = threading.Lock()  # a poke's run and the poll's never overlap
        self._pending = False
        self._worker: threading.Thread | None = None
        self._stopped = threading.Event()

    def poke(self) -> bool:
        """Ask for a run soon; False (and nothing runs) when this replica does not lead."""
        if not self._leading.is_set() or self._stopped.is_set():
            return False
        with self._lock:
            self._pending = True
            if self._worker is None:
                self._worker = threading.Thread(target=self._drain, name="git-follow", daemon=True)
                self._worker.start()
        return True

    @property
    def idle(self) -> bool:
        """No run waiting or in progress."""
        with self._lock:
            return self._worker is None

    def run(self) -> None:
        """Fetch and deliver once, if this replica leads; a failure is logged and the next poke or poll tries again."""
        with self._running:
            if not self._leading.is_set():
                return
            try:
                for each in self._follow():
                    log.info("followed Git: %s in %s: %s", each.app, each.env, each.message)
            except GitOpsError as e:
                log.warning("following Git failed: %s", e)
            except Exception:  # a bug must not end the thread: the next poke or poll tries again
                log.exception("following Git failed")

    def stop(self) -> None:
        self._stopped.set()

    def _drain(self) -> None:
        while not self._stopped.wait(self.debounce):
            with self._lock:
                if not self._pending:
                    self._worker = None
                    return
                self._pending = False
            self.run()
        with self._lock:
            self._worker = None
