"""Writing a report file: all of it or nothing (a reader never sees half a file)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.report.html import html_report
from harness.report.junit import junit_from_summaries
from harness.report.markdown import markdown_summary
from harness.report.summary import BaselineSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import summary_document


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (parents made).

    The file gets the mode a plain ``open()`` would give it (0666 less the umask), not
    the temporary file's 0600: a CI job's report must be readable by the next step.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_reports(
    summaries: Sequence[ScenarioSummary],
    *,
    junit: str | None,
    report_json: str | None,
    html: str | None = None,
    markdown: str | None = None,
    baseline: BaselineSummary | None = None,
) -> list[str]:
    """THE writer of a run's reports: JUnit, JSON, HTML and Markdown, as configured.

    ``baseline`` (``--netpol-baseline``) goes into the JSON summary, the HTML and the
    Markdown. Returns what was written, as lines for the terminal ("JUnit: PATH").
    """
    written: list[str] = []
    if junit:
        atomic_write(junit, junit_from_summaries(summaries))
        written.append(f"JUnit: {junit}")
    if report_json:
        atomic_write(report_json, summary_document(summaries, baseline))
        written.append(f"JSON summary: {report_json}")
    if html:
        atomic_write(html, html_report(summaries, baseline=baseline))
        written.append(f"HTML report: {html}")
    if markdown:
        atomic_write(markdown, markdown_summary(summaries, baseline=baseline))
        written.append(f"Markdown summary: {markdown}")
    return written
