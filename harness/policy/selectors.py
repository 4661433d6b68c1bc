"""Calico's selector language: a tokenizer, a recursive-descent parser and the matcher.

The grammar (Calico "Selectors" in the NetworkPolicy resource reference,
https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors)::

    expr    := or
    or      := and ( "||" and )*
    and     := unary ( "&&" unary )*
    unary   := "!" unary | primary
    primary := "(" expr ")" | "all()" | "global()" | "has(" KEY ")"
             | KEY ( "==" | "!=" ) STRING
             | KEY [ "not" ] "in" "{" [ STRING ( "," STRING )* ] "}"
             | KEY ( "starts" "with" | "ends" "with" | "contains" ) STRING

Semantics: ``k == 'v'``, ``k in {...}``, ``starts with``, ``ends with`` and ``contains``
need the label to be present; ``k != 'v'`` and ``k not in {...}`` also match objects
without the label; ``global()`` matches non-namespaced resources only (never a pod);
the empty expression is ``all()``.

Errors are :class:`SelectorError` with the 0-based offset of the problem in the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from harness.errors import ConfigError

#: Bound on a selector's length (a selector this long is a mistake or an attack).
MAX_SELECTOR = 4096
_KEY = re.compile(r"[A-Za-z0-9_./-]+")
_SPACE = re.compile(r"\s+")


class SelectorError(ConfigError):
    """A selector that does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, text: str, position: int, problem: str) -> None:
        self.text = text
        self.position = position
        self.problem = problem
        super().__init__(f"selector {text[:80]!r}: at column {position + 1}: {problem}")


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # "key", "string", "op", "end"
    text: str
    position: int


_OPS = ("==", "!=", "&&", "||", "!", "(", ")", "{", "}", ",")


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; a bad character or an unterminated string is an error."""
    if len(text) > MAX_SELECTOR:
        raise SelectorError(text, MAX_SELECTOR, f"longer than {MAX_SELECTOR} characters")
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        ch = text[i]
        if ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise SelectorError(text, i, f"unterminated string (no closing {ch})")
            tokens.append(Token("string", text[i + 1 : end], i))
            i = end + 1
            continue
        for op in _OPS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            key = _KEY.match(text, i)
            if not key:
                raise SelectorError(text, i, f"unexpected character {ch!r}")
            tokens.append(Token("key", key.group(), i))
            i = key.end()
    tokens.append(Token("end", "", n))
    return tokens


# ---------------------------------------------------------------- the tree


class Node:
    """A parsed selector expression."""

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        raise NotImplementedError  # pragma: no cover

    def keys(self) -> frozenset[str]:
        return frozenset()


@dataclass(frozen=True)
class _Function(Node):
    """A function of no arguments (``all()``, ``global()``): written as its name and ``()``."""

    function: ClassVar[str]

    def __str__(self) -> str:
        return f"{self.function}()"


@dataclass(frozen=True)
class All(_Function):
    function = "all"

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        return True


@dataclass(frozen=True)
class Global(_Function):
    function = "global"

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        return is_global


@dataclass(frozen=True)
class Has(Node):
    key: str

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        return self.key in labels

    def keys(self) -> frozenset[str]:
        return frozenset({self.key})

    def __str__(self) -> str:
        return f"has({self.key})"


def _quote(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


@dataclass(frozen=True)
class Compare(Node):
    key: str
    op: str  # "==", "!=", "in", "not in", "starts with", "ends with", "contains"
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        value = labels.get(self.key)
        op = self.op
        if op == "!=":
            return value != self.values[0]
        if op == "not in":
            return value not in self.values
        if value is None:
            return False
        if op == "==":
            return value == self.values[0]
        if op == "in":
            return value in self.values
        if op == "starts with":
            return value.startswith(self.values[0])
        if op == "ends with":
            return value.endswith(self.values[0])
        return self.values[0] in value  # contains

    def keys(self) -> frozenset[str]:
        return frozenset({self.key})

    def __str__(self) -> str:
        if self.op in ("in", "not in"):
            return f"{self.key} {self.op} {{{', '.join(_quote(v) for v in self.values)}}}"
        return f"{self.key} {self.op} {_quote(self.values[0])}"


@dataclass(frozen=True)
class Not(Node):
    inner: Node

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        return not self.inner.matches(labels, is_global=is_global)

    def keys(self) -> frozenset[str]:
        return self.inner.keys()

    def __str__(self) -> str:
        return f"!{_wrapped(self.inner)}"


@dataclass(frozen=True)
class _Junction(Node):
    """``&&`` or ``||`` of two or more parts: its keys are all of theirs."""

    parts: tuple[Node, ...]
    operator: ClassVar[str]

    def keys(self) -> frozenset[str]:
        return frozenset().union(*(p.keys() for p in self.parts))

    def __str__(self) -> str:
        return f" {self.operator} ".join(_wrapped(p) for p in self.parts)


@dataclass(frozen=True)
class And(_Junction):
    operator = "&&"

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        return all(p.matches(labels, is_global=is_global) for p in self.parts)


@dataclass(frozen=True)
class Or(_Junction):
    operator = "||"

    def matches(self, labels: Mapping[str, str], *, is_global: bool = False) -> bool:
        return any(p.matches(labels, is_global=is_global) for p in self.parts)


def _wrapped(node: Node) -> str:
    return f"({node})" if isinstance(node, And | Or) else str(node)


# ---------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def fail(self, expected: str, token: Token | None = None) -> SelectorError:
        token = token or self.token
        got = "end of input" if token.kind == "end" else repr(token.text)
        if token.kind == "string":
            got = f"the string {_quote(token.text)}"
        return SelectorError(self.text, token.position, f"expected {expected}, got {got}")

    def take(self, kind: str, text: str | None = None) -> Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.at += 1
            return token
        return None

    def need(self, kind: str, text: str, expected: str) -> Token:
        token = self.take(kind, text)
        if token is None:
            raise self.fail(expected)
        return token

    def parse(self) -> Node:
        if self.token.kind == "end":
            return All()
        node = self.or_()
        if self.token.kind != "end":
            raise self.fail("'&&', '||' or the end of the selector")
        return node

    def or_(self) -> Node:
        parts = [self.and_()]
        while self.take("op", "||"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Node:
        parts = [self.unary()]
        while self.take("op", "&&"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        if self.take("op", "!"):
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        if self.take("op", "("):
            node = self.or_()
            self.need("op", ")", "')'")
            return node
        key = self.take("key")
        if key is None:
            raise self.fail("a label key, 'has(', 'all()', 'global()', '!' or '('")
        if key.text in ("all", "global", "has") and self.take("op", "("):
            if key.text == "has":
                inner = self.take("key")
                if inner is None:
                    raise self.fail("a label key inside has(...)")
                self.need("op", ")", "')' to close has(")
                return Has(inner.text)
            self.need("op", ")", f"')' ({key.text}() takes no arguments)")
            return All() if key.text == "all" else Global()
        op = self.token
        if self.take("op", "==") or self.take("op", "!="):
            return Compare(key.text, op.text, (self.string(),))
        if self.take("key", "in"):
            return Compare(key.text, "in", self.string_set())
        if self.take("key", "not"):
            self.need("key", "in", "'in' after 'not'")
            return Compare(key.text, "not in", self.string_set())
        if self.take("key", "starts") or self.take("key", "ends"):
            self.need("key", "with", f"'with' after {op.text!r}")
            return Compare(key.text, f"{op.text} with", (self.string(),))
        if self.take("key", "contains"):
            return Compare(key.text, "contains", (self.string(),))
        raise self.fail(
            f"an operator after label key {key.text!r} (==, !=, in, not in, starts with, "
            "ends with, contains)"
        )

    def string(self) -> str:
        token = self.take("string")
        if token is None:
            bare = self.token
            if bare.kind == "key":
                raise SelectorError(
                    self.text,
                    bare.position,
                    f"expected a quoted value, got {bare.text!r} (fix: write '{bare.text}')",
                )
            raise self.fail("a quoted value")
        return token.text

    def string_set(self) -> tuple[str, ...]:
        self.need("op", "{", "'{' to open the set of values")
        values: list[str] = []
        if self.take("op", "}"):
            return ()
        values.append(self.string())
        while self.take("op", ","):
            values.append(self.string())
        self.need("op", "}", "',' or '}' in the set of values")
        return tuple(values)


def parse(text: str) -> Node:
    """The expression of a Calico selector (the empty text is ``all()``)."""
    if not isinstance(text, str):
        raise ConfigError(f"a selector must be a string, got {type(text).__name__}")
    return _Parser(text).parse()


def problem(text: str) -> tuple[int, str] | None:
    """None if ``text`` parses, else (0-based offset, problem): for validators."""
    try:
        parse(text)
    except SelectorError as exc:
        return exc.position, exc.problem
    return None
