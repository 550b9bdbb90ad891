"""expr's builtin functions, by the same names and with the same refusals."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from typing import Any

from .syntax import ExprError
from .values import equal, go_type, is_number


def numbers(values: Any, name: str) -> list[int | float]:
    if not isinstance(values, list | tuple):
        raise ExprError(f"{name}() needs an array of numbers, got {go_type(values)}")
    out: list[int | float] = []
    for v in values:
        if isinstance(v, list | tuple):
            out.extend(numbers(v, name))
        elif is_number(v):
            out.append(v)
        else:
            raise ExprError(f"{name}() needs numbers, got {go_type(v)}")
    return out


def _sum(values: Any) -> int | float:
    return sum(numbers(values, "sum"))


def _extreme(name: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*args: Any) -> Any:
        values = numbers(list(args), name)
        if not values:
            raise ExprError(f"{name}() of no values")
        return pick(values)

    return extreme


def mean(*values: Any) -> float:
    """expr's mean: of numbers or arrays of them; 0 for none."""
    found = numbers(list(values), "mean")
    if not found:
        return 0.0
    if not all(math.isfinite(v) for v in found):
        return sum(found) / len(found)  # NaN or ±Inf, as Go's float sum gives
    return statistics.fmean(found)


def _median(*values: Any) -> float:
    found = sorted(numbers(list(values), "median"))
    if not found:
        return 0.0
    middle = len(found) // 2
    return float(found[middle]) if len(found) % 2 else (found[middle - 1] + found[middle]) / 2


_GO_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE | re.ASCII)
_GO_INT = re.compile(r"[+-]?\d+", re.ASCII)


def parse_float(text: str) -> float:
    """Go's strconv.ParseFloat on decimal text: no spaces, underscores or other scripts' digits."""
    if not _GO_FLOAT.fullmatch(text):
        raise ExprError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return float(text)


def parse_int(text: str) -> int:
    """Go's strconv.ParseInt(text, 10, 64)."""
    if not _GO_INT.fullmatch(text):
        raise ExprError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    number = int(text)
    if not -(2**63) <= number < 2**63:
        raise ExprError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return number


def _len(value: Any) -> int:
    if isinstance(value, list | tuple | dict | str):
        return len(value)
    raise ExprError(f"invalid argument for len (type {go_type(value)})")


def _abs(value: Any) -> int | float:
    if not is_number(value):
        raise ExprError(f"invalid argument for abs (type {go_type(value)})")
    return abs(value)


def _int(value: Any) -> int:
    if is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExprError(f"int() of {value}")
        return int(value)
    if isinstance(value, str):
        return parse_int(value)
    raise ExprError(f"invalid argument for int (type {go_type(value)})")


def _float(value: Any) -> float:
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        return parse_float(value)
    raise ExprError(f"invalid argument for float (type {go_type(value)})")


def _string_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return "<nil>" if value is None else str(value)


def _rounding(name: str, apply: Callable[[float], int]) -> Callable[[Any], float]:
    """Go's math.Floor, Ceil and Round: floats in and out, NaN and ±Inf unchanged."""

    def function(value: Any) -> float:
        if not is_number(value):
            raise ExprError(f"invalid argument for {name} (type {go_type(value)})")
        return float(apply(value)) if math.isfinite(value) else float(value)

    return function


def _half_away_from_zero(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _list_function(name: str, apply: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
    def function(values: Any) -> Any:
        if not isinstance(values, list | tuple):
            raise ExprError(f"{name}() needs an array, got {go_type(values)}")
        return apply(list(values))

    return function


def _strings(name: str, apply: Callable[..., Any]) -> Callable[..., Any]:
    def function(*args: Any) -> Any:
        if not all(isinstance(a, str) for a in args):
            raise ExprError(f"{name}() needs strings, got {', '.join(go_type(a) for a in args)}")
        return apply(*args)

    return function


def _take(values: Any, n: Any) -> list[Any]:
    if not isinstance(values, list | tuple) or not isinstance(n, int) or isinstance(n, bool):
        raise ExprError("take(array, n) needs an array and a whole number")
    return list(values[: max(0, n)])


def _join(values: Any, separator: Any = "") -> str:
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise ExprError("join() needs an array of strings")
    return str(separator).join(values)


def _first_last(name: str, position: int) -> Callable[[Any], Any]:
    def function(values: Any) -> Any:
        if not isinstance(values, list | tuple):
            raise ExprError(f"{name}() needs an array, got {go_type(values)}")
        return values[position] if values else None

    return function


def _dict_part(name: str, apply: Callable[[dict[str, Any]], Any]) -> Callable[[Any], Any]:
    def function(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ExprError(f"{name}() needs a map, got {go_type(value)}")
        return apply(value)

    return function


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "abs": _abs,
    "int": _int,
    "float": _float,
    "string": _string_of,
    "round": _rounding("round", _half_away_from_zero),
    "floor": _rounding("floor", math.floor),
    "ceil": _rounding("ceil", math.ceil),
    "max": _extreme("max", max),
    "min": _extreme("min", min),
    "mean": mean,
    "median": _median,
    "sum": _sum,
    "first": _first_last("first", 0),
    "last": _first_last("last", -1),
    "take": _take,
    "reverse": _list_function("reverse", lambda xs: xs[::-1]),
    "uniq": _list_function("uniq", lambda xs: [x for i, x in enumerate(xs) if not any(equal(x, y) for y in xs[:i])]),
    "keys": _dict_part("keys", lambda d: list(d)),
    "values": _dict_part("values", lambda d: list(d.values())),
    "upper": _strings("upper", str.upper),
    "lower": _strings("lower", str.lower),
    "trim": _strings("trim", lambda s, chars=None: s.strip(chars)),
    "trimPrefix": _strings("trimPrefix", lambda s, p=" ": s.removeprefix(p)),
    "trimSuffix": _strings("trimSuffix", lambda s, p=" ": s.removesuffix(p)),
    "split": _strings("split", lambda s, sep: s.split(sep) if sep else list(s)),
    "join": _join,
    "hasPrefix": _strings("hasPrefix", str.startswith),
    "hasSuffix": _strings("hasSuffix", str.endswith),
    "indexOf": _strings("indexOf", str.find),
    "lastIndexOf": _strings("lastIndexOf", str.rfind),
}
