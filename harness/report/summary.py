"""The typed summary of a run: one :class:`ScenarioSummary` per scenario, JSON-ready.

:func:`summarize` builds it from a :class:`~harness.model.ScenarioResult`; every
report (JUnit, truth tables, the JSON summary) and the pytest-xdist hand-over
(:mod:`harness.plugin.reports`) consume it. A scenario that never ran (a setup
error before any live result) has a summary too: :func:`setup_summary`, without
the keys only a run knows (path, run_id, namespaces, seconds).

No secrets are ever part of a summary (commands, addresses, pod names only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NotRequired
from typing import TypedDict

from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict

SUMMARY_VERSION = 1


class CellSummary(TypedDict):
    """One cell's verdict (``Verdict``), flattened to JSON values."""

    id: str  # the pytest test id, Cell.test_id(scenario)
    cell: str  # Cell.key
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
    explanation: str
    rerun: str


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
    seconds: NotRequired[float]


class SummaryDocument(TypedDict):
    """The JSON summary file (``--netpol-report-json``)."""

    version: int
    scenarios: list[ScenarioSummary]


def summarize_cell(v: Verdict) -> CellSummary:
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
        "cells": [summarize_cell(v) for v in result.verdicts],
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


def summary_document(summaries: Sequence[ScenarioSummary]) -> str:
    """The JSON summary file's text: every scenario's summary, as given (keys sorted)."""
    document: SummaryDocument = {"version": SUMMARY_VERSION, "scenarios": list(summaries)}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
