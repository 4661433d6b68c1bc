"""Safe YAML loading that remembers line numbers and refuses hostile input.

The loader builds plain Python values from the YAML event stream (never from
PyYAML's constructors), so no tag can construct an object. Mappings and lists
come back as :class:`YMap` and :class:`YList`: ``dict`` and ``list`` subclasses
that also record the 1-based line of every key and value, so validation errors
can name the exact line.

Guards, each a :class:`~harness.errors.ScenarioError` with the line:

- files larger than :data:`MAX_BYTES` (checked before reading them whole);
- bytes that are not UTF-8;
- nesting deeper than :data:`MAX_DEPTH`;
- aliases expanding to more than :data:`MAX_ALIAS_NODES` nodes (billion laughs);
- tags other than the plain YAML types (``!!python/object``, ``!!binary``, ...);
- duplicate keys in one mapping.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from harness.errors import ScenarioError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50
MAX_ALIAS_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_TAG}merge"

try:  # the C parser is much faster; both produce events with line marks
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()


class YMap(dict[Any, Any]):
    """A mapping with the line of itself, of each key and of each value."""

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines = {}
        self.value_lines = {}

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def value_line(self, key: Any) -> int:
        return self.value_lines.get(key, self.key_line(key))


class YList(list[Any]):
    """A list with the line of itself and of each item."""

    line: int
    item_lines: list[int]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines = []

    def item_line(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


def line_of(value: Any, default: int = 0) -> int:
    """The line where a mapping or list starts (``default`` for scalars)."""
    return int(getattr(value, "line", default))


def to_plain(value: Any) -> Any:
    """A deep copy made of plain ``dict``/``list`` (for objects sent to the API)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def read_bytes(path: Path, shown: str, *, line: int | None = None, owner: str = "") -> bytes:
    """Read a file, refusing one over :data:`MAX_BYTES` before reading it.

    Errors name ``owner:line`` (the file that refers to ``path``) when given.
    """
    where_path, where_line = (owner, line) if owner else (shown, None)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ScenarioError(
            where_path, where_line, f"cannot read {shown}: {exc.strerror}"
        ) from None
    if size > MAX_BYTES:
        raise ScenarioError(
            where_path,
            where_line,
            f"{shown} is {size / MAX_BYTES:.1f} MiB, larger than the 1 MiB limit",
            "split it into smaller files",
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(
            where_path, where_line, f"cannot read {shown}: {exc.strerror}"
        ) from None
    if len(data) > MAX_BYTES:  # grew while we looked
        raise ScenarioError(where_path, where_line, f"{shown} is larger than the 1 MiB limit")
    return data


def decode(data: bytes, path: str) -> str:
    if len(data) > MAX_BYTES:
        raise ScenarioError(
            path,
            None,
            f"file is {len(data) / MAX_BYTES:.1f} MiB, larger than the 1 MiB limit",
            "split it into smaller files",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            path,
            line,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def _text(data: bytes | str, path: str) -> str:
    if isinstance(data, bytes):
        return decode(data, path)
    if len(data) > MAX_BYTES or len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ScenarioError(
            path, None, "file is larger than the 1 MiB limit", "split it into smaller files"
        )
    return data


def load_all(data: bytes | str, path: str) -> list[Any]:
    """Every document of a YAML stream (empty documents are dropped)."""
    return _Composer(path, _text(data, path)).documents()


def load_one(data: bytes | str, path: str) -> Any:
    """The single document of a YAML stream (None when the stream is empty)."""
    docs = _Composer(path, _text(data, path)).documents(keep_empty=True)
    if len(docs) > 1:
        raise ScenarioError(
            path,
            _doc_line(docs[1]),
            "more than one YAML document ('---') in a scenario file",
            "put one scenario per file",
        )
    return docs[0] if docs else None


def _doc_line(doc: Any) -> int:
    return line_of(doc, 1)


_ALIAS_HINT = re.compile(r"(^|\s)(-\s+|:\s+)?\*")


class _Frame:
    __slots__ = ("anchor", "container", "key", "key_line", "merges", "size")

    def __init__(self, container: YMap | YList, anchor: str | None) -> None:
        self.container = container
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.merges: list[tuple[Any, int]] = []
        self.size = 1


_NO_KEY = object()


class _Composer:
    """Builds values from parser events with an explicit stack (no recursion)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, node count)
        self.alias_nodes = 0

    def fail(self, line: int | None, message: str, fix: str = "") -> ScenarioError:
        return ScenarioError(self.path, line, message, fix)

    def documents(self, *, keep_empty: bool = False) -> list[Any]:
        docs: list[Any] = []
        stack: list[_Frame] = []
        current: list[Any] = []  # the finished root value of the current document
        try:
            for event in yaml.parse(self.text, Loader=_Loader):
                line = event.start_mark.line + 1 if event.start_mark else 0
                if isinstance(event, yaml.DocumentStartEvent):
                    current = []
                    self.anchors = {}
                elif isinstance(event, yaml.DocumentEndEvent):
                    value = current[0] if current else None
                    if value is not None or keep_empty:
                        docs.append(value)
                elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    if len(stack) >= MAX_DEPTH:
                        raise self.fail(
                            line,
                            f"nesting deeper than {MAX_DEPTH} levels",
                            "flatten the structure",
                        )
                    is_map = isinstance(event, yaml.MappingStartEvent)
                    self._check_tag(event.tag, f"{_TAG}map" if is_map else f"{_TAG}seq", line)
                    container: YMap | YList = YMap(line) if is_map else YList(line)
                    stack.append(_Frame(container, event.anchor))
                elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                    frame = stack.pop()
                    if isinstance(frame.container, YMap):
                        self._merge(frame)
                    container = frame.container
                    self._finish(
                        container, frame.size, frame.anchor, container.line, stack, current
                    )
                elif isinstance(event, yaml.ScalarEvent):
                    value, is_merge = self._scalar(event, line)
                    if is_merge and stack and isinstance(stack[-1].container, YMap):
                        frame = stack[-1]
                        if frame.key is _NO_KEY:
                            frame.key = _MERGE
                            frame.key_line = line
                            continue
                    self._finish(value, 1, event.anchor, line, stack, current)
                elif isinstance(event, yaml.AliasEvent):
                    anchor = event.anchor
                    if anchor not in self.anchors:
                        raise self.fail(line, f"unknown alias *{anchor}", f"define &{anchor} first")
                    value, size = self.anchors[anchor]
                    self.alias_nodes += size
                    if self.alias_nodes > MAX_ALIAS_NODES:
                        raise self.fail(
                            line,
                            f"aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)",
                            "use fewer or smaller anchors",
                        )
                    self._finish(value, size, None, line, stack, current)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = mark.line + 1 if mark else None
            problem = exc.problem or exc.context or "invalid YAML"
            context = f"{exc.context or ''} {problem}"
            if "nesting depth" in problem:  # libyaml's own bound (1000), hit before ours
                raise self.fail(
                    where, f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure"
                ) from None
            raise self.fail(
                where, f"invalid YAML: {problem}", self._yaml_fix(where, context)
            ) from None
        except yaml.YAMLError as exc:  # reader errors (control characters) and the like
            raise self.fail(None, f"invalid YAML: {exc}") from None
        return docs

    def _yaml_fix(self, line: int | None, problem: str) -> str:
        text = ""
        if line:
            lines = self.text.splitlines()
            text = lines[line - 1] if 0 < line <= len(lines) else ""
        if ("alias" in problem or "anchor" in problem) and _ALIAS_HINT.search(text):
            return 'quote values that start with "*", e.g. "* -> db:5432"'
        if "tab" in problem or "\t" in text:
            return "indent with spaces, not tabs"
        return "check the indentation and quoting on this line"

    def _check_tag(self, tag: str | None, plain: str, line: int) -> None:
        if tag is None or tag in ("!", plain):
            return
        raise self.fail(
            line,
            f"YAML tag {_short_tag(tag)} is not allowed",
            "remove the tag: only plain mappings, lists, strings, numbers and booleans are read",
        )

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> tuple[Any, bool]:
        tag = event.tag
        if tag is None or tag == "!":
            if tag == "!":
                tag = f"{_TAG}str"
            else:
                tag = str(_RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit))  # type: ignore[no-untyped-call]
        if tag == _MERGE:
            return event.value, True
        if tag not in _SCALAR_TAGS:
            self._check_tag(tag, "", line)
        value = event.value
        kind = tag[len(_TAG) :]
        if kind in ("str", "timestamp"):
            return value, False
        node = yaml.ScalarNode(tag, value)
        try:
            if kind == "null":
                return None, False
            if kind == "bool":
                return _CONSTRUCTOR.construct_yaml_bool(node), False
            if kind == "int":
                return _CONSTRUCTOR.construct_yaml_int(node), False
            return _CONSTRUCTOR.construct_yaml_float(node), False
        except (ValueError, KeyError):
            raise self.fail(line, f"{value!r} is not a valid {kind}") from None

    def _finish(
        self,
        value: Any,
        size: int,
        anchor: str | None,
        line: int,
        stack: list[_Frame],
        current: list[Any],
    ) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not stack:
            current.append(value)
            return
        frame = stack[-1]
        frame.size += size
        container = frame.container
        if isinstance(container, YList):
            container.append(value)
            container.item_lines.append(line)
            return
        if frame.key is _NO_KEY:  # this value is a key
            if isinstance(value, dict | list):
                raise self.fail(line, "a mapping key must be a plain value, not a mapping or list")
            if value in container.key_lines or (value == _MERGE and frame.merges):
                raise self.fail(
                    line,
                    f"duplicate key {value!r} (first at line {container.key_lines.get(value)})",
                    "keep one of them",
                )
            frame.key = value
            frame.key_line = line
            return
        key = frame.key
        frame.key = _NO_KEY
        if key is _MERGE:
            frame.merges.append((value, line))
            return
        container[key] = value
        container.key_lines[key] = frame.key_line
        container.value_lines[key] = line

    def _merge(self, frame: _Frame) -> None:
        container = frame.container
        assert isinstance(container, YMap)
        for value, line in frame.merges:
            sources = value if isinstance(value, list) else [value]
            for source in sources:
                if not isinstance(source, YMap):
                    raise self.fail(line, "'<<' merges only mappings", "merge an anchored mapping")
                for k, v in source.items():
                    if k not in container:
                        container[k] = v
                        container.key_lines[k] = source.key_line(k)
                        container.value_lines[k] = source.value_line(k)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
