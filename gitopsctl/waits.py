"""Waits a front end can cut short: a console that closes stops its engine call at the next wait.

Engine calls wait (for Healthy, for a hook's Job, for a CRD, for a canary to
drain) through ``sleep``. A front end that runs such a call in a thread gives it
a stop event with ``stoppable``; once the event is set, the call's next wait
raises ``Stopped``. Like Ctrl-C in the CLI, ``Stopped`` is a BaseException:
the call unwinds with its locks released and nothing recorded as Failed, and it
is never raised halfway through a write, only where the call would sleep. What
was applied stays applied; the cluster carries on, and a leader finishes what
a rollout started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_stop: ContextVar[threading.Event | None] = ContextVar("gitopsctl_waits_stop", default=None)


class Stopped(BaseException):  # noqa: N818 - named as what happened, as KeyboardInterrupt is
    """The caller stopped waiting (its console is closing)."""


@contextmanager
def stoppable(event: threading.Event) -> Iterator[None]:
    """Engine calls made in this block (in this thread) raise ``Stopped`` at their next wait once ``event`` is set."""
    token = _stop.set(event)
    try:
        yield
    finally:
        _stop.reset(token)


def sleep(seconds: float) -> None:
    """``time.sleep``, ended by the stop event of ``stoppable`` (raising ``Stopped``) when there is one."""
    event = _stop.get()
    if event is None:
        time.sleep(seconds)
    elif event.wait(seconds):
        raise Stopped
