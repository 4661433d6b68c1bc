"""The pytest plugin: ``*.netpol.yaml`` files become one test item per matrix cell.

Registered through the ``pytest11`` entry point ``netpol = "harness.plugin.hooks"``.

- Options live in the "netpol" group, each with an ini twin (``netpol_*``)
  used when the command-line option is not given.
- ``ScenarioFile`` loads and validates a scenario (a ScenarioError shows as one
  ``path:line: message (fix: ...)`` line); ``CellItem`` is one cell, named like
  ``web->api:8080/TCP[allow]``.
- With pytest-xdist, all cells of one scenario run on one worker (they share
  namespaces and probe pods): the plugin provides the scheduler for ``-n``
  with the default ``--dist load`` and marks items ``xdist_group(<scenario>)``
  for ``--dist loadgroup``.
- Running a cell: ``--netpol-static`` asks ``harness.policy.static``; otherwise
  the live session in ``config.stash[LIVE_KEY]`` (created by
  ``harness.live.open_session(config, options)``) gives a Verdict.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any
from typing import NoReturn
from typing import Protocol as TypingProtocol

import pytest

from harness import plan as planning
from harness.errors import HarnessError
from harness.errors import ScenarioError
from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.model import Cell
from harness.model import Plan
from harness.model import Scenario
from harness.model import Settings
from harness.model import Status
from harness.model import Verdict
from harness.scenario.loader import SUFFIX
from harness.scenario.loader import load
from harness.scenario.loader import parse_duration

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
STATIC_RUN_ID = "static"
STATIC_CREATED = "1970-01-01T00:00:00Z"


class LiveSession(TypingProtocol):
    """What the plugin needs from the live runner (harness.live.session)."""

    def verdict_for(self, scenario: Scenario, cell: Cell) -> Verdict: ...


@dataclass(frozen=True)
class NetpolOptions:
    """The resolved netpol options (command line, else ini, else default)."""

    kubeconfig: str | None = None
    context: str | None = None
    junit: str | None = None
    report_json: str | None = None
    keep: bool = False
    static: bool = False
    in_place: bool = False
    client_image: str = DEFAULT_IMAGES.client
    server_image: str = DEFAULT_IMAGES.server
    concurrency: int = 32
    connect_timeout: float | None = None
    convergence: float | None = None
    preflight: bool = True
    image_pull_secret: tuple[str, ...] = ()

    @property
    def images(self) -> Images:
        return Images(client=self.client_image, server=self.server_image)

    def settings_for(self, scenario: Scenario) -> Settings:
        """The scenario's settings with --netpol-connect-timeout/--netpol-convergence applied."""
        settings = scenario.settings
        if self.connect_timeout is not None:
            settings = replace(settings, connect_timeout=self.connect_timeout)
        if self.convergence is not None:
            settings = replace(settings, convergence_budget=self.convergence)
        return settings


OPTIONS_KEY = pytest.StashKey[NetpolOptions]()
#: "passed" once the preflight passed in this process (or, for a worker, on its controller).
PREFLIGHT_KEY = pytest.StashKey[str]()
_PREFLIGHT_WORKERINPUT = "netpol_preflight"
LIVE_KEY = pytest.StashKey[LiveSession]()
_NAMES_KEY = pytest.StashKey[dict[str, str]]()

# (option, kind, metavar, help); the ini twin is the option name with "-" -> "_".
_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("kubeconfig", "path", "PATH", "kubeconfig of the cluster to test against"),
    ("context", "str", "NAME", "kubeconfig context to use"),
    ("junit", "str", "PATH", "write a JUnit XML report of the cells to PATH"),
    ("report-json", "str", "PATH", "write a machine-readable summary to PATH"),
    ("keep", "bool", "", "keep namespaces and pods after the run (for debugging)"),
    ("static", "bool", "", "predict cells from the manifests, without a cluster"),
    ("in-place", "bool", "", "probe the cluster's existing policies; apply no manifests"),
    ("client-image", "str", "IMAGE", f"probe client image (default {DEFAULT_IMAGES.client})"),
    ("server-image", "str", "IMAGE", f"probe server image (default {DEFAULT_IMAGES.server})"),
    ("concurrency", "int", "N", "concurrent exec calls (default 32)"),
    ("connect-timeout", "duration", "DURATION", "override settings.connectTimeout"),
    ("convergence", "duration", "DURATION", "override settings.convergence"),
    ("no-preflight", "bool", "", "skip the cluster preflight checks"),
    (
        "image-pull-secret",
        "list",
        "NAME",
        "imagePullSecrets of the probe pods (repeatable or a comma list; each Secret must "
        "exist in the probe pods' namespaces)",
    ),
)

_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _dest(name: str) -> str:
    return "netpol_" + name.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netpol", "NetworkPolicy connectivity tests (netpol-harness)")
    for name, kind, metavar, help_text in _OPTIONS:
        dest = _dest(name)
        if kind == "bool":
            group.addoption(
                f"--netpol-{name}", action="store_true", default=None, dest=dest, help=help_text
            )
            parser.addini(dest, help_text, type="bool", default=False)
        elif kind == "list":
            group.addoption(
                f"--netpol-{name}",
                action="append",
                default=None,
                dest=dest,
                metavar=metavar,
                help=help_text,
            )
            parser.addini(dest, help_text, type="string", default="")
        else:
            group.addoption(
                f"--netpol-{name}", default=None, dest=dest, metavar=metavar, help=help_text
            )
            parser.addini(dest, help_text, type="string", default="")


def _raw(config: pytest.Config, name: str) -> tuple[Any, str]:
    """The value of an option and where it came from ("--netpol-x" or "netpol_x (ini)")."""
    dest = _dest(name)
    value = config.getoption(dest, default=None)
    if value is not None:
        return value, f"--netpol-{name}"
    return config.getini(dest), f"{dest} (ini)"


def resolve_options(config: pytest.Config) -> NetpolOptions:
    """Read and validate every netpol option; pytest.UsageError with the fix when wrong."""
    values: dict[str, Any] = {}
    for name, kind, _, _ in _OPTIONS:
        value, origin = _raw(config, name)
        key = name.replace("-", "_")
        if kind == "bool":
            values[key] = bool(value)
            continue
        if kind == "list":
            values[key] = _names(value, origin)
            continue
        text = str(value).strip() if value is not None else ""
        if not text:
            continue
        if kind == "path":
            path = Path(text).expanduser()
            if not path.is_file():
                raise pytest.UsageError(
                    f"{origin} {text}: no such file (fix: give the path of a kubeconfig file, "
                    "e.g. the one `make demo` writes)"
                )
            values[key] = str(path.resolve())
        elif kind == "int":
            if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= 1024:
                raise pytest.UsageError(
                    f"{origin} {text!r} is not a number from 1 to 1024 "
                    f"(fix: e.g. {_example(name, origin, '16')})"
                )
            values[key] = int(text)
        elif kind == "duration":
            low, high = (0.001, 60.0) if name == "connect-timeout" else (0.0, 3600.0)
            try:
                seconds = parse_duration(text)
            except ValueError:
                seconds = -1.0
            if not low <= seconds <= high:
                raise pytest.UsageError(
                    f"{origin} {text!r} is not a duration from {low:g}s to {high:g}s "
                    f"(fix: e.g. {_example(name, origin, '2s')}; units: ms, s, m)"
                )
            values[key] = seconds
        else:
            if any(c.isspace() for c in text):
                raise pytest.UsageError(
                    f"{origin} {text!r} must not contain spaces (fix: quote one value)"
                )
            values[key] = text
    preflight = not values.pop("no_preflight", False)
    options = NetpolOptions(**values, preflight=preflight)
    if options.static and options.in_place:
        raise pytest.UsageError(
            "--netpol-static and --netpol-in-place exclude each other "
            "(fix: static predicts the scenario's manifests; in place probes a live cluster)"
        )
    return options


def _names(value: Any, origin: str) -> tuple[str, ...]:
    """A repeatable option or a comma list (ini) as a tuple of Kubernetes object names."""
    parts = value if isinstance(value, list) else [value or ""]
    names: list[str] = []
    for part in parts:
        for name in str(part).split(","):
            name = name.strip()
            if not name:
                continue
            if not _SECRET_NAME.match(name):
                raise pytest.UsageError(
                    f"{origin} {name!r} is not a Secret name (fix: lowercase letters, digits, "
                    "'-' and '.', e.g. regcred)"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


def _example(name: str, origin: str, value: str) -> str:
    if origin.endswith("(ini)"):
        return f"{_dest(name)} = {value}"
    return f"--netpol-{name} {value}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "xdist_group(name): run all tests of the group on one xdist worker"
    )
    options = resolve_options(config)
    config.stash[OPTIONS_KEY] = options
    config.stash[_NAMES_KEY] = {}
    if not options.static and (options.junit or options.report_json or cluster_configured(options)):
        from harness.live.session import interrupt_on_sigterm
        from harness.plugin.reports import Reporter

        # From the first hook on, SIGTERM (CI cancel) unwinds like Ctrl-C: the preflight's
        # canary and every scenario's namespaces are deleted, reports still written.
        config.add_cleanup(interrupt_on_sigterm())

        def live_results() -> list[Any]:
            session = config.stash.get(LIVE_KEY, None)
            results = getattr(session, "results", None)
            return list(results()) if callable(results) else []

        reporter = Reporter(
            config, junit=options.junit, report_json=options.report_json, results=live_results
        )
        config.pluginmanager.register(reporter, "netpol-reporter")


def options_of(config: pytest.Config) -> NetpolOptions:
    return config.stash.get(OPTIONS_KEY, None) or NetpolOptions()


def pytest_report_header(config: pytest.Config) -> str:
    options = options_of(config)
    if options.static:
        return "netpol: static predictions (no cluster)"
    if cluster_configured(options):
        where = options.kubeconfig or os.environ.get("KUBECONFIG") or "default"
        mode = "live in place (existing workloads, nothing applied)" if options.in_place else "live"
        return f"netpol: {mode}, kubeconfig {where}"
    return "netpol: no cluster configured (cells will be skipped)"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n`` and the default ``--dist load``: keep each scenario on one worker.

    Scenario cells share namespaces and pods, so they are scheduled as one
    unit per file; other tests are spread one by one, as with ``load``. Node ids
    stay the same as without xdist (``--dist loadgroup`` would suffix them).
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ScenarioScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(SUFFIX) else nodeid

    return ScenarioScheduling(config, log)


# ---------------------------------------------------------------- collection


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIX):
        collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


def _shown(config: pytest.Config, path: Path) -> str:
    for base in (config.invocation_params.dir, config.rootpath):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


class ScenarioFile(pytest.File):
    """One ``*.netpol.yaml`` file."""

    scenario: Scenario | None = None
    _plan: Plan | None = None

    def collect(self) -> Iterator[pytest.Item]:
        shown = _shown(self.config, self.path)
        scenario = load(self.path, shown=shown)
        names = self.config.stash.get(_NAMES_KEY, {})
        if names.get(scenario.name, shown) != shown:
            raise ScenarioError(
                shown,
                _name_line(self.path, scenario.name),
                f"scenario name {scenario.name!r} is also used by {names[scenario.name]}",
                "scenario names must be unique: rename one",
            )
        names[scenario.name] = shown
        if options_of(self.config).in_place and not scenario.in_place:
            first = scenario.workloads[0].source if scenario.workloads else None
            raise ScenarioError(
                shown,
                first.line if first else None,
                f"scenario {scenario.name!r} deploys probe workloads (labels:), but "
                "--netpol-in-place creates and applies nothing",
                "run it without --netpol-in-place, or pick existing pods with selector: "
                "in existing namespaces (docs/staging.md)",
            )
        self.scenario = scenario
        for cell in scenario.cells:
            item: CellItem = CellItem.from_parent(
                self, name=f"{cell.key}[{cell.expect}]", scenario=scenario, cell=cell
            )
            item.add_marker(pytest.mark.xdist_group(scenario.name))
            yield item

    def static_plan(self) -> Plan:
        if self._plan is None:
            assert self.scenario is not None
            options = options_of(self.config)
            self._plan = planning.build(
                self.scenario, STATIC_RUN_ID, images=options.images, created=STATIC_CREATED
            )
        return self._plan

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _name_line(path: Path, name: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    pattern = re.compile(rf"\bname:\s*['\"]?{re.escape(name)}(?![-a-z0-9])")
    return next((i + 1 for i, text in enumerate(lines) if pattern.search(text)), None)


# ---------------------------------------------------------------- running


class CellFailed(AssertionError):
    """The network disagreed with the expected allow/deny."""


class CellInfraError(HarnessError):
    """No verdict could be reached (exec broke, the cluster failed): an ERROR, not a FAIL."""


class CellItem(pytest.Item):
    """One expected-allow or expected-deny cell."""

    def __init__(self, *, scenario: Scenario, cell: Cell, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.cell = cell
        self.verdict: Verdict | None = None
        self.user_properties.append(("scenario", scenario.name))
        self.user_properties.append(("expect", cell.expect))
        self.user_properties.append(("cell", cell.key))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.cell.where.line - 1 if self.cell.where else None
        return self.path, line, f"{self.scenario.name}::{self.name}"

    def rerun_command(self) -> str:
        """The pytest command, from the directory pytest was started in, that reruns this cell."""
        return f"pytest '{_shown(self.config, self.path)}::{self.name}'"

    def setup(self) -> None:
        options = options_of(self.config)
        if self.scenario.in_place and not options.in_place:
            _skip(
                "in-place scenario (existing pods, selector:): run it with --netpol-in-place "
                "against the cluster that runs them (docs/staging.md)"
            )
        if options.static:
            return
        if not cluster_configured(options):
            _skip(
                "no cluster configured: point at one with --netpol-kubeconfig PATH "
                "(or --netpol-context NAME, or KUBECONFIG), run `make demo` for the local "
                "sandbox, or use --netpol-static to check the policies without a cluster"
            )
        session = _live_session(self.config, options)
        verdict = session.verdict_for(self.scenario, self.cell)
        self.verdict = verdict
        if verdict.status is Status.ERROR:
            raise CellInfraError(
                f"{self.cell.key}: no verdict (infrastructure): "
                f"{verdict.detail or verdict.observed}" + f"\nrerun: {self.rerun_command()}"
            )

    def runtest(self) -> None:
        options = options_of(self.config)
        if options.static:
            self._run_static()
            return
        verdict = self.verdict
        assert verdict is not None
        if verdict.status is Status.FAIL:
            raise CellFailed(self._describe_failure(verdict))

    def _run_static(self) -> None:
        try:
            static = importlib.import_module("harness.policy.static")
        except ModuleNotFoundError as exc:
            if exc.name not in ("harness.policy.static", "harness.policy"):
                raise
            _skip("the static policy checker (harness.policy.static) is not available")
        parent = self.parent
        assert isinstance(parent, ScenarioFile)
        plan = parent.static_plan()
        probe = next(p for p in plan.probes if p.cell == self.cell)
        # check_cell(plan, probe) -> (does the expectation hold?, explanation)
        holds, explanation = static.check_cell(plan, probe)
        if not holds:
            raise CellFailed(
                f"{self.cell.key}: expected {self.cell.expect}, the policies predict otherwise\n"
                f"{explanation}\n"
                f"rerun: {self.rerun_command()}"
            )

    def _describe_failure(self, verdict: Verdict) -> str:
        lines = [
            f"{self.cell.key}: expected {self.cell.expect}, observed {verdict.observed}"
            + (f" ({verdict.detail})" if verdict.detail else ""),
            f"tries: {verdict.tries} in {verdict.seconds:.1f}s",
        ]
        if verdict.explanation:
            lines.append(f"explanation: {verdict.explanation}")
        if verdict.rerun:
            lines.append(f"probe: {verdict.rerun}")
        lines.append(f"rerun: {self.rerun_command()}")
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CellFailed | HarnessError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


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


def cluster_configured(options: NetpolOptions, env: Any = None) -> bool:
    """Whether a cluster is configured: options, KUBECONFIG, ~/.kube/config or in-cluster."""
    env = os.environ if env is None else env
    if options.kubeconfig or options.context or env.get("KUBECONFIG"):
        return True
    home = env.get("HOME")
    if home and (Path(home) / ".kube" / "config").is_file():
        return True
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.is_file()


def _live_session(config: pytest.Config, options: NetpolOptions) -> LiveSession:
    session = config.stash.get(LIVE_KEY, None)
    if session is not None:
        return session
    ensure_preflight(config, options)
    try:
        live: ModuleType = importlib.import_module("harness.live.session")
    except ModuleNotFoundError as exc:
        if exc.name != "harness.live.session":
            raise
        _skip("the live runner (harness.live.session) is not available yet")
    opener = getattr(live, "open_session", None)
    if opener is None:
        _skip("the live runner (harness.live.session) has no open_session(config, options)")
    opened: LiveSession = opener(config, options)
    config.stash[LIVE_KEY] = opened
    close = getattr(opened, "close", None)
    if callable(close):
        config.add_cleanup(close)
    return opened


def _skip(message: str) -> NoReturn:
    """Skip the current item, reported at the item's location (not this file's)."""
    raise pytest.skip.Exception(message, _use_item_location=True)


# ---------------------------------------------------------------- preflight


def pytest_sessionstart(session: pytest.Session) -> None:
    """Check the cluster once, before anything runs, when this is a live run of scenarios.

    On the controller (or without xdist) only: workers learn the result through
    ``workerinput``, so a failing preflight stops the run with ONE message.
    """
    config = session.config
    if getattr(config, "workerinput", None) is not None:
        return
    options = options_of(config)
    if not _live_run(config, options) or not _mentions_scenarios(config):
        return
    ensure_preflight(config, options, stop=_usage_error)


def _usage_error(message: str) -> NoReturn:
    raise pytest.UsageError(message)


def _exit(message: str) -> NoReturn:
    pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)


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
        node.workerinput[_PREFLIGHT_WORKERINPUT] = "passed"


def _live_run(config: pytest.Config, options: NetpolOptions) -> bool:
    return (
        options.preflight
        and not options.static
        and not config.option.collectonly
        and cluster_configured(options)
    )


def _mentions_scenarios(config: pytest.Config, limit: int = 20000) -> bool:
    """Whether the paths pytest was given hold a scenario file (bounded directory walk)."""
    seen = 0
    for arg in config.args or [str(config.rootpath)]:
        path = Path(str(arg).split("::", 1)[0])
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        if path.is_file():
            if path.name.endswith(SUFFIX):
                return True
            continue
        for _root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
            if any(f.endswith(SUFFIX) for f in files):
                return True
            seen += len(files)
            if seen > limit:
                return True  # a huge tree: assume it may hold scenarios
    return False


_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})


def ensure_preflight(
    config: pytest.Config, options: NetpolOptions, stop: Callable[[str], NoReturn] = _exit
) -> None:
    """Run the preflight once per process (unless skipped or already passed).

    A failure stops the whole run with one message through ``stop``: a UsageError
    before the session runs (pytest prints ``ERROR: ...``, exit code 4), or
    pytest.exit from inside a test's setup (the fallback when the session start
    did not see scenario files).
    """
    if not options.preflight or options.static:
        return
    if config.stash.get(LIVE_KEY, None) is not None:
        return  # a live session was provided (a conftest, a test double): not ours to check
    workerinput = getattr(config, "workerinput", None) or {}
    if workerinput.get(_PREFLIGHT_WORKERINPUT) == "passed":
        return
    if config.stash.get(PREFLIGHT_KEY, ""):
        return
    config.stash[PREFLIGHT_KEY] = "running"
    from harness.live import preflight as preflight

    terminal = config.pluginmanager.get_plugin("terminalreporter")
    try:
        from harness.live.cluster import Cluster

        cluster = Cluster(kubeconfig=options.kubeconfig, context=options.context, retry_attempts=3)
        settings = preflight.PreflightSettings(
            mode="in-place" if options.in_place else "hermetic",
            canary=not options.in_place,  # in place may not create namespaces
            images=options.images,
            pull_secrets=options.image_pull_secret,
            convergence=options.convergence if options.convergence is not None else 20.0,
        )
        report = preflight.Preflight(cluster, settings).run()
    except HarnessError as exc:
        config.stash[PREFLIGHT_KEY] = "failed"
        message = f"netpol: the cluster preflight could not run: {exc}"
        _write_setup_failure(options, message)
        stop(f"{message}\n{_NO_PREFLIGHT}")
    if not report.ok:
        config.stash[PREFLIGHT_KEY] = "failed"
        _write_setup_failure(options, f"netpol: {report.summary()}")
        stop(f"netpol: {report.summary()}\n{_NO_PREFLIGHT}")
    config.stash[PREFLIGHT_KEY] = "passed"
    if terminal is not None:
        passed = sum(1 for r in report.results if r.status == "ok")
        terminal.write_line(f"netpol preflight: {passed} checks passed on {report.server}")


def _write_setup_failure(options: NetpolOptions, message: str) -> None:
    """A run stopped before any cell still leaves its JUnit/JSON reports, saying why."""
    from harness.report import core as report

    summary = {
        "version": report.SUMMARY_VERSION,
        "scenario": "preflight",
        "setup_error": message,
        "cells": [],
        "counts": {},
    }
    if options.junit:
        report.atomic_write(options.junit, report.junit_from_summaries([summary]))
    if options.report_json:
        document = {"version": report.SUMMARY_VERSION, "scenarios": [summary]}
        report.atomic_write(options.report_json, json.dumps(document, indent=2) + "\n")


_NO_PREFLIGHT = "(no cell was run; fix the cluster, or skip this check with --netpol-no-preflight)"
