"""Calico and network-policy-api cases: the engine and the sandbox agree, cell by cell.

The case table of tests/policy/test_calico.py (each case cites the Calico or
network-policy-api text it follows) and the network-policy-api conformance
transcription become scenario files (tests/fidelity/calico_scenarios.py); the same
files are judged by the engine (``--netpol-static``) and live on the sandbox, whose
dataplane is its own implementation (netpol_sandbox/tiered.py). Every cell must pass
in both, and the inverted controls must fail in both, every cell of them: a side that
ignored these kinds would pass part of the controls.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fidelity import calico_scenarios as cs
from tests.live.sbx import run_plugin
from tests.live.test_e2e_sandbox import _sandbox


def _run(work: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    summary = work / "summary.json"
    summary.unlink(missing_ok=True)
    result = run_plugin("-q", f"--netpol-report-json={summary}", *args, ".", cwd=work, timeout=1200)
    doc = json.loads(summary.read_text()) if summary.exists() else {"scenarios": []}
    return result, {s["scenario"]: s for s in doc["scenarios"]}


def _check(
    result: subprocess.CompletedProcess[str], scenarios: dict[str, Any], counts: dict[str, int]
) -> dict[str, str]:
    """Every case passes, every control fails in every cell; cell id -> status."""
    out = result.stdout[-4000:] + result.stderr[-2000:]
    assert set(scenarios) == set(counts), out
    statuses: dict[str, str] = {}
    for name, summary in scenarios.items():
        cells = summary["cells"]
        assert len(cells) == counts[name], (name, out)
        want = "fail" if name.endswith(cs.INVERTED) else "pass"
        wrong = [c["id"] for c in cells if c["status"] != want]
        assert not wrong, (name, wrong, [c.get("detail") for c in cells])
        if want == "pass":  # a control may agree before its policies are programmed
            assert summary["flipped"] == 0, name
        statuses.update({c["id"]: c["status"] for c in cells})
    return statuses


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    work = tmp_path_factory.mktemp("calico-fidelity")
    return work, cs.write_all(work)


@pytest.fixture(scope="module")
def static(cases: tuple[Path, dict[str, int]]) -> dict[str, str]:
    work, counts = cases
    result, scenarios = _run(work, "--netpol-static")
    return _check(result, scenarios, counts)


def test_the_engine_passes_every_case_and_fails_every_control(static: dict[str, str]) -> None:
    assert len(static) >= 60


def test_every_case_table_entry_is_a_scenario(cases: tuple[Path, dict[str, int]]) -> None:
    from tests.policy import test_calico as tc

    _, counts = cases
    calico = [n for n in counts if n.startswith("calico-") and not n.endswith(cs.INVERTED)]
    assert len(calico) == len(tc.CASES)
    assert len([n for n in counts if n.endswith(cs.INVERTED)]) == len(cs.CONTROLS)


@pytest.fixture(scope="module")
def live(
    cases: tuple[Path, dict[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.CompletedProcess[str], dict[str, Any]]]:
    work, _ = cases
    for kubeconfig in _sandbox(tmp_path_factory.mktemp("sbx-calico")):
        yield _run(work, "-n", "2", f"--netpol-kubeconfig={kubeconfig}")


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_sandbox_agrees_with_the_engine_cell_by_cell(
    cases: tuple[Path, dict[str, int]],
    static: dict[str, str],
    live: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, counts = cases
    result, scenarios = live
    statuses = _check(result, scenarios, counts)
    assert statuses == static
    # the live explanations name what decided (read back from the cluster)
    explained = [c["explanation"] for s in scenarios.values() for c in s["cells"]]
    assert any("decided by tier" in e for e in explained), explained[:3]
    assert any("Admin tier" in e or "Baseline tier" in e for e in explained), explained[:3]
