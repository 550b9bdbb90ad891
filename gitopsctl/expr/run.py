"""Evaluating a syntax tree: operators, calls and predicates, counted so a hostile expression stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .builtins import numbers
from .syntax import PREDICATES, ExprError, Node
from .values import (
    SCALAR_FUNCTIONS,
    arith,
    compare,
    equal,
    fetch,
    go_type,
    is_number,
    mismatch,
    scalar,
    slice_of,
    statically_mismatched,
    truth,
)

MAX_RANGE = 10_000
MAX_STEPS = 200_000  # nodes evaluated plus elements made or walked by ranges, literals, comparisons and builtins


class _NilChain(Exception):
    """An optional step (``?.``) met nil: the whole chain it belongs to is nil, as expr's OpJumpIfNil makes it."""


@dataclass
class _Run:
    env: dict[str, Any]
    functions: dict[str, Callable[..., Any]]
    typed: bool
    steps: int = 0


def evaluate(node: Node, env: dict[str, Any], functions: dict[str, Callable[..., Any]], *, typed: bool = False) -> Any:
    """The value of ``node``; raises ExprError for what expr would refuse at compile or run time."""
    try:
        return _eval(node, _Run(env, functions, typed), None)
    except RecursionError as e:
        raise ExprError("too deeply nested to evaluate") from e


def _charge(run: _Run, work: int) -> None:
    """Count work against the budget, so copying and scanning big lists stops as surely as deep nesting does."""
    run.steps += work
    if run.steps > MAX_STEPS:
        raise ExprError(f"takes more than {MAX_STEPS} steps to evaluate")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, list | tuple | dict | str) else 0


def _eval(node: Node, run: _Run, scope: tuple[Any, int, Any] | None) -> Any:
    _charge(run, 1)
    kind = node.kind
    if kind == "literal":
        return node.value
    if kind == "name":
        if node.value in run.env:
            return run.env[node.value]
        if node.value in run.functions:
            raise ExprError(f"{node.value} is a function: call it, e.g. {node.value}(result)")
        raise ExprError(f"unknown name {node.value}")
    if kind == "pointer":
        if scope is None:
            raise ExprError("# outside a predicate")
        return {"": scope[0], "index": scope[1], "acc": scope[2]}[node.value]
    if kind == "unary":
        value = scalar(_eval(node.children[0], run, scope))
        if node.value in ("not", "!"):
            return not truth(node.value, value)
        if not is_number(value):
            raise ExprError(f"invalid operation: {node.value} on {go_type(value)}")
        return -value if node.value == "-" else value
    if kind == "binary":
        return _binary(node, run, scope)
    if kind == "chain":
        try:
            return _eval(node.children[0], run, scope)
        except _NilChain:
            return None
    if kind == "member":
        container = _eval(node.children[0], run, scope)
        if container is None and node.optional:
            raise _NilChain
        return fetch(container, node.value, optional=False)
    if kind == "index":
        container = _eval(node.children[0], run, scope)
        if container is None and node.optional:
            raise _NilChain
        return fetch(container, _eval(node.children[1], run, scope), optional=False)
    if kind == "slice":
        container = _eval(node.children[0], run, scope)
        if container is None and node.optional:
            raise _NilChain
        start, end = (None if c is None else _eval(c, run, scope) for c in node.children[1:])
        return slice_of(container, start, end)
    if kind == "array":
        return [_eval(c, run, scope) for c in node.children]
    if kind == "map":
        keys_values = [_eval(c, run, scope) for c in node.children]
        if not all(isinstance(k, str | int | float | bool) or k is None for k in keys_values[::2]):
            raise ExprError("a map key must be a string or a number")
        return dict(zip(keys_values[::2], keys_values[1::2], strict=True))
    if kind == "conditional":
        test = truth("?:", _eval(node.children[0], run, scope))
        return _eval(node.children[1] if test else node.children[2], run, scope)
    if kind == "call":
        return _call(node, run, scope)
    raise ExprError(f"cannot evaluate {kind}")


def _binary(node: Node, run: _Run, scope: Any) -> Any:
    op = node.value
    left_node, right_node = node.children
    left = _eval(left_node, run, scope)
    if op in ("and", "&&"):
        return truth(op, left) and truth(op, _eval(right_node, run, scope))
    if op in ("or", "||"):
        return truth(op, left) or truth(op, _eval(right_node, run, scope))
    if op == "??":
        return left if left is not None else _eval(right_node, run, scope)
    right = _eval(right_node, run, scope)
    _charge(run, _size(left) + _size(right))
    if op not in ("in", "..") and not (isinstance(left, list) and isinstance(right, list)):
        left, right = scalar(left), scalar(right)  # a one-series vector against a number: its value
    if op in ("==", "!="):
        if run.typed and statically_mismatched(left, right):
            raise mismatch(op, left, right)
        return equal(left, right) == (op == "==")
    if op in ("<", ">", "<=", ">="):
        return compare(op, left, right)
    if op == "in":
        if isinstance(right, dict):
            return isinstance(left, str) and left in right
        if isinstance(right, list | tuple):
            return any(equal(item, left) for item in right)
        if right is None:
            return False
        raise ExprError(f"invalid operation: in (mismatched types {go_type(left)} and {go_type(right)})")
    if op in ("contains", "startsWith", "endsWith"):
        if not (isinstance(left, str) and isinstance(right, str)):
            raise mismatch(op, left, right)
        if op == "contains":
            return right in left
        return left.startswith(right) if op == "startsWith" else left.endswith(right)
    if op == "..":
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (left, right)):
            raise mismatch(op, left, right)
        if right - left >= MAX_RANGE:
            raise ExprError(f"the range {left}..{right} has more than {MAX_RANGE} numbers")
        _charge(run, max(0, right - left + 1))
        return list(range(left, right + 1))
    return arith(op, left, right)


def _call(node: Node, run: _Run, scope: Any) -> Any:
    name = node.value
    if name in PREDICATES and len(node.children) == 2 and node.children[1].kind == "predicate":
        items = _eval(node.children[0], run, scope)
        return _apply_predicate(name, items, node.children[1].children[0], run)
    function = run.functions.get(name)
    if function is None:
        raise ExprError(f"unknown function {name}")
    args = [_eval(c, run, scope) for c in node.children]
    if name in SCALAR_FUNCTIONS:
        args = [scalar(a) for a in args]
    sizes = sum(_size(a) for a in args)
    _charge(run, sizes * sizes if name in _QUADRATIC else sizes)
    try:
        return function(*args)
    except ExprError:
        raise
    except TypeError as e:
        raise ExprError(f"{name}() cannot take these arguments ({', '.join(go_type(a) for a in args)})") from e
    except Exception as e:  # a builtin's own failure on a hostile value is this condition's error, never a crash
        raise ExprError(f"{name}(): {e or type(e).__name__}") from e


_QUADRATIC = frozenset({"uniq"})


def _apply_predicate(name: str, items: Any, body: Node, run: _Run) -> Any:
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, list | tuple):
        raise ExprError(f"{name}() needs an array, got {go_type(items)}")

    def test(index: int, item: Any) -> Any:
        return _eval(body, run, (item, index, None))

    def holds(index: int, item: Any) -> bool:
        return truth(name, test(index, item))

    if name == "all":
        return all(holds(i, x) for i, x in enumerate(items))
    if name == "any":
        return any(holds(i, x) for i, x in enumerate(items))
    if name == "none":
        return not any(holds(i, x) for i, x in enumerate(items))
    if name == "one":
        return sum(1 for i, x in enumerate(items) if holds(i, x)) == 1
    if name == "filter":
        return [x for i, x in enumerate(items) if holds(i, x)]
    if name == "map":
        return [test(i, x) for i, x in enumerate(items)]
    if name == "count":
        return sum(1 for i, x in enumerate(items) if holds(i, x))
    if name == "sum":
        return sum(numbers([test(i, x) for i, x in enumerate(items)], "sum"))
    found = [i for i, x in enumerate(items) if holds(i, x)]
    if name in ("find", "findLast"):
        return (items[found[0]] if name == "find" else items[found[-1]]) if found else None
    return (found[0] if name == "findIndex" else found[-1]) if found else -1
