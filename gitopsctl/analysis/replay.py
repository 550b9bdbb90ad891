"""Replaying a template on past releases: what it would have decided, and when, from the provider's history.

Each release is a time window (the rollout's start to its end). The template is measured as a rollout would
measure it: first at the start (after ``initial_delay``), then every ``interval`` until one interval past the
end (a rollout that stopped between two of the template's measurements would have had the next one, and the
query's range still holds the release's traffic then), each measurement the value the provider's history has
for that moment, judged by the same conditions and limits (``evaluate``, ``assess``); the replay stops at the
first decision, or after the last measurement (undecided). Set beside how the
release really ended, each is caught (bad, would have failed), missed (bad, would have passed), a false alarm
(good, would have failed), passed (good, would have passed) or undecided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .measurement import ERROR, FAILED, RUNNING, SUCCESSFUL, Measurement, assess
from .providers import MetricProvider
from .run import CompiledTemplate, measure

BAD_ENDS = frozenset({"Aborted", "Failed"})
CAUGHT, MISSED, FALSE_ALARM, PASSED, UNDECIDED = "caught", "missed", "false alarm", "passed", "undecided"
MAX_MEASUREMENTS = 1000  # per window: a day-long window at a 1 s interval is not replayed one query at a time


@dataclass(frozen=True)
class Window:
    """One past release: its deploy commit, versions, how it really ended, and when it ran."""

    commit: str
    version: str
    stable: str
    ended: str  # Promoted | Aborted | Failed
    message: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Replayed:
    window: Window
    phase: str  # what the template would have decided: Successful, Failed, Inconclusive, Error, or Running (undecided)
    message: str
    decided_after: float | None  # seconds after the start, None when undecided
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        bad = self.window.ended in BAD_ENDS
        if self.phase in (FAILED, ERROR):
            return CAUGHT if bad else FALSE_ALARM
        if self.phase == SUCCESSFUL:
            return MISSED if bad else PASSED
        return UNDECIDED

    def as_dict(self) -> dict[str, Any]:
        w = self.window
        return {
            "commit": w.commit,
            "version": w.version,
            "stable": w.stable,
            "ended": w.ended,
            "ended_message": w.message,
            "started_at": w.start.isoformat(),
            "ran_seconds": round(w.seconds, 3),
            "would_have": self.phase,
            "would_have_message": self.message,
            "decided_after_seconds": None if self.decided_after is None else round(self.decided_after, 3),
            "verdict": self.verdict,
            "measurements": [m.as_dict() for m in self.measurements],
        }


def moments(compiled: CompiledTemplate, window: Window) -> list[datetime]:
    """When a rollout would have measured during ``window``: after the initial delay, then every interval, the
    last one due at most one interval after the end."""
    template = compiled.template
    step = timedelta(seconds=max(template.interval, 0.001))
    at, found = window.start + timedelta(seconds=template.initial_delay), []
    while at < window.end + step and len(found) < MAX_MEASUREMENTS:
        found.append(at)
        at += step
    return found


def replay(
    compiled: CompiledTemplate, provider: MetricProvider, variables: Mapping[str, str], window: Window
) -> Replayed:
    """The template's decision over ``window``, measurement by measurement, from the provider's history."""
    taken: list[Measurement] = []
    for at in moments(compiled, window):
        taken.append(measure(compiled, provider, {**variables, "track": "canary"}, taken, at=at))
        phase, message = assess(taken, compiled.limits)
        if phase != RUNNING:
            last = taken[-1]
            why = f"{last.metric} {last.shown}: {last.message or last.phase}" + (f" ({message})" if message else "")
            return Replayed(window, phase, why, (at - window.start).total_seconds(), taken)
    successes = sum(1 for m in taken if m.phase == SUCCESSFUL)
    return Replayed(
        window,
        RUNNING,
        f"undecided when the rollout ended: {successes} of {compiled.limits.count} successful measurements",
        None,
        taken,
    )
