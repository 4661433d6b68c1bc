"""Calico's selector language: parsing, matching and error positions.

Reference: Calico NetworkPolicy resource, "Selectors"
(https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.policy import selectors
from harness.policy.selectors import SelectorError
from harness.policy.selectors import parse

LABELS = {"app": "web", "tier": "frontend", "env": "prod-eu", "k8s.io/name": "x"}

#: (expression, matches LABELS) - each operator of the Selectors table.
MATCHES = [
    ("", True),  # the empty selector is all()
    ("all()", True),
    ("global()", False),  # pods are namespaced: global() never matches them
    ("app == 'web'", True),
    ('app == "web"', True),
    ("app == 'api'", False),
    ("app != 'api'", True),
    ("missing != 'x'", True),  # != matches objects without the label
    ("missing == 'x'", False),
    ("app in {'api', 'web'}", True),
    ("app in {}", False),
    ("app not in {'api'}", True),
    ("missing not in {'x'}", True),
    ("has(tier)", True),
    ("!has(tier)", False),
    ("has(k8s.io/name)", True),
    ("env starts with 'prod'", True),
    ("env ends with '-eu'", True),
    ("env contains 'od-e'", True),
    ("missing starts with ''", False),  # needs the label
    ("app == 'web' && tier == 'frontend'", True),
    ("app == 'api' || tier == 'frontend'", True),
    ("!(app == 'web')", False),
    ("!(app == 'api' || tier == 'x') && has(env)", True),
    ("app == 'web' || app == 'api' && tier == 'x'", True),  # && binds tighter
    ("(app == 'web' || app == 'api') && tier == 'x'", False),
]


@pytest.mark.parametrize(("text", "expected"), MATCHES)
def test_matches(text: str, expected: bool) -> None:
    assert parse(text).matches(LABELS) is expected


@pytest.mark.parametrize(("text", "_"), MATCHES)
def test_printed_form_parses_to_the_same(text: str, _: bool) -> None:
    node = parse(text)
    again = parse(str(node))
    assert str(again) == str(node)
    assert again.matches(LABELS) is node.matches(LABELS)


def test_global_matches_global_resources() -> None:
    assert parse("global()").matches({}, is_global=True)


#: (expression, 1-based column of the problem, words of the message)
ERRORS = [
    ("app == ", 8, "expected a quoted value, got end of input"),
    ("app == web", 8, "fix: write 'web'"),
    ("app = 'web'", 5, "unexpected character '='"),
    ("app == 'web", 8, "unterminated string"),
    ("app == 'web' &&", 16, "expected a label key"),
    ("(app == 'web'", 14, "expected ')'"),
    ("has(app", 8, "')' to close has("),
    ("has()", 5, "a label key inside has"),
    ("all(x)", 5, "takes no arguments"),
    ("app in {'a' 'b'}", 13, "',' or '}'"),
    ("app in 'a'", 8, "'{' to open"),
    ("app not 'a'", 9, "'in' after 'not'"),
    ("app starts 'a'", 12, "'with'"),
    ("app", 4, "an operator after label key 'app'"),
    ("app == 'a' app == 'b'", 12, "'&&', '||' or the end"),
    ("app == 'a' & b", 12, "unexpected character '&'"),
]


@pytest.mark.parametrize(("text", "column", "words"), ERRORS)
def test_errors_name_the_position(text: str, column: int, words: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(text)
    assert info.value.position + 1 == column, str(info.value)
    assert words in str(info.value)
    assert f"at column {column}" in str(info.value)
    assert selectors.problem(text) == (column - 1, info.value.problem)


def test_too_long_is_refused() -> None:
    with pytest.raises(SelectorError, match="longer than"):
        parse("a == 'b' || " * 1000)


# ---------------------------------------------------------------- properties (hypothesis)

_KEYS = st.sampled_from(["a", "b", "c"])
_VALUES = st.sampled_from(["x", "y", "z"])


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda k, v: f"{k} == '{v}'", _KEYS, _VALUES),
        st.builds(lambda k, v: f"{k} != '{v}'", _KEYS, _VALUES),
        st.builds(lambda k: f"has({k})", _KEYS),
        st.builds(lambda k, v: f"{k} in {{'{v}'}}", _KEYS, _VALUES),
        st.just("all()"),
    )


_EXPR = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) && ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) || ({b})", inner, inner),
        st.builds(lambda a: f"!({a})", inner),
    ),
    max_leaves=8,
)
_LABELS = st.dictionaries(_KEYS, _VALUES)


@given(_EXPR, _LABELS)
def test_negation_is_complement(text: str, labels: dict[str, str]) -> None:
    assert parse(f"!({text})").matches(labels) is (not parse(text).matches(labels))


@given(_EXPR, _LABELS)
def test_printing_keeps_the_meaning(text: str, labels: dict[str, str]) -> None:
    node = parse(text)
    assert parse(str(node)).matches(labels) is node.matches(labels)
