"""The checker the Kubernetes object validation is built on: fields, labels, near misses.

:mod:`harness.scenario.k8svalidate` validates an object; its checks for each kind of
object (:mod:`~harness.scenario.k8spods`, :mod:`~harness.scenario.k8scalico`) extend
:class:`K8sChecker`, a leaf they all share.
"""

from __future__ import annotations

import difflib
from typing import Any

from harness.scenario.checker import Checker
from harness.scenario.checker import closest
from harness.scenario.checker import combine
from harness.scenario.checker import label_key_problem
from harness.scenario.checker import label_value_problem
from harness.scenario.checker import quoted
from harness.scenario.checker import type_name
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo


def difflib_ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


class K8sChecker(Checker):
    """Field checks of Kubernetes objects (errors say "field", as the API server does)."""

    KEY_WORD = "field"

    def string(self, obj: YMap, key: str, what: str, *, required: bool = False) -> str | None:
        if key not in obj or obj[key] is None:
            if required:
                if key in obj:  # `key:` with no value: name that line
                    raise self.fail(
                        obj.key_line(key), f"{what}: {echo(key)} has no value", f"{key}: ..."
                    )
                raise self.fail(obj.line, f"{what} is missing {echo(key)}", f"add {key}: ...")
            return None
        value = obj[key]
        if not isinstance(value, str):
            raw = obj.raw_text(key)
            raise self.fail(
                obj.value_line(key),
                f"{what}.{key} must be a string, got {type_name(value, raw)}",
                f"quote it: {key}: {quoted(value, raw)}" if raw is not None else "",
            )
        return value

    def label_map(self, value: Any, line: int, what: str) -> YMap:
        labels = self.mapping(value, line, what)
        for key, val in labels.items():
            problem = label_key_problem(key)
            if problem:
                raise self.fail(labels.key_line(key), f"{what}: {problem}")
            problem = label_value_problem(val)
            if problem:
                fix = "quote it" if not isinstance(val, str) and val is not None else ""
                raise self.fail(labels.value_line(key), f"{what}: {problem}", fix)
        return labels

    def near_miss_keys(self, obj: YMap, known: tuple[str, ...], what: str) -> None:
        """Unknown keys that look like a misspelt known one (newer fields pass)."""
        found = []
        for key in obj:
            if key in known or not isinstance(key, str):
                continue
            best = closest(key, known)
            if best is not None and difflib_ratio(key, best) >= 0.8:
                found.append(
                    self.fail(
                        obj.key_line(key),
                        f"unknown field {echo(key)} in {what}",
                        f"did you mean {echo(best)}?",
                    )
                )
        if found:
            raise combine(found)
