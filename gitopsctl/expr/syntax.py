"""Lexing and parsing expr: tokens, a Pratt parser with expr's precedences, and the syntax tree."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 4000
MAX_DEPTH = 64


class ExprError(ValueError):
    """An expression that does not parse, or cannot be evaluated on these values."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<number>0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*)?\.\d[\d_]*(?:[eE][+-]?\d+)?|\d[\d_]*(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_]*)
  | (?P<op>\?\.|\?\?|\.\.|\*\*|==|!=|<=|>=|&&|\|\||[-+*/%^<>!?:.,()\[\]{}#|])
    """,
    re.VERBOSE | re.DOTALL,
)
_WORD_OPERATORS = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"})
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_INT64 = 2**63


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    at: int


def _tokens(text: str) -> list[Token]:
    out, at = [], 0
    while at < len(text):
        found = _TOKEN.match(text, at)
        if not found:
            raise ExprError(f"unexpected {text[at]!r} at position {at + 1}")
        kind = found.lastgroup or ""
        if kind != "space":
            value = found.group()
            if kind == "name" and value in _WORD_OPERATORS:
                kind = "op"
            out.append(Token(kind, value, at))
        at = found.end()
    out.append(Token("end", "", len(text)))
    return out


def _number(text: str) -> int | float:
    """As Go parses expr's literals: integers are int64, floats must be finite."""
    digits = text.replace("_", "")
    if digits[:2].lower() not in ("0x", "0o", "0b") and any(c in digits for c in ".eE"):
        value = float(digits)
        if math.isinf(value):
            raise ExprError(f"invalid float literal: {text}")
        return value
    number = int(digits, 0) if digits[:2].lower() in ("0x", "0o", "0b") else int(digits)
    if number >= _INT64:
        raise ExprError(f"invalid integer literal: {text}")
    return number


def _string(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        code = body[i + 1]
        if code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif code == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif re.fullmatch(r"[0-3][0-7]{2}", body[i + 1 : i + 4]):  # Go's three-digit octal escape
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        elif code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        else:
            raise ExprError(f"unknown escape \\{code} in {text}")
    return "".join(out)


@dataclass(frozen=True)
class Node:
    kind: str  # literal, name, pointer, unary, binary, member, index, slice, call, array, map, conditional, predicate
    value: Any = None
    children: tuple[Node, ...] = ()
    optional: bool = False

    def walk(self):
        """Every node, depth first, without recursion (a long chain is deep)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed([c for c in node.children if c is not None]))


_BINARY = {
    "|": (0, False),
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    ">=": (20, False),
    "<=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
_ORDERING = frozenset({"<", ">", "<=", ">="})
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE = frozenset({"in", "contains", "startsWith", "endsWith", "matches"})
PREDICATES = frozenset(
    {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex", "findLast", "findLastIndex", "sum"}
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0
        self.in_predicate = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def _next(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _is(self, text: str) -> bool:
        return self.token.kind == "op" and self.token.text == text

    def _expect(self, text: str) -> None:
        if not self._is(text):
            found = repr(self.token.text) if self.token.text else "the end"
            raise ExprError(f"expected {text!r} but found {found} at position {self.token.at + 1}")
        self.at += 1

    def parse(self) -> Node:
        node = self.expression(0)
        if self.token.kind != "end":
            raise ExprError(f"unexpected {self.token.text!r} at position {self.token.at + 1}")
        return node

    def expression(self, precedence: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"nested more than {MAX_DEPTH} deep")
        left = self.unary()
        previous, last = "", left
        while self.token.kind == "op":
            op, negate = self.token.text, False
            if op == "not" and self.tokens[self.at + 1].text in _NEGATABLE:
                op, negate = self.tokens[self.at + 1].text, True
            if op not in _BINARY or _BINARY[op][0] < precedence:
                break
            if previous == "??" and op != "??":
                raise ExprError(f"operator ({op}) and coalesce expressions (??) cannot be mixed: add parentheses")
            self.at += 2 if negate else 1
            level, right_associative = _BINARY[op]
            if op == "|":
                left = self._pipe(left)
                previous = op
                continue
            right = self.expression(level if right_associative else level + 1)
            if op in _ORDERING and previous in _ORDERING:
                # expr (since 1.16) reads 0.9 <= x <= 1 as 0.9 <= x && x <= 1
                left = Node("binary", "&&", (left, Node("binary", op, (last, right))))
            else:
                left = Node("binary", op, (left, right))
            last = right
            if negate:
                left = Node("unary", "not", (left,))
            previous = op
        if precedence == 0 and self._is("?"):
            self.at += 1
            yes = self.expression(0)
            self._expect(":")
            no = self.expression(0)
            left = Node("conditional", None, (left, yes, no))
        self.depth -= 1
        return left

    def _pipe(self, left: Node) -> Node:
        name = self._next()
        if name.kind != "name" or not self._is("("):
            raise ExprError(f"the right side of | must be a function call (position {name.at + 1})")
        call = self._call(name.text, piped=True)
        return self.postfix(Node("call", call.value, (left, *call.children)))

    def unary(self) -> Node:
        token = self.token
        if token.kind == "op" and token.text in _UNARY:
            self.at += 1
            return Node("unary", token.text, (self.expression(_UNARY[token.text]),))
        return self.postfix(self.primary())

    def primary(self) -> Node:
        token = self._next()
        if token.kind == "number":
            return Node("literal", _number(token.text))
        if token.kind == "string":
            return Node("literal", _string(token.text))
        if token.kind == "name":
            if token.text in ("true", "false"):
                return Node("literal", token.text == "true")
            if token.text == "nil":
                return Node("literal", None)
            if token.text in ("let", "if", "else") or token.text.startswith("$"):
                raise ExprError(f"{token.text!r} is not supported in conditions")
            if self._is("("):
                return self._call(token.text)
            return Node("name", token.text)
        if token.kind == "op":
            if token.text == "(":
                node = self.expression(0)
                self._expect(")")
                return node
            if token.text == "[":
                return Node("array", None, tuple(self._items("]")))
            if token.text == "{":
                return self._map()
            if token.text == "#":
                if not self.in_predicate:
                    raise ExprError("# may only be used inside a predicate such as all(result, {# > 0})")
                if self.token.kind == "name" and self.token.text in ("index", "acc") and self.token.at == token.at + 1:
                    return Node("pointer", self._next().text)
                return Node("pointer", "")
            if token.text == "." and self.in_predicate and self.token.kind == "name":
                return Node("member", self._next().text, (Node("pointer", ""),))
        if token.kind == "end":
            raise ExprError("it ends where a value should follow")
        raise ExprError(f"unexpected {token.text!r} at position {token.at + 1}")

    def _items(self, closing: str) -> list[Node]:
        items: list[Node] = []
        while not self._is(closing):
            items.append(self.expression(0))
            if not self._is(closing):
                self._expect(",")
        self._expect(closing)
        return items

    def _map(self) -> Node:
        pairs: list[Node] = []
        while not self._is("}"):
            key = self._next()
            if key.kind == "name":
                pairs.append(Node("literal", key.text))
            elif key.kind == "number":
                pairs.append(Node("literal", _number(key.text)))
            elif key.kind == "string":
                pairs.append(Node("literal", _string(key.text)))
            elif key.kind == "op" and key.text == "(":
                pairs.append(self.expression(0))
                self._expect(")")
            else:
                raise ExprError(f"a map key cannot be {key.text!r} (position {key.at + 1})")
            self._expect(":")
            pairs.append(self.expression(0))
            if not self._is("}"):
                self._expect(",")
        self._expect("}")
        return Node("map", None, tuple(pairs))

    def _call(self, name: str, *, piped: bool = False) -> Node:
        self._expect("(")
        args: list[Node] = []
        while not self._is(")"):
            if name in PREDICATES and len(args) == (0 if piped else 1):
                args.append(self._predicate())
            else:
                args.append(self.expression(0))
            if not self._is(")"):
                self._expect(",")
        self._expect(")")
        return Node("call", name, tuple(args))

    def _predicate(self) -> Node:
        self.in_predicate += 1
        if self._is("{"):
            self.at += 1
            body = self.expression(0)
            self._expect("}")
        else:
            body = self.expression(0)
        self.in_predicate -= 1
        return Node("predicate", None, (body,))

    def postfix(self, node: Node) -> Node:
        """Member, index and slice steps; a chain with ``?.`` is nil as a whole once an optional step meets nil."""
        spine = [node]
        while self.token.kind == "op" and self.token.text in (".", "?.", "["):
            spine.append(self._step(spine[-1]))
        if any(step.optional for step in spine[1:]):
            return Node("chain", None, (spine[-1],))
        return spine[-1]

    def _step(self, node: Node) -> Node:
        optional = self._next().text == "?."
        if self.tokens[self.at - 1].text == "[" or (optional and self._is("[")):
            if optional:
                self.at += 1
            return self._subscript(node, optional=optional)
        name = self._next()
        if name.kind not in ("name", "op") or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.text):
            raise ExprError(f"expected a field name after '.' at position {name.at + 1}")
        if self._is("("):
            raise ExprError(f"methods cannot be called in conditions ({name.text}() at position {name.at + 1})")
        return Node("member", name.text, (node,), optional)

    def _subscript(self, node: Node, *, optional: bool) -> Node:
        if self._is(":"):
            self.at += 1
            start = None
        else:
            start = self.expression(0)
            if not self._is(":"):
                self._expect("]")
                return Node("index", None, (node, start), optional)
            self.at += 1
        end = None if self._is("]") else self.expression(0)
        self._expect("]")
        return Node("slice", None, (node, start, end), optional)  # type: ignore[arg-type]


def parse(text: str) -> Node:
    """The syntax tree of ``text``; raises ExprError with what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError("empty")
    node = _Parser(text).parse()
    for n in node.walk():
        if n.kind == "binary" and n.value == "matches":
            raise ExprError("'matches' is not supported: regular expressions are not evaluated in conditions")
    return node
