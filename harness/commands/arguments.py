"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``: which cluster a live command talks to."""
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: as kubectl)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context")


def add_objects_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--objects FILE``, repeatable: the files of Kubernetes objects a command reads."""
    parser.add_argument("--objects", action="append", default=[], metavar="FILE", help=help)
