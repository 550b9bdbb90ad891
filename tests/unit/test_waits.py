"""Waits a front end can cut short, and only those it asked for."""

from __future__ import annotations

import threading
import time

import pytest

from gitopsctl import waits


def test_a_set_stop_event_ends_the_next_wait_at_once():
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    with pytest.raises(waits.Stopped), waits.stoppable(stop):
        waits.sleep(30)
    assert time.monotonic() - started < 1


def test_a_wait_under_way_ends_when_the_event_is_set_from_another_thread():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
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
