"""The ONE table renderer: 100 columns, numbered headers and a legend, symbols, colour."""

from __future__ import annotations

from pathlib import Path

from harness.commands.predict import render_table
from harness.report import cell_lines
from harness.report import counts_line
from harness.report import render_grids
from harness.report import summarize
from harness.report import totals_line
from harness.report import truth_tables
from harness.report.tables import SYMBOLS
from harness.report.tables import Mark
from tests.report import kit


def test_a_twelve_workload_scenario_fits_100_columns(tmp_path: Path) -> None:
    summary = summarize(kit.result(tmp_path, kit.twelve(), kit.mixed, name="twelve.netpol.yaml"))
    text = truth_tables(summary)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    # 24 numbered columns, each named once in the legend below the tables
    columns = sorted({f"{c['destination']}:{c['port']}/{c['protocol']}" for c in summary["cells"]})
    assert len(columns) == 24
    for i, name in enumerate(columns):
        assert f"{i:>2}  {name}" in text
    legend_at = next(i for i, line in enumerate(lines) if line.strip().startswith("0  "))
    assert legend_at > max(
        i for i, line in enumerate(lines) if line.startswith("twelve: comparison")
    )
    # every source is a row of each of the three tables, its name in full (fits a third)
    for name in kit.NAMES:
        assert sum(1 for line in lines if line.split()[:1] == [name]) == 3


def test_wide_matrices_split_into_blocks_of_columns() -> None:
    rows = [f"client-{i}" for i in range(5)]
    cols = [f"server-{i:03}:8080/TCP" for i in range(150)]
    cells = {(r, c): Mark("X") for r in rows for c in cols}
    lines = render_grids(rows, cols, [("wide: observed", cells)])
    assert max(len(line) for line in lines) <= 100
    titles = [line for line in lines if line.startswith("wide: observed (columns ")]
    assert len(titles) >= 2
    assert titles[0].startswith("wide: observed (columns 0-")
    assert titles[-1].endswith("-149)")
    # three-digit numbers stack one digit a line over single-character cells
    assert "X X X" in lines[5]


def test_long_names_are_cut_to_fit() -> None:
    long = "a-very-long-workload-name-that-goes-on-and-on-and-on-for-sixty-chars"
    lines = render_grids([long], [long + ":80/TCP"], [("t", {(long, long + ":80/TCP"): Mark(".")})])
    assert max(len(line) for line in lines) <= 100
    assert any(line.startswith("a-very-long-workload-name-that-g~  .") for line in lines)
    assert f"  0  {long}:80/TCP" in lines  # the legend names it in full


def test_comparison_symbols_are_not_outcome_symbols(tmp_path: Path) -> None:
    text = truth_tables(kit.result(tmp_path, decide=kit.mixed))
    comparison = text.split("shop: comparison")[1].split("  0  ")[0]
    marks = {t for t in comparison.split() if len(t) == 1 and not t.isdigit()}
    assert marks == {"=", "#", "?", "~"}  # as expected, differs, no verdict, flipped
    assert not marks & set(SYMBOLS.values())
    assert "comparison: = as expected  # differs  ~ as expected, but flipped  ? no verdict" in text
    assert "expected/observed: . connected  X dropped" in text


def test_predict_shares_the_renderer() -> None:
    matrix = {"x/a": {"x/a": False, "x/b": True}, "x/b": {"x/a": True, "x/b": True}}
    out = render_table(matrix, "80/TCP").splitlines()
    cells = {(s, d): Mark("." if ok else "X") for s, row in matrix.items() for d, ok in row.items()}
    grid = render_grids(sorted(matrix), sorted(matrix), [("", cells)])
    assert out[1 : 1 + len(grid)] == grid  # the same header, rows and legend
    assert out[-1] == "3 of 4 cells allowed, 1 denied"
    assert max(len(line) for line in out) <= 100


def test_paint_wraps_the_cells_only_and_widths_ignore_it(tmp_path: Path) -> None:
    summary = summarize(kit.result(tmp_path, decide=kit.mixed))
    plain = truth_tables(summary)
    styles: list[str] = []

    def paint(text: str, style: str) -> str:
        styles.append(style)
        return f"<{style}>{text}</>"

    painted = truth_tables(summary, paint=paint)
    assert {"good", "bad", "warn"} <= set(styles)
    stripped = painted
    for style in ("good", "bad", "warn"):
        stripped = stripped.replace(f"<{style}>", "")
    assert stripped.replace("</>", "") == plain


def test_counts_and_totals_count_flipped_cells(tmp_path: Path) -> None:
    bad = summarize(kit.result(tmp_path, decide=kit.mixed))
    line = counts_line(bad)
    assert line.startswith("shop: 4 cells, 2 passed, 1 failed, 1 errors, 2 flipped;")
    assert line.endswith("; 3.2s")
    green = summarize(kit.result(tmp_path, kit.named("green"), name="green.netpol.yaml"))
    assert "0 flipped" in counts_line(green)
    assert totals_line([bad, green]) == (
        "2 scenarios, 8 cells: 6 passed, 1 failed, 1 errors, 2 flipped"
    )


def test_cell_lines_explain_passing_cells_too(tmp_path: Path) -> None:
    summary = summarize(kit.result(tmp_path, decide=kit.mixed))
    lines = cell_lines(summary)
    passing = [c for c in summary["cells"] if c["status"] == "pass"]
    assert passing
    for c in passing:
        at = next(i for i, ln in enumerate(lines) if f" {c['cell']}[{c['expected']}]:" in ln)
        assert lines[at].lstrip().startswith("PASS")
        assert "by shop/np-" in lines[at + 2]  # the deciding policy and rule
    assert any(", flipped" in ln for ln in lines)
