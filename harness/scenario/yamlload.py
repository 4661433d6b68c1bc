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
- duplicate keys in one mapping;
- control characters (NUL and the like) outside the YAML set, with their line;
- more than :data:`MAX_DOCUMENTS` documents or :data:`MAX_NODES` nodes in one file.

The same loader reads scenario files, manifests, ``predict --objects`` files and
kubeconfigs; only the size bounds differ (``max_bytes``). Messages never echo a
value whole: :func:`echo` quotes it, escapes control and non-ASCII (lookalike)
characters, and cuts it with an ellipsis.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from harness.errors import ScenarioError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50
MAX_ALIAS_NODES = 100_000
MAX_DOCUMENTS = 10_000
MAX_NODES = 2_000_000
#: The longest echo of a value in a message (characters, before escaping).
ECHO_LIMIT = 60

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
    """A mapping with the line of itself, of each key and of each value.

    ``raw`` keeps the source text of values that YAML resolved to something other
    than a string (``on`` -> True, ``~`` -> None, ``0x1F`` -> 31), for messages.
    """

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]
    raw: dict[Any, str]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines = {}
        self.value_lines = {}
        self.raw = {}

    def raw_text(self, key: Any) -> str | None:
        return self.raw.get(key)

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def value_line(self, key: Any) -> int:
        return self.value_lines.get(key, self.key_line(key))


class YList(list[Any]):
    """A list with the line of itself and of each item."""

    line: int
    item_lines: list[int]
    raw: dict[int, str]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines = []
        self.raw = {}

    def raw_text(self, index: int) -> str | None:
        return self.raw.get(index)

    def item_line(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


def line_of(value: Any, default: int = 0) -> int:
    """The line where a mapping or list starts (``default`` for scalars)."""
    return int(getattr(value, "line", default))


_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


def escape(text: str) -> str:
    """``text`` with every character outside printable ASCII escaped (\\x00, \\u0435)."""
    if all(c in _PRINTABLE for c in text):
        return text
    out = []
    for c in text:
        if c in _PRINTABLE:
            out.append(c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return "".join(out)


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """A value for a message: quoted like repr, escaped, at most ``limit`` characters."""
    if isinstance(value, str):
        cut = value[:limit]
        text = "'" + escape(cut).replace("'", "\\'") + "'"
        return text + ("..." if len(value) > limit else "")
    if value is None or isinstance(value, bool | int | float):
        shown = repr(value)
        return shown if len(shown) <= limit else shown[:limit] + "..."
    return collection_word(value)


def collection_word(value: Any) -> str:
    """A value that is no scalar, for messages: "a mapping", "a list", else its type's name."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def has_lookalikes(text: Any) -> bool:
    """Whether ``text`` holds characters outside printable ASCII (shown escaped)."""
    return isinstance(text, str) and any(c not in _PRINTABLE for c in text)


# Characters YAML does not allow in a stream (c-printable), besides tab, CR, LF.
_BAD_CHAR = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x84\x86-\x9f\ufffe\uffff\ud800-\udfff]"
)


def check_characters(text: str, path: str) -> None:
    """A ScenarioError at the line of the first character YAML refuses."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    char = m.group()
    name = "a NUL byte" if char == "\x00" else f"the control character {escape(char)}"
    raise ScenarioError(
        path,
        line,
        f"invalid YAML: {name} at column {column} (YAML allows no control characters)",
        "remove it (was the file saved as UTF-16, or binary data pasted in?)",
    )


def to_plain(value: Any) -> Any:
    """A deep copy made of plain ``dict``/``list`` (for objects sent to the API)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _limit(max_bytes: int) -> str:
    return f"{max_bytes // (1024 * 1024)} MiB" if max_bytes >= 1024 * 1024 else f"{max_bytes} bytes"


def stat_problem(path: Path) -> str:
    """Why ``path`` cannot be read as a regular file ('' when it can), without following loops."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if exc.errno == errno.ENOENT:
            return "does not exist" if not os.path.islink(path) else "is a broken symbolic link"
        if exc.errno == errno.ENAMETOOLONG:
            return "has a name too long for the file system"
        return f"cannot be read ({exc.strerror or 'error'})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory"
    if stat.S_ISFIFO(info.st_mode):
        return "is a named pipe (FIFO), not a file"
    if stat.S_ISSOCK(info.st_mode):
        return "is a socket, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    return ""


def read_bytes(
    path: Path,
    shown: str,
    *,
    line: int | None = None,
    owner: str = "",
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """Read a regular file, refusing one over ``max_bytes`` before reading it.

    Errors name ``owner:line`` (the file that refers to ``path``) when given.
    Directories, FIFOs, sockets and symbolic-link loops are refused by name,
    never opened (a FIFO would block).
    """
    where_path, where_line = (owner, line) if owner else (shown, None)
    problem = stat_problem(path)
    if problem:
        raise ScenarioError(
            where_path, where_line, f"{escape(shown)} {problem}", _path_fix(problem)
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise ScenarioError(
            where_path,
            where_line,
            f"{escape(shown)} is {_mib(size)}, larger than the {_limit(max_bytes)} limit",
            "split it into smaller files",
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ScenarioError(
            where_path, where_line, f"cannot read {escape(shown)}: {exc.strerror or 'error'}"
        ) from None
    if len(data) > max_bytes:  # grew while we looked
        raise ScenarioError(
            where_path, where_line, f"{escape(shown)} is larger than the {_limit(max_bytes)} limit"
        )
    return data


def _path_fix(problem: str) -> str:
    if "loop" in problem or "broken" in problem:
        return "point the link at a real file"
    if "does not exist" in problem:
        return "check the path"
    return "give the path of a regular file"


def decode(data: bytes, path: str, max_bytes: int = MAX_BYTES) -> str:
    if len(data) > max_bytes:
        raise ScenarioError(
            path,
            None,
            f"file is {_mib(len(data))}, larger than the {_limit(max_bytes)} limit",
            "split it into smaller files",
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ScenarioError(
            path,
            1,
            "not UTF-8 text: the file is UTF-16 (it starts with a UTF-16 byte order mark)",
            "save the file as UTF-8",
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


def _text(data: bytes | str, path: str, max_bytes: int = MAX_BYTES) -> str:
    if isinstance(data, bytes):
        text = decode(data, path, max_bytes)
    else:
        if len(data) > max_bytes or len(data.encode("utf-8", "surrogatepass")) > max_bytes:
            raise ScenarioError(
                path,
                None,
                f"file is larger than the {_limit(max_bytes)} limit",
                "split it into smaller files",
            )
        text = data.removeprefix("\ufeff")
    check_characters(text, path)
    return text


def load_all(data: bytes | str, path: str, *, max_bytes: int = MAX_BYTES) -> list[Any]:
    """Every document of a YAML stream (empty documents are dropped)."""
    return _Composer(path, _text(data, path, max_bytes)).documents()


def load_one(
    data: bytes | str, path: str, *, max_bytes: int = MAX_BYTES, what: str = "a scenario file"
) -> Any:
    """The single document of a YAML stream (None when the stream is empty)."""
    docs = _Composer(path, _text(data, path, max_bytes)).documents(keep_empty=True)
    if len(docs) > 1:
        raise ScenarioError(
            path,
            _doc_line(docs[1]),
            f"more than one YAML document ('---') in {what}",
            "put one scenario per file" if what == "a scenario file" else "keep one document",
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
        self.documents_seen = 0
        self.nodes = 0

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
                    self.documents_seen += 1
                    if self.documents_seen > MAX_DOCUMENTS:
                        raise self.fail(
                            line,
                            f"more than {MAX_DOCUMENTS} YAML documents in one file",
                            "split it into smaller files",
                        )
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
                    self.nodes += 1
                    if self.nodes > MAX_NODES:
                        raise self.fail(
                            line,
                            f"more than {MAX_NODES} values in one file",
                            "split it into smaller files",
                        )
                    value, is_merge = self._scalar(event, line)
                    if is_merge and stack and isinstance(stack[-1].container, YMap):
                        frame = stack[-1]
                        if frame.key is _NO_KEY:
                            frame.key = _MERGE
                            frame.key_line = line
                            continue
                    raw = None
                    if not isinstance(value, str) and event.implicit[0]:
                        raw = event.value
                    self._finish(value, 1, event.anchor, line, stack, current, raw)
                elif isinstance(event, yaml.AliasEvent):
                    anchor = event.anchor
                    if anchor not in self.anchors:
                        raise self.fail(
                            line,
                            f"unknown alias *{escape(str(anchor))}",
                            f"define &{escape(str(anchor))} first",
                        )
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
            problem = exc.problem or exc.context or "invalid YAML"
            if "nesting depth" in problem:  # libyaml's own bound (1000), hit before ours
                raise self.fail(
                    mark.line + 1 if mark else None,
                    f"nesting deeper than {MAX_DEPTH} levels",
                    "flatten the structure",
                ) from None
            if exc.context_mark is not None and (
                "end of stream" in problem
                or "quoted scalar" in (exc.context or "")
                or "flow" in (exc.context or "")
            ):
                # An unclosed quote or bracket: name the line where it was opened.
                mark = exc.context_mark
                if "quoted scalar" in (exc.context or ""):
                    raise self.fail(
                        mark.line + 1,
                        "a quoted string opened on this line is never closed",
                        "add the closing quote",
                    ) from None
                problem = (exc.context or "").replace("while scanning ", "")
                problem = (
                    problem.replace("while parsing ", "") + " opened on this line is never closed"
                )
            where = mark.line + 1 if mark else None
            context = f"{exc.context or ''} {problem}"
            if "nesting depth" in problem:  # libyaml's own bound (1000), hit before ours
                raise self.fail(
                    where, f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure"
                ) from None
            raise self.fail(
                where, f"invalid YAML: {problem}", self._yaml_fix(where, context)
            ) from None
        except yaml.reader.ReaderError as exc:  # control characters (checked before, too)
            line = self.text.count("\n", 0, max(exc.position, 0)) + 1
            char = escape(chr(exc.character)) if isinstance(exc.character, int) else "?"
            raise self.fail(
                line, f"invalid YAML: the character {char} is not allowed", "remove it"
            ) from None
        except yaml.YAMLError:
            raise self.fail(None, "invalid YAML", "check the file's syntax") from None
        except RecursionError:  # pragma: no cover - libyaml bounds nesting first
            raise self.fail(
                None, f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure"
            ) from None
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
            raise self.fail(
                line,
                f"{echo(value)} is not a valid {kind}",
                "write a valid number, or quote the text",
            ) from None

    def _finish(
        self,
        value: Any,
        size: int,
        anchor: str | None,
        line: int,
        stack: list[_Frame],
        current: list[Any],
        raw: str | None = None,
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
            if raw is not None:
                container.raw[len(container)] = raw
            container.append(value)
            container.item_lines.append(line)
            return
        if frame.key is _NO_KEY:  # this value is a key
            if isinstance(value, dict | list):
                raise self.fail(
                    line,
                    "a mapping key must be a plain value, not a mapping or list",
                    "use a plain string as the key",
                )
            if value in container.key_lines or (value == _MERGE and frame.merges):
                raise self.fail(
                    line,
                    f"duplicate key {echo(value)} (first at line {container.key_lines.get(value)})",
                    "keep one of them (YAML forbids duplicate keys; most tools keep the last)",
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
        if raw is not None:
            container.raw[key] = raw

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
