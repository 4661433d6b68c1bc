"""The plugin's terminal summary and report files, through pytester with made-up results.

A conftest registers the real :class:`harness.plugin.reports.Reporter` (besides the one
the plugin registers, which has nothing to report here) with results of two scenarios
(one green, one with a failure, an error and flipped cells): no cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

CONFTEST = """
from pathlib import Path

import pytest

from harness.plugin.reports import Reporter
from tests.report import kit


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    here = Path(str(config.rootpath)) / "data"  # scenario files pytest does not collect
    here.mkdir(exist_ok=True)
    results = [
        kit.result(here, kit.named("green"), name="green.netpol.yaml"),
        kit.result(here, decide=kit.{decide}),
    ]
    reporter = Reporter(config, junit=None, report_json=None, results=lambda: results)
    # made-up results: no pytest item ran their cells, so say they ran (the reports hold
    # only the cells pytest ran)
    for r in results:
        reporter._ran[r.plan.scenario.name] = {v.probe.cell.key for v in r.verdicts}
    config.pluginmanager.register(reporter, "test-netpol-reporter")
"""

Run = Callable[..., pytest.RunResult]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Run:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTEST_ADDOPTS", "PY_COLORS"):
        monkeypatch.delenv(var, raising=False)
    for var in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    pytester.makeini("[pytest]\n")

    def go(*args: str, decide: str = "mixed") -> pytest.RunResult:
        pytester.makeconftest(CONFTEST.replace("{decide}", decide))
        return pytester.runpytest("-p", "no:cacheprovider", *args, "test_one.py")

    return go


def _section(result: pytest.RunResult) -> list[str]:
    lines = [ANSI.sub("", ln) for ln in result.outlines]
    start = next(i for i, ln in enumerate(lines) if "netpol truth tables" in ln)
    end = next(i for i, ln in enumerate(lines) if i > start and ln.startswith("====="))
    return lines[start + 1 : end]


def test_green_scenarios_are_one_line_and_failing_ones_show_tables(run: Run) -> None:
    lines = _section(run())
    assert (
        "PASS  green: 4 cells, 4 passed, 0 failed, 0 errors, 0 flipped; at most 2 tries; 3.2s"
        in lines
    )
    assert not any(ln.startswith("green: ") for ln in lines)  # no table of the green one
    assert "shop: expected" in lines and "shop: comparison" in lines
    assert any(
        ln.startswith("FAIL  shop: 4 cells, 2 passed, 1 failed, 1 errors, 2 flipped")
        for ln in lines
    )
    assert lines[-1] == "netpol: 2 scenarios, 8 cells: 6 passed, 1 failed, 1 errors, 2 flipped"
    assert max(len(ln) for ln in lines) <= 100
    assert not any(ln.lstrip().startswith("PASS  web->") for ln in lines)  # cells: -v only


def test_all_green_run_prints_a_line_per_scenario(run: Run) -> None:
    lines = _section(run(decide="agree"))
    assert [ln.split(":")[0] for ln in lines] == ["PASS  green", "PASS  shop", "netpol"]


def test_verbose_shows_every_table_and_every_cells_deciding_rule(run: Run) -> None:
    lines = _section(run("-v"))
    assert "green: expected" in lines and "shop: expected" in lines
    at = next(
        i for i, ln in enumerate(lines) if ln.lstrip().startswith("PASS  web->api:8080/TCP[allow]")
    )
    assert lines[at + 1].strip() == "ALLOWED: web->api:8080/TCP"
    assert "by shop/np-" in lines[at + 2]  # a passing cell's policy and rule


@pytest.mark.parametrize(
    ("option", "green_table", "shop_table"),
    [("all", True, True), ("none", False, False), ("auto", False, True)],
)
def test_tables_option(run: Run, option: str, green_table: bool, shop_table: bool) -> None:
    lines = _section(run(f"--netpol-tables={option}"))
    assert ("green: expected" in lines) is green_table
    assert ("shop: expected" in lines) is shop_table
    assert any(ln.startswith("FAIL  shop:") for ln in lines)


def test_a_bad_tables_value_is_a_usage_error(run: Run) -> None:
    result = run("--netpol-tables=some")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--netpol-tables 'some' is not one of auto, all, none" in result.stderr.str()


def test_colour_on_a_terminal_and_never_with_no_color(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = "\n".join(run().outlines)
    assert "\x1b[32m" in coloured and "\x1b[31m" in coloured  # green passes, red failures
    monkeypatch.setenv("NO_COLOR", "1")
    plain = "\n".join(run().outlines)
    assert "\x1b[" not in plain


def test_html_and_markdown_files(run: Run, pytester: pytest.Pytester) -> None:
    html, md = pytester.path / "out" / "r.html", pytester.path / "out" / "r.md"
    result = run(f"--netpol-html={html}", f"--netpol-markdown={md}")
    assert html.is_file() and md.is_file()
    assert '<section class="scenario fail" id="scenario-shop"' in html.read_text()
    assert md.read_text().startswith("## netpol-harness: 1 of 2 scenarios failed")
    text = "\n".join(result.outlines)
    assert f"netpol: wrote HTML report: {html}" in text
    assert f"netpol: wrote Markdown summary: {md}" in text
