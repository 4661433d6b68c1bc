"""JUnit, parsed back: wall-time suites, rounded times, timestamp, hostname, file and line."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC
from datetime import datetime
from pathlib import Path

from harness.report import junit_from_summaries
from harness.report import setup_summary
from harness.report import summarize
from tests.report import kit


def _root(tmp_path: Path) -> tuple[ET.Element, Path]:
    result = kit.result(tmp_path, decide=kit.mixed, seconds=3.21987)
    return ET.fromstring(junit_from_summaries([summarize(result)])), tmp_path / "shop.netpol.yaml"


def test_suite_time_is_the_scenario_wall_time_not_the_sum(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("time") == "3.220"
    total = sum(float(c.get("time") or 0) for c in suite.findall("testcase"))
    assert total > 3.3  # the cells overlap: their sum is not the scenario's time


def test_every_time_has_three_decimals(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    times = [e.get("time") for e in root.iter() if e.get("time") is not None]
    assert times and all(re.fullmatch(r"\d+\.\d{3}", str(t)) for t in times)
    first = root.find("testsuite/testcase")
    assert first is not None and first.get("time") == "1.235"


def test_suites_carry_timestamp_and_hostname(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    suite = root.find("testsuite")
    assert suite is not None
    # when the scenario's plan was made (the namespaces' creation annotation)
    assert suite.get("timestamp") == "2026-01-02T03:04:05+00:00"
    assert suite.get("hostname") == socket.gethostname()
    assert datetime.fromisoformat(str(suite.get("timestamp")))


def test_cases_carry_the_scenario_file_and_the_cells_line(tmp_path: Path) -> None:
    root, path = _root(tmp_path)
    text = path.read_text().splitlines()
    cases = root.findall("testsuite/testcase")
    assert cases
    for case in cases:
        assert case.get("file") == "scenarios/shop.netpol.yaml"  # as given to pytest
        line = int(case.get("line") or 0)
        assert 1 <= line <= len(text)
    by_name = {c.get("name"): c for c in cases}
    explicit = by_name["web->api:8080/TCP[allow]"]
    assert "web -> api:8080" in text[int(explicit.get("line") or 0) - 1]
    defaulted = by_name["web->db:5432/TCP[deny]"]
    assert "default: deny" in text[int(defaulted.get("line") or 0) - 1]


def test_flipped_is_a_property_and_in_the_failure_text(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    failed = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    props = {p.get("name"): p.get("value") for p in failed.findall("properties/property")}
    assert props["flipped"] == "true"
    failure = failed.find("failure")
    assert failure is not None
    assert "flipped" in (failure.text or "")
    assert "rerun: pytest 'scenarios/shop.netpol.yaml::" in (failure.text or "")


def test_setup_summary_gets_the_write_time_and_totals(tmp_path: Path) -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    root = ET.fromstring(junit_from_summaries([setup_summary("preflight", "no cluster")], now=now))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("timestamp") == "2026-03-04T05:06:07+00:00"
    assert suite.get("tests") == "1" and suite.get("errors") == "1"
    assert root.get("tests") == "1" and root.get("errors") == "1" and root.get("failures") == "0"


def test_control_characters_do_not_break_the_xml(tmp_path: Path) -> None:
    summary = summarize(kit.result(tmp_path, decide=kit.mixed))
    summary["cells"][0]["detail"] = "bad \x00\x1b[31m bytes"
    root = ET.fromstring(junit_from_summaries([summary]))
    assert root.find("testsuite") is not None
