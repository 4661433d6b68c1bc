"""Truth tables (rows = sources, columns = targets) and the one-line counts of a scenario."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

from harness.model import Outcome
from harness.model import ScenarioResult
from harness.model import Status
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import summarize

#: Truth-table symbols (as the upstream e2e suite, plus kinds of failure).
SYMBOLS: Mapping[str, str] = {
    Outcome.CONNECTED.value: ".",
    Outcome.DROPPED.value: "X",
    Outcome.REFUSED.value: "R",
    Outcome.DNS_FAILURE.value: "D",
    Outcome.ERROR.value: "!",
}


def _grid(
    rows: Sequence[str],
    cols: Sequence[str],
    value: Mapping[tuple[str, str], str],
    title: str,
) -> str:
    width = max([len(r) for r in rows] + [4])
    col_w = [max(len(c), 1) for c in cols]
    header = " " * width + " | " + " | ".join(c for c in cols)
    lines = [title, header, "-" * len(header)]
    for r in rows:
        cells = [value.get((r, c), " ").center(w) for c, w in zip(cols, col_w, strict=True)]
        lines.append(r.ljust(width) + " | " + " | ".join(cells))
    return "\n".join(lines)


def _column(cell: CellSummary) -> str:
    return f"{cell['destination']}:{cell['port']}/{cell['protocol']}"


def truth_tables(summary_or_result: ScenarioSummary | ScenarioResult) -> str:
    """Expected, observed and comparison tables (rows = sources, columns = targets).

    Symbols: ``.`` connected, ``X`` dropped/denied, ``R`` refused, ``D`` DNS
    failure, ``!`` error; comparison: ``.`` same, ``X`` differs, ``!`` no verdict.
    """
    summary = (
        summarize(summary_or_result)
        if isinstance(summary_or_result, ScenarioResult)
        else summary_or_result
    )
    cells = list(summary.get("cells", []))
    if not cells:
        return f"{summary['scenario']}: no cells"
    rows = sorted({str(c["source"]) for c in cells})
    cols = sorted({_column(c) for c in cells})
    expected: dict[tuple[str, str], str] = {}
    observed: dict[tuple[str, str], str] = {}
    compare: dict[tuple[str, str], str] = {}
    for c in cells:
        key = (str(c["source"]), _column(c))
        expected[key] = "." if c["expected"] == "allow" else "X"
        observed[key] = SYMBOLS.get(str(c["observed"]), "?")
        compare[key] = {"pass": ".", "fail": "X"}.get(str(c["status"]), "!")
    name = summary["scenario"]
    parts = [
        _grid(rows, cols, expected, f"{name}: expected"),
        _grid(rows, cols, observed, f"{name}: observed"),
        _grid(rows, cols, compare, f"{name}: comparison"),
    ]
    return "\n\n".join(parts) + "\n"


def counts_line(summary: ScenarioSummary) -> str:
    """One line per scenario: cells, passes, failures, errors and time."""
    cells = list(summary.get("cells", []))
    counts = {s.value: 0 for s in Status}
    for c in cells:
        counts[str(c["status"])] = counts.get(str(c["status"]), 0) + 1
    tries = max((int(c.get("tries", 0)) for c in cells), default=0)
    return (
        f"{summary['scenario']}: {len(cells)} cells, {counts['pass']} passed, "
        f"{counts['fail']} failed, {counts['error']} errors; "
        f"at most {tries} tries; {float(summary.get('seconds', 0.0)):.1f}s"
    )
