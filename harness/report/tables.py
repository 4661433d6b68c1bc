"""Truth tables: ONE grid renderer (rows = sources, numbered columns, legend below).

:func:`render_grids` lays out one or more grids over the same rows and columns in at
most ``width`` columns: column headers are numbers, the legend below the grids names
them, and a grid too wide for ``width`` is split into blocks of columns. It is shared
by the plugin's truth tables (:func:`truth_tables`) and ``netpol-harness predict``.

Colour is optional and decided by the caller: ``paint(text, style)`` wraps a cell's
symbol in markup (the plugin passes pytest's TerminalWriter, which honours NO_COLOR
and non-terminals); widths are always computed on the plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from harness.model import Outcome
from harness.model import ScenarioResult
from harness.model import Status
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import by_step
from harness.report.summary import flipped_count
from harness.report.summary import status_counts
from harness.report.summary import step_title
from harness.report.summary import summarize

#: The width every table fits in.
WIDTH = 100
#: Legends are one entry a line up to this many columns, packed side by side above.
_ONE_A_LINE = 8

#: Observed-outcome symbols (as the upstream e2e suite, plus kinds of failure).
SYMBOLS: Mapping[str, str] = {
    Outcome.CONNECTED.value: ".",
    Outcome.DROPPED.value: "X",
    Outcome.REFUSED.value: "R",
    Outcome.DNS_FAILURE.value: "D",
    Outcome.ERROR.value: "!",
}
#: Comparison symbols: deliberately none of the outcome symbols.
SAME, DIFFERS, FLIPPED, NO_VERDICT = "=", "#", "~", "?"

#: Styles a cell can have; the caller's ``paint`` maps them to colours.
GOOD, BAD, WARN = "good", "bad", "warn"

SYMBOL_LEGEND = (
    "expected/observed: . connected  X dropped  R refused  D DNS failure  ! no verdict",
    f"comparison: {SAME} as expected  {DIFFERS} differs  {FLIPPED} as expected, but flipped"
    f"  {NO_VERDICT} no verdict",
)

Paint = Callable[[str, str], str]


@dataclass(frozen=True)
class Mark:
    """One rendered cell: its symbol and a style (``good``, ``bad``, ``warn`` or none)."""

    symbol: str
    style: str = ""


def _plain(text: str, style: str) -> str:
    return text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "~"


def render_grids(
    rows: Sequence[str],
    cols: Sequence[str],
    grids: Sequence[tuple[str, Mapping[tuple[str, str], Mark]]],
    *,
    width: int = WIDTH,
    paint: Paint | None = None,
) -> list[str]:
    """Lines of each ``(title, cells)`` grid, then the legend of the numbered columns.

    An empty title prints no line (unless the grid is split into blocks of columns).

    Rows are labelled with their names (cut with ``~`` past a third of ``width``),
    columns with their index (stacked one digit a line when wider than a cell, tens
    above units); a cell missing from ``cells`` is blank. Every line is at
    most ``width`` columns (markup from ``paint`` aside).
    """
    paint = paint or _plain
    w = max([1] + [len(m.symbol) for _, g in grids for m in g.values()])
    digits = len(str(max(len(cols) - 1, 0)))
    left = min(max([len(r) for r in rows] + [1]), max(width // 3, 8))
    per = max(1, (width - left - 2 + 1) // (w + 1))
    count = max(1, -(-len(cols) // per))
    per = -(-len(cols) // count) if cols else 1  # blocks of about equal width
    blocks = [range(i, min(i + per, len(cols))) for i in range(0, len(cols), per)] or [range(0)]
    lines: list[str] = []
    for g, (title, cells) in enumerate(grids):
        if g:
            lines.append("")
        for b, block in enumerate(blocks):
            if len(blocks) > 1:
                if b:
                    lines.append("")
                head = f"{title} (columns {block.start}-{block.stop - 1})".strip()
                lines.append(_fit(head, width))
            elif title:
                lines.append(_fit(title, width))
            # Column numbers wider than a cell stand in rows, one digit each (tens above).
            for d in range(digits - 1, -1, -1) if digits > w else [-1]:
                numbers = [str(i) if d < 0 else _digit(i, d) for i in block]
                lines.append((" " * left + "  " + " ".join(f"{n:>{w}}" for n in numbers)).rstrip())
            for r in rows:
                out = []
                for i in block:
                    mark = cells.get((r, cols[i]))
                    text = f"{mark.symbol if mark else '':>{w}}"
                    out.append(paint(text, mark.style) if mark and mark.style else text)
                lines.append((f"{_fit(r, left):<{left}}  " + " ".join(out)).rstrip())
    lines.extend(legend(cols, width=width))
    return lines


def _digit(number: int, place: int) -> str:
    """The digit of ``number`` at ``place`` (0 = units); blank above its first digit."""
    text = str(number)
    return text[-1 - place] if place < len(text) and (place == 0 or number >= 10**place) else " "


def legend(cols: Sequence[str], *, width: int = WIDTH) -> list[str]:
    """``  N  name`` for every column; packed side by side when there are many."""
    w = len(str(max(len(cols) - 1, 0)))
    entries = [_fit(f"{i:>{w}}  {name}", width - 2) for i, name in enumerate(cols)]
    if len(entries) <= _ONE_A_LINE:
        return [f"  {e}" for e in entries]
    entry_w = max(len(e) for e in entries) + 3
    per = max(1, (width - 2 + 3) // entry_w)
    height = -(-len(entries) // per)
    lines = []
    for r in range(height):
        row = [entries[c * height + r] for c in range(per) if c * height + r < len(entries)]
        lines.append(("  " + "".join(f"{e:<{entry_w}}" for e in row)).rstrip())
    return lines


# ---------------------------------------------------------------- scenario tables


def column_of(cell: CellSummary) -> str:
    """A cell's column: ``destination:port/protocol``."""
    return f"{cell['destination']}:{cell['port']}/{cell['protocol']}"


def _style(cell: CellSummary) -> str:
    return {Status.PASS.value: GOOD, Status.FAIL.value: BAD}.get(str(cell["status"]), WARN)


def compare_mark(cell: CellSummary) -> Mark:
    """The comparison table's cell: as expected, differs, flipped or no verdict."""
    status = str(cell["status"])
    if status == Status.FAIL.value:
        return Mark(DIFFERS, BAD)
    if status == Status.PASS.value:
        return Mark(FLIPPED, WARN) if cell.get("flipped") else Mark(SAME, GOOD)
    return Mark(NO_VERDICT, WARN)


def _summary(summary_or_result: ScenarioSummary | ScenarioResult) -> ScenarioSummary:
    if isinstance(summary_or_result, ScenarioResult):
        return summarize(summary_or_result)
    return summary_or_result


def truth_tables(
    summary_or_result: ScenarioSummary | ScenarioResult,
    *,
    width: int = WIDTH,
    paint: Paint | None = None,
) -> str:
    """Expected, observed and comparison tables, the column legend and the symbols.

    Rows are sources, numbered columns ``destination:port/protocol`` (named in the
    legend below). Symbols: ``.`` connected, ``X`` dropped, ``R`` refused, ``D`` DNS
    failure, ``!`` no verdict; comparison: ``=`` as expected, ``#`` differs, ``~`` as
    expected but the answer flipped during the run, ``?`` no verdict.
    """
    summary = _summary(summary_or_result)
    cells = list(summary.get("cells", []))
    if not cells:
        return f"{summary['scenario']}: no cells"
    rows = sorted({str(c["source"]) for c in cells})
    cols = sorted({column_of(c) for c in cells})
    steps = by_step(cells)
    grids: list[tuple[str, Mapping[tuple[str, str], Mark]]] = []
    for step, indices in steps.items():
        expected: dict[tuple[str, str], Mark] = {}
        observed: dict[tuple[str, str], Mark] = {}
        compare: dict[tuple[str, str], Mark] = {}
        for c in (cells[i] for i in indices):
            key = (str(c["source"]), column_of(c))
            expected[key] = Mark("." if c["expected"] == "allow" else "X")
            observed[key] = Mark(SYMBOLS.get(str(c["observed"]), "?"), _style(c))
            compare[key] = compare_mark(c)
        # A multi-step scenario: three grids a step, named "scenario, step NAME".
        name = summary["scenario"]
        if len(steps) > 1:
            name = f"{name}, {step_title(step)}"
        grids += [
            (f"{name}: expected", expected),
            (f"{name}: observed", observed),
            (f"{name}: comparison", compare),
        ]
    lines = render_grids(rows, cols, grids, width=width, paint=paint)
    lines += [_fit(line, width) for line in SYMBOL_LEGEND]
    return "\n".join(lines) + "\n"


def cell_lines(summary: ScenarioSummary) -> list[str]:
    """Every cell on a line (status, expectation, observation), its explanation below.

    What ``-v`` prints: the deciding policy and rule of passing cells too.
    """
    lines: list[str] = []
    for c in summary.get("cells", []):
        tries = int(c.get("tries", 0))
        flipped = ", flipped" if c.get("flipped") else ""
        lines.append(
            f"  {str(c['status']).upper():<5} {c['cell']}[{c['expected']}]: observed "
            f"{c['observed']}, {tries} {'try' if tries == 1 else 'tries'}, "
            f"{float(c.get('seconds') or 0.0):.1f}s{flipped}"
        )
        why = str(c.get("explanation") or "")
        if not why and c["status"] != Status.PASS.value:
            why = str(c.get("detail") or "")
        lines += [f"        {ln}" for ln in why.splitlines() if ln.strip()]
    return lines


def counts_line(summary: ScenarioSummary) -> str:
    """One line per scenario: cells, passes, failures, errors, flipped cells and time."""
    cells = list(summary.get("cells", []))
    counts = status_counts(summary)
    tries = max((int(c.get("tries", 0)) for c in cells), default=0)
    return (
        f"{summary['scenario']}: {len(cells)} cells, {counts['pass']} passed, "
        f"{counts['fail']} failed, {counts['error']} errors, {flipped_count(summary)} flipped; "
        f"at most {tries} tries; {float(summary.get('seconds', 0.0)):.1f}s"
    )


def totals_line(summaries: Sequence[ScenarioSummary]) -> str:
    """The run in one line: scenarios, cells by status, flipped cells, scenarios not run."""
    counts = {s.value: 0 for s in Status}
    cells = flipped = not_run = 0
    for summary in summaries:
        if summary.get("setup_error") and not summary.get("cells"):
            not_run += 1
        for key, n in status_counts(summary).items():
            counts[key] = counts.get(key, 0) + n
        cells += len(summary.get("cells", []))
        flipped += flipped_count(summary)
    tail = f"; {not_run} not run" if not_run else ""
    return (
        f"{len(summaries)} scenarios, {cells} cells: {counts['pass']} passed, "
        f"{counts['fail']} failed, {counts['error']} errors, {flipped} flipped{tail}"
    )


def scenario_status(summary: ScenarioSummary) -> str:
    """``pass`` (every cell passed), ``fail`` (some cell failed) or ``error``."""
    counts = status_counts(summary)
    if summary.get("setup_error") or counts["error"]:
        return Status.ERROR.value if not counts["fail"] else Status.FAIL.value
    return Status.FAIL.value if counts["fail"] else Status.PASS.value
