"""Measurements and the small pure functions that judge them (as Argo Rollouts' ``utils/evaluate``).

A query that fails is a Measurement in ``Error``, never an exception. Conditions
decide as Argo Rollouts decides, with one stricter default: empty results, nil,
NaN and Inf are never ``Successful``; they are ``Inconclusive`` unless a failure
condition (such as ``isNaN(result[0])``) says ``Failed``. A template with
``argo_compatible_nan = true`` gets Argo's exact outcome instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .conditions import Condition, ConditionError, show

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

    @property
    def number(self) -> float | None:
        """The value as one finite number, for plots and one-line summaries: a scalar, or a one-series vector's value."""
        value = self.value[0] if isinstance(self.value, list | tuple) and len(self.value) == 1 else self.value
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None

    @property
    def shown(self) -> str:
        """The value as people read it: numbers to four significant digits, a one-series vector as its value."""
        one = self.value[0] if isinstance(self.value, list | tuple) and len(self.value) == 1 else self.value
        return show(one)


def is_valid(value: Any) -> bool:
    """A value that can count as a success: not nil, not an empty vector, no NaN or Inf anywhere in it."""
    return not _empty(value) and _finite(value)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, list | tuple) and not value)


def _finite(value: Any) -> bool:
    """No NaN or Inf anywhere in it; iterative, since a web endpoint's JSON may nest deeper than Python recurses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return True


@dataclass(frozen=True)
class Judgement:
    """How a template's measurements are judged: its conditions, and how strictly unusable values are treated.

    ``typed``: the result comes from Prometheus (a number or a list of numbers), so
    expr's compile-time type checks apply. ``argo_compatible_nan``: nil, empty,
    NaN and Inf values are judged by the conditions alone, exactly as Argo
    Rollouts would (where ``failure_condition = "result[0] > 0.05"`` alone calls
    a NaN Successful); by default such a value is never Successful.
    """

    success: Condition | None
    failure: Condition | None
    typed: bool = False
    argo_compatible_nan: bool = False


def evaluate(
    value: Any, judgement: Judgement, results: Sequence[Any] = (), stable: Sequence[Any] = ()
) -> tuple[str, str]:
    """The phase of one measurement and why, as Argo Rollouts' EvaluateResult decides it.

    Both conditions set and neither holding is Inconclusive (the analysis pauses
    for a person); a condition that cannot be evaluated is an Error.
    """
    success, failure, typed = judgement.success, judgement.failure, judgement.typed
    if not is_valid(value) and not judgement.argo_compatible_nan:
        # only a failure condition that holds decides on nothing; nothing else can pass it
        if failure is not None:
            try:
                if failure.evaluate(value, results, stable, typed=typed):
                    return FAILED, failure.explain(value, results, stable, holds=True, typed=typed)
            except ConditionError:
                pass
        return INCONCLUSIVE, f"no usable value ({show(value)})"
    outcomes: dict[str, bool] = {}
    for role, condition in (("success", success), ("failure", failure)):
        if condition is None:
            continue
        try:
            outcomes[role] = condition.evaluate(value, results, stable, typed=typed)
        except ConditionError as e:
            # Argo's words when there is nothing to evaluate, so the cause is not mistaken for a bad condition
            cause = "metric result is nil or empty: no data returned from the metric provider" if _empty(value) else e
            return ERROR, f'could not evaluate {role}_condition "{condition.text}": {cause}'
    if not outcomes:
        return SUCCESSFUL, ""
    succeeded = outcomes.get("success", not outcomes.get("failure", False))
    failed = outcomes.get("failure", not outcomes.get("success", True))
    if failed and failure is not None and outcomes.get("failure"):
        return FAILED, failure.explain(value, results, stable, holds=True, typed=typed)
    if failed and success is not None:
        return FAILED, success.explain(value, results, stable, holds=False, typed=typed)
    if not succeeded and success is not None and failure is not None:
        return INCONCLUSIVE, (
            f"between the conditions: {success.explain(value, results, stable, holds=False, typed=typed)} "
            f"and {failure.explain(value, results, stable, holds=False, typed=typed)}"
        )
    return SUCCESSFUL, ""


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
