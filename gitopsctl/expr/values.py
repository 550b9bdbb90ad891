"""expr's runtime rules over JSON values: types as Go names them, equality, arithmetic, comparison, fetching."""

from __future__ import annotations

import math
from typing import Any

from .syntax import ExprError


def go_type(value: Any) -> str:
    """The Go type expr would name in an error: float64, int, string, bool, []interface {}, <nil>."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Series):
        return "[]float64"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


class Series(list):
    """A metric provider's list of values (a Prometheus vector).

    Holding exactly one value, it also acts as that value in arithmetic,
    comparisons and number functions: ``result >= 0.99`` on a one-series vector
    is gitopsctl's leniency (expr refuses it); ``result[0]`` works as in Argo.
    """


def scalar(value: Any) -> Any:
    """A one-value Series as its value; anything else as it is."""
    return value[0] if isinstance(value, Series) and len(value) == 1 else value


SCALAR_FUNCTIONS = frozenset({"abs", "int", "float", "string", "round", "floor", "ceil", "asInt", "asFloat"})


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(a: Any, b: Any) -> bool:
    """expr's runtime.Equal: numbers by value whatever their type, everything else by type and value."""
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    return a == b


def mismatch(op: str, a: Any, b: Any) -> ExprError:
    hint = "; index the vector, e.g. result[0]" if isinstance(a, Series) or isinstance(b, Series) else ""
    return ExprError(f"invalid operation: {op} (mismatched types {go_type(a)} and {go_type(b)}){hint}")


def _divide(a: float, b: float) -> float:
    """Go's float division: by zero is ±Inf, or NaN for 0/0."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    if not (is_number(a) and is_number(b)):
        raise mismatch(op, a, b)
    if op == "/":
        return _divide(float(a), float(b))
    if op == "%":
        if not (isinstance(a, int) and isinstance(b, int)):
            raise mismatch(op, a, b)
        if b == 0:
            raise ExprError("integer divide by zero")
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder  # Go's remainder takes the dividend's sign
    if op in ("+", "-", "*"):
        if isinstance(a, int) and isinstance(b, int):
            exact = a + b if op == "+" else a - b if op == "-" else a * b
            return (exact + 2**63) % 2**64 - 2**63  # int64 wraps around, as in Go
        x, y = float(a), float(b)
        return x + y if op == "+" else x - y if op == "-" else x * y
    try:
        return math.pow(float(a), float(b))
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def compare(op: str, a: Any, b: Any) -> bool:
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise mismatch(op, a, b)
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    return a >= b


def fetch(container: Any, key: Any, *, optional: bool) -> Any:
    if container is None:
        if optional:
            return None
        raise ExprError(f"cannot fetch {key} from <nil>")
    if isinstance(container, dict):
        return container.get(key) if isinstance(key, str) else None
    if isinstance(container, list | tuple | str):
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExprError(f"cannot use {go_type(key)} as index to {go_type(container)}")
        position = key + len(container) if key < 0 else key
        if not 0 <= position < len(container):
            raise ExprError(f"index out of range: {position} (array length is {len(container)})")
        return container[position]
    raise ExprError(f"cannot fetch {key} from {go_type(container)}")


def slice_of(container: Any, start: Any, end: Any) -> Any:
    if not isinstance(container, list | tuple | str):
        raise ExprError(f"cannot slice {go_type(container)}")
    length = len(container)
    a = 0 if start is None else start
    b = length if end is None else end
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b)):
        raise ExprError("slice bounds must be whole numbers")
    a = max(0, a + length if a < 0 else a)
    b = min(length, max(0, b + length if b < 0 else b))
    return container[min(a, b) : b]


def truth(op: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"invalid operation: {op} (mismatched types {go_type(value)} and bool)")
    return value


def statically_mismatched(a: Any, b: Any) -> bool:
    """What expr's type checker refuses in ``==`` when both types are known: a number against a string or bool."""
    kinds = {("number" if is_number(x) else type(x).__name__) for x in (a, b) if x is not None}
    return len(kinds) == 2 and kinds <= {"number", "str", "bool"}
