"""The pytest hooks of netpol-harness (the ``pytest11`` entry point ``netpol``).

Thin: options live in :mod:`.options`, items in :mod:`.items`, the preflight gate and
the live session in :mod:`.gate`, reports in :mod:`.reports`, the hooks this plugin
adds in :mod:`.newhooks`. With pytest-xdist, all cells of one scenario run on one
worker (they share namespaces and probe pods): the plugin provides the scheduler for
``-n`` with the default ``--dist load`` and marks items ``xdist_group(<scenario>)``
for ``--dist loadgroup``.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.live.signals import interrupt_on_sigterm
from harness.plugin import newhooks
from harness.plugin import schedule
from harness.plugin.gate import LIVE_KEY
from harness.plugin.gate import PREFLIGHT_KEY
from harness.plugin.gate import PREFLIGHT_WORKERINPUT
from harness.plugin.gate import ensure_preflight
from harness.plugin.gate import live_run
from harness.plugin.gate import mentions_scenarios
from harness.plugin.gate import usage_error
from harness.plugin.items import NAMES_KEY
from harness.plugin.items import NO_CLUSTER
from harness.plugin.items import CellItem
from harness.plugin.items import ScenarioFile
from harness.plugin.items import static_results
from harness.plugin.items import warn_near_miss
from harness.plugin.options import OPTIONS_KEY
from harness.plugin.options import add_options
from harness.plugin.options import cluster_configured
from harness.plugin.options import options_of
from harness.plugin.options import resolve_options
from harness.plugin.reports import Reporter
from harness.policy import selectors
from harness.scenario import k8svalidate
from harness.scenario.loader import SUFFIX


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(newhooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


# Calico selector strings in scenario manifests are checked when the file is read, with
# its line (the scenario stage may not import the policy engine: the shell wires them).
k8svalidate.register_selector_check(selectors.problem)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "xdist_group(name): run all tests of the group on one xdist worker"
    )
    options = resolve_options(config)
    config.stash[OPTIONS_KEY] = options
    config.stash[NAMES_KEY] = {}
    if not options.static and (options.junit or options.report_json or cluster_configured(options)):
        # From the first hook on, SIGTERM (CI cancel) unwinds like Ctrl-C: the preflight's
        # canary and every scenario's namespaces are deleted, reports still written.
        config.add_cleanup(interrupt_on_sigterm())
    if config.option.collectonly:
        return  # collecting (an IDE, --co) never writes or overwrites a report

    def results() -> list[Any]:
        session = config.stash.get(LIVE_KEY, None)
        live = getattr(session, "results", None)
        return (list(live()) if callable(live) else []) + static_results(config)

    reporter = Reporter(
        config, junit=options.junit, report_json=options.report_json, results=results
    )
    config.pluginmanager.register(reporter, "netpol-reporter")


def pytest_report_header(config: pytest.Config) -> str:
    options = options_of(config)
    if options.static:
        return "netpol: static predictions (no cluster)"
    if cluster_configured(options):
        where = options.kubeconfig or os.environ.get("KUBECONFIG") or "default"
        mode = "live in place (existing workloads, nothing applied)" if options.in_place else "live"
        return f"netpol: {mode}, kubeconfig {where}"
    if options.allow_no_cluster:
        return "netpol: no cluster configured (live cells are skipped: --netpol-allow-no-cluster)"
    return "netpol: no cluster configured (a live run stops; --netpol-static needs none)"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n`` and the default ``--dist load``: each worker gets all its scenarios at once.

    Scenario cells share namespaces and pods, so a scenario is one unit; a worker's
    scenarios run concurrently (:mod:`harness.plugin.schedule`). Node ids stay the same
    as without xdist (``--dist loadgroup`` would suffix them).
    """
    if config.getvalue("dist") != "load":
        return None
    return schedule.make_scheduler(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """After every other plugin's selection: probe only the selected cells."""
    schedule.select(config, items)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    warn_near_miss(file_path, parent)  # x.netpol.yml and the like: a warning with the fix
    if file_path.name.endswith(SUFFIX):
        collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Harness errors outside ``runtest`` (setup: no verdict) also show as one short text."""
    report = yield
    if (
        isinstance(item, CellItem)
        and call.when != "call"
        and call.excinfo is not None
        and isinstance(call.excinfo.value, HarnessError)
    ):
        report.longrepr = str(call.excinfo.value)
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    """Check the cluster once, before anything runs, when this is a live run of scenarios.

    On the controller (or without xdist) only: workers learn the result through
    ``workerinput``, so a failing preflight stops the run with ONE message.
    """
    config = session.config
    if getattr(config, "workerinput", None) is not None:
        return
    options = options_of(config)
    if options.static or config.option.collectonly or not mentions_scenarios(config):
        return
    if not cluster_configured(options):
        # The xdist controller collects nothing: it decides here. A single process
        # decides after collection, so a broken scenario file is reported first.
        if config.pluginmanager.hasplugin("dsession") and not options.allow_no_cluster:
            usage_error(NO_CLUSTER)  # a CI job without its kubeconfig must not go green
        return
    if live_run(config, options):
        ensure_preflight(config, options, stop=usage_error)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A live run of scenario cells with no cluster configured is a usage error."""
    config = session.config
    options = options_of(config)
    if options.static or config.option.collectonly or options.allow_no_cluster:
        return
    if session.testsfailed or getattr(config, "workerinput", None) is not None:
        return  # collection errors speak first; a worker's controller already decided
    if cluster_configured(options):
        return
    if any(isinstance(item, CellItem) for item in session.items):
        usage_error(NO_CLUSTER)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """xdist controller: a cell whose worker died has no verdict: an ERROR, never a FAIL."""
    if not crashitem.split("::", 1)[0].endswith(SUFFIX):
        return
    report.when = "setup"  # a failed setup is reported as an error
    report.longrepr = (
        f"{report.longrepr}: no verdict (infrastructure: the worker process died; what it "
        "created stays until `netpol-harness cleanup`)"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell the workers the preflight already passed."""
    if node.config.stash.get(PREFLIGHT_KEY, "") == "passed":
        node.workerinput[PREFLIGHT_WORKERINPUT] = "passed"
    # Workers see --dist as "no": tell them which scheduler hands out their scenarios.
    node.workerinput[schedule.DIST_WORKERINPUT] = str(node.config.getvalue("dist"))
