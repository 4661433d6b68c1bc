"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``: which cluster a live command talks to."""
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: as kubectl)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context")


def add_live_options(parser: argparse.ArgumentParser, help: str) -> None:
    """``--live`` (read what exists from the cluster) with ``--kubeconfig`` / ``--context``."""
    parser.add_argument("--live", action="store_true", help=help)
    add_cluster_options(parser)


def add_list_option(parser: argparse.ArgumentParser, flag: str, metavar: str, help: str) -> None:
    """A repeatable option: the values given, in order (an empty list when not given)."""
    parser.add_argument(flag, action="append", default=[], metavar=metavar, help=help)


def add_objects_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--objects FILE``, repeatable: the files of Kubernetes objects a command reads."""
    add_list_option(parser, "--objects", "FILE", help)


def add_format_option(
    parser: argparse.ArgumentParser, choices: tuple[str, ...], help: str | None = None
) -> None:
    """``--format``: one of ``choices``, the first by default."""
    parser.add_argument("--format", default=choices[0], choices=choices, help=help)
