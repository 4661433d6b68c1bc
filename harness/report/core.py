"""Reports: JUnit XML, truth tables and the JSON summary. Pure formatting + file writing.

Everything is built from a plain summary dict per scenario (:func:`summarize`),
which is also the per-worker fragment format: each pytest-xdist worker writes
its ScenarioResults as JSON fragments (:func:`write_fragment`), and the
controller merges them into ONE JUnit file (:func:`merge_fragments`).

No secrets are ever part of a result (commands, addresses, pod names only).
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from junit_xml import TestCase
from junit_xml import TestSuite

from harness.model import Outcome
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict

SUMMARY_VERSION = 1

#: Truth-table symbols (as the upstream e2e suite, plus kinds of failure).
SYMBOLS: Mapping[str, str] = {
    Outcome.CONNECTED.value: ".",
    Outcome.DROPPED.value: "X",
    Outcome.REFUSED.value: "R",
    Outcome.DNS_FAILURE.value: "D",
    Outcome.ERROR.value: "!",
}

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


# ------------------------------------------------------------------ summary


def _cell(v: Verdict) -> dict[str, Any]:
    p = v.probe
    return {
        "id": p.id,
        "cell": p.cell.key,
        "source": p.cell.source,
        "source_pod": str(p.source_pod),
        "destination": str(p.cell.target),
        "target_kind": p.cell.target.kind.value,
        "port": p.port,
        "protocol": p.protocol,
        "kind": p.kind.value,
        "expected": p.cell.expect,
        "observed": v.observed.value,
        "status": v.status.value,
        "tries": v.tries,
        "seconds": v.seconds,
        "detail": v.detail,
        "explanation": v.explanation,
        "rerun": v.rerun,
    }


def summarize(result: ScenarioResult) -> dict[str, Any]:
    """The JSON-ready summary of one scenario (also the fragment format)."""
    counts = {s.value: 0 for s in Status}
    for v in result.verdicts:
        counts[v.status.value] += 1
    plan = result.plan
    return {
        "version": SUMMARY_VERSION,
        "scenario": plan.scenario.name,
        "path": plan.scenario.path,
        "run_id": plan.run_id,
        "namespaces": dict(plan.namespace_map),
        "seconds": round(result.seconds, 3),
        "setup_error": result.setup_error,
        "counts": counts,
        "cells": [_cell(v) for v in result.verdicts],
    }


def summary_json(results: Iterable[ScenarioResult]) -> str:
    doc = {"version": SUMMARY_VERSION, "scenarios": [summarize(r) for r in results]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], results: Iterable[ScenarioResult]) -> None:
    atomic_write(path, summary_json(results))


# ------------------------------------------------------------------ JUnit


def _failure_text(cell: Mapping[str, Any]) -> str:
    lines = [f"expected {cell['expected']}, observed {cell['observed']}: {cell['detail']}"]
    if cell.get("explanation"):
        lines.append(f"why: {cell['explanation']}")
    if cell.get("rerun"):
        lines.append(f"rerun: {cell['rerun']}")
    lines.append(f"tries: {cell['tries']}, {cell['seconds']}s after the policies were applied")
    return "\n".join(lines)


def _suite(summary: Mapping[str, Any]) -> tuple[TestSuite, list[list[tuple[str, str]]]]:
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


def junit_from_summaries(summaries: Sequence[Mapping[str, Any]]) -> str:
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


def junit_xml(results: Iterable[ScenarioResult]) -> str:
    return junit_from_summaries([summarize(r) for r in results])


def write_junit(path: str | os.PathLike[str], results: Iterable[ScenarioResult]) -> None:
    atomic_write(path, junit_xml(results))


def write_fragment(path: str | os.PathLike[str], result: ScenarioResult) -> None:
    """Write one scenario's summary as a JSON fragment (one per scenario per worker)."""
    atomic_write(path, json.dumps(summarize(result), sort_keys=True) + "\n")


def read_fragments(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(data, dict) and "scenario" in data:
            out.append(data)
    return out


def merge_fragments(paths: Iterable[str | os.PathLike[str]]) -> str:
    """JUnit XML text from per-worker fragments (deduplicated by scenario, last wins)."""
    by_name: dict[str, dict[str, Any]] = {}
    for summary in read_fragments(paths):
        by_name[str(summary["scenario"])] = summary
    return junit_from_summaries(list(by_name.values()))


# ------------------------------------------------------------------ truth tables


def _grid(
    rows: Sequence[str],
    cols: Sequence[str],
    value: Mapping[tuple[str, str], str],
    title: str,
) -> str:
    width = max([len(r) for r in rows] + [4])
    col_w = [max(len(c), 1) for c in cols]
    header = " " * width + " | " + " | ".join(c for c in cols)
    lines = [title, header, "-" * len(header)]
    for r in rows:
        cells = [value.get((r, c), " ").center(w) for c, w in zip(cols, col_w, strict=True)]
        lines.append(r.ljust(width) + " | " + " | ".join(cells))
    return "\n".join(lines)


def _columns(cells: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    rows = sorted({str(c["source"]) for c in cells})
    cols = sorted({f"{c['destination']}:{c['port']}/{c['protocol']}" for c in cells})
    return rows, cols


def truth_tables(summary_or_result: Mapping[str, Any] | ScenarioResult) -> str:
    """Expected, observed and comparison tables (rows = sources, columns = targets).

    Symbols: ``.`` connected, ``X`` dropped/denied, ``R`` refused, ``D`` DNS
    failure, ``!`` error; comparison: ``.`` same, ``X`` differs, ``!`` no verdict.
    """
    summary = (
        summarize(summary_or_result)
        if isinstance(summary_or_result, ScenarioResult)
        else summary_or_result
    )
    cells = list(summary.get("cells", []))
    if not cells:
        return f"{summary['scenario']}: no cells"
    rows, cols = _columns(cells)
    expected: dict[tuple[str, str], str] = {}
    observed: dict[tuple[str, str], str] = {}
    compare: dict[tuple[str, str], str] = {}
    for c in cells:
        key = (str(c["source"]), f"{c['destination']}:{c['port']}/{c['protocol']}")
        expected[key] = "." if c["expected"] == "allow" else "X"
        observed[key] = SYMBOLS.get(str(c["observed"]), "?")
        compare[key] = {"pass": ".", "fail": "X"}.get(str(c["status"]), "!")
    name = summary["scenario"]
    parts = [
        _grid(rows, cols, expected, f"{name}: expected"),
        _grid(rows, cols, observed, f"{name}: observed"),
        _grid(rows, cols, compare, f"{name}: comparison"),
    ]
    return "\n\n".join(parts) + "\n"


def counts_line(summary: Mapping[str, Any]) -> str:
    """One line per scenario: cells, passes, failures, errors and time."""
    cells = list(summary.get("cells", []))
    counts = {s.value: 0 for s in Status}
    for c in cells:
        counts[str(c["status"])] = counts.get(str(c["status"]), 0) + 1
    tries = max((int(c.get("tries", 0)) for c in cells), default=0)
    return (
        f"{summary['scenario']}: {len(cells)} cells, {counts['pass']} passed, "
        f"{counts['fail']} failed, {counts['error']} errors; "
        f"at most {tries} tries; {float(summary.get('seconds', 0.0)):.1f}s"
    )
