"""``--netpol-baseline PREVIOUS.json``: the cells whose observed outcome changed since then.

:func:`read_baseline` reads a JSON summary an earlier run wrote (``--netpol-report-json``)
into ``(scenario, cell key) -> cell``; :func:`compare` matches this run's cells to it by
scenario and cell key and lists every cell whose observed outcome differs (connected,
dropped, refused, DNS failure, error), with the expectation and status on both sides.
Cells the baseline does not have are counted, not listed. The result is a
:class:`~harness.report.summary.BaselineSummary`: the JSON summary's top-level
``baseline`` object, and what the terminal section and the Markdown and HTML reports show.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.report.summary import BaselineChange
from harness.report.summary import BaselineSide
from harness.report.summary import BaselineSummary
from harness.report.summary import ScenarioSummary

#: A previous summary larger than this is refused before it is read.
MAX_BYTES = 64 * 1024 * 1024
FIX = "give the file an earlier run wrote with --netpol-report-json"
#: Changed cells the terminal and Markdown list (the JSON lists them all).
SHOWN = 50

Previous = Mapping[tuple[str, str], Mapping[str, Any]]


def _problem(path: str, text: str) -> ConfigError:
    return ConfigError(f"--netpol-baseline {path}: {text} (fix: {FIX})")


def read_baseline(path: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``(scenario, cell key) -> cell`` of a previous JSON summary; ConfigError if unreadable."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise _problem(path, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB")
        document = json.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise _problem(path, f"cannot be read ({exc.strerror or 'error'})") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _problem(path, "is not JSON") from None
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if not isinstance(scenarios, list):
        raise _problem(path, "is not a netpol-harness JSON summary (no scenarios list)")
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for i, scenario in enumerate(scenarios):
        name = scenario.get("scenario") if isinstance(scenario, dict) else None
        listed = scenario.get("cells") if isinstance(scenario, dict) else None
        if not isinstance(name, str) or not isinstance(listed, list):
            raise _problem(path, f"scenarios[{i}] has no scenario name or cells list")
        for j, cell in enumerate(listed):
            if not (
                isinstance(cell, dict)
                and isinstance(cell.get("cell"), str)
                and isinstance(cell.get("observed"), str)
            ):
                raise _problem(path, f"scenarios[{i}].cells[{j}] has no cell key or observed")
            cells.setdefault((name, cell["cell"]), cell)
    return cells


def _side(cell: Mapping[str, object]) -> BaselineSide:
    return {
        "observed": str(cell.get("observed", "")),
        "status": str(cell.get("status", "")),
        "expected": str(cell.get("expected", "")),
    }


def compare(previous: Previous, summaries: Sequence[ScenarioSummary], path: str) -> BaselineSummary:
    """This run's cells against the baseline's, matched by scenario and cell key."""
    changed: list[BaselineChange] = []
    compared = unmatched = 0
    for summary in summaries:
        scenario = str(summary["scenario"])
        for cell in summary.get("cells", []):
            before = previous.get((scenario, cell["cell"]))
            if before is None:
                unmatched += 1
                continue
            compared += 1
            if before.get("observed") != cell["observed"]:
                changed.append(
                    {
                        "scenario": scenario,
                        "cell": cell["cell"],
                        "id": cell["id"],
                        "before": _side(before),
                        "after": _side(cell),
                        "explanation": cell.get("explanation", ""),
                    }
                )
    changed.sort(key=lambda c: (c["scenario"], c["cell"]))
    return {"path": path, "compared": compared, "changed": changed, "unmatched": unmatched}


def deciding_line(explanation: str) -> str:
    """The line of an engine explanation that names the deciding policy, else the first.

    A side that denies names the policies isolating the pod; else the rule that allowed.
    """
    lines = [ln.strip() for ln in explanation.splitlines() if ln.strip()]
    for marker in (" denies: ", "allowed by "):
        found = next((ln for ln in lines if marker in ln), None)
        if found is not None:
            return found
    return lines[0] if lines else ""


def headline(baseline: BaselineSummary) -> str:
    changed, compared = len(baseline["changed"]), baseline["compared"]
    if not changed:
        text = f"no cell changed since {baseline['path']} ({compared} cells compared)"
    else:
        text = (
            f"{changed} of {compared} cells changed their observed outcome since {baseline['path']}"
        )
    if baseline["unmatched"]:
        text += f"; {baseline['unmatched']} cells of this run are not in it"
    return text


def terminal_lines(baseline: BaselineSummary) -> list[str]:
    """The terminal section: the headline, then one line per changed cell (and why, now)."""
    lines = [headline(baseline)]
    width = max((len(f"{c['scenario']}::{c['cell']}") for c in baseline["changed"]), default=0)
    for change in baseline["changed"][:SHOWN]:
        before, after = change["before"], change["after"]
        name = f"{change['scenario']}::{change['cell']}"
        lines.append(
            f"  {name:<{width}}  {before['observed']} -> {after['observed']}  "
            f"(expected {after['expected']}: {before['status']} -> {after['status']})"
        )
        why = deciding_line(change["explanation"])
        if why:
            lines.append(f"  {'':<{width}}  now: {why}")
    if len(baseline["changed"]) > SHOWN:
        lines.append(f"  ... and {len(baseline['changed']) - SHOWN} more (see the JSON summary)")
    return lines


def _md(text: object) -> str:
    line = " ".join(str(text).split())
    return line.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")[:300]


def markdown_lines(baseline: BaselineSummary) -> list[str]:
    """The Markdown section: a table of the changed cells."""
    lines = ["", "### Changes since the baseline", "", _md(headline(baseline))]
    if not baseline["changed"]:
        return lines
    lines += [
        "",
        "| cell | before | after | expected | status | now decided by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in baseline["changed"][:SHOWN]:
        name = f"{c['scenario']}::{c['cell']}".replace("`", "'")
        lines.append(
            f"| `{_md(name)}` | {_md(c['before']['observed'])} | "
            f"**{_md(c['after']['observed'])}** | {_md(c['after']['expected'])} | "
            f"{_md(c['before']['status'])} -> {_md(c['after']['status'])} | "
            f"{_md(deciding_line(c['explanation']))} |"
        )
    if len(baseline["changed"]) > SHOWN:
        lines += ["", f"… and {len(baseline['changed']) - SHOWN} more (see the JSON summary)"]
    return lines
