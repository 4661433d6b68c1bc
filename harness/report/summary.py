"""The typed summary of a run: one :class:`ScenarioSummary` per scenario, JSON-ready.

:func:`summarize` builds it from a :class:`~harness.model.ScenarioResult`; every
report (JUnit, truth tables, HTML, Markdown, the JSON summary) and the
pytest-xdist hand-over (:mod:`harness.plugin.reports`) consume it. A scenario that
never ran (a setup error before any live result) has a summary too:
:func:`setup_summary`, without the keys only a run knows (path, run_id, namespaces,
seconds, started).

No secrets are ever part of a summary (commands, addresses, pod names only).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from typing import NotRequired
from typing import TypedDict

from harness.model import CREATED_ANNOTATION
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict

#: 2: cells carry ``flipped``, ``file``, ``line`` and ``pytest_rerun``; scenarios
#: ``flipped``, ``started`` and ``hostname``. 3: cells carry ``step``.
SUMMARY_VERSION = 3


class CellSummary(TypedDict):
    """One cell's verdict (``Verdict``), flattened to JSON values."""

    id: str  # the pytest test id, Cell.test_id(scenario)
    cell: str  # Cell.key
    step: str  # the step of a multi-step scenario ("" for none or the top-level cells)
    source: str
    source_pod: str
    destination: str  # str(Target): "api", "svc:api", "dns", an external's name
    target_kind: str  # TargetKind value
    port: int
    protocol: str
    kind: str  # ProbeKind value
    expected: str  # "allow" or "deny"
    observed: str  # Outcome value
    status: str  # Status value
    tries: int
    seconds: float
    detail: str
    explanation: str  # the deciding policy and rule (PASS and FAIL cells alike)
    rerun: str  # the kubectl exec command that reproduces the probe
    flipped: bool  # the network changed its answer: disagreed after it had agreed
    file: str  # the scenario file the cell is written in, as given to pytest
    line: int  # the cell's line in that file (1-based; 0 when unknown)
    pytest_rerun: str  # the pytest command that reruns this cell alone


class ScenarioSummary(TypedDict):
    """One scenario's results; the keys a run adds are missing from a setup-error summary."""

    version: int
    scenario: str
    setup_error: str
    counts: dict[str, int]  # Status value -> cells
    cells: list[CellSummary]
    path: NotRequired[str]
    run_id: NotRequired[str]
    namespaces: NotRequired[dict[str, str]]  # scenario namespace -> real namespace
    seconds: NotRequired[float]  # wall time of the scenario (its cells overlap)
    flipped: NotRequired[int]  # cells whose answer flipped
    started: NotRequired[str]  # RFC 3339, when the scenario's plan was made ("" unknown)
    hostname: NotRequired[str]  # the machine that ran it


class BaselineSide(TypedDict):
    """One cell's result in one run, as a baseline comparison shows it."""

    observed: str  # Outcome value
    status: str  # Status value
    expected: str  # "allow" or "deny"


class BaselineChange(TypedDict):
    """A cell whose observed outcome differs from the baseline's (matched by scenario + cell)."""

    scenario: str
    cell: str  # Cell.key
    id: str  # this run's test id
    before: BaselineSide  # in the baseline
    after: BaselineSide  # in this run
    explanation: str  # this run's: the deciding policy and rule


class BaselineSummary(TypedDict):
    """``--netpol-baseline PREVIOUS.json``: what changed since a previous run's summary."""

    path: str  # the previous summary, as given
    compared: int  # cells of this run that the baseline has too
    changed: list[BaselineChange]  # sorted by scenario, cell
    unmatched: int  # cells of this run the baseline does not have


class SummaryDocument(TypedDict):
    """The JSON summary file (``--netpol-report-json``)."""

    version: int
    scenarios: list[ScenarioSummary]
    baseline: NotRequired[BaselineSummary]  # with --netpol-baseline only


def pytest_rerun(path: str, cell_id: str) -> str:
    """The pytest command that reruns one cell: ``pytest 'PATH::CELL[EXPECT]'``."""
    name = cell_id.split("::", 1)[-1]
    return f"pytest '{path}::{name}'" if path else f"pytest -k '{name}'"


def by_step(cells: Sequence[CellSummary]) -> dict[str, list[int]]:
    """The indices of ``cells`` per step ("": none, or the top level), in probing order."""
    steps: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        steps.setdefault(str(c.get("step") or ""), []).append(i)
    return steps


def step_title(step: str) -> str:
    """How reports head a step's grid: ``step NAME``, or the cells before the steps."""
    return f"step {step}" if step else "before the steps"


def summarize_cell(v: Verdict, path: str = "") -> CellSummary:
    p = v.probe
    where = p.cell.where
    file = where.path if where is not None else path
    return {
        "id": p.id,
        "cell": p.cell.key,
        "step": p.cell.step,
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
        "seconds": round(v.seconds, 3),
        "detail": v.detail,
        "explanation": v.explanation,
        "rerun": v.rerun,
        "flipped": bool(v.flipped),
        "file": file,
        "line": where.line if where is not None else 0,
        "pytest_rerun": pytest_rerun(path or file, p.id),
    }


def _started(result: ScenarioResult) -> str:
    for namespace in result.plan.namespaces:
        annotations = (namespace.get("metadata") or {}).get("annotations") or {}
        if annotations.get(CREATED_ANNOTATION):
            return str(annotations[CREATED_ANNOTATION])
    return ""


def summarize(result: ScenarioResult) -> ScenarioSummary:
    """The JSON-ready summary of one scenario (also what a worker hands the controller)."""
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
        "flipped": sum(1 for v in result.verdicts if v.flipped),
        "started": _started(result),
        "hostname": socket.gethostname(),
        "cells": [summarize_cell(v, plan.scenario.path) for v in result.verdicts],
    }


def setup_summary(scenario: str, error: str) -> ScenarioSummary:
    """The summary of a scenario that could not run at all (it has no cells)."""
    return {
        "version": SUMMARY_VERSION,
        "scenario": scenario,
        "setup_error": error,
        "cells": [],
        "counts": {},
    }


def flipped_count(summary: ScenarioSummary) -> int:
    """Cells of ``summary`` whose answer flipped (also for summaries without the key)."""
    return sum(1 for c in summary.get("cells", []) if c.get("flipped"))


def status_counts(summary: ScenarioSummary) -> dict[str, int]:
    """pass/fail/error -> cells, counted from the cells (every Status present)."""
    counts = {s.value: 0 for s in Status}
    for c in summary.get("cells", []):
        counts[str(c["status"])] = counts.get(str(c["status"]), 0) + 1
    return counts


def summary_document(
    summaries: Sequence[ScenarioSummary], baseline: BaselineSummary | None = None
) -> str:
    """The JSON summary file's text: every scenario's summary, as given (keys sorted).

    With ``baseline`` (``--netpol-baseline``), a top-level ``baseline`` object lists the
    cells whose observed outcome changed since the previous summary.
    """
    document: SummaryDocument = {"version": SUMMARY_VERSION, "scenarios": list(summaries)}
    if baseline is not None:
        document["baseline"] = baseline
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
