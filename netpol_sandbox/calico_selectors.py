"""Calico's selector language, as the sandbox's dataplane evaluates it.

Written for the sandbox on its own (the harness has its own parser; the two are
compared by the fidelity tests, so neither may borrow from the other). Calico's
reference, "Selectors" in the NetworkPolicy resource: ``all()``, ``global()``,
``has(k)``, ``k == 'v'``, ``k != 'v'``, ``k in {'a', 'b'}``, ``k not in {...}``,
``k starts with 'p'``, ``k ends with 's'``, ``k contains 's'``, ``!``, ``&&``, ``||``
and parentheses; ``&&`` binds tighter than ``||``.

A label that is absent satisfies ``!=`` and ``not in`` and nothing else of the
comparisons; ``global()`` is true only for objects that have no namespace (host
endpoints, never a pod); an empty selector is ``all()``.

:func:`compile_selector` returns a predicate over a label mapping; a selector that
does not parse raises :class:`SelectorSyntax` with the 1-based column (the API's
validation turns it into a 422 cause).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping

Labels = Mapping[str, str]
Predicate = Callable[[Labels], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'[^']*'|"[^"]*")
      | (?P<op>==|!=|&&|\|\||[!(){},])
      | (?P<word>[A-Za-z0-9_./-]+)
    )""",
    re.VERBOSE,
)


class SelectorSyntax(ValueError):
    def __init__(self, text: str, column: int, what: str) -> None:
        super().__init__(f"invalid selector {text!r} at column {column}: {what}")
        self.column = column


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            column = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise SelectorSyntax(text, column, "unexpected character or unterminated string")
        kind = m.lastgroup or ""
        value = m.group(kind)
        start = m.start(kind)
        if kind == "str":
            value = value[1:-1]
        out.append((kind, value, start + 1))
        pos = m.end()
    out.append(("eof", "", len(text) + 1))
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        self.i += 1
        return tok

    def fail(self, what: str) -> SelectorSyntax:
        return SelectorSyntax(self.text, self.peek()[2], what)

    def expect_op(self, op: str) -> None:
        kind, value, _ = self.take()
        if kind != "op" or value != op:
            self.i -= 1
            raise self.fail(f"expected {op!r}")

    def string(self) -> str:
        kind, value, _ = self.take()
        if kind != "str":
            self.i -= 1
            raise self.fail("expected a quoted string")
        return value

    # expression := conj ("||" conj)*
    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek()[:2] == ("op", "||"):
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda labels: any(p(labels) for p in parts)

    # conj := unary ("&&" unary)*
    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek()[:2] == ("op", "&&"):
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda labels: all(p(labels) for p in parts)

    def unary(self) -> Predicate:
        if self.peek()[:2] == ("op", "!"):
            self.take()
            inner = self.unary()
            return lambda labels: not inner(labels)
        if self.peek()[:2] == ("op", "("):
            self.take()
            inner = self.expression()
            self.expect_op(")")
            return inner
        return self.term()

    def term(self) -> Predicate:
        kind, word, _ = self.peek()
        if kind != "word":
            raise self.fail("expected a label key, all(), global() or has()")
        self.take()
        if word in ("all", "global", "has") and self.peek()[:2] == ("op", "("):
            self.take()
            if word == "has":
                key_kind, key, _ = self.take()
                if key_kind != "word":
                    self.i -= 1
                    raise self.fail("expected a label key in has()")
                self.expect_op(")")
                return lambda labels: key in labels
            self.expect_op(")")
            if word == "all":
                return lambda labels: True
            return lambda labels: False  # global(): no pod is a global object
        return self.comparison(word)

    def comparison(self, key: str) -> Predicate:
        kind, value, _ = self.peek()
        if kind == "op" and value in ("==", "!="):
            self.take()
            want = self.string()
            if value == "==":
                return lambda labels: labels.get(key) == want
            return lambda labels: labels.get(key) != want
        words = []
        while self.peek()[0] == "word" and self.peek()[1] in (
            "not",
            "in",
            "starts",
            "ends",
            "with",
            "contains",
        ):
            words.append(self.take()[1])
        op = " ".join(words)
        if op in ("in", "not in"):
            members = self.members()
            if op == "in":
                return lambda labels: key in labels and labels[key] in members
            return lambda labels: key not in labels or labels[key] not in members
        if op in ("starts with", "ends with", "contains"):
            arg = self.string()
            if op == "starts with":
                return lambda labels: key in labels and labels[key].startswith(arg)
            if op == "ends with":
                return lambda labels: key in labels and labels[key].endswith(arg)
            return lambda labels: key in labels and arg in labels[key]
        raise self.fail(
            "expected ==, !=, in, not in, starts with, ends with or contains after " + repr(key)
        )

    def members(self) -> frozenset[str]:
        self.expect_op("{")
        out: set[str] = set()
        if self.peek()[:2] == ("op", "}"):
            self.take()
            return frozenset()
        while True:
            out.add(self.string())
            kind, value, _ = self.take()
            if (kind, value) == ("op", "}"):
                return frozenset(out)
            if (kind, value) != ("op", ","):
                self.i -= 1
                raise self.fail("expected ',' or '}'")


def compile_selector(text: str | None) -> Predicate:
    """A predicate over labels for a Calico selector (None or blank: all())."""
    if text is None or not text.strip():
        return lambda labels: True
    if len(text) > 4096:
        raise SelectorSyntax(text[:40], 4097, "longer than 4096 characters")
    reader = _Reader(text)
    predicate = reader.expression()
    if reader.peek()[0] != "eof":
        raise reader.fail("unexpected text after the expression")
    return predicate
