"""Health checks for kinds gitopsctl does not know, written as expressions in the configuration.

Like Argo CD's per-kind Lua checks and Flux's CEL health checks, but in the
same bounded expression language as analysis conditions (``gitopsctl.expr``),
so a check from the configuration can neither run code nor hang::

    [health."cert-manager.io/Certificate"]
    progressing = "status.conditions.Issuing == 'True'"
    degraded = "status.conditions.Ready == 'False'"
    healthy = "status.conditions.Ready == 'True'"

    [health]
    "example.com/Widget" = "status.phase == 'Running'"     # shorthand: healthy only

An expression sees the object's ``apiVersion``, ``kind``, ``metadata``, ``spec``
and ``status``, with ``status.conditions`` as a map from each condition's type
to its status ("True", "False", "Unknown"), and ``conditions``, a map from type
to the whole condition (``conditions.Ready?.message``). The first of
``progressing``, ``degraded``, ``healthy`` that holds decides; when none does
the object is Progressing. ``message`` (an expression) says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .reader import Reader

if TYPE_CHECKING:
    from ..expr import Node

NAMES = frozenset({"apiVersion", "kind", "metadata", "spec", "status", "conditions"})
VERDICTS = ("progressing", "degraded", "healthy")  # the order they are tried in
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "**", "^", ".."})
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class Expression:
    text: str
    tree: Node


@dataclass(frozen=True)
class HealthRule:
    """One kind's health: ``key`` is "group/Kind" (that group only) or "Kind" (any group)."""

    key: str
    healthy: Expression
    degraded: Expression | None = None
    progressing: Expression | None = None
    message: Expression | None = None

    def verdicts(self) -> list[tuple[str, Expression]]:
        return [(name, e) for name in VERDICTS if (e := getattr(self, name)) is not None]


class HealthRuleError(ValueError):
    """An expression a health check cannot use."""


def compile_expression(text: Any, *, boolean: bool = True) -> Expression:
    """Parse and check one health expression; raises HealthRuleError with a sentence saying what is wrong."""
    from ..expr import BUILTINS, ExprError, parse  # only configurations with health checks pay for the parser

    example = "write it like \"status.conditions.Ready == 'True'\""
    if not isinstance(text, str):
        raise HealthRuleError(f"{text!r} is not an expression: {example}")
    try:
        tree = parse(text)
    except ExprError as e:
        raise HealthRuleError(f'"{text}" is not an expression ({e}): {example}') from e
    for node in tree.walk():
        if node.kind == "name" and node.value not in NAMES:
            raise HealthRuleError(f'"{text}" uses "{node.value}"; a health check may use {", ".join(sorted(NAMES))}')
        if node.kind == "call" and node.value not in BUILTINS:
            raise HealthRuleError(f'"{text}" calls {node.value}(), which health checks do not have')
    if boolean and (
        tree.kind in ("array", "map")
        or (tree.kind == "literal" and not isinstance(tree.value, bool))
        or (tree.kind == "binary" and tree.value in _ARITHMETIC)
    ):
        raise HealthRuleError(f'"{text}" gives a value, not true or false: {example}')
    return Expression(text, tree)


def _problem(boolean: bool):
    def check(text: str) -> str | None:
        try:
            compile_expression(text, boolean=boolean)
        except HealthRuleError as e:
            return str(e)
        return None

    return check


def read_health(reader: Reader) -> dict[str, HealthRule]:
    """``[health]``: a kind's healthy expression, or a table of progressing, degraded, healthy and message."""
    rules: dict[str, HealthRule] = {}
    for key in list(reader.data):
        if not _KEY.match(key):
            reader.raw(key)
            reader.error(key, 'is not a kind: write "Kind" or "group/Kind", e.g. "cert-manager.io/Certificate"')
        elif isinstance(reader.data[key], dict):
            table = reader.table(key)
            assert table is not None
            texts = {
                name: table.string(name, required=name == "healthy", check=_problem(name != "message"))
                for name in (*VERDICTS, "message")
            }
            table.finish()
            if texts["healthy"] is not None:
                parts = {
                    name: compile_expression(text, boolean=name != "message") if text is not None else None
                    for name, text in texts.items()
                }
                rules[key] = HealthRule(key, **parts)  # type: ignore[arg-type]
        elif (text := reader.string(key, check=_problem(True))) is not None:
            rules[key] = HealthRule(key, compile_expression(text))
    return rules
