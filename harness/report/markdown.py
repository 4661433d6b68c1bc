"""A Markdown summary of a run, for pull requests and CI job summaries.

One table with a row per scenario (pass, fail and error counts, flipped cells, time),
then, per scenario with failures or errors, its failing cells: expected, observed and
the first line of the explanation (the deciding policy). Bounded: at most
:data:`MAX_CELLS` cells are listed per scenario (GitHub caps a job summary at 1 MiB).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.model import Status
from harness.report.baseline import markdown_lines
from harness.report.summary import BaselineSummary
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import flipped_count
from harness.report.summary import status_counts
from harness.report.tables import scenario_status
from harness.report.tables import totals_line

#: Failing cells listed per scenario; the rest are counted.
MAX_CELLS = 50

_WORD = {Status.PASS.value: "pass", Status.FAIL.value: "**FAIL**", Status.ERROR.value: "**ERROR**"}


def cell(text: object) -> str:
    """One Markdown table cell: one line, pipes escaped, HTML defused, bounded."""
    line = " ".join(str(text).split())
    line = line.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return line if len(line) <= 300 else line[:299] + "…"


def code(text: object) -> str:
    """Inline code in a table cell: one line, pipes escaped, backticks defused; "" for none."""
    line = " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")
    return f"`{line}`" if line else ""


def _first_line(text: object) -> str:
    return next((ln.strip() for ln in str(text or "").splitlines() if ln.strip()), "")


def _why(c: CellSummary) -> str:
    if c["status"] == Status.ERROR.value:
        return _first_line(c.get("detail"))
    return _first_line(c.get("explanation")) or _first_line(c.get("detail"))


def markdown_summary(
    summaries: Sequence[ScenarioSummary],
    *,
    title: str = "netpol-harness",
    baseline: BaselineSummary | None = None,
) -> str:
    """The Markdown text: the run's totals, a row per scenario, then the failing cells.

    With ``baseline`` (``--netpol-baseline``), a last section lists the cells whose
    observed outcome changed since the previous run.
    """
    ordered = sorted(summaries, key=lambda s: str(s["scenario"]))
    bad = [s for s in ordered if scenario_status(s) != Status.PASS.value]
    verdict = (
        "all scenarios passed" if not bad else f"{len(bad)} of {len(ordered)} scenarios failed"
    )
    lines = [
        f"## {cell(title)}: {verdict}",
        "",
        cell(totals_line(ordered)),
        "",
        "| scenario | result | cells | passed | failed | errors | flipped | seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in ordered:
        counts = status_counts(s)
        cells = len(s.get("cells", []))
        lines.append(
            f"| {code(s['scenario'])} | {_WORD[scenario_status(s)]} | {cells} | "
            f"{counts['pass']} | {counts['fail']} | {counts['error']} | {flipped_count(s)} | "
            f"{float(s.get('seconds') or 0.0):.1f} |"
        )
    for s in bad:
        lines += ["", f"### {code(s['scenario'])}"]
        if s.get("path"):
            lines += ["", f"File: {code(s['path'])}"]
        if s.get("setup_error"):
            lines += ["", f"Not run: {cell(_first_line(s['setup_error']))}"]
        failing = [c for c in s.get("cells", []) if c["status"] != Status.PASS.value]
        if not failing:
            continue
        lines += [
            "",
            "| cell | status | expected | observed | flipped | why (first line) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for c in failing[:MAX_CELLS]:
            where = f" (line {c['line']})" if c.get("line") else ""
            lines.append(
                f"| {code(c['cell'])}{where} | {_WORD[str(c['status'])]} | {c['expected']} | "
                f"{cell(c['observed'])} | {'yes' if c.get('flipped') else 'no'} | "
                f"{cell(_why(c))} |"
            )
        if len(failing) > MAX_CELLS:
            lines += ["", f"… and {len(failing) - MAX_CELLS} more (see the JSON or HTML report)"]
    if baseline is not None:
        lines += markdown_lines(baseline)
    return "\n".join(lines) + "\n"
