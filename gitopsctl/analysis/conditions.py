"""A small, safe evaluator for analysis conditions; no ``eval``.

Conditions are expressions over the measurement:

- ``result``: this measurement's value (a number, or a list for vector queries)
- ``results``: this metric's values so far in the run, oldest first
- ``stable``: the same query's values for the stable track, when the template asks for them

with numbers, ``result[0]``, comparisons, ``and`` / ``or`` / ``not`` (``&&``, ``||``
and ``!`` too), ``+ - * /``, and the functions ``isNaN``, ``isInf``, ``len``,
``mean``, ``stddev``, ``min``, ``max``, ``last(xs, n)`` and ``abs``.

The seed's rollback rules are expressions:
``mean(last(results, 3)) > 0.05`` (error rate over the last three measurements),
``result > mean(stable) + 2 * stddev(stable)`` (latency above stable's mean + 2 sigma),
``result < 0.8 * mean(stable)`` (a business KPI below 80% of stable's).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

NAMES = frozenset({"result", "results", "stable"})


class ConditionError(ValueError):
    """A condition that cannot be parsed, or cannot be evaluated on this value."""


def _numbers(xs: Any) -> list[float]:
    if isinstance(xs, int | float) and not isinstance(xs, bool):
        return [float(xs)]
    if isinstance(xs, Sequence) and not isinstance(xs, str):
        out = []
        for x in xs:
            out.extend(_numbers(x))
        return out
    raise ConditionError(f"expected numbers, got {type(xs).__name__}")


def _mean(xs: Any) -> float:
    values = _numbers(xs)
    if not values:
        raise ConditionError("mean() of no values")
    return statistics.fmean(values)


def _stddev(xs: Any) -> float:
    values = _numbers(xs)
    if len(values) < 2:
        raise ConditionError("stddev() needs at least two values")
    return statistics.stdev(values)


def _last(xs: Any, n: Any) -> list[float]:
    if not isinstance(n, int | float) or int(n) < 1:
        raise ConditionError("last(values, n) needs a positive n")
    values = _numbers(xs)
    if len(values) < int(n):
        raise ConditionError(f"last(values, {int(n)}) needs {int(n)} values, has {len(values)}")
    return values[-int(n) :]


def _is_nan(x: Any) -> bool:
    try:
        values = _numbers(x)
    except ConditionError:
        return True
    return not values or any(math.isnan(v) for v in values)


def _is_inf(x: Any) -> bool:
    try:
        return any(math.isinf(v) for v in _numbers(x))
    except ConditionError:
        return False


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isNaN": _is_nan,
    "isInf": _is_inf,
    "len": lambda xs: len(_numbers(xs)),
    "mean": _mean,
    "stddev": _stddev,
    "min": lambda xs: min(_numbers(xs)),
    "max": lambda xs: max(_numbers(xs)),
    "last": _last,
    "abs": lambda x: abs(_numbers(x)[0]),
}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_NEGATION = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _translate(text: str) -> str:
    text = text.replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", " not ", text)


@dataclass(frozen=True)
class Condition:
    text: str
    tree: ast.Expression

    def evaluate(self, result: Any, results: Sequence[Any] = (), stable: Sequence[Any] = ()) -> bool:
        env = {"result": result, "results": list(results), "stable": list(stable)}
        try:
            value = _eval(self.tree.body, env)
        except ConditionError:
            raise
        except (ArithmeticError, TypeError, IndexError, ValueError) as e:
            raise ConditionError(f"{self.text!r} cannot be evaluated on {result!r}: {e}") from e
        if not isinstance(value, bool):
            raise ConditionError(f"{self.text!r} gives {value!r}, not true or false")
        return value

    def explain(self, result: Any, results: Sequence[Any] = (), stable: Sequence[Any] = (), *, holds: bool) -> str:
        """The outcome with its numbers, e.g. ``0.91 < 0.99`` for ``result >= 0.99`` that does not hold.

        A single comparison shows both sides' values (negated when it does not hold);
        anything more complex says which condition held or not, and for what value.
        """
        body = self.tree.body
        if isinstance(body, ast.Compare) and len(body.ops) == 1:
            env = {"result": result, "results": list(results), "stable": list(stable)}
            try:
                left = _num(_eval(body.left, env))
                right = _num(_eval(body.comparators[0], env))
            except (ConditionError, ArithmeticError, TypeError, IndexError, ValueError, KeyError):
                pass
            else:
                op = type(body.ops[0])
                symbol = _SYMBOL[op] if holds else _SYMBOL[_NEGATION[op]]
                return f"{_show(left)} {symbol} {_show(right)}"
        return f"{self.text} {'is true' if holds else 'is false'} for {_show(result)}"


def compile_condition(text: str) -> Condition:
    """Parse and check a condition; raises ConditionError with a sentence saying what is wrong."""
    try:
        tree = ast.parse(_translate(text).strip(), mode="eval")
    except SyntaxError as e:
        raise ConditionError(f'"{text}" is not a condition: write it like "result >= 0.99"') from e
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in NAMES and node.id not in FUNCTIONS:
            raise ConditionError(
                f'"{text}" uses "{node.id}"; conditions may use result, results, stable and '
                f"the functions {', '.join(sorted(FUNCTIONS))}"
            )
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise ConditionError(f'"{text}" calls something that is not one of {", ".join(sorted(FUNCTIONS))}')
        if not isinstance(node, _ALLOWED):
            raise ConditionError(f'"{text}" uses {type(node).__name__}, which conditions do not allow')
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            raise ConditionError(f'"{text}" has {node.value!r}; only numbers may appear in conditions')
    if not isinstance(tree.body, ast.Compare | ast.BoolOp | ast.Call | ast.UnaryOp):
        raise ConditionError(f'"{text}" is not a comparison: write it like "result >= 0.99"')
    return Condition(text, tree)


_ALLOWED = (
    ast.Expression,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Subscript,
    *_COMPARE,
)


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ConditionError(f"only numbers may appear in conditions (got {node.value!r})")
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Subscript):
        container = _eval(node.value, env)
        index = _eval(node.slice, env)
        if not isinstance(container, list | tuple) or not isinstance(index, int):
            raise ConditionError("only a list result can be indexed, with a whole number")
        return container[index]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp):
        return _ARITH[type(node.op)](_num(_eval(node.left, env)), _num(_eval(node.right, env)))
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _num(_eval(node.left, env))
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _num(_eval(comparator, env))
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_eval(a, env) for a in node.args))
    raise ConditionError(f"unsupported expression {type(node).__name__}")


def _num(value: Any) -> float:
    """A scalar: numbers as they are, a one-element list as its element."""
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ConditionError(f"a list of {len(value)} values cannot be compared; index it, e.g. result[0]")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(f"{value!r} is not a number")
    return float(value)


def _show(value: Any) -> str:
    """Numbers to four significant digits, the way people read thresholds."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)
