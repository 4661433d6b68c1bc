"""Hooks the netpol plugin adds to pytest, for conftest files and other plugins."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from harness.report import ScenarioSummary


@pytest.hookspec
def pytest_netpol_write_reports(
    config: pytest.Config, summaries: Sequence[ScenarioSummary]
) -> None:
    """Called once per run, on the controller, after the JUnit and JSON reports are written.

    ``summaries`` holds one summary per scenario that ran (or could not be set up), the
    same dicts the JSON report carries. Implement it in a ``conftest.py`` to write
    reports of your own (a dashboard upload, a custom format).
    """
