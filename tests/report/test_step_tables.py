"""Reports of a multi-step scenario: a grid per step, in order; the step in the JSON."""

from __future__ import annotations

from pathlib import Path

from harness.model import Outcome
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.plan import build
from harness.report import tables
from harness.report.html import html_report
from harness.report.summary import summarize
from tests.scenario.util import load_text
from tests.scenario.util import project
from tests.scenario.util import scenario_text

STEPS = """\
steps:
  - name: later
    changes: {deny: [web -> api:8080]}
"""


def _summary(tmp_path: Path) -> object:
    text = scenario_text(expect="expect:\n  allow: [web -> api:8080]\n") + STEPS
    plan = build(load_text(project(tmp_path), text), "r1", created="2026-12-01T00:00:00Z")
    verdicts = tuple(
        Verdict(
            p,
            Status.PASS,
            Outcome.CONNECTED if p.cell.expect == "allow" else Outcome.DROPPED,
            1,
            0.1,
        )
        for _, state in plan.stages()
        for p in state.probes
    )
    return summarize(ScenarioResult(plan, verdicts))


def test_a_grid_per_step_in_the_order_probed(tmp_path: Path) -> None:
    summary = _summary(tmp_path)
    assert [c["step"] for c in summary["cells"]] == ["", "later"]  # type: ignore[index]
    text = tables.truth_tables(summary)  # type: ignore[arg-type]
    heads = [ln for ln in text.splitlines() if ln.endswith(": expected")]
    assert heads == ["demo, before the steps: expected", "demo, step later: expected"]
    # The same cell shows its own expectation in each step's grid.
    lines = text.splitlines()
    before = lines[lines.index("demo, before the steps: expected") + 2]
    later = lines[lines.index("demo, step later: expected") + 2]
    assert (before.split(), later.split()) == (["web", "."], ["web", "X"])


def test_html_has_a_captioned_grid_per_step(tmp_path: Path) -> None:
    page = html_report([_summary(tmp_path)])  # type: ignore[list-item]
    assert page.count('<table class="grid">') == 2
    assert "<caption>step later</caption>" in page and "<caption>before the steps</caption>" in page
