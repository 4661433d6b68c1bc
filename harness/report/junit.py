"""JUnit XML of a run: a testsuite per scenario, a testcase per cell.

Built with junit-xml (suites, testcases with file and line, failures and errors), then
finished with ElementTree where junit-xml has no say, so what a JUnit reader sees is
exactly what a scenario is: a testsuite's ``time`` is the scenario's wall time (its
cells run in parallel, so the sum of their times would overstate it), every time has
3 decimals, each testsuite carries ``timestamp`` and ``hostname``, and each testcase
``file`` (the scenario file as given to pytest) and ``line`` (the cell's line, 1-based).
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime

from junit_xml import TestCase
from junit_xml import TestSuite
from junit_xml import to_xml_report_string

from harness.model import Status
from harness.report.summary import CellSummary
from harness.report.summary import ScenarioSummary
from harness.report.summary import status_counts

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
    "flipped",
    "rerun",
)

# Characters XML 1.0 cannot carry (control characters from a probe's output, say).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("?", str(value))


def _seconds(value: object) -> str:
    try:
        return f"{float(value or 0.0):.3f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "0.000"


def _failure_text(cell: CellSummary) -> str:
    lines = [f"expected {cell['expected']}, observed {cell['observed']}: {cell['detail']}"]
    if cell.get("explanation"):
        lines.append(f"why: {cell['explanation']}")
    if cell.get("flipped"):
        lines.append("flipped: the network changed its answer during the run")
    if cell.get("rerun"):
        lines.append(f"probe: {cell['rerun']}")
    if cell.get("pytest_rerun"):
        lines.append(f"rerun: {cell['pytest_rerun']}")
    lines.append(f"tries: {cell['tries']}, {cell['seconds']}s after the policies were applied")
    return "\n".join(lines)


def _property(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


def _child(parent: ET.Element, tag: str, message: str, kind: str, text: str) -> None:
    element = ET.SubElement(parent, tag, {"message": _text(message)[:500], "type": kind})
    element.text = _text(text)


def _timestamp(summary: ScenarioSummary, now: datetime) -> str:
    started = str(summary.get("started") or "")
    try:
        when = datetime.fromisoformat(started.replace("Z", "+00:00")) if started else now
    except ValueError:
        when = now
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _cases(summary: ScenarioSummary) -> list[TestCase]:
    """The junit-xml testcases of one scenario: a ``setup`` case, then one per cell."""
    name = _text(summary["scenario"])
    classname = f"netpol.{name}"
    path = str(summary.get("path") or "")
    cases: list[TestCase] = []
    setup_error = str(summary.get("setup_error") or "")
    if setup_error:
        case = TestCase("setup", classname=classname, file=_text(path) or None)
        # An infrastructure cause, never a verdict: an <error>, not a <failure>.
        case.add_error_info(
            _text(f"setup failed: {setup_error}")[:500], _text(setup_error), "setup"
        )
        cases.append(case)
    for cell in summary.get("cells", []):
        line = int(cell.get("line") or 0)
        case = TestCase(
            _text(f"{cell['cell']}[{cell['expected']}]"),
            classname=classname,
            file=_text(str(cell.get("file") or path)) or None,
            line=line if line > 0 else None,
        )
        status = cell["status"]
        if status == Status.FAIL.value:
            case.add_failure_info(
                _text(f"expected {cell['expected']}, observed {cell['observed']}")[:500],
                _text(_failure_text(cell)),
                "netpol-mismatch",
            )
        elif status == Status.ERROR.value:
            case.add_error_info(
                _text(f"no verdict: {cell['detail']}")[:500],
                _text(cell["detail"]),
                "infrastructure",
            )
        cases.append(case)
    return cases


def _finish(suite: ET.Element, summary: ScenarioSummary, *, now: datetime, hostname: str) -> None:
    """What junit-xml cannot say: wall time, rounded times, timestamp, host, properties."""
    counts = status_counts(summary)
    setup_error = bool(summary.get("setup_error"))
    suite.set("time", _seconds(summary.get("seconds", 0.0)))  # wall time, not the sum
    suite.set("timestamp", _timestamp(summary, now))
    suite.set("hostname", _text(summary.get("hostname") or hostname))
    suite.set("failures", str(counts[Status.FAIL.value]))
    suite.set("errors", str(counts[Status.ERROR.value] + setup_error))
    suite.set("skipped", "0")
    props = ET.Element("properties")
    for key in ("path", "run_id"):
        ET.SubElement(props, "property", {"name": key, "value": _text(summary.get(key, ""))})
    suite.insert(0, props)
    cells = list(summary.get("cells", []))
    testcases = suite.findall("testcase")
    if setup_error:
        setup, testcases = testcases[0], testcases[1:]
        setup.set("time", _seconds(summary.get("seconds")))
        holder = ET.Element("properties")
        ET.SubElement(
            holder, "property", {"name": "run_id", "value": _text(summary.get("run_id", ""))}
        )
        setup.insert(0, holder)
    for case, cell in zip(testcases, cells, strict=True):
        case.set("time", _seconds(cell.get("seconds")))
        holder = ET.Element("properties")
        for key in CELL_PROPERTIES:
            value = cell.get(key, "")
            ET.SubElement(holder, "property", {"name": key, "value": _property(value)})
        case.insert(0, holder)


def junit_from_summaries(
    summaries: Sequence[ScenarioSummary], *, now: datetime | None = None
) -> str:
    """One JUnit XML document: a testsuite per scenario, a testcase per cell.

    Each testcase carries ``<properties>`` (source, destination, port, protocol,
    expected, observed, tries, seconds, flipped, rerun); FAIL cells are ``<failure>``
    with the explanation, infrastructure errors ``<error>``, and a setup failure is an
    errored testcase named ``setup`` (never a failure). ``now`` is the timestamp of a
    suite whose summary has no start time (a setup failure).
    """
    now = now or datetime.now(UTC)
    hostname = socket.gethostname()
    ordered = sorted(summaries, key=lambda s: str(s["scenario"]))
    suites = [TestSuite(_text(s["scenario"]), _cases(s)) for s in ordered]
    root = ET.fromstring(to_xml_report_string(suites, prettyprint=False, encoding="utf-8"))
    root.set("name", "netpol-harness")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite, summary in zip(root.findall("testsuite"), ordered, strict=True):
        _finish(suite, summary, now=now, hostname=hostname)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for total_name, total in totals.items():
        root.set(total_name, str(total))
    for attr in ("time", "disabled"):
        root.attrib.pop(attr, None)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
