"""Label and field selectors as the Kubernetes API parses them from query strings.

``parse_label_selector("app=web,tier in (a,b),!legacy")`` returns a predicate over a
labels mapping; ``parse_field_selector`` one over a whole object (dotted paths).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from netpol_sandbox.apierror import ApiError

LabelPredicate = Callable[[Mapping[str, str]], bool]
ObjectPredicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> LabelPredicate:
    match = _SET_TERM.match(term)
    if match:
        key, op, raw = match.groups()
        values = {value.strip() for value in raw.split(",") if value.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    match = _EQ_TERM.match(term)
    if match:
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _EXISTS_TERM.match(term)
    if match:
        negate, key = match.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ApiError.bad_request(f"unable to parse requirement: invalid label selector term {term!r}")


def parse_label_selector(text: str) -> LabelPredicate:
    """A predicate for a ``labelSelector`` query value (empty matches everything)."""
    predicates = [_label_term(term) for term in _split_terms(text)]
    return lambda labels: all(predicate(labels) for predicate in predicates)


def lookup_path(obj: Mapping[str, Any], path: str) -> str | None:
    """The string at a dotted path such as ``status.phase`` (None when absent)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if node is None or isinstance(node, Mapping | list):
        return None
    return str(node)


_FIELD_TERM = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$")


def parse_field_selector(text: str) -> ObjectPredicate:
    """A predicate for a ``fieldSelector`` query value (=, ==, != on dotted paths)."""
    predicates: list[ObjectPredicate] = []
    for term in _split_terms(text):
        match = _FIELD_TERM.match(term)
        if not match:
            raise ApiError.bad_request(f"invalid field selector term {term!r}")
        path, op, value = match.groups()

        def predicate(
            obj: Mapping[str, Any], path: str = path, op: str = op, value: str = value
        ) -> bool:
            found = lookup_path(obj, path) or ""
            return (found == value) if op != "!=" else (found != value)

        predicates.append(predicate)
    return lambda obj: all(predicate(obj) for predicate in predicates)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A structured LabelSelector (matchLabels/matchExpressions) against labels."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        op = expr.get("operator", "")
        values = set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
