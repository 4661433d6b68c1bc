"""Every shell command in README.md and docs/ parses as its tool expects.

``netpol-harness`` lines go through the real argument parser, ``pytest`` lines have
known ``--netpol-*`` options and ``-k`` expressions pytest accepts, ``make`` lines name
Makefile targets, ``scripts/kind-*`` lines use flags the scripts know. Commands that
need a real cluster (kubectl, kind, docker) are not run here: the kind scripts' dry runs
and the sandbox tests cover what can run on this machine.
"""

from __future__ import annotations

import re
import shlex

import pytest
from _pytest.mark.expression import Expression

from harness import cli
from harness.plugin.options import _OPTIONS
from tests.infra._repo import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(?:sh|bash|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
NETPOL_FLAGS = {f"--netpol-{name}" for name, _, _, _ in _OPTIONS}
KIND_FLAGS = {"--dry-run", "--strict", "--pin", "--help", "-h"}


def _commands() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in DOCS:
        for block in _BLOCK.findall(path.read_text(encoding="utf-8")):
            joined = re.sub(r"\\\n\s*", " ", block)  # continuation lines
            for line in joined.splitlines():
                line = line.split(" #", 1)[0].strip()
                if line and not line.startswith("#"):
                    out.append((f"{path.relative_to(ROOT)}: {line}", line))
    return out


COMMANDS = _commands()


#: Where a simple command ends: a pipe, a list operator, a redirection.
_END = re.compile(r"\s(?:\|\|?|&&|;|[0-9]?>>?|<)\s")


def _words(line: str) -> list[str]:
    head = _END.split(f"{line} ", maxsplit=1)[0]
    try:
        words = shlex.split(head)
    except ValueError:
        return []  # not a simple command (a jq program, a subshell): a shell's business
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value prefixes
    if words:
        words[0] = words[0].removeprefix(".venv/bin/")
    return words


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.MULTILINE))


def test_the_docs_have_commands() -> None:
    assert len(COMMANDS) > 20


@pytest.mark.parametrize(("where", "line"), COMMANDS, ids=[c[0][:90] for c in COMMANDS])
def test_a_documented_command_parses(where: str, line: str) -> None:
    words = _words(line)
    if not words:
        return
    tool, args = words[0], words[1:]
    if tool == "netpol-harness":
        parser = cli.build_parser(args[0] if args else "")
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            assert exc.code == 0, f"{where}: netpol-harness rejects these arguments"
    elif tool in ("pytest", "py.test") or words[:3] == ["python", "-m", "pytest"]:
        for i, word in enumerate(args):
            flag = word.split("=", 1)[0]
            if flag.startswith("--netpol-"):
                assert flag in NETPOL_FLAGS, f"{where}: unknown option {flag}"
            if word == "-k":
                Expression.compile(args[i + 1])  # raises on what pytest would reject
    elif tool == "make":
        for target in (a for a in args if not a.startswith("-") and "=" not in a):
            assert target in _make_targets(), f"{where}: no make target {target}"
    elif tool.startswith("scripts/kind-"):
        assert (ROOT / tool).is_file(), f"{where}: no {tool}"
        unknown = [a for a in args if a.startswith("-") and a not in KIND_FLAGS]
        assert unknown == [], f"{where}: {tool} has no {unknown}"
