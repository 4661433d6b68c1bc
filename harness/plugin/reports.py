"""The plugin's reporting side: JUnit, JSON, HTML, Markdown and truth tables, once per run.

Each process that ran scenarios (the only process, or each pytest-xdist worker)
summarises its live results at the end of its session. Workers hand their
summaries to the controller through xdist's ``workeroutput`` channel; the
controller (or the only process) writes ONE file of each configured report and
prints the terminal summary: one line per scenario, the truth tables of the
scenarios with failures (``--netpol-tables``: auto, all, none; all under ``-v``),
under ``-v`` every cell with the policy and rule that decided it, and the run's
totals (flipped cells too); with ``--netpol-baseline PREVIOUS.json``, a section "netpol
changes since the baseline" lists the cells whose observed outcome differs from that earlier
summary's (also a ``baseline`` object in the JSON, and a section of the HTML and Markdown
reports). Colour goes through pytest's TerminalWriter (so only on
a terminal, and never with NO_COLOR). A scenario whose cells all errored before any live
result existed (no cluster connection, say) still gets a ``setup`` testcase
carrying the error, so the JUnit file always tells what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from harness import report
from harness.errors import HarnessError
from harness.plugin.options import options_of
from harness.report import baseline
from harness.report import tables

WORKER_KEY = "netpol_summaries"
TABLES = ("auto", "all", "none")
#: Table cell styles and scenario statuses -> TerminalWriter markup.
_MARKUP: dict[str, dict[str, bool]] = {
    tables.GOOD: {"green": True},
    tables.BAD: {"red": True, "bold": True},
    tables.WARN: {"yellow": True},
    "pass": {"green": True},
    "fail": {"red": True, "bold": True},
    "error": {"yellow": True, "bold": True},
}


class Reporter:
    """Registered by the plugin as ``netpol-reporter`` for every live run."""

    def __init__(
        self,
        config: pytest.Config,
        *,
        junit: str | None,
        report_json: str | None,
        results: Callable[[], list[Any]],
        html: str | None = None,
        markdown: str | None = None,
        tables_mode: str | None = None,
    ) -> None:
        options = options_of(config)
        self.config = config
        self.junit = junit
        self.report_json = report_json
        self.html = html if html is not None else options.html
        self.markdown = markdown if markdown is not None else options.markdown
        mode = (tables_mode if tables_mode is not None else options.tables) or "auto"
        if mode not in TABLES:
            raise pytest.UsageError(
                f"--netpol-tables {mode!r} is not one of auto, all, none "
                "(fix: e.g. --netpol-tables all)"
            )
        self.tables = mode
        self._results = results  # the live session's ScenarioResults of this process
        self._summaries: dict[str, report.ScenarioSummary] = {}
        self._errors: dict[str, str] = {}  # scenario -> first setup error seen in a report
        #: scenario -> the cell keys pytest ran here (reports hold exactly those cells)
        self._ran: dict[str, set[str]] = {}
        self.written: list[str] = []
        # --netpol-baseline: the previous summary's cells, read once (on the controller).
        self.baseline_path = options.baseline
        self._previous: dict[tuple[str, str], dict[str, Any]] | None = None
        self.baseline: report.BaselineSummary | None = None
        if self.baseline_path and not self.is_worker:
            try:
                self._previous = baseline.read_baseline(self.baseline_path)
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None

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
        props = dict(report.user_properties)
        if "cell" in props and (report.when == "call" or report.failed):
            self._ran.setdefault(str(props["scenario"]), set()).add(str(props["cell"]))
        if report.when == "setup" and report.failed:
            scenario = self._scenario_for(report)
            self._errors.setdefault(scenario, str(report.longrepr).strip().splitlines()[0])

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}) or {}
        for summary in json.loads(output.get(WORKER_KEY, "[]")):
            self._summaries[str(summary["scenario"])] = summary

    # ------------------------------------------------------------ writing

    def _ran_only(self, results: list[Any]) -> list[Any]:
        """Each result with just the cells pytest ran (-x stops early; -k, --lf select)."""
        out = []
        for result in results:
            ran = self._ran.get(result.plan.scenario.name, set())
            kept = tuple(v for v in result.verdicts if v.probe.cell.key in ran)
            if kept or result.setup_error:
                out.append(replace(result, verdicts=kept))
        return out

    def summaries(self) -> list[report.ScenarioSummary]:
        merged = dict(self._summaries)
        for scenario, error in self._errors.items():
            if scenario not in merged:
                merged[scenario] = report.setup_summary(scenario, error)
        return [merged[name] for name in sorted(merged)]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        own = [report.summarize(result) for result in self._ran_only(self._results())]
        if self.is_worker:
            workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
            workeroutput[WORKER_KEY] = json.dumps(own)
            return
        for summary in own:
            self._summaries[str(summary["scenario"])] = summary
        summaries = self.summaries()
        if self._previous is not None and self.baseline_path:
            self.baseline = baseline.compare(self._previous, summaries, self.baseline_path)
        self.written += report.write_reports(
            summaries,
            junit=self.junit,
            report_json=self.report_json,
            html=self.html,
            markdown=self.markdown,
            baseline=self.baseline,
        )
        self.config.hook.pytest_netpol_write_reports(config=self.config, summaries=summaries)

    # ------------------------------------------------------------ the terminal

    def show_tables(self, summary: report.ScenarioSummary, verbosity: int) -> bool:
        """auto: a scenario with failures or errors (every scenario under -v); all; none."""
        if self.tables == "none":
            return False
        if self.tables == "all" or verbosity > 0:
            return True
        return tables.scenario_status(summary) != "pass"

    def terminal_lines(
        self,
        summaries: list[report.ScenarioSummary],
        verbosity: int,
        markup: Callable[[str, dict[str, bool]], str] | None = None,
    ) -> list[str]:
        """What the terminal summary prints (``markup`` colours text; none: plain)."""

        def paint(text: str, style: str) -> str:
            return markup(text, _MARKUP[style]) if markup and style in _MARKUP else text

        lines: list[str] = []
        for summary in summaries:
            status = tables.scenario_status(summary)
            tag = paint(f"{status.upper():<5}", status)
            if summary.get("setup_error") and not summary.get("cells"):
                lines.append(f"{tag} {summary['scenario']}: not run: {summary['setup_error']}")
                continue
            if self.show_tables(summary, verbosity):
                lines.append("")
                lines += tables.truth_tables(summary, paint=paint).rstrip("\n").splitlines()
            if verbosity > 0:
                lines += tables.cell_lines(summary)
            lines.append(f"{tag} {tables.counts_line(summary)}")
        lines.append(f"netpol: {tables.totals_line(summaries)}")
        lines += [f"netpol: wrote {line}" for line in self.written]
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        summaries = [s for s in self.summaries() if s.get("cells") or s.get("setup_error")]
        if not summaries:
            return
        writer = self.config.get_terminal_writer()

        def markup(text: str, styles: dict[str, bool]) -> str:
            return str(writer.markup(text, **styles))

        terminalreporter.section("netpol truth tables")
        for line in self.terminal_lines(summaries, self.config.get_verbosity(), markup):
            terminalreporter.write_line(line)
        if self.baseline is not None:
            terminalreporter.section("netpol changes since the baseline")
            for line in baseline.terminal_lines(self.baseline):
                terminalreporter.write_line(line)
