"""The expression language Argo Rollouts evaluates conditions in (expr-lang/expr), parsed and run without ``eval``.

Argo compiles each condition with ``expr`` against an environment holding
``result`` and a few functions; gitopsctl reads the same text the same way so
that a template written for Argo decides the same measurement the same way.
Covered: literals (numbers, strings, ``true``/``false``/``nil``, arrays, maps),
``. ?. [i] [a:b]``, arithmetic, comparisons, ``and or not && || !``, ``in``,
``not in``, ``contains``, ``startsWith``, ``endsWith``, ``a ? b : c``, ``??``,
``..`` ranges, ``|`` pipes, predicates with ``#`` (``all(xs, {# > 1})``,
``.field`` for ``#.field``) and expr's list, number and string builtins.
Not covered, refused at parse time with a sentence: ``matches`` (Go's regular
expressions are not Python's), ``let``, ``if``/``else``, bytes literals, ``$env``.

Values are Python's JSON values. Type rules follow expr's runtime: ``/`` is
always a float and divides by zero as Go floats do (±Inf, NaN); ``%`` wants
whole numbers; ``<`` wants two numbers or two strings; ``==`` of numbers
compares their values. ``typed=True`` adds the checks expr's compiler makes
for a Prometheus result (a float, or a list of floats): ``==`` between a number
and a string is an error there, not false.

Evaluation is bounded (expression length, nesting, ranges and steps), so a
hostile condition costs milliseconds, never the process.
"""

from .builtins import BUILTINS, numbers, parse_float, parse_int
from .run import MAX_RANGE, MAX_STEPS, evaluate
from .syntax import MAX_DEPTH, MAX_LENGTH, PREDICATES, ExprError, Node, parse
from .values import Series, go_type, is_number, scalar

__all__ = [
    "BUILTINS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_RANGE",
    "MAX_STEPS",
    "PREDICATES",
    "ExprError",
    "Node",
    "Series",
    "evaluate",
    "go_type",
    "is_number",
    "numbers",
    "parse",
    "parse_float",
    "parse_int",
    "scalar",
]
