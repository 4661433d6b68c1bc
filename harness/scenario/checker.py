"""The validation helpers every scenario check shares: type checks with ``file:line`` errors.

:class:`Checker` is the generic part (a mapping, a list, known keys) used by the
Kubernetes object validation (:mod:`harness.scenario.k8svalidate`) and the
scenario file (:mod:`harness.scenario.loader`, :mod:`harness.scenario.cells`);
:class:`ScenarioChecker` adds the scenario's own field types (strings, protocols,
ports, labels, required keys).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import cast

from harness.errors import ScenarioError
from harness.model import MANAGED_BY_LABEL
from harness.model import PROTOCOLS
from harness.model import L4Protocol
from harness.model import Port
from harness.model import Source
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import collection_word
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import escape

RESERVED_LABEL_PREFIX = "netpol-harness.dev/"
_LABEL_FIX = "e.g. app: web (ASCII letters, digits, '-', '_', '.'; at most 63)"
#: At most this many problems of one file are reported (each on its own line).
MAX_ERRORS = 20
#: At most this many choices are listed in a "did you mean" fix.
MAX_CHOICES = 12
#: How :func:`type_name` names a scalar, by type (bool first: a bool is an int).
_SCALAR_WORDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "a number"),
    (float, "a decimal number"),
    (str, "a string"),
)


class ScenarioErrors(ScenarioError):
    """Several independent problems found in one pass, one ``file:line: ...`` line each.

    ``path``, ``line``, ``message`` and ``fix`` are those of the first problem, so
    code that looks at one error still works.
    """

    def __init__(self, errors: list[ScenarioError]) -> None:
        unique: list[ScenarioError] = []
        seen: set[str] = set()
        for error in errors:
            for one in all_errors(error):
                text = ScenarioError.__str__(one)
                if text not in seen:
                    seen.add(text)
                    unique.append(one)
        self.errors = unique[:MAX_ERRORS]
        self.more = len(unique) - len(self.errors)
        first = self.errors[0]
        super().__init__(first.path, first.line, first.message, first.fix)

    def __str__(self) -> str:
        lines = [ScenarioError.__str__(e) for e in self.errors]
        if self.more:
            lines.append(
                f"{self.errors[-1].path}: {self.more} more problems not shown "
                f"(fix: correct the first {MAX_ERRORS} and run again)"
            )
        return "\n".join(lines)


def all_errors(error: ScenarioError) -> list[ScenarioError]:
    """The single problems of ``error`` (several for :class:`ScenarioErrors`)."""
    return list(error.errors) if isinstance(error, ScenarioErrors) else [error]


def combine(errors: list[ScenarioError]) -> ScenarioError:
    """One error for a list of problems (the problem itself when there is only one)."""
    flat = [one for e in errors for one in all_errors(e)]
    return flat[0] if len(flat) == 1 else ScenarioErrors(flat)


_SHORT_PORT = re.compile(r"^(\d+)(?:/([A-Za-z]+))?$")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (difflib), or None."""
    options = [c for c in choices if isinstance(c, str)]
    found = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not found:  # 'in' for 'In', 'tcp' for 'TCP': the same word in another case
        same = [c for c in options if c.lower() == str(word).lower()]
        return same[0] if same else None
    return found[0]


def did_you_mean(word: str, choices: Iterable[str], what: str = "one of") -> str:
    choices = list(choices)
    best = closest(word, choices)
    listed = ", ".join(repr(c) for c in choices)
    if best is not None:
        return f"did you mean {echo(best)}? ({what}: {listed})"
    return f"use {what}: {listed}" if choices else ""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_name(value: Any, raw: str | None = None) -> str:
    """What ``value`` is, for messages; ``raw`` is its source text when YAML resolved it."""
    if raw is not None and (value is None or isinstance(value, bool | int | float)):
        kind = type_name(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return kind
        return f"{kind} (YAML reads unquoted {escape(raw)} as {_yaml_word(value)})"
    if value is None:
        return "nothing (null)"
    for scalar, word in _SCALAR_WORDS:
        if isinstance(value, scalar):
            return word
    return collection_word(value)


def _yaml_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def quoted(value: Any, raw: str | None) -> str:
    """How to write ``value`` as a string in YAML: its source text, quoted."""
    if value is None:
        return "'' (or give it a value)"
    text = raw if raw is not None else str(value)
    return echo(text)


# ---------------------------------------------------------------- names and labels


def _name_problem(name: str, max_len: int, pattern: re.Pattern[str], rule: str) -> str:
    """Why ``name`` is empty, longer than ``max_len`` or not ``pattern`` (``rule``); ''."""
    if not name:
        return "must not be empty"
    if len(name) > max_len:
        return f"must be at most {max_len} characters (it has {len(name)})"
    if not pattern.match(name):
        return rule
    return ""


def dns1123_label_problem(name: str, max_len: int = 63) -> str:
    """Why ``name`` is not a DNS-1123 label of at most ``max_len`` chars ('' when it is)."""
    return _name_problem(
        name,
        max_len,
        _DNS1123_LABEL,
        "must be a DNS-1123 label: lower case letters, digits and '-', "
        "starting and ending with a letter or digit",
    )


def dns1035_label_problem(name: str, max_len: int = 63) -> str:
    problem = dns1123_label_problem(name, max_len)
    if problem:
        return problem
    if not _DNS1035_LABEL.match(name):
        return "must start with a lower case letter (it names a Service: a DNS-1035 label)"
    return ""


def dns1123_subdomain_problem(name: str) -> str:
    return _name_problem(
        name,
        253,
        _DNS1123_SUBDOMAIN,
        "must be a DNS-1123 subdomain: lower case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit",
    )


def label_key_problem(key: Any) -> str:
    """Why ``key`` is not a valid label key (a qualified name), '' when it is."""
    if not isinstance(key, str):
        return f"label key {echo(key)} must be a string (quote it)"
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return f"label key {echo(key)} has an empty prefix before '/'"
        problem = dns1123_subdomain_problem(prefix)
        if problem:
            return f"label key prefix {echo(prefix)} {problem}"
    if not name:
        return f"label key {echo(key)} has an empty name"
    if len(name) > 63:
        return f"label key {echo(key)}: the name part must be at most 63 characters"
    if not _LABEL_NAME.match(name):
        return (
            f"label key {echo(key)}: the name part must be letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return ""


def label_value_problem(value: Any, raw: str | None = None) -> str:
    if not isinstance(value, str):
        shown = escape(raw) if raw is not None else echo(value)
        return f"label value {shown} must be a string, not {type_name(value, raw)}"
    if len(value) > 63:
        return (
            f"label value {echo(value[:20])}... must be at most 63 characters (it has {len(value)})"
        )
    if value and not _LABEL_NAME.match(value):
        return (
            f"label value {echo(value)} must be letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit (or empty)"
        )
    return ""


def port_name_problem(name: str) -> str:
    """Why ``name`` is not an IANA_SVC_NAME (a named port), '' when it is."""
    problem = _name_problem(name, 15, _PORT_NAME, "must be lower case letters, digits and '-'")
    if problem:
        return problem
    if not re.search(r"[a-z]", name):
        return "must contain at least one letter"
    if "--" in name or name.startswith("-") or name.endswith("-"):
        return "must not start or end with '-' or contain '--'"
    return ""


def line_of(source: Source | None) -> int | str:
    """The line of a declaration for messages ('?' when unknown)."""
    return source.line if source else "?"


class Checker:
    """Checks of one file's values; every failure is a :class:`ScenarioError` at a line."""

    #: What an unknown key is called in messages ("field" for Kubernetes objects).
    KEY_WORD = "key"

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[ScenarioError] = []

    def fail(self, line: int | None, message: str, fix: str = "") -> ScenarioError:
        return ScenarioError(self.path, line, message, fix)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Record a ScenarioError raised inside and go on (up to MAX_ERRORS)."""
        try:
            yield
        except ScenarioError as exc:
            self.errors.extend(all_errors(exc))
            if len(self.errors) >= MAX_ERRORS:
                raise combine(self.errors) from None

    def raise_collected(self) -> None:
        if self.errors:
            raise combine(self.errors)

    def mapping(self, value: Any, line: int, what: str) -> YMap:
        if not isinstance(value, YMap):
            raise self.fail(
                line,
                f"{what} must be a mapping, got {type_name(value)}",
                "write it as key: value lines (see docs/scenarios.md)",
            )
        return value

    def listing(self, value: Any, line: int, what: str, *, nonempty: bool = False) -> YList:
        if not isinstance(value, YList):
            raise self.fail(
                line, f"{what} must be a list, got {type_name(value)}", "write it as - item lines"
            )
        if nonempty and not value:
            raise self.fail(line, f"{what} must not be empty", "add an entry, or remove it")
        return value

    def keys(self, obj: YMap, known: Iterable[str], what: str) -> None:
        known = list(known)
        found = [
            self.fail(
                obj.key_line(key),
                f"unknown {self.KEY_WORD} {echo(key)} in {what}",
                did_you_mean(str(key), known, f"known {self.KEY_WORD}s"),
            )
            for key in obj
            if key not in known
        ]
        if found:
            raise combine(found)


class ScenarioChecker(Checker):
    """The field types of a scenario file."""

    def required(self, obj: YMap, key: str, what: str, example: str = "...") -> Any:
        if obj.get(key) is None:
            if key in obj:
                raise self.fail(
                    obj.key_line(key), f"{what}: {echo(key)} has no value", f"{key}: {example}"
                )
            raise self.fail(obj.line, f"{what} is missing {echo(key)}", f"add {key}: {example}")
        return obj[key]

    def string(self, obj: YMap, key: str, what: str) -> str:
        value = obj[key]
        if not isinstance(value, str):
            raw = obj.raw_text(key)
            fix = f"quote it: {key}: {quoted(value, raw)}" if raw is not None else ""
            raise self.fail(
                obj.value_line(key),
                f"{what}.{key} must be a string, got {type_name(value, raw)}",
                fix,
            )
        return value

    def protocol(self, value: Any, line: int, what: str) -> L4Protocol:
        if value not in PROTOCOLS:
            upper = str(value).upper()
            fix = (
                f"write {echo(upper)} (upper case)"
                if upper in PROTOCOLS
                else "use TCP, UDP or SCTP"
            )
            raise self.fail(line, f"{what} {echo(value)} is not a protocol", fix)
        return cast(L4Protocol, value)

    def port_number(self, value: Any, line: int, what: str) -> int:
        if not is_int(value):
            raise self.fail(line, f"{what} must be a port number, got {type_name(value)}")
        if not 1 <= value <= 65535:
            raise self.fail(
                line, f"{what} {value} is out of range", "use a port between 1 and 65535"
            )
        return int(value)

    def labels(self, value: Any, line: int, what: str, *, reserved: bool = True) -> dict[str, str]:
        labels = self.mapping(value, line, what)
        for key, val in labels.items():
            problem = label_key_problem(key)
            if problem:
                raise self.fail(labels.key_line(key), f"{what}: {problem}", _LABEL_FIX)
            if reserved and (key == MANAGED_BY_LABEL or str(key).startswith(RESERVED_LABEL_PREFIX)):
                raise self.fail(
                    labels.key_line(key),
                    f"{what}: label {echo(key)} is set by the harness",
                    "remove it: the harness labels everything it creates",
                )
            raw = labels.raw_text(key)
            problem = label_value_problem(val, raw)
            if problem:
                fix = (
                    f"quote it: {key}: {quoted(val, raw)}"
                    if not isinstance(val, str)
                    else _LABEL_FIX
                )
                raise self.fail(labels.value_line(key), f"{what}: {problem}", fix)
        return {str(k): str(v) for k, v in labels.items()}

    def ports(self, w: YMap, what: str) -> tuple[Port, ...]:
        """A workload's ``ports:``: numbers, "PORT/PROTO" strings or {port, protocol, name}."""
        if w.get("ports") is None:
            return ()
        items = self.listing(w["ports"], w.value_line("ports"), f"{what} ports")
        ports: list[Port] = []
        seen: dict[tuple[int, str], int] = {}
        names: dict[str, int] = {}
        for i, item in enumerate(items):
            line = items.item_line(i)
            name: str | None = None
            if is_int(item):
                number = self.port_number(item, line, f"{what}: port")
                protocol: L4Protocol = "TCP"
            elif isinstance(item, str):
                m = _SHORT_PORT.match(item.strip())
                if not m:
                    raise self.fail(
                        line,
                        f"{what}: port {echo(item)} is not PORT or PORT/PROTOCOL",
                        'e.g. 80, "53/UDP", or {port: 8080, name: http}',
                    )
                number = self.port_number(int(m.group(1)), line, f"{what}: port")
                protocol = self.protocol(m.group(2) or "TCP", line, f"{what}: protocol")
            elif isinstance(item, YMap):
                self.keys(item, ("port", "protocol", "name"), "a port")
                number = self.port_number(
                    self.required(item, "port", f"{what} port", "8080"),
                    item.value_line("port"),
                    f"{what}: port",
                )
                protocol = self.protocol(
                    item.get("protocol", "TCP"), item.value_line("protocol"), f"{what}: protocol"
                )
                if item.get("name") is not None:
                    name = self.string(item, "name", "port")
                    problem = port_name_problem(name)
                    if problem:
                        raise self.fail(
                            item.value_line("name"),
                            f"{what}: port name {echo(name)} {problem}",
                            "e.g. name: http",
                        )
                    if name in names:
                        raise self.fail(
                            item.value_line("name"),
                            f"{what}: port name {echo(name)} is used twice "
                            f"(first at line {names[name]})",
                            "port names must be unique in a workload",
                        )
                    names[name] = item.value_line("name")
            else:
                raise self.fail(
                    line,
                    f"{what}: a port must be a number, a string or a mapping, "
                    f"got {type_name(item)}",
                )
            if (number, protocol) in seen:
                raise self.declared_twice(
                    line,
                    f"{what}: port {number}/{protocol}",
                    seen[(number, protocol)],
                    "remove one of them",
                )
            seen[(number, protocol)] = line
            ports.append(Port(number, protocol, name))
        return tuple(ports)

    def declared_twice(self, line: int, what: str, first: int | str, fix: str) -> ScenarioError:
        """``what`` (e.g. "namespace 'app'") repeats a declaration made at line ``first``."""
        return self.fail(line, f"{what} is declared twice (first at line {first})", fix)
