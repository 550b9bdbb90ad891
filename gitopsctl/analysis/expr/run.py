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
MAX_STEPS = 200_000


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


def _eval(node: Node, run: _Run, scope: tuple[Any, int, Any] | None) -> Any:
    run.steps += 1
    if run.steps > MAX_STEPS:
        raise ExprError(f"takes more than {MAX_STEPS} steps to evaluate")
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
    if kind == "member":
        return fetch(_eval(node.children[0], run, scope), node.value, optional=node.optional)
    if kind == "index":
        container = _eval(node.children[0], run, scope)
        if container is None and node.optional:
            return None
        return fetch(container, _eval(node.children[1], run, scope), optional=False)
    if kind == "slice":
        container = _eval(node.children[0], run, scope)
        if container is None and node.optional:
            return None
        start, end = (None if c is None else _eval(c, run, scope) for c in node.children[1:])
        return slice_of(container, start, end)
    if kind == "array":
        return [_eval(c, run, scope) for c in node.children]
    if kind == "map":
        keys_values = [_eval(c, run, scope) for c in node.children]
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
    if op not in ("in", ".."):
        left, right = scalar(left), scalar(right)
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
    try:
        return function(*args)
    except ExprError:
        raise
    except TypeError as e:
        raise ExprError(f"{name}() cannot take these arguments ({', '.join(go_type(a) for a in args)})") from e
    except (ValueError, ArithmeticError, IndexError, KeyError) as e:
        raise ExprError(f"{name}(): {e}") from e


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
