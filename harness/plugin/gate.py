"""The gate before live cells: the cluster preflight, once per run, and the live session.

The controller (or a run without xdist) runs the preflight at session start; workers
learn through ``workerinput`` that it passed. A failure stops the run with ONE message
and still writes the configured JUnit/JSON report, saying why no cell ran.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from typing import Protocol
from typing import TextIO

import pytest

from harness.errors import HarnessError
from harness.model import Cell
from harness.model import Scenario
from harness.model import Verdict
from harness.options import NetpolOptions
from harness.plugin.options import cluster_configured
from harness.scenario.loader import SUFFIX

#: "passed" once the preflight passed in this process (or, for a worker, on its controller).
PREFLIGHT_KEY = pytest.StashKey[str]()
PREFLIGHT_WORKERINPUT = "netpol_preflight"


class VerdictSource(Protocol):
    """What a cell needs from the live session (:class:`harness.live.session.LiveSession`)."""

    def verdict_for(self, scenario: Scenario, cell: Cell) -> Verdict: ...


LIVE_KEY = pytest.StashKey[VerdictSource]()


def skip(message: str) -> NoReturn:
    """Skip the current item, reported at the item's location (not this file's)."""
    raise pytest.skip.Exception(message, _use_item_location=True)


def live_session(config: pytest.Config, options: NetpolOptions) -> VerdictSource:
    """The process's live session, opened (after the preflight) on first use."""
    session = config.stash.get(LIVE_KEY, None)
    if session is not None:
        return session
    ensure_preflight(config, options)
    from harness.live.session import open_session
    from harness.plugin.schedule import PREFETCH_KEY

    opened = open_session(config, options, progress=progress_writer(config))
    config.stash[LIVE_KEY] = opened
    config.add_cleanup(opened.close)
    # Every scenario this process runs starts now; each cell waits only for its own.
    prefetch: list[Scenario] = config.stash.get(PREFETCH_KEY, [])
    opened.prefetch(prefetch)
    return opened


def progress_writer(config: pytest.Config) -> Callable[[str], None] | None:
    """Where progress lines go: the terminal's stderr, past pytest's output capturing.

    One line per scenario phase as it happens (deploying, data path proven, policies
    applied, each round, done); ``-q`` keeps only the last line of each scenario,
    ``-qq`` none. Under xdist each line names its worker.
    """
    verbosity = config.get_verbosity()
    if verbosity <= -2:
        return None
    stream = _terminal_stderr(config)
    worker = (getattr(config, "workerinput", None) or {}).get("workerid")
    prefix = f"[{worker}] netpol " if worker else "netpol "
    lock = threading.Lock()

    def write(line: str) -> None:
        if verbosity < 0 and ": done in " not in line and ": not run: " not in line:
            return
        with lock:
            stream.write(f"{prefix}{line}\n")
            stream.flush()

    return write


def _terminal_stderr(config: pytest.Config) -> TextIO:
    """A stream on the stderr pytest had before it started capturing (else sys.stderr)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    capturing = getattr(capman, "_global_capturing", None)
    err = getattr(capturing, "err", None)
    saved = getattr(err, "targetfd_save", None)
    if isinstance(saved, int):
        try:
            return os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
        except OSError:
            pass
    stderr: TextIO = sys.stderr
    return stderr


def usage_error(message: str) -> NoReturn:
    raise pytest.UsageError(message)


def _exit(message: str) -> NoReturn:
    pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)


def live_run(config: pytest.Config, options: NetpolOptions) -> bool:
    return (
        options.preflight
        and not options.static
        and not config.option.collectonly
        and cluster_configured(options)
    )


def mentions_scenarios(config: pytest.Config, limit: int = 20000) -> bool:
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
    if workerinput.get(PREFLIGHT_WORKERINPUT) == "passed":
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
    from harness import report

    summaries = [report.setup_summary("preflight", message)]
    report.write_reports(
        summaries,
        junit=options.junit,
        report_json=options.report_json,
        html=options.html,
        markdown=options.markdown,
    )


_NO_PREFLIGHT = "(no cell was run; fix the cluster, or skip this check with --netpol-no-preflight)"
