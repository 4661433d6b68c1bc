"""`netpol-harness run`: run scenarios with pytest and this plugin.

A convenience over ``pytest``: ``netpol-harness run scenarios/ -n 2`` is the same as
``pytest scenarios/ -n 2`` (the plugin is registered by its entry point); everything
after the paths is passed to pytest.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="scenario files or folders, then any pytest / --netpol-* options",
    )


def run(args: argparse.Namespace) -> int:
    import pytest

    pytest_args: list[str] = list(args.pytest_args)
    if pytest_args and pytest_args[0] == "--":
        pytest_args = pytest_args[1:]
    return int(pytest.main(pytest_args or ["scenarios/"]))
