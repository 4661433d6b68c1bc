"""harness.report: the typed summary, JUnit (parsed back), truth tables, JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.model import Outcome
from harness.model import Plan
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.report import atomic_write
from harness.report import junit_from_summaries
from harness.report import setup_summary
from harness.report import summarize
from harness.report import summary_document
from harness.report import truth_tables
from tests.live.factory import make_plan
from tests.report import kit

CELLS: list[tuple[str, str, int, Any]] = [
    ("web", "api", 80, "allow"),
    ("web", "db", 5432, "deny"),
    ("api", "db", 5432, "deny"),
]


def _result(plan: Plan, outcomes: dict[str, tuple[Status, Outcome]]) -> ScenarioResult:
    verdicts = []
    for p in plan.probes:
        status, observed = outcomes.get(p.cell.key, (Status.PASS, Outcome.CONNECTED))
        verdicts.append(
            Verdict(
                probe=p,
                status=status,
                observed=observed,
                tries=2,
                seconds=1.5,
                detail="the detail",
                explanation="np deny-db allows nothing" if status is Status.FAIL else "",
                rerun=f"kubectl exec -n ns-r1 {p.cell.source} -c client -- curl x",
            )
        )
    return ScenarioResult(plan, tuple(verdicts), seconds=3.0)


def _mixed(name: str = "demo") -> ScenarioResult:
    plan = make_plan(CELLS, name=name)
    return _result(
        plan,
        {
            "web->api:80/TCP": (Status.PASS, Outcome.CONNECTED),
            "web->db:5432/TCP": (Status.FAIL, Outcome.CONNECTED),
            "api->db:5432/TCP": (Status.ERROR, Outcome.ERROR),
        },
    )


def junit_xml(results: list[ScenarioResult]) -> str:
    return junit_from_summaries([summarize(r) for r in results])


def _cases(xml_text: str) -> list[ET.Element]:
    return ET.fromstring(xml_text).findall("./testsuite/testcase")


def test_junit_one_case_per_cell_with_properties() -> None:
    root = ET.fromstring(junit_xml([_mixed()]))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["demo"]
    assert root.get("tests") == "3"
    assert root.get("failures") == "1"
    assert root.get("errors") == "1"
    cases = {c.get("name"): c for c in suites[0].findall("testcase")}
    assert set(cases) == {
        "api->db:5432/TCP[deny]",
        "web->api:80/TCP[allow]",
        "web->db:5432/TCP[deny]",
    }
    assert all(c.get("classname") == "netpol.demo" for c in cases.values())
    props = {
        p.get("name"): p.get("value")
        for p in cases["web->db:5432/TCP[deny]"].findall("./properties/property")
    }
    assert props == {
        "source": "web",
        "destination": "db",
        "port": "5432",
        "protocol": "TCP",
        "expected": "deny",
        "observed": "connected",
        "tries": "2",
        "seconds": "1.5",
        "flipped": "false",
        "rerun": "kubectl exec -n ns-r1 web -c client -- curl x",
    }


def test_junit_failure_vs_error() -> None:
    cases = {c.get("name"): c for c in _cases(junit_xml([_mixed()]))}
    passed = cases["web->api:80/TCP[allow]"]
    assert passed.find("failure") is None and passed.find("error") is None
    failed = cases["web->db:5432/TCP[deny]"]
    failure = failed.find("failure")
    assert failure is not None and failed.find("error") is None
    assert "expected deny, observed connected" in (failure.get("message") or "")
    assert "np deny-db allows nothing" in (failure.text or "")
    assert "kubectl exec" in (failure.text or "")
    errored = cases["api->db:5432/TCP[deny]"]
    error = errored.find("error")
    assert error is not None and errored.find("failure") is None
    assert error.get("type") == "infrastructure"


def test_junit_setup_error_is_an_errored_setup_case() -> None:
    plan = make_plan(CELLS)
    verdicts = tuple(
        Verdict(p, Status.ERROR, Outcome.ERROR, 0, 0.0, detail="setup failed: x")
        for p in plan.probes
    )
    result = ScenarioResult(plan, verdicts, setup_error="pods not Ready: ImagePullBackOff")
    cases = _cases(junit_xml([result]))
    setup = [c for c in cases if c.get("name") == "setup"]
    assert len(setup) == 1
    assert setup[0].find("failure") is None  # infrastructure: never a failure
    error = setup[0].find("error")
    assert error is not None
    assert "ImagePullBackOff" in (error.get("message") or "")
    assert len(cases) == 1 + len(plan.probes)


def test_write_junit_file(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "junit.xml"
    atomic_write(target, junit_xml([_mixed()]))
    assert len(_cases(target.read_text())) == 3


def test_truth_tables() -> None:
    text = truth_tables(_mixed())
    expected, observed, comparison = text.strip().split("\n\n")
    assert expected.splitlines()[0] == "demo: expected"
    # numbered columns, named in the legend below the last table (sorted names)
    assert expected.splitlines()[1].split() == ["0", "1"]
    assert "  0  api:80/TCP" in comparison.splitlines()
    assert "  1  db:5432/TCP" in comparison.splitlines()

    def cells(table: str, row: str) -> list[str]:
        line = next(ln for ln in table.splitlines()[2:] if ln.split()[0] == row)
        body = line[len(table.splitlines()[1]) - len(table.splitlines()[1].lstrip()) :]
        return [body[i : i + 1].strip() for i in range(0, 3, 2)]

    assert cells(expected, "web") == [".", "X"]
    assert cells(expected, "api") == ["", "X"]
    assert cells(observed, "web") == [".", "."]
    assert cells(observed, "api") == ["", "!"]
    # the comparison has its own symbols: = as expected, # differs, ? no verdict
    assert cells(comparison, "web") == ["=", "#"]
    assert cells(comparison, "api") == ["", "?"]


def test_summary_json_has_every_field() -> None:
    doc = json.loads(summary_document([summarize(_mixed())]))
    scenario = doc["scenarios"][0]
    assert scenario["scenario"] == "demo"
    assert scenario["counts"] == {"pass": 1, "fail": 1, "error": 1}
    cell = next(c for c in scenario["cells"] if c["cell"] == "web->db:5432/TCP")
    for key in (
        "id",
        "source",
        "destination",
        "port",
        "protocol",
        "expected",
        "observed",
        "status",
        "tries",
        "seconds",
        "detail",
        "explanation",
        "rerun",
        "flipped",
        "file",
        "line",
        "pytest_rerun",
    ):
        assert key in cell
    assert cell["status"] == "fail"
    assert "token" not in json.dumps(doc).lower()


def test_setup_summary_is_an_errored_setup_case_without_cells() -> None:
    summary = setup_summary("preflight", "netpol: no cluster")
    cases = _cases(junit_from_summaries([summary]))
    assert [c.get("name") for c in cases] == ["setup"]
    assert cases[0].find("error") is not None
    doc = json.loads(summary_document([summary]))
    assert doc["scenarios"] == [dict(summary)]
    assert truth_tables(summary) == "preflight: no cells"


def test_json_cells_carry_flipped_the_explanation_and_where(tmp_path: Path) -> None:
    doc = json.loads(summary_document([summarize(kit.result(tmp_path, decide=kit.mixed))]))
    scenario = doc["scenarios"][0]
    assert doc["version"] == 3
    assert scenario["flipped"] == 2
    assert scenario["started"] == "2026-01-02T03:04:05Z" and scenario["hostname"]
    cells = scenario["cells"]
    assert sorted(c["flipped"] for c in cells) == [False, False, True, True]
    # the deciding policy and rule of every verdict, passing cells too
    assert all(c["explanation"] for c in cells if c["status"] in ("pass", "fail"))
    for c in cells:
        assert c["file"] == "scenarios/shop.netpol.yaml" and c["line"] > 0
        assert (
            c["pytest_rerun"]
            == f"pytest 'scenarios/shop.netpol.yaml::{c['cell']}[{c['expected']}]'"
        )


def test_report_files_honour_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    from harness.report.files import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.xml", "x")
        os.umask(0o077)
        atomic_write(tmp_path / "b.xml", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.xml").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.xml").stat().st_mode) == 0o600
