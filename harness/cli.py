"""`netpol-harness`: the command line, a thin shell over the same stages as the plugin.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; heavy imports stay inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from harness import __version__
from harness.errors import HarnessError

#: (name, module, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "harness.commands.run", "run scenarios against a cluster (pytest with this plugin)"),
    ("check", "harness.commands.check", "one live probe FROM -> TO:PORT with its verdict and why"),
    ("predict", "harness.commands.predict", "predict a truth table from objects, no cluster"),
    ("diff", "harness.commands.diff", "the cells whose verdict a policy change flips, no cluster"),
    (
        "generate",
        "harness.commands.generate",
        "a scenario that freezes today's predicted behaviour",
    ),
    ("preflight", "harness.commands.preflight", "check a cluster is fit for live runs"),
    ("cleanup", "harness.commands.cleanup", "delete what earlier runs left behind"),
    ("images", "harness.commands.images", "list every image the harness uses (to mirror)"),
)

#: Entry-point group of extra subcommands (``name = "module"``): the module exposes
#: ``configure(parser)`` and ``run(args)``. The sandbox registers ``sandbox`` here, so
#: ``netpol-harness sandbox`` works without the harness importing the sandbox package.
COMMAND_GROUP = "netpol_harness.commands"
#: One-line help of the extra subcommands this distribution ships.
_EXTRA_HELP = {"sandbox": "a single-host stand-in cluster for trying the harness"}


def _commands() -> tuple[tuple[str, str, str], ...]:
    """The built-in commands, then those registered under :data:`COMMAND_GROUP`."""
    extra = sorted(
        (ep.name, ep.value, _EXTRA_HELP.get(ep.name, f"provided by {ep.value}"))
        for ep in entry_points(group=COMMAND_GROUP)
        if ep.name not in {name for name, _, _ in COMMANDS}
    )
    return COMMANDS + tuple(extra)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the module of ``command`` (when given) is imported.

    Importing one command's module only keeps a broken or slow import in one
    command from taking every other command down with it.
    """
    parser = argparse.ArgumentParser(
        prog="netpol-harness",
        description="Live connectivity tests for Kubernetes NetworkPolicies.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name, help_text in _commands():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            module = importlib.import_module(module_name)
            module.configure(cmd)
            cmd.set_defaults(_run=module.run)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    names = {name for name, _, _ in _commands()}
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in names else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    parser = build_parser(command) if command else build_parser("")
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except HarnessError as exc:
        print(f"netpol-harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netpol-harness: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
