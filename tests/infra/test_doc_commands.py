"""Every shell command in README.md and docs/ parses as its tool expects.

``netpol-harness`` lines go through the real argument parser, ``pytest`` lines have
known ``--netpol-*`` options and ``-k`` expressions pytest accepts, ``make`` lines name
Makefile targets, ``scripts/kind-*`` lines use flags the scripts know. Then every
command is either run here (``RUN_HERE``: it needs only this checkout) or carries a
mark saying what it needs that this test cannot give it (``mark_of``: a real cluster,
the sandbox, your own files, or it is a shell line / file body); an unmarked command
fails the test. The kind scripts' dry runs and the sandbox tests cover what else can
run on this machine.
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


# ------------------------------------------------------------------ run, or marked

#: Documented commands that need nothing but this checkout: the test runs them.
RUN_HERE = {
    "pytest --netpol-static scenarios/",
    "pytest --netpol-static scenarios/calico-pass.netpol.yaml",
    "netpol-harness predict --scenario scenarios/cluster-network-policy-admin.netpol.yaml",
}
#: What keeps each other command from running here (its mark): the first that applies.
_MARKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a real cluster",
        re.compile(
            r"^(kubectl|kind|docker)\b|\$\(kubectl|--(netpol-)?(context|kubeconfig)|--live\b"
            r"|KUBECONFIG|make (kind-|e2e-kind)|netpol-harness (check|preflight|cleanup)"
        ),
    ),
    (
        "the sandbox (its own tests run it)",
        re.compile(r"netpol-harness sandbox|--netpol-in-place|make (demo|test)\b"),
    ),
    (
        "your own files",
        re.compile(r"cluster\.yaml|staging-checks/|/tmp/|policies\b|\$[A-Z_]+|reports/"),
    ),
    (
        "a shell or a file body, not a harness command",
        re.compile(r"^(git|rm|mkdir|cp|cat|echo|for|done|\||-|---|[a-zA-Z]+:|YAML|[A-Z_]+=)"),
    ),
)


def mark_of(line: str) -> str:
    """Why a documented command is not run by this test ('' for RUN_HERE)."""
    if line in RUN_HERE:
        return ""
    for mark, pattern in _MARKS:
        if pattern.search(line):
            return mark
    return "UNMARKED"


def test_every_documented_command_is_run_here_or_marked() -> None:
    """Issue 13: each command is run by a docs test, or known to need what this machine's
    tests cannot give it (a real cluster, your files); none is left unaccounted for."""
    unmarked = [where for where, line in COMMANDS if mark_of(line) == "UNMARKED"]
    assert unmarked == []
    assert {line for _, line in COMMANDS} >= RUN_HERE


@pytest.mark.parametrize("line", sorted(RUN_HERE))
def test_the_commands_that_need_nothing_run(line: str) -> None:
    import subprocess
    import sys

    words = shlex.split(line)
    argv = (
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *words[1:]]
        if words[0] == "pytest"
        else [sys.executable, "-m", "harness.cli", *words[1:]]
    )
    result = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
