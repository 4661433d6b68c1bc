"""Writing a report file: all of it or nothing (a reader never sees half a file)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.report.junit import junit_from_summaries
from harness.report.summary import ScenarioSummary
from harness.report.summary import summary_document


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (parents made)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(
    summaries: Sequence[ScenarioSummary], *, junit: str | None, report_json: str | None
) -> list[str]:
    """THE writer of a run's reports: one JUnit file and one JSON summary, as configured.

    Returns what was written, as lines for the terminal ("JUnit: PATH").
    """
    written: list[str] = []
    if junit:
        atomic_write(junit, junit_from_summaries(summaries))
        written.append(f"JUnit: {junit}")
    if report_json:
        atomic_write(report_json, summary_document(summaries))
        written.append(f"JSON summary: {report_json}")
    return written
