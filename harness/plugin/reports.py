"""The plugin's reporting side: JUnit, JSON summary and truth tables, once per run.

Each process that ran scenarios (the only process, or each pytest-xdist worker)
summarises its live results at the end of its session. Workers hand their
summaries to the controller through xdist's ``workeroutput`` channel; the
controller (or the only process) writes ONE JUnit file and ONE JSON summary and
prints the truth tables. A scenario whose cells all errored before any live
result existed (no cluster connection, say) still gets a ``setup`` testcase
carrying the error, so the JUnit file always tells what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from harness import report

WORKER_KEY = "netpol_summaries"


class Reporter:
    """Registered by the plugin as ``netpol-reporter`` for every live run."""

    def __init__(
        self,
        config: pytest.Config,
        *,
        junit: str | None,
        report_json: str | None,
        results: Callable[[], list[Any]],
    ) -> None:
        self.config = config
        self.junit = junit
        self.report_json = report_json
        self._results = results  # the live session's ScenarioResults of this process
        self._summaries: dict[str, report.ScenarioSummary] = {}
        self._errors: dict[str, str] = {}  # scenario -> first setup error seen in a report
        self.written: list[str] = []

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    # ------------------------------------------------------------ collecting

    def _scenario_for(self, report_: pytest.TestReport) -> str:
        for name, value in report_.user_properties:
            if name == "scenario":
                return str(value)
        return report_.nodeid.split("::", 1)[0]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.failed:
            scenario = self._scenario_for(report)
            self._errors.setdefault(scenario, str(report.longrepr).strip().splitlines()[0])

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}) or {}
        for summary in json.loads(output.get(WORKER_KEY, "[]")):
            self._summaries[str(summary["scenario"])] = summary

    # ------------------------------------------------------------ writing

    def summaries(self) -> list[report.ScenarioSummary]:
        merged = dict(self._summaries)
        for scenario, error in self._errors.items():
            if scenario not in merged:
                merged[scenario] = report.setup_summary(scenario, error)
        return [merged[name] for name in sorted(merged)]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        own = [report.summarize(result) for result in self._results()]
        if self.is_worker:
            workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
            workeroutput[WORKER_KEY] = json.dumps(own)
            return
        for summary in own:
            self._summaries[str(summary["scenario"])] = summary
        summaries = self.summaries()
        if self.junit:
            report.atomic_write(self.junit, report.junit_from_summaries(summaries))
            self.written.append(f"JUnit: {self.junit}")
        if self.report_json:
            document = {"version": report.SUMMARY_VERSION, "scenarios": summaries}
            report.atomic_write(
                self.report_json, json.dumps(document, indent=2, sort_keys=True) + "\n"
            )
            self.written.append(f"JSON summary: {self.report_json}")
        self.config.hook.pytest_netpol_write_reports(config=self.config, summaries=summaries)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        summaries = [s for s in self.summaries() if s.get("cells") or s.get("setup_error")]
        if not summaries:
            return
        terminalreporter.section("netpol truth tables")
        for summary in summaries:
            if summary.get("setup_error"):
                terminalreporter.write_line(
                    f"{summary['scenario']}: not run: {summary['setup_error']}"
                )
                continue
            terminalreporter.write_line(report.truth_tables(summary))
            terminalreporter.write_line(report.counts_line(summary))
        for line in self.written:
            terminalreporter.write_line(f"netpol: wrote {line}")
