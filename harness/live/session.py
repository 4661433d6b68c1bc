"""The live session: the seam between the pytest plugin and the cluster.

:class:`LiveSession` connects lazily (the first cell that needs a cluster),
plans and runs each scenario once (all its cells at the same time), caches
the :class:`~harness.model.ScenarioResult`, and hands out one Verdict per cell.

Cleanup: each scenario gets its own run id (derived from the pytest-xdist
``testrun_uid``, the worker id and the scenario name), so scenarios never share
namespaces. As soon as a scenario has been probed, its namespaces are deleted
in the background (by run label) and objects it created elsewhere (policies in
existing namespaces, cluster-scoped objects) are deleted one by one;
:meth:`LiveSession.close` waits for that (bounded) and sweeps anything left.
With ``keep=True`` nothing is deleted and close() prints the exact
``kubectl delete`` commands instead.

Signal safety: while a session is open, SIGTERM raises KeyboardInterrupt in
the main thread (CI runners send SIGTERM on cancel), so ``finally`` blocks and
pytest's cleanup run; close() runs on Ctrl-C, on failure and on success (the
plugin registers it with ``config.add_cleanup``). The previous handler is
restored by close().
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO
from typing import cast

from harness.errors import ClusterError
from harness.errors import HarnessError
from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.model import RUN_LABEL
from harness.model import Cell
from harness.model import Outcome
from harness.model import Plan
from harness.model import Scenario
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.live.runner import ClusterFacade
from harness.live.runner import Created
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings

if TYPE_CHECKING:
    from harness.live.inplace import InPlace
    from harness.live.inplace import InPlaceFacade

ClusterFactory = Callable[[], Any]


class LiveSession:
    """Plans, runs and cleans up scenarios against one cluster for one pytest session."""

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        junit: str | None = None,
        report_json: str | None = None,
        keep: bool = False,
        in_place: bool = False,
        concurrency: int = 32,
        connect_timeout: float | None = None,
        convergence: float | None = None,
        client_image: str | None = None,
        server_image: str | None = None,
        image_pull_secrets: tuple[str, ...] = (),
        testrun_uid: str | None = None,
        worker_id: str = "master",
        settings: RunSettings | None = None,
        cluster_factory: ClusterFactory | None = None,
        delete_timeout: float = 120.0,
        out: TextIO | None = None,
        install_signal_handler: bool = True,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.junit = junit
        self.report_json = report_json
        self.keep = keep
        self.in_place = in_place
        self._in_place_runner: InPlace | None = None
        self.images = Images(
            client=client_image or DEFAULT_IMAGES.client,
            server=server_image or DEFAULT_IMAGES.server,
        )
        self.image_pull_secrets = tuple(image_pull_secrets)
        base = settings or RunSettings()
        self.settings = RunSettings(
            **{
                **base.__dict__,
                "concurrency": concurrency,
                "connect_timeout": connect_timeout
                if connect_timeout is not None
                else base.connect_timeout,
                "convergence": convergence if convergence is not None else base.convergence,
            }
        )
        self.testrun_uid = testrun_uid or uuid.uuid4().hex
        self.worker_id = worker_id
        self.delete_timeout = delete_timeout
        self.out = out if out is not None else sys.stderr
        self._cluster_factory = cluster_factory
        self._cluster: Any = None
        self._lock = threading.RLock()
        self._results: dict[str, ScenarioResult] = {}
        self._recorders: dict[str, Recorder] = {}
        self._run_ids: dict[str, str] = {}
        self._run_namespaces: dict[str, set[str]] = {}
        self._deleting: list[Future[list[str]]] = []
        self._cleaner = ThreadPoolExecutor(max_workers=2, thread_name_prefix="netpol-cleanup")
        self._closed = False
        self._previous_sigterm: Any = None
        if install_signal_handler:
            self._install_sigterm()

    # ------------------------------------------------------------ construction

    @classmethod
    def from_pytest_config(cls, config: Any, **overrides: Any) -> LiveSession:
        """Build from a pytest Config, reading the ``--netpol-*`` options by name."""

        def opt(name: str) -> Any:
            value = config.getoption(name, default=None)
            if value in (None, ""):
                try:
                    value = config.getini(name)
                except (ValueError, KeyError):
                    value = None
            return value if value not in ("", None) else None

        workerinput = getattr(config, "workerinput", None) or {}
        kwargs: dict[str, Any] = {
            "kubeconfig": opt("netpol_kubeconfig"),
            "context": opt("netpol_context"),
            "junit": opt("netpol_junit"),
            "report_json": opt("netpol_report_json"),
            "keep": bool(opt("netpol_keep")),
            "in_place": bool(opt("netpol_in_place")),
            "concurrency": int(opt("netpol_concurrency") or 32),
            "connect_timeout": _seconds(opt("netpol_connect_timeout")),
            "convergence": _seconds(opt("netpol_convergence")),
            "client_image": opt("netpol_client_image"),
            "server_image": opt("netpol_server_image"),
            "image_pull_secrets": _secret_names(opt("netpol_image_pull_secret")),
            "testrun_uid": workerinput.get("testrunuid")
            or getattr(config.option, "testrunuid", None),
            "worker_id": workerinput.get("workerid", "master"),
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    # ------------------------------------------------------------ cluster

    @property
    def cluster(self) -> ClusterFacade:
        with self._lock:
            if self._cluster is None:
                if self._cluster_factory is not None:
                    self._cluster = self._cluster_factory()
                else:
                    from harness.live.cluster import Cluster  # kubernetes only when live

                    self._cluster = Cluster(kubeconfig=self.kubeconfig, context=self.context)
            cluster: ClusterFacade = self._cluster
            return cluster

    def run_id_for(self, scenario: Scenario) -> str:
        from harness.plan import run_id_from

        with self._lock:
            if scenario.name not in self._run_ids:
                self._run_ids[scenario.name] = run_id_from(
                    f"{self.testrun_uid}/{scenario.name}", self.worker_id
                )
            return self._run_ids[scenario.name]

    def plan(self, scenario: Scenario) -> Plan:
        from harness.plan import build
        from harness.plan import build_in_place

        if scenario.in_place:
            # The sources and targets are real pods, chosen when the scenario runs.
            return build_in_place(scenario, self.run_id_for(scenario))
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return build(
            scenario,
            self.run_id_for(scenario),
            images=self.images,
            created=created,
            pull_secrets=self.image_pull_secrets,
        )

    # ------------------------------------------------------------ verdicts

    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        """Plan and run ``scenario`` once; later calls return the cached result."""
        with self._lock:
            cached = self._results.get(scenario.name)
            if cached is not None:
                return cached
            if self._closed:
                raise HarnessError("the live session is closed")
            plan = self.plan(scenario)
            self._run_namespaces[scenario.name] = {
                str(ns["metadata"]["name"]) for ns in plan.namespaces
            }
            recorder = Recorder()
            self._recorders[scenario.name] = recorder
            try:
                self._check_mode(scenario)
                if scenario.in_place:
                    result = self._in_place().run(scenario, plan.run_id, recorder)
                else:
                    runner = Runner(self.cluster, self.settings, recorder=recorder)
                    result = runner.run(plan)
            except HarnessError as exc:
                result = _failed(plan, str(exc))
            finally:
                if not self.keep:
                    self._schedule_cleanup(plan.run_id, recorder, plan)
            self._results[scenario.name] = result
            return result

    def _check_mode(self, scenario: Scenario) -> None:
        if scenario.in_place and not self.in_place:
            raise HarnessError(
                f"{scenario.path}: scenario {scenario.name!r} probes existing workloads "
                "(selector:) (fix: run it with --netpol-in-place)"
            )
        if self.in_place and not scenario.in_place:
            raise HarnessError(
                f"{scenario.path}: scenario {scenario.name!r} deploys probe workloads "
                "(labels:) but --netpol-in-place creates nothing (fix: run it without "
                "--netpol-in-place, or pick existing pods with selector:)"
            )

    def _in_place(self) -> InPlace:
        """The in-place runner (one per session: ephemeral containers are reused)."""
        from harness.live.inplace import InPlace
        from harness.plan import run_id_from

        if self._in_place_runner is None:
            self._in_place_runner = InPlace(
                cast("InPlaceFacade", self.cluster),
                self.settings,
                session_id=run_id_from(self.testrun_uid, self.worker_id),
                images=self.images,
            )
        return self._in_place_runner

    def verdict_for(self, scenario: Scenario, cell: Cell) -> Verdict:
        """The Verdict of one cell (the first call for a scenario runs all of it)."""
        result = self.run_scenario(scenario)
        for verdict in result.verdicts:
            if verdict.probe.cell.key == cell.key:
                return verdict
        raise HarnessError(f"{scenario.name}: no probe planned for cell {cell.key}")

    def results(self) -> list[ScenarioResult]:
        with self._lock:
            return [self._results[k] for k in sorted(self._results)]

    # ------------------------------------------------------------ reports

    def write_reports(self, fragment_dir: str | None = None) -> list[str]:
        """Write what this session produced; returns the paths written.

        With ``fragment_dir`` (a pytest-xdist worker): one JSON fragment per
        scenario there, for the controller's :func:`harness.report.merge_fragments`.
        Without: the JUnit file and the JSON summary, if configured.
        """
        from harness.report import core as report

        written: list[str] = []
        results = self.results()
        if fragment_dir is not None:
            for result in results:
                name = f"{self.worker_id}-{result.plan.scenario.name}.json"
                path = os.path.join(fragment_dir, name)
                report.write_fragment(path, result)
                written.append(path)
            return written
        if self.junit:
            report.write_junit(self.junit, results)
            written.append(self.junit)
        if self.report_json:
            report.write_json(self.report_json, results)
            written.append(self.report_json)
        return written

    # ------------------------------------------------------------ cleanup

    def _schedule_cleanup(self, run_id: str, recorder: Recorder, plan: Plan) -> None:
        if self._cluster is None:
            return
        run_namespaces = {str(ns["metadata"]["name"]) for ns in plan.namespaces}
        self._deleting.append(
            self._cleaner.submit(self._cleanup, run_id, recorder.snapshot(), run_namespaces)
        )

    def _cleanup(self, run_id: str, created: list[Created], run_namespaces: set[str]) -> list[str]:
        """Delete what one run created; returns what could not be deleted."""
        from harness.live.cluster import ObjectRef

        cluster = self._cluster
        problems: list[str] = []
        # Objects outside the run's namespaces go one by one (policies in existing
        # namespaces, cluster-scoped objects); the namespaces take the rest with them.
        for ref in reversed(created):
            if ref.kind == "Namespace" or (ref.namespace and ref.namespace in run_namespaces):
                continue
            try:
                cluster.delete(ObjectRef(ref.api_version, ref.kind, ref.name, ref.namespace))
            except ClusterError as exc:
                problems.append(f"{ref.kind} {ref.namespace or ''}/{ref.name}: {exc}")
        try:
            left: list[str] = cluster.delete_run(run_id, timeout=self.delete_timeout)
        except ClusterError as exc:
            return [*problems, f"namespaces of run {run_id}: {exc}"]
        problems.extend(f"namespace {name} still terminating" for name in left)
        return problems

    def delete_commands(self) -> list[str]:
        """The exact kubectl commands deleting what this session created."""
        commands = []
        for name in sorted(self._run_ids):
            run_id = self._run_ids[name]
            commands.append(f"kubectl delete namespace -l {RUN_LABEL}={run_id} --wait=false")
            recorder = self._recorders.get(name)
            if recorder is None:
                continue
            for ref in recorder.snapshot():
                inside = ref.namespace in self._run_namespaces.get(name, set())
                if ref.kind == "Namespace" or inside:
                    continue
                where = f" -n {ref.namespace}" if ref.namespace else ""
                commands.append(f"kubectl delete {ref.kind.lower()} {ref.name}{where}")
        return commands

    def close(self) -> None:
        """Delete everything the session created (bounded wait) unless keep=True.

        Safe to call twice; always restores the previous SIGTERM handler.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self.keep:
                if self._run_ids:
                    print("netpol: kept the test namespaces; delete them with:", file=self.out)
                    for command in self.delete_commands():
                        print(f"  {command}", file=self.out)
                return
            problems: list[str] = []
            # A SIGTERM now (CI cancelling twice) must not cut the bounded cleanup short.
            unshield = _shield_sigterm(self.out)
            try:
                for future in self._deleting:
                    try:
                        problems.extend(future.result(timeout=self.delete_timeout + 30))
                    except Exception as exc:  # report, never raise from cleanup
                        problems.append(f"{type(exc).__name__}: {exc}")
            finally:
                unshield()
            if problems:
                print("netpol: cleanup incomplete:", file=self.out)
                for line in problems[:20]:
                    print(f"  {line}", file=self.out)
                for command in self.delete_commands():
                    print(f"  to finish by hand: {command}", file=self.out)
        finally:
            self._cleaner.shutdown(wait=False, cancel_futures=False)
            self._restore_sigterm()

    # ------------------------------------------------------------ signals

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        try:
            self._previous_sigterm = signal.signal(signal.SIGTERM, on_term)
        except (ValueError, OSError):
            self._previous_sigterm = None

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is None:
            return
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
        self._previous_sigterm = None


def interrupt_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt in the main thread; returns the undo.

    pytest turns KeyboardInterrupt into an orderly stop (sessionfinish, unconfigure,
    ``config.add_cleanup`` callbacks, ``finally`` blocks), so a SIGTERM now cleans up like
    Ctrl-C does. A no-op (whose undo is a no-op) outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):
        return lambda: None

    def undo() -> None:
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGTERM, previous)

    return undo


def _shield_sigterm(out: TextIO) -> Callable[[], None]:
    """Ignore SIGTERM (saying so once) until the returned undo runs; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    said: list[bool] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        if not said:
            said.append(True)
            print("netpol: SIGTERM during cleanup: finishing the cleanup first", file=out)

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):
        return lambda: None

    def undo() -> None:
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signal.SIGTERM, previous)

    return undo


def _failed(plan: Plan, message: str) -> ScenarioResult:
    verdicts = tuple(
        Verdict(p, Status.ERROR, Outcome.ERROR, 0, 0.0, detail=f"setup failed: {message}")
        for p in plan.probes
    )
    return ScenarioResult(plan, verdicts, setup_error=message)


def _secret_names(value: Any) -> tuple[str, ...]:
    """--netpol-image-pull-secret (a list) or its ini twin (a comma list) as names."""
    parts = value if isinstance(value, list | tuple) else [value or ""]
    return tuple(n.strip() for part in parts for n in str(part).split(",") if n.strip())


def _seconds(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    from harness.scenario.loader import parse_duration

    parsed: float = parse_duration(str(value))
    return parsed


def open_session(config: Any, options: Any) -> LiveSession:
    """What harness.plugin.hooks calls: a LiveSession from the resolved NetpolOptions."""
    workerinput = getattr(config, "workerinput", None) or {}
    return LiveSession(
        kubeconfig=options.kubeconfig,
        context=options.context,
        junit=options.junit,
        report_json=options.report_json,
        keep=options.keep,
        in_place=options.in_place,
        concurrency=options.concurrency,
        connect_timeout=options.connect_timeout,
        convergence=options.convergence,
        client_image=options.client_image,
        server_image=options.server_image,
        image_pull_secrets=tuple(getattr(options, "image_pull_secret", ()) or ()),
        testrun_uid=workerinput.get("testrunuid") or getattr(config.option, "testrunuid", None),
        worker_id=workerinput.get("workerid", "master"),
    )
