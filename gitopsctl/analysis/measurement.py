"""Measurements and the small pure functions that judge them (as Argo Rollouts' ``utils/evaluate``).

A query that fails is a Measurement in ``Error``, never an exception. Empty
results, NaN and Inf are never ``Successful``: they are ``Inconclusive`` unless
a failure condition (such as ``isNaN(result)``) says ``Failed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .conditions import Condition, ConditionError

SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR, RUNNING = "Successful", "Failed", "Inconclusive", "Error", "Running"


@dataclass(frozen=True)
class Measurement:
    metric: str
    phase: str
    value: Any  # float, list of floats, or None
    at: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_valid(value: Any) -> bool:
    """A value that can count as a success: a finite number, or a non-empty list of them."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return bool(value) and all(is_valid(v) for v in value)
    return False


def evaluate(
    value: Any,
    success: Condition | None,
    failure: Condition | None,
    results: Sequence[Any] = (),
    stable: Sequence[Any] = (),
) -> tuple[str, str]:
    """The phase of one measurement and why; a condition that cannot be evaluated is an Error."""
    try:
        if failure is not None and failure.evaluate(value, results, stable):
            return FAILED, failure.explain(value, results, stable, holds=True)
        if not is_valid(value):
            return INCONCLUSIVE, f"no usable value ({value!r})"
        if success is not None:
            if success.evaluate(value, results, stable):
                return SUCCESSFUL, ""
            return FAILED, success.explain(value, results, stable, holds=False)
        return SUCCESSFUL, ""
    except ConditionError as e:
        if not is_valid(value):
            return INCONCLUSIVE, f"no usable value ({value!r})"
        return ERROR, str(e)


@dataclass(frozen=True)
class Limits:
    count: int
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4


def assess(measurements: Sequence[Measurement], limits: Limits) -> tuple[str, str]:
    """The phase of a metric from its measurements so far: Failed, Inconclusive, Error, Successful or Running."""
    failed = sum(1 for m in measurements if m.phase == FAILED)
    inconclusive = sum(1 for m in measurements if m.phase == INCONCLUSIVE)
    consecutive_errors = 0
    for m in reversed(measurements):
        if m.phase != ERROR:
            break
        consecutive_errors += 1
    if failed > limits.failure_limit:
        return FAILED, f"{failed} failed measurements, more than the limit of {limits.failure_limit}"
    if consecutive_errors > limits.consecutive_error_limit:
        return ERROR, f"{consecutive_errors} measurements in a row could not be taken ({measurements[-1].message})"
    if inconclusive > limits.inconclusive_limit:
        return (
            INCONCLUSIVE,
            f"{inconclusive} inconclusive measurements, more than the limit of {limits.inconclusive_limit}",
        )
    # only successes count toward success: empty, NaN or erroring measurements never make a metric pass
    successes = sum(1 for m in measurements if m.phase == SUCCESSFUL)
    if successes >= limits.count:
        return SUCCESSFUL, ""
    return RUNNING, ""


def worst(phases: Sequence[str]) -> str:
    """An analysis run's phase from its metrics': any failure fails it, then errors, inconclusives, running."""
    for phase in (FAILED, ERROR, INCONCLUSIVE, RUNNING):
        if phase in phases:
            return phase
    return SUCCESSFUL
