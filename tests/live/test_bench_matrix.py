"""bench/bench_matrix.py: the generated scenarios are what the benchmark claims."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.policy.static import check_plan

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_matrix.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_matrix", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_matrix"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cells", [100, 1000])
def test_generated_matrix_has_n_cells_half_deny_and_true_expectations(
    cells: int, tmp_path: Path
) -> None:
    bench = _bench()
    plan = bench._plan(bench.write_scenario(tmp_path, cells), "bench001")
    assert len(plan.probes) == cells
    assert sum(p.cell.expect == "deny" for p in plan.probes) == cells // 2
    assert plan.scenario.settings.connect_timeout == 1.0
    # The policy engine agrees with every expectation: a correct harness passes all.
    wrong = [(p.id, why) for p, ok, why in check_plan(plan) if not ok]
    assert wrong == []


def test_table_marks_extrapolated_rows_and_ratios() -> None:
    bench = _bench()
    rows = [
        bench.Row(1000, "harness", 2.0, 9.0, 1000, 0),
        bench.Row(1000, "e2e-3workers", 200.0, 205.0, 200, 0, "extrapolated from 200 cells"),
    ]
    text = bench.table(rows, "header")
    assert (
        "| 1,000 | e2e-3workers | ~200 | ~205 | 200 (extrapolated from 200 cells) | 0 | 100x |"
        in text
    )
    assert "1,000 cells: a/b speed-up 100x (harness) (goal >= 50x: met)" in text
    assert "2.00 s, met" in text
