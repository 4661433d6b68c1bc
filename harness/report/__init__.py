"""Reports of a run: the typed summary, JUnit, JSON, HTML, Markdown and truth tables.

Everything is built from one :class:`ScenarioSummary` per scenario
(:func:`summarize`, :mod:`harness.report.summary`), a JSON-ready TypedDict:

- :mod:`harness.report.junit`: :func:`junit_from_summaries`, ONE JUnit XML file;
- :mod:`harness.report.tables`: the ONE table renderer (:func:`render_grids`, also
  used by ``netpol-harness predict``), :func:`truth_tables`, :func:`counts_line`,
  :func:`totals_line`, :func:`cell_lines`;
- :mod:`harness.report.html`: :func:`html_report`, ONE self-contained HTML file;
- :mod:`harness.report.markdown`: :func:`markdown_summary`, for pull requests;
- :mod:`harness.report.baseline`: ``--netpol-baseline``, the cells whose observed
  outcome changed since a previous JSON summary;
- :func:`summary_document`: the JSON summary file's text;
- :mod:`harness.report.files`: :func:`write_reports` (every configured report) and
  :func:`atomic_write` (all of a file or nothing).

How a run's reports are made (:class:`harness.plugin.reports.Reporter`): each
process that ran scenarios (the only process, or each pytest-xdist worker)
summarises its live ScenarioResults at the end of its session. A worker hands
its summaries, as JSON, to the controller through xdist's ``workeroutput``
channel (read back in ``pytest_testnodedown``); the controller (or the only
process) merges them by scenario, adds a :func:`setup_summary` for a scenario
that failed before any live result, writes ONE file of each configured report and
prints the terminal summary. There are no per-worker fragment files.

No secrets are ever part of a result (commands, addresses, pod names only).
"""

from __future__ import annotations

from harness.report.files import atomic_write
from harness.report.files import write_reports
from harness.report.html import html_report
from harness.report.junit import CELL_PROPERTIES
from harness.report.junit import junit_from_summaries
from harness.report.markdown import markdown_summary
from harness.report.summary import SUMMARY_VERSION
from harness.report.summary import BaselineSummary
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import SummaryDocument
from harness.report.summary import setup_summary
from harness.report.summary import summarize
from harness.report.summary import summarize_cell
from harness.report.summary import summary_document
from harness.report.tables import SYMBOLS
from harness.report.tables import Mark
from harness.report.tables import cell_lines
from harness.report.tables import counts_line
from harness.report.tables import render_grids
from harness.report.tables import totals_line
from harness.report.tables import truth_tables

__all__ = [
    "CELL_PROPERTIES",
    "SUMMARY_VERSION",
    "SYMBOLS",
    "BaselineSummary",
    "CellSummary",
    "Mark",
    "ScenarioSummary",
    "SummaryDocument",
    "atomic_write",
    "cell_lines",
    "counts_line",
    "html_report",
    "junit_from_summaries",
    "markdown_summary",
    "render_grids",
    "setup_summary",
    "summarize",
    "summarize_cell",
    "summary_document",
    "totals_line",
    "truth_tables",
    "write_reports",
]
