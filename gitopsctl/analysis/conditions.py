"""Analysis conditions: Argo Rollouts' language (expr) over a measurement, checked when the configuration is read.

A condition sees, as in Argo Rollouts:

- ``result``: this measurement, shaped as Argo shapes it: a list for a
  Prometheus vector (``result[0]``), a number for a scalar, the decoded JSON
  for the web provider;
- Argo's functions ``asInt``, ``asFloat``, ``isNaN``, ``isInf``, ``isNil`` and
  ``default`` and expr's builtins (``len``, ``all``/``any``/``filter`` with
  ``#``, ``mean``, ``min``, ``max``, ...).

and, as gitopsctl adds (docs/analysis.md has the table of differences):

- ``results``: this metric's values so far in the run, oldest first, for trends
  (``mean(last(results, 3)) > 0.05``); ``stable``: the same query's samples for
  the stable track (``result > mean(stable) + 2 * stddev(stable)``);
- ``last(xs, n)`` (the last n values) and ``stddev``;
- a one-series vector also compares as its value, so ``result >= 0.99`` works
  on a vector as it does on a scalar (Argo: an Error);
- ``isNaN``/``isInf`` also take a vector or nil: true for an empty vector, nil,
  or any NaN in it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..expr import (
    BUILTINS,
    PREDICATES,
    ExprError,
    Node,
    Series,
    evaluate,
    go_type,
    is_number,
    numbers,
    parse,
    parse_float,
    parse_int,
    scalar,
)

NAMES = frozenset({"result", "results", "stable"})
_ARGO_FUNCTIONS = frozenset({"asInt", "asFloat", "isNaN", "isInf", "isNil", "default"})
_GITOPSCTL_FUNCTIONS = frozenset({"stddev"})
FUNCTIONS = frozenset(BUILTINS) | PREDICATES | _ARGO_FUNCTIONS | _GITOPSCTL_FUNCTIONS
_COMPARISONS = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_NOT_BOOLEAN = frozenset({"+", "-", "*", "/", "%", "**", "^", "..", "??"})


class ConditionError(ValueError):
    """A condition that cannot be parsed, or cannot be evaluated on this value."""


def _flat(values: Any, name: str) -> list[float]:
    if values is None:
        return []
    if is_number(values):
        return [float(values)]
    return [float(v) for v in numbers(values, name)]


def _is_nan(value: Any) -> bool:
    """Argo's isNaN, also over a vector: nil, an empty vector or any NaN in it is NaN."""
    if value is None:
        return True
    if isinstance(value, list | tuple):
        found = _flat(value, "isNaN")
        return not found or any(math.isnan(v) for v in found)
    if not is_number(value):
        raise ExprError(f"cannot use {go_type(value)} as argument (type float64) to call isNaN")
    return math.isnan(value)


def _is_inf(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(math.isinf(v) for v in _flat(value, "isInf"))
    if not is_number(value):
        raise ExprError(f"cannot use {go_type(value)} as argument (type float64) to call isInf")
    return math.isinf(value)


def _as_int(value: Any) -> int:
    """Argo's asInt: numbers truncated, strings parsed as whole numbers."""
    if isinstance(value, str):
        return parse_int(value)
    if is_number(value) and math.isfinite(value):
        return int(value)
    raise ExprError(f"asInt() not supported on {go_type(value)} {value!r}")


def _as_float(value: Any) -> float:
    if isinstance(value, str):
        return parse_float(value)
    if is_number(value):
        return float(value)
    raise ExprError(f"asFloat() not supported on {go_type(value)} {value!r}")


def _stddev(values: Any) -> float:
    found = _flat(values, "stddev")
    if len(found) < 2:
        raise ExprError("stddev() needs at least two values")
    if not all(math.isfinite(v) for v in found):
        return math.nan  # a NaN or Inf among them: no spread to speak of, never a pass
    return statistics.stdev(found)


def _last(values: Any, n: Any = None) -> Any:
    """expr's last(xs) is the last element; gitopsctl's last(xs, n) the last n values (a trend window)."""
    if n is None:
        return BUILTINS["last"](values)
    if not is_number(n) or int(n) < 1:
        raise ExprError("last(values, n) needs a positive n")
    found = _flat(values, "last")
    if len(found) < int(n):
        raise ExprError(f"last(values, {int(n)}) needs {int(n)} values, has {len(found)}")
    return found[-int(n) :]


def _functions(result: Any) -> dict[str, Callable[..., Any]]:
    """The functions a condition may call; ``isNil`` and ``default`` look at ``result`` whatever they are given, as in Argo."""
    return {
        **BUILTINS,
        "last": _last,
        "stddev": _stddev,
        "asInt": _as_int,
        "asFloat": _as_float,
        "isNaN": _is_nan,
        "isInf": _is_inf,
        "isNil": lambda _value: result is None,
        "default": lambda _value, fallback: fallback if result is None else result,
    }


def shaped(value: Any) -> Any:
    """A provider's list as a Series, so a one-series vector also compares as its value."""
    return Series(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Condition:
    text: str
    tree: Node

    def _env(self, result: Any, results: Sequence[Any], stable: Sequence[Any]) -> dict[str, Any]:
        return {"result": shaped(result), "results": [shaped(r) for r in results], "stable": Series(stable)}

    def value(
        self, node: Node, result: Any, results: Sequence[Any] = (), stable: Sequence[Any] = (), *, typed: bool = False
    ) -> Any:
        try:
            return evaluate(node, self._env(result, results, stable), _functions(result), typed=typed)
        except ExprError as e:
            raise ConditionError(str(e)) from e
        except (ArithmeticError, LookupError, TypeError, ValueError, MemoryError) as e:
            # a value no rule foresaw is this measurement's Error, never a rollout stuck on an exception
            raise ConditionError(f"cannot be evaluated on this value ({type(e).__name__}: {e})") from e

    def evaluate(
        self, result: Any, results: Sequence[Any] = (), stable: Sequence[Any] = (), *, typed: bool = False
    ) -> bool:
        """True or false, as Argo's EvalCondition; anything else (or a failure to evaluate) is a ConditionError.

        ``typed`` adds expr's compile-time type checks for a Prometheus result (a number or a list of numbers).
        """
        outcome = self.value(self.tree, result, results, stable, typed=typed)
        if not isinstance(outcome, bool):
            raise ConditionError(f"expected bool, but got {go_type(outcome)}")
        return outcome

    def explain(
        self, result: Any, results: Sequence[Any] = (), stable: Sequence[Any] = (), *, holds: bool, typed: bool = False
    ) -> str:
        """The outcome with its numbers, e.g. ``0.91 < 0.99`` for ``result[0] >= 0.99`` that does not hold.

        A single comparison shows both sides' values (negated when it does not hold);
        anything more complex says which condition held or not, and for what value.
        """
        body = self.tree
        if body.kind == "binary" and body.value in _COMPARISONS:
            try:
                left, right = (self.value(child, result, results, stable, typed=typed) for child in body.children)
            except ConditionError:
                pass
            else:
                symbol = body.value if holds else _COMPARISONS[body.value]
                return f"{show(scalar(left))} {symbol} {show(scalar(right))}"
        return f"{self.text} {'is true' if holds else 'is false'} for {show(result)}"


def compile_condition(text: str) -> Condition:
    """Parse and check a condition; raises ConditionError with a sentence saying what is wrong."""
    if not isinstance(text, str):
        raise ConditionError(f'{text!r} is not a condition: write it like "result[0] >= 0.99"')
    try:
        tree = parse(text)
    except ExprError as e:
        raise ConditionError(f'"{text}" is not a condition ({e}): write it like "result[0] >= 0.99"') from e
    for node in tree.walk():
        if node.kind == "name" and node.value not in NAMES:
            hint = f"; call it, e.g. {node.value}(result)" if node.value in FUNCTIONS else ""
            raise ConditionError(
                f'"{text}" uses "{node.value}"{hint}; conditions may use result (and gitopsctl\'s results and stable)'
            )
        if node.kind == "call" and node.value not in FUNCTIONS:
            raise ConditionError(f'"{text}" calls {node.value}(), which conditions do not have (see docs/analysis.md)')
        if node.kind == "call" and node.value in PREDICATES - {"sum"} and len(node.children) != 2:
            raise ConditionError(
                f'"{text}" calls {node.value}() with {len(node.children)} arguments; it takes an array and a '
                f"predicate, e.g. {node.value}(result, {{# > 0}})"
            )
        if node.kind in ("index", "slice") and node.children[0].kind == "name" and node.children[0].value == "results":
            raise ConditionError(
                f'"{text}" indexes results, this metric\'s earlier measurements (results[0] is the first of the run); '
                "for this measurement's first series write result[0], for a trend last(results, n)"
            )
    if (
        (tree.kind == "literal" and not isinstance(tree.value, bool))
        or tree.kind in ("array", "map")
        or (tree.kind == "binary" and tree.value in _NOT_BOOLEAN)
    ):
        raise ConditionError(f'"{text}" gives a value, not true or false: compare it, e.g. "result[0] >= 0.99"')
    return Condition(text, tree)


def show(value: Any) -> str:
    """Numbers to four significant digits, the way people read thresholds."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value, default=str, allow_nan=True) if isinstance(value, dict | str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
