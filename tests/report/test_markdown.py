"""The Markdown summary for pull requests: counts per scenario, failing cells, the why."""

from __future__ import annotations

from pathlib import Path

from harness.model import Outcome
from harness.model import Probe
from harness.model import Status
from harness.report import markdown_summary
from harness.report import setup_summary
from harness.report import summarize
from harness.report.markdown import MAX_CELLS
from tests.report import kit


def test_counts_per_scenario_and_the_failing_cells(tmp_path: Path) -> None:
    bad = summarize(kit.result(tmp_path, decide=kit.mixed))
    green = summarize(kit.result(tmp_path, kit.named("green"), name="green.netpol.yaml"))
    text = markdown_summary([green, bad])
    lines = text.splitlines()
    assert lines[0] == "## netpol-harness: 1 of 2 scenarios failed"
    assert "2 scenarios, 8 cells: 6 passed, 1 failed, 1 errors, 2 flipped" in text
    assert "| `green` | pass | 4 | 4 | 0 | 0 | 0 | 3.2 |" in lines
    assert "| `shop` | **FAIL** | 4 | 2 | 1 | 1 | 2 | 3.2 |" in lines
    assert "### `shop`" in lines and "### `green`" not in text  # passing: no section
    failed = next(c for c in bad["cells"] if c["status"] == "fail")
    row = next(ln for ln in lines if ln.startswith(f"| `{failed['cell']}`"))
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert cells[1:5] == ["**FAIL**", failed["expected"], failed["observed"], "yes"]
    assert cells[5] == failed["explanation"].splitlines()[0]  # the first line only
    assert f"(line {failed['line']})" in cells[0]
    errored = next(c for c in bad["cells"] if c["status"] == "error")
    assert any(ln.startswith(f"| `{errored['cell']}`") and "probe broke" in ln for ln in lines)
    passing = [c for c in bad["cells"] if c["status"] == "pass"]
    assert not any(ln.startswith(f"| `{c['cell']}`") for c in passing for ln in lines)


def test_all_green_and_not_run() -> None:
    text = markdown_summary([setup_summary("preflight", "netpol: no cluster\nmore")])
    assert text.splitlines()[0] == "## netpol-harness: 1 of 1 scenarios failed"
    assert "Not run: netpol: no cluster" in text and "more" not in text
    assert "| `preflight` | **ERROR** | 0 |" in text


def test_pipes_and_markup_are_defused(tmp_path: Path) -> None:
    summary = summarize(kit.result(tmp_path, decide=kit.mixed))
    failed = next(c for c in summary["cells"] if c["status"] == "fail")
    failed["explanation"] = "DENIED | <script>x</script>"
    text = markdown_summary([summary])
    row = next(ln for ln in text.splitlines() if ln.startswith(f"| `{failed['cell']}`"))
    assert "DENIED \\| &lt;script>x&lt;/script>" in row
    assert "<script>" not in text


def test_long_lists_are_bounded(tmp_path: Path) -> None:
    def wrong(i: int, p: Probe) -> tuple[Status, Outcome, bool]:
        return Status.FAIL, Outcome.CONNECTED if p.cell.expect == "deny" else Outcome.DROPPED, False

    summary = summarize(kit.result(tmp_path, kit.twelve(), wrong, name="twelve.netpol.yaml"))
    failing = len(summary["cells"])
    assert failing > MAX_CELLS
    text = markdown_summary([summary])
    assert f"… and {failing - MAX_CELLS} more" in text
    assert sum(1 for ln in text.splitlines() if ln.startswith("| `") and "->" in ln) == MAX_CELLS
