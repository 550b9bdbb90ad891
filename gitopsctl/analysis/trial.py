"""``analysis try``: judge one result with a template's conditions, exactly as a measurement would be judged.

Template authors try a condition on a value (or on what Prometheus answered
to the query) before a rollout depends on it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .conditions import ConditionError, compile_condition, show
from .measurement import Judgement, evaluate
from .providers import PROVIDERS
from .providers.prometheus import ProviderError, shape


@dataclass(frozen=True)
class Trial:
    phase: str
    message: str
    result: Any  # as the conditions saw it

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "message": self.message, "result": _json_safe(self.result)}

    @property
    def shown_result(self) -> str:
        return show(self.result)


def read_result(text: str, provider: str) -> Any:
    """The result a provider would hand the conditions, from JSON text.

    For Prometheus: a number, a list of numbers, or the query API's whole answer
    (``{"status": "success", "data": {...}}``), shaped as the provider shapes it.
    For web: any JSON, numbers as floats (as Go decodes them). Raises ValueError.
    """
    if provider not in PROVIDERS:
        raise ValueError(f'the provider must be one of {", ".join(PROVIDERS)} (got "{provider}")')
    try:
        value = json.loads(text, parse_int=float, parse_constant=float)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"the result is not JSON ({e})") from e
    if provider != "prometheus":
        return value
    if isinstance(value, dict) and isinstance(value.get("data"), dict) and "result" in value["data"]:
        try:
            return shape(value["data"]["result"])
        except ProviderError as e:
            raise ValueError(str(e)) from e
    if isinstance(value, float):
        return value
    if isinstance(value, list) and all(isinstance(v, float) for v in value):
        return value
    raise ValueError(
        "a Prometheus result is a number (a scalar), a list of numbers (a vector: one per series), "
        "or the query API's JSON answer"
    )


def try_conditions(
    success: str | None,
    failure: str | None,
    result: Any,
    *,
    provider: str = "prometheus",
    argo_compatible_nan: bool = False,
) -> Trial:
    """The phase a measurement of ``result`` gets; raises ConditionError for a condition config check would refuse."""
    if not success and not failure:
        raise ConditionError("give a success condition, a failure condition, or both")
    judgement = Judgement(
        compile_condition(success) if success else None,
        compile_condition(failure) if failure else None,
        typed=provider == "prometheus",
        argo_compatible_nan=argo_compatible_nan,
    )
    phase, message = evaluate(result, judgement)
    return Trial(phase, message, result)


def _json_safe(value: Any) -> Any:
    """NaN and Inf as the strings Prometheus uses, so ``-o json`` stays JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value
