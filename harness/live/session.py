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

import sys
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from contextlib import suppress
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO
from typing import cast

from harness.errors import ClusterError
from harness.errors import HarnessError
from harness.live.api import ObjectRef
from harness.live.api import SessionApi
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.live.shared import SharedObjects
from harness.live.signals import interrupt_on_sigterm
from harness.live.signals import shield_sigterm
from harness.model import RUN_LABEL
from harness.model import Cell
from harness.model import Plan
from harness.model import Scenario
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.options import NetpolOptions

if TYPE_CHECKING:
    from harness.live.api import InPlaceApi
    from harness.live.inplace import InPlace

ClusterFactory = Callable[[], Any]


class LiveSession:
    """Plans, runs and cleans up scenarios against one cluster for one pytest session."""

    def __init__(
        self,
        options: NetpolOptions | None = None,
        *,
        testrun_uid: str | None = None,
        worker_id: str = "master",
        settings: RunSettings | None = None,
        cluster_factory: ClusterFactory | None = None,
        delete_timeout: float = 120.0,
        out: TextIO | None = None,
        install_signal_handler: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options = options or NetpolOptions()
        self.keep = options.keep
        self.in_place = options.in_place
        self._in_place_runner: InPlace | None = None
        self.images = options.images
        base = settings or RunSettings()
        self.settings = replace(
            base,
            concurrency=options.concurrency,
            connect_timeout=_given(options.connect_timeout, base.connect_timeout),
            convergence=_given(options.convergence, base.convergence),
            pod_cidr=options.pod_cidr or base.pod_cidr,
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
        self._restore_sigterm = interrupt_on_sigterm() if install_signal_handler else _nothing
        #: One future per scenario; scenarios run concurrently, bounded by the options.
        self._futures: dict[str, Future[ScenarioResult]] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, options.parallel_scenarios), thread_name_prefix="netpol-scenario"
        )
        self._stop = threading.Event()
        self._in_place_lock = threading.Lock()  # in-place scenarios share ephemeral containers
        self._shared: SharedObjects | None = None  # cluster-wide singletons: one run at a time
        self._progress = Progress(progress) if progress is not None else None

    # ------------------------------------------------------------ cluster

    @property
    def cluster(self) -> SessionApi:
        with self._lock:
            if self._cluster is None:
                if self._cluster_factory is not None:
                    self._cluster = self._cluster_factory()
                else:
                    from harness.live.cluster import Cluster  # kubernetes only when live

                    self._cluster = Cluster(
                        kubeconfig=self.options.kubeconfig, context=self.options.context
                    )
            cluster: SessionApi = self._cluster
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
            pull_secrets=self.options.image_pull_secret,
        )

    # ------------------------------------------------------------ verdicts

    def prefetch(self, scenarios: Iterable[Scenario]) -> None:
        """Start running ``scenarios`` now, concurrently (bounded): multi-step ones first.

        The plugin hands over every scenario this process will run, so the whole run's
        deploy, data-path proof, policy programming and probing overlap; each cell then
        only waits for its own scenario's result. A scenario with steps converges once
        per step, one after the other, so it is the longest: queued behind a full pool
        it would end the run late; it starts first (more steps earlier, otherwise the
        given order). Results are still reported in item order.
        """
        for scenario in sorted(scenarios, key=lambda s: -len(s.steps)):
            self._submit(scenario)

    def _submit(self, scenario: Scenario) -> Future[ScenarioResult]:
        with self._lock:
            future = self._futures.get(scenario.name)
            if future is None:
                if self._closed:
                    raise HarnessError("the live session is closed")
                future = self._pool.submit(self._run, scenario)
                self._futures[scenario.name] = future
            return future

    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        """Plan and run ``scenario`` once (or wait for its run); later calls return the result."""
        return self._submit(scenario).result()

    def _run(self, scenario: Scenario) -> ScenarioResult:
        say = self._progress.teller(scenario.name) if self._progress else None
        plan = self.plan(scenario)
        recorder = Recorder()
        with self._lock:
            self._run_namespaces[scenario.name] = {
                str(ns["metadata"]["name"]) for ns in plan.namespaces
            }
            self._recorders[scenario.name] = recorder
        shared = self._shared_keys(plan)
        try:
            self._check_mode(scenario)
            if self._stop.is_set():
                raise HarnessError("the run was stopped before this scenario started")
            if scenario.in_place:
                with self._in_place_lock:
                    result = self._in_place().run(scenario, plan.run_id, recorder)
            elif shared:
                if say is not None:
                    say(f"applies the cluster-wide {', '.join(shared)}: runs that do take turns")
                with self._shared_locks().held(shared):
                    try:
                        result = self._runner(recorder, say).run(plan)
                    finally:
                        if not self.keep:
                            self._delete_shared(recorder, shared)
            else:
                result = self._runner(recorder, say).run(plan)
        except HarnessError as exc:
            result = ScenarioResult.setup_failed(plan, str(exc))
        finally:
            if not self.keep:
                self._schedule_cleanup(plan.run_id, recorder, plan)
        if say is not None:
            say(_done_line(result))
        if self._progress is not None:
            self._progress.finished(scenario.name)
        with self._lock:
            self._results[scenario.name] = result
        return result

    def _runner(self, recorder: Recorder, say: Callable[[str], None] | None) -> Runner:
        return Runner(self.cluster, self.settings, recorder=recorder, progress=say, stop=self._stop)

    @staticmethod
    def _shared_keys(plan: Plan) -> list[str]:
        from harness.plan import shared_objects

        return shared_objects([doc for _, stage in plan.stages() for doc in stage.manifests])

    def _shared_locks(self) -> SharedObjects:
        with self._lock:
            if self._shared is None:
                self._shared = SharedObjects(str(getattr(self.cluster, "server", "")))
            return self._shared

    def _delete_shared(self, recorder: Recorder, shared: list[str]) -> None:
        """Delete the run's singletons before the next run may apply them."""
        for ref in recorder.snapshot():
            if f"{ref.kind}/{ref.name}" in shared:
                with suppress(ClusterError):  # the regular cleanup tries again, and reports
                    self.cluster.delete(ref)

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
                cast("InPlaceApi", self.cluster),
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

    # ------------------------------------------------------------ cleanup

    def _schedule_cleanup(self, run_id: str, recorder: Recorder, plan: Plan) -> None:
        if self._cluster is None:
            return
        run_namespaces = {str(ns["metadata"]["name"]) for ns in plan.namespaces}
        self._deleting.append(
            self._cleaner.submit(self._cleanup, run_id, recorder.snapshot(), run_namespaces)
        )

    def _cleanup(
        self, run_id: str, created: list[ObjectRef], run_namespaces: set[str]
    ) -> list[str]:
        """Delete what one run created; returns what could not be deleted."""
        cluster = self._cluster
        problems: list[str] = []
        # Objects outside the run's namespaces go one by one (policies in existing
        # namespaces, cluster-scoped objects); the namespaces take the rest with them.
        for ref in reversed(created):
            if ref.kind == "Namespace" or (ref.namespace and ref.namespace in run_namespaces):
                continue
            try:
                cluster.delete(ref)
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
            futures = list(self._futures.values())
        # Scenarios still running stop at their next step; those not started never start.
        self._stop.set()
        for future in futures:
            future.cancel()
        running = [f for f in futures if not f.cancelled()]
        wait(running, timeout=self.settings.ready_timeout + self.delete_timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._progress is not None:
            self._progress.close()
        try:
            if self.keep:
                if self._run_ids:
                    print("netpol: kept the test namespaces; delete them with:", file=self.out)
                    for command in self.delete_commands():
                        print(f"  {command}", file=self.out)
                return
            problems: list[str] = []
            # A SIGTERM now (CI cancelling twice) must not cut the bounded cleanup short.
            unshield = shield_sigterm(self.out)
            try:
                for deleting in self._deleting:
                    try:
                        problems.extend(deleting.result(timeout=self.delete_timeout + 30))
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


def _nothing() -> None:
    return None


def _done_line(result: ScenarioResult) -> str:
    if result.setup_error:
        return f"not run: {result.setup_error.splitlines()[0][:160]}"
    counts = {status: 0 for status in Status}
    for verdict in result.verdicts:
        counts[verdict.status] += 1
    flipped = sum(1 for v in result.verdicts if v.flipped)
    return (
        f"done in {result.seconds:.1f}s: {counts[Status.PASS]} pass, "
        f"{counts[Status.FAIL]} fail, {counts[Status.ERROR]} error"
        + (f", {flipped} flipped" if flipped else "")
    )


class Progress:
    """Progress lines of the scenarios running now, and a heartbeat for silent ones.

    ``write`` gets whole lines (``<scenario>: <what happens>``). A scenario silent for
    ``quiet_after`` seconds gets a line saying it is still at its last step, so a run is
    never silent for long while pods start or policies are programmed.
    """

    def __init__(self, write: Callable[[str], None], quiet_after: float = 5.0) -> None:
        self._write = write
        self._quiet_after = quiet_after
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, str]] = {}  # scenario -> (when, what)
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="netpol-progress", daemon=True)
        self._ticker.start()

    def teller(self, scenario: str) -> Callable[[str], None]:
        def say(line: str) -> None:
            with self._lock:
                self._last[scenario] = (time.monotonic(), line)
            self._write(f"{scenario}: {line}")

        return say

    def finished(self, scenario: str) -> None:
        with self._lock:
            self._last.pop(scenario, None)

    def close(self) -> None:
        self._closed.set()

    def _tick(self) -> None:
        while not self._closed.wait(1.0):
            now = time.monotonic()
            with self._lock:
                silent = [
                    (name, when, what)
                    for name, (when, what) in self._last.items()
                    if now - when >= self._quiet_after
                ]
                for name, _, what in silent:
                    self._last[name] = (now, what)
            for name, when, what in silent:
                self._write(f"{name}: still at: {what} ({now - when:.0f}s without news)")


def _given(value: float | None, default: float | None) -> float | None:
    return value if value is not None else default


def open_session(
    config: Any, options: NetpolOptions, progress: Callable[[str], None] | None = None
) -> LiveSession:
    """What the plugin calls: a LiveSession for this pytest process."""
    workerinput = getattr(config, "workerinput", None) or {}
    return LiveSession(
        options,
        testrun_uid=workerinput.get("testrunuid") or getattr(config.option, "testrunuid", None),
        worker_id=workerinput.get("workerid", "master"),
        progress=progress,
    )
