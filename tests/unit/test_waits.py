"""Waits a front end can cut short, and only those it asked for."""

from __future__ import annotations

import threading
import time

import pytest

from gitopsctl import waits


@pytest.mark.parametrize("set_after", [0.0, 0.2], ids=["set-before-the-wait", "set-during-the-wait"])
def test_the_stop_event_ends_the_wait_at_once_whether_set_before_or_from_another_thread(set_after):
    stop = threading.Event()
    threading.Timer(set_after, stop.set).start()
    started = time.monotonic()
    with pytest.raises(waits.Stopped), waits.stoppable(stop):
        waits.sleep(30)
    assert time.monotonic() - started < 5


def test_outside_the_block_and_in_other_threads_waits_are_plain_sleeps():
    stop = threading.Event()
    stop.set()
    with waits.stoppable(stop):
        other = threading.Thread(target=waits.sleep, args=(0.05,))  # a thread of its own: not the caller's call
        other.start()
        other.join()
    waits.sleep(0.05)  # after the block: no stop event any more
    assert not isinstance(waits.Stopped(), Exception)  # `except Exception` in the engine never swallows a stop
