"""JUnit XML of a run (via junit-xml): a testsuite per scenario, a testcase per cell."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from junit_xml import TestCase
from junit_xml import TestSuite

from harness.model import Status
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary

#: The ``<properties>`` of every testcase, in this order.
CELL_PROPERTIES = (
    "source",
    "destination",
    "port",
    "protocol",
    "expected",
    "observed",
    "tries",
    "seconds",
    "rerun",
)


def _failure_text(cell: CellSummary) -> str:
    lines = [f"expected {cell['expected']}, observed {cell['observed']}: {cell['detail']}"]
    if cell.get("explanation"):
        lines.append(f"why: {cell['explanation']}")
    if cell.get("rerun"):
        lines.append(f"rerun: {cell['rerun']}")
    lines.append(f"tries: {cell['tries']}, {cell['seconds']}s after the policies were applied")
    return "\n".join(lines)


def _suite(summary: ScenarioSummary) -> tuple[TestSuite, list[list[tuple[str, str]]]]:
    name = str(summary["scenario"])
    classname = f"netpol.{name}"
    cases: list[TestCase] = []
    props: list[list[tuple[str, str]]] = []
    if summary.get("setup_error"):
        case = TestCase("setup", classname=classname, elapsed_sec=summary.get("seconds", 0.0))
        # An infrastructure cause, never a verdict: an <error>, not a <failure>.
        case.add_error_info(
            message=f"setup failed: {summary['setup_error']}"[:500],
            output=str(summary["setup_error"]),
            error_type="setup",
        )
        cases.append(case)
        props.append([("run_id", str(summary.get("run_id", "")))])
    for cell in summary.get("cells", []):
        case = TestCase(
            f"{cell['cell']}[{cell['expected']}]",
            classname=classname,
            elapsed_sec=float(cell.get("seconds") or 0.0),
            file=summary.get("path") or None,
        )
        status = cell["status"]
        if status == Status.FAIL.value:
            case.add_failure_info(
                message=f"expected {cell['expected']}, observed {cell['observed']}",
                output=_failure_text(cell),
                failure_type="netpol-mismatch",
            )
        elif status == Status.ERROR.value:
            case.add_error_info(
                message=f"no verdict: {cell['detail']}"[:500],
                output=str(cell["detail"]),
                error_type="infrastructure",
            )
        cases.append(case)
        props.append([(key, str(cell.get(key, ""))) for key in CELL_PROPERTIES])
    suite = TestSuite(
        name,
        cases,
        properties={"path": str(summary.get("path", "")), "run_id": str(summary.get("run_id", ""))},
    )
    return suite, props


def junit_from_summaries(summaries: Sequence[ScenarioSummary]) -> str:
    """One JUnit XML document: a testsuite per scenario, a testcase per cell.

    Each testcase carries ``<properties>`` (source, destination, port,
    protocol, expected, observed, tries, seconds, rerun); FAIL cells are
    ``<failure>`` with the explanation, infrastructure errors ``<error>``, and a
    setup failure is an errored testcase named ``setup`` (never a failure).
    """
    root = ET.Element("testsuites")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for summary in sorted(summaries, key=lambda s: str(s["scenario"])):
        suite, props = _suite(summary)
        element = suite.build_xml_doc()
        for case_el, case_props in zip(element.findall("testcase"), props, strict=True):
            holder = ET.Element("properties")
            for key, value in case_props:
                ET.SubElement(holder, "property", {"name": key, "value": value})
            case_el.insert(0, holder)
        for key in totals:
            totals[key] += int(element.get(key, "0"))
        root.append(element)
    for total_name, total in totals.items():
        root.set(total_name, str(total))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
