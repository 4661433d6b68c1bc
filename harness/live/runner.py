"""Run a Plan against a cluster: the only place deciding concurrency and retries.

Steps (:meth:`Runner.run`):

1. deploy namespaces, then Services and probe pods, in parallel (thread pool);
2. wait until every probe pod is Ready and read the pod IPs;
3. prove the data path BEFORE any policy exists: every client reaches one
   server (bounded); anything failing here is infrastructure, not a verdict;
4. apply the policy manifests in order (the clock for convergence starts here);
5. probe: one exec per source pod per round (a shell script running all that
   pod's probes at once: one ``curl --parallel`` for HTTP/TCP), a bounded pool
   of concurrent execs; cells whose observation disagrees with the expectation
   are re-probed (only those) until they agree or the convergence budget runs
   out; infrastructure errors are retried up to ``max_infra_retries`` times
   (with backoff) and then reported as Status.ERROR, never as a verdict;
6. passing cells due a confirmation (by default: allow cells) get one more
   observation, in the same rounds as the re-probes (no separate pass);
7. explanations for FAIL verdicts from the policy engine on the live objects.

Cleanup is not done here: every object created is recorded in a
:class:`Recorder` (also when a step fails half-way), and the caller
(:mod:`harness.live.session`) deletes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import Literal

from harness import placeholders
from harness import plan as planning
from harness.errors import ClusterError
from harness.errors import HarnessError
from harness.live.api import ObjectRef
from harness.live.api import RunnerApi
from harness.live.cellstate import CellState
from harness.live.enrich import explain
from harness.live.enrich import guard_pod_health
from harness.live.resolv import read_resolv_conf
from harness.model import ManifestDoc
from harness.model import Observation
from harness.model import Outcome
from harness.model import Plan
from harness.model import PodRef
from harness.model import Probe
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.probes import DEFAULT_SCRIPT_CONCURRENCY
from harness.probes import ProbeCall
from harness.probes import build_script
from harness.probes import judge
from harness.probes import judge_detail
from harness.probes import parse_output
from harness.probes import rerun_command
from harness.probes import script_size
from harness.probes import script_timeout

CLIENT_CONTAINER = "client"


@dataclass(frozen=True)
class RunSettings:
    concurrency: int = 32  # concurrent exec calls (one per source pod and round)
    script_concurrency: int = DEFAULT_SCRIPT_CONCURRENCY  # probes at once inside one pod
    connect_timeout: float | None = None  # None: the scenario's setting
    convergence: float | None = None  # None: the scenario's setting
    max_infra_retries: int = 3
    ready_timeout: float = 180.0
    datapath_timeout: float = 60.0
    round_interval: float = 1.0
    exec_backoff: float = 0.5
    exec_backoff_cap: float = 8.0
    #: Longest probe script per exec (percent-encoded chars in the exec URL); longer
    #: batches are split. API servers and proxies limit URL/header sizes (often 8 KiB).
    max_script_chars: int = 6000
    #: Which passing cells get one confirming observation (see Runner._needs_confirm).
    confirm: Literal["allow", "all", "changed", "none"] = "all"
    #: Seconds after the apply before a confirming observation counts (capped by the
    #: convergence budget): a CNI programs policies with a delay, and until it has, an
    #: allow cell that a policy actually denies still connects (and would be confirmed).
    #: Cut short once the policies have visibly landed: see Runner._settled_after.
    settle: float = 5.0
    #: The shortest settle once the policies were seen landing (see _settled_after).
    settle_floor: float = 2.0
    explain: bool = True
    #: The cluster's pod network, for ``${clusterPodCIDR}`` in manifests ("" unknown).
    pod_cidr: str = ""


@dataclass
class Recorder:
    """Thread-safe record of everything created (kept by the caller for cleanup)."""

    items: list[ObjectRef] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, body: Mapping[str, Any]) -> None:
        ref = ObjectRef.of(body)
        with self._lock:
            if ref not in self.items:
                self.items.append(ref)

    def snapshot(self) -> list[ObjectRef]:
        with self._lock:
            return list(self.items)


class Runner:
    """Runs Plans; one instance may run several plans (sequentially or not)."""

    def __init__(
        self,
        cluster: RunnerApi,
        settings: RunSettings | None = None,
        *,
        recorder: Recorder | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.cluster = cluster
        #: Set when the run is being stopped (Ctrl-C, -x, SIGTERM): stop at the next step.
        self._stop = stop or threading.Event()
        #: Told each phase of a run as it happens (one short line, no newline).
        self._progress = progress or _quiet
        self.settings = settings or RunSettings()
        self.recorder = recorder or Recorder()
        self._clock = clock
        self._sleep = sleep
        #: The probe pods' resolv.conf nameserver, once read (for DNS explanations).
        self._nameserver = ""
        #: The container probes run in, per source pod (in place: the ephemeral one).
        self._exec_containers: dict[PodRef, str] = {}

    # ------------------------------------------------------------ top level

    def run(self, plan: Plan) -> ScenarioResult:
        start = self._clock()
        say = self._progress
        try:
            say(f"deploying {len(plan.pods)} pods")
            self._check_stop()
            self._deploy(plan)
            ready = self._ready_pods(plan)
            ips = _pod_ips(ready)
            plan = self._in_cluster_domain(plan)
            plan = self._resolved(plan, ready)
            say(f"{len(ready)} pods ready; proving the data path ({len(plan.datapath)} probes)")
            self._prove_datapath(plan, ips)
            say(f"data path proven; applying {len(plan.manifests)} manifests")
            self._check_stop()
            self._apply_policies(plan)
        except HarnessError as exc:
            say(f"setup failed: {str(exc).splitlines()[0][:160]}")
            return ScenarioResult.setup_failed(plan, str(exc), self._clock() - start)
        verdicts: list[Verdict] = []
        before = plan
        for name, state in plan.stages():
            step = f"step {name}: " if name else ""
            if name:
                try:
                    self._check_stop()
                    self._transit(plan, name, planning.transition(before, state))
                except HarnessError as exc:
                    # This step and every later one: no verdict, with the cause.
                    say(f"{step}failed: {str(exc).splitlines()[0][:160]}")
                    rest = {p.id for p in plan.probes} - {v.probe.id for v in verdicts}
                    failed = f"step {name} could not be applied: {exc}"
                    verdicts += [
                        Verdict(p, Status.ERROR, Outcome.ERROR, 0, 0.0, detail=failed)
                        for p in plan.probes
                        if p.id in rest
                    ]
                    break
            before = state
            done = "changed" if name else "policies applied"
            say(f"{step}{done}; probing {len(state.probes)} cells")
            found = self._probe_all(state, ips)
            found = guard_pod_health(self.cluster, state, found, ready)
            if self.settings.explain:
                found = explain(self.cluster, state, found, ips, self._nameserver)
            verdicts += found
        return ScenarioResult(plan, tuple(verdicts), seconds=self._clock() - start)

    def _transit(self, plan: Plan, name: str, change: planning.Transition) -> None:
        """Turn the cluster from one step's state into the next: delete, apply, relabel."""
        self._progress(
            f"step {name}: deleting {len(change.delete)}, applying {len(change.apply)}, "
            f"relabelling {len(change.relabel)} objects"
        )
        for doc in change.delete:
            try:
                self.cluster.delete(ObjectRef.of(doc.body))
            except HarnessError as exc:
                raise ClusterError(f"deleting {doc.source}: {exc}") from None
        self._apply_policies(replace(plan, manifests=change.apply))
        for body, labels in change.relabel:
            ref = ObjectRef.of(body)
            try:
                self.cluster.patch_labels(ref, labels)
            except HarnessError as exc:
                raise ClusterError(f"relabelling {ref}: {exc}") from None

    def run_in_place(
        self, plan: Plan, ips: Mapping[str, str], containers: Mapping[PodRef, str]
    ) -> ScenarioResult:
        """Probe an in-place plan (:mod:`harness.live.inplace` prepared the sources).

        Nothing is deployed, no data path is proven and nothing is applied: the
        probes run against the live policies (the convergence clock starts now).
        ``containers`` names the container each source pod probes from.
        """
        start = self._clock()
        self._exec_containers.update(containers)
        plan = self._in_cluster_domain(plan)
        verdicts = self._probe_all(plan, ips)
        if self.settings.explain:
            verdicts = explain(self.cluster, plan, verdicts, ips, self._nameserver)
        return ScenarioResult(plan, tuple(verdicts), seconds=self._clock() - start)

    def _in_cluster_domain(self, plan: Plan) -> Plan:
        """The plan with Service and DNS names in the cluster's own domain.

        Read from the first client pod's /etc/resolv.conf (its search line names
        ``svc.<domain>``); clusters are not always ``cluster.local``. Unreadable: the
        names stay as planned (and a wrong domain shows as DNS failures, never drops).
        """
        if not planning.uses_cluster_names(plan):
            return plan
        source = next((p.source_pod for p in plan.probes), None)
        if source is None:
            return plan
        container = self._exec_containers.get(source, CLIENT_CONTAINER)
        resolv = read_resolv_conf(self.cluster, source, container)
        domain, self._nameserver = resolv.domain, resolv.nameserver
        if domain and domain != planning.CLUSTER_DOMAIN:
            self._progress(f"cluster domain {domain} (from {source}'s resolv.conf)")
        return planning.with_cluster_domain(plan, domain) if domain else plan

    def _resolved(self, plan: Plan, ready: Mapping[tuple[str, str], Mapping[str, Any]]) -> Plan:
        """The plan with the run-time values in its manifests resolved (``${podIP:web}``).

        From the ready pods (pod IP, node IP; a pod is named after its workload), the
        run's namespaces and ``pod_cidr``; PlaceholderError (no verdict) if one is unknown.
        """
        docs = [*plan.manifests, *(m for s in plan.steps for m in s.manifests)]
        if not any(placeholders.has_placeholders(m.body) for m in docs):
            return plan
        status = {name: pod.get("status") or {} for (_, name), pod in ready.items()}
        facts = placeholders.Facts(
            pod_ips={w: str(s.get("podIP") or "") for w, s in status.items()},
            node_ips={w: str(s.get("hostIP") or "") for w, s in status.items()},
            namespaces=dict(plan.namespace_map),
            pod_cidr=self.settings.pod_cidr,
        )

        def resolved(docs: Sequence[ManifestDoc]) -> tuple[ManifestDoc, ...]:
            out = []
            for doc in docs:
                try:
                    out.append(replace(doc, body=placeholders.resolve(doc.body, facts)))
                except placeholders.PlaceholderError as exc:
                    raise placeholders.PlaceholderError(f"{doc.source}: {exc}") from None
            return tuple(out)

        steps = tuple(replace(s, manifests=resolved(s.manifests)) for s in plan.steps)
        return replace(plan, manifests=resolved(plan.manifests), steps=steps)

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise HarnessError("the run was stopped (interrupted) before this step")

    def connect_timeout(self, plan: Plan) -> float:
        return self.settings.connect_timeout or plan.scenario.settings.connect_timeout

    def convergence(self, plan: Plan) -> float:
        if self.settings.convergence is not None:
            return self.settings.convergence
        return plan.scenario.settings.convergence_budget

    # ------------------------------------------------------------ setup

    def _create_all(self, plan: Plan, bodies: Sequence[Mapping[str, Any]]) -> None:
        if not bodies:
            return
        errors: list[str] = []

        def one(body: Mapping[str, Any]) -> None:
            # Recorded first: a create that fails after the server stored it still
            # leaves an object to clean up (a 404 on delete is fine).
            self.recorder.add(body)
            try:
                self.cluster.create(body, run_id=plan.run_id)
            except HarnessError as exc:
                errors.append(str(exc))

        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            list(pool.map(one, bodies))
        if errors:
            raise ClusterError("; ".join(sorted(errors)[:5]))

    def _deploy(self, plan: Plan) -> None:
        self._create_all(plan, plan.namespaces)
        self._create_all(plan, plan.service_accounts)  # before the pods that run as them
        self._create_all(plan, [*plan.services, *plan.pods])

    def _ready_pods(self, plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
        keys = [(str(p["metadata"]["namespace"]), str(p["metadata"]["name"])) for p in plan.pods]
        return self.cluster.wait_pods_ready(keys, timeout=self.settings.ready_timeout)

    def _wait_ready(self, plan: Plan) -> dict[str, str]:
        return _pod_ips(self._ready_pods(plan))

    def _apply_policies(self, plan: Plan) -> None:
        for doc in plan.manifests:
            body = doc.body
            self.recorder.add(body)
            try:
                self.cluster.create(body, run_id=plan.run_id)
            except HarnessError as exc:
                raise ClusterError(f"applying {doc.source}: {exc}") from None

    # ------------------------------------------------------------ data path

    def _prove_datapath(self, plan: Plan, ips: Mapping[str, str]) -> None:
        pending = list(plan.datapath)
        if not pending:
            return  # nothing to probe (no client in the scenario)
        deadline = self._clock() + self.settings.datapath_timeout
        last: dict[str, Observation] = {}
        while pending:
            results, _ = self._round(plan, pending, ips)
            last.update(results)
            pending = [p for p in pending if results[p.id].outcome is not Outcome.CONNECTED]
            if not pending:
                return
            if self._clock() >= deadline:
                break
            self._sleep(self.settings.round_interval)
        failures = "; ".join(
            f"{p.source_pod} -> {p.cell.target.kind.value} {p.cell.key.split('->', 1)[1]} "
            f"({last[p.id].outcome}: {last[p.id].detail})"
            for p in pending[:5]
        )
        more = f" (and {len(pending) - 5} more)" if len(pending) > 5 else ""
        raise ClusterError(
            f"not answering before any policy was applied: {failures}{more} (no verdict "
            "possible: the target is not served or not routed, or DNS, the CNI or the exec "
            "path is broken)"
        )

    # ------------------------------------------------------------ probing

    def _calls(
        self, plan: Plan, probes: Sequence[Probe], ips: Mapping[str, str]
    ) -> tuple[list[ProbeCall], dict[str, Observation]]:
        timeout = self.connect_timeout(plan)
        calls: list[ProbeCall] = []
        missing: dict[str, Observation] = {}
        for p in probes:
            if p.host:
                calls.append(ProbeCall(p, p.host, timeout))
                continue
            ip = ips.get(str(p.target_pod)) if p.target_pod else None
            if not ip:
                missing[p.id] = Observation(
                    p.id, Outcome.ERROR, f"no pod IP known for target {p.target_pod}"
                )
                continue
            calls.append(ProbeCall(p, ip, timeout))
        return calls, missing

    def _batch(self, pod: PodRef, calls: Sequence[ProbeCall]) -> tuple[list[Observation], bool]:
        """One exec running ``calls`` in ``pod``; (observations, exec failed)."""
        # Never more jobs at once than the client container's memory limit holds.
        concurrency = max(1, min(self.settings.script_concurrency, planning.client_job_limit()))
        script = build_script(calls, concurrency)
        try:
            result = self.cluster.exec(
                pod.namespace,
                pod.name,
                ["sh", "-c", script],
                container=self._exec_containers.get(pod, CLIENT_CONTAINER),
                timeout=script_timeout(calls, concurrency),
            )
        except HarnessError as exc:
            text = str(exc)
            detail = text if text.startswith(f"exec in {pod}") else f"exec in {pod} failed: {text}"
            return [Observation(c.probe.id, Outcome.ERROR, detail) for c in calls], True
        stderr = result.stderr
        if result.exit_code != 0:
            stderr = f"script exit {result.exit_code}; {stderr}"
        return parse_output(calls, result.stdout, stderr), False

    def _split(self, calls: list[ProbeCall]) -> list[list[ProbeCall]]:
        """Split one pod's calls so each script fits ``max_script_chars`` in the exec URL."""
        limit = self.settings.max_script_chars
        if script_size(calls) <= limit:
            return [calls]
        chunks: list[list[ProbeCall]] = [[]]
        for call in calls:
            if chunks[-1] and script_size([*chunks[-1], call]) > limit:
                chunks.append([])
            chunks[-1].append(call)
        return chunks

    def _round(
        self, plan: Plan, probes: Sequence[Probe], ips: Mapping[str, str]
    ) -> tuple[dict[str, Observation], bool]:
        """Probe once; one exec per source pod; (observation per probe id, any exec failed)."""
        calls, results = self._calls(plan, probes, ips)
        per_pod: dict[PodRef, list[ProbeCall]] = {}
        for call in calls:
            per_pod.setdefault(call.probe.source_pod, []).append(call)
        batches = [(pod, chunk) for pod, cs in per_pod.items() for chunk in self._split(cs)]
        failed = False
        if batches:
            workers = max(1, min(self.settings.concurrency, len(batches)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._batch, pod, cs) for pod, cs in batches]
                for future in futures:
                    observations, broke = future.result()
                    failed = failed or broke
                    for obs in observations:
                        results[obs.probe_id] = obs
        return results, failed

    def _probe_all(self, plan: Plan, ips: Mapping[str, str]) -> list[Verdict]:
        """Rounds until every cell agrees and is confirmed, or budget/retries run out.

        Round 1 probes every cell. Each later round probes, together (one exec per
        source pod, all at the same time):

        - cells that disagree (re-probed while the round starts inside the
          convergence budget) or hit an infrastructure error (up to
          ``max_infra_retries`` times);
        - passing cells due a confirmation (see :meth:`_needs_confirm`): one more
          observation, which catches a cell that only agreed because the policies
          were not programmed yet (an allow expectation that a policy actually
          denies connects until the CNI catches up). A confirmation is taken in the
          first round that starts once the policies had time to land
          (:meth:`_settled_after`), never before: while they land one by one a pod
          can hold part of them (a default deny programmed before its exceptions),
          and an observation of that passing state is neither a confirmation nor a
          change of the network's answer.

        A round starts no earlier than ``round_interval`` after the previous one
        started (a round of deny probes lasts a connect timeout, so usually at
        once), later after broken execs (exponential backoff).
        """
        cells = {p.id: CellState(p) for p in plan.probes}
        applied = self._clock()
        budget = self.convergence(plan)
        pending = list(plan.probes)
        failed_rounds = 0
        rounds = 0
        last_start: float | None = None
        while pending:
            if last_start is not None:
                wait = self.settings.round_interval - (self._clock() - last_start)
                if all(cells[p.id].confirming for p in pending):
                    # Only confirmations left: take them once the policies had time to land.
                    settled = min(self._settled_after(cells), budget)
                    wait = max(wait, settled - (self._clock() - applied))
                if failed_rounds:
                    wait = max(
                        wait,
                        min(
                            self.settings.exec_backoff * 2 ** (failed_rounds - 1),
                            self.settings.exec_backoff_cap,
                        ),
                    )
                if wait > 0:
                    self._sleep(wait)
            last_start = self._clock()
            if rounds:
                self._progress(f"round {rounds + 1}: {len(pending)} cells pending")
            if self._stop.is_set():
                break
            rounds += 1
            # The budget bounds when the last re-probe STARTS: a slow round (many execs,
            # a loaded API server) must not leave disagreeing cells with a single try.
            started = last_start - applied
            settled = min(self._settled_after(cells), budget)
            # (1 ms of slack: the wait above ends at the settle point, give or take a float)
            due = [p for p in pending if not cells[p.id].confirming or started > settled - 1e-3]
            results, broke = self._round(plan, due, ips)
            failed_rounds = failed_rounds + 1 if broke else 0
            now = self._clock() - applied
            again_ids = {p.id for p in pending} - {p.id for p in due}  # confirm later
            for p in due:
                cell = cells[p.id]
                if cell.confirming:
                    again = self._confirmed(cell, results[p.id], now, started < budget)
                else:
                    again = self._observed(cell, results[p.id], now, started < budget)
                    if cell.agreed_from is None and judge(p, cell.last.outcome) is Status.PASS:
                        cell.agreed_from = started
                if again:
                    again_ids.add(p.id)
            pending = [p for p in pending if p.id in again_ids]
        return [self._verdict(plan, cells[p.id], ips) for p in plan.probes]

    def _settled_after(self, cells: Mapping[str, CellState]) -> float:
        """Seconds after the apply from which a confirming observation counts.

        A CNI programs each node (each pod) in its own time, so one pod's rules having
        landed says little about another's. Derived from what was observed: once every
        expected-deny cell of the plan was DROPPED in some round (a drop of a whole
        connect timeout does not happen before the CNI programs the policy: the data
        path was proven first), the slowest of those landings ``landed`` bounds the
        lag seen so far; confirmations count from ``2 * landed + round_interval``, never
        earlier than ``settle_floor`` and never later than ``settle``. A plan without
        deny cells (nothing to watch land) waits ``settle``.
        """
        denies = [c for c in cells.values() if c.probe.cell.expect == "deny"]
        if not denies or any(c.agreed_from is None for c in denies):
            return self.settings.settle
        landed = max(c.agreed_from or 0.0 for c in denies)
        derived = max(self.settings.settle_floor, 2 * landed + self.settings.round_interval)
        return min(self.settings.settle, derived)

    def _needs_confirm(self, cell: CellState) -> bool:
        """Whether a cell that just passed gets one confirming observation.

        ``confirm="all"`` (default): every passing cell (also guards against a deny
        cell dropped while only part of the policies was programmed, e.g. one
        policy of several landed; costs one more connect timeout). ``"allow"``:
        passing allow cells only (the hazard above; a deny cell passes only when a
        probe was DROPPED for the whole connect timeout, which before any policy is
        programmed does not happen: the data path was proven). ``"changed"``: cells
        whose observation changed on the way. ``"none"``: no confirmation. Each cell
        is confirmed once.
        """
        mode = self.settings.confirm
        if cell.confirmed or mode == "none":
            return False
        if mode == "all":
            return True
        if mode == "allow":
            return cell.probe.cell.expect == "allow"
        return len(set(cell.network_outcomes())) > 1

    def _observed(self, cell: CellState, obs: Observation, now: float, in_budget: bool) -> bool:
        """Record a converging observation; True to probe the cell again."""
        cell.history.append(obs)
        cell.tries += 1
        cell.at = now
        status = judge(cell.probe, obs.outcome)
        if status is Status.ERROR:
            cell.infra += 1
            return cell.infra <= self.settings.max_infra_retries
        if status is Status.FAIL:
            return in_budget
        if self._needs_confirm(cell):
            cell.confirming = True
            cell.confirm_infra = 0
            return True
        return False

    def _confirmed(self, cell: CellState, obs: Observation, now: float, in_budget: bool) -> bool:
        """Record a confirming observation (taken once the policies had time to land);
        True to probe the cell again."""
        if obs.outcome is Outcome.ERROR:
            cell.confirm_infra += 1
            if cell.confirm_infra <= self.settings.max_infra_retries:
                return True
            cell.confirming = False
            cell.confirmed = True
            cell.confirm_note = f"confirmation probe failed ({obs.detail})"
            return False
        cell.confirming = False
        cell.confirmed = True
        before = cell.last.outcome
        cell.history.append(obs)
        cell.tries += 1
        if obs.outcome is before:
            return False  # confirmed; the verdict keeps the time it agreed
        cell.at = now
        cell.confirm_note = (
            f"changed after agreeing: {before}, then the confirmation probe saw {obs.outcome}"
        )
        # Converge again if it now disagrees (never confirmed twice).
        return judge(cell.probe, obs.outcome) is Status.FAIL and in_budget

    def _verdict(self, plan: Plan, cell: CellState, ips: Mapping[str, str]) -> Verdict:
        p = cell.probe
        obs = cell.last
        status = judge(p, obs.outcome)
        if status is Status.ERROR:
            detail = f"infrastructure error after {cell.tries} tries: {obs.detail}"
        else:
            detail = judge_detail(p, obs)
            outcomes = cell.network_outcomes()
            if len(set(outcomes)) > 1:
                trail = " -> ".join(str(o) for o in outcomes)
                detail = f"{detail} [observed {trail}]"
        if cell.confirm_note:
            detail = f"{detail}; {cell.confirm_note}"
        address = p.host or (ips.get(str(p.target_pod)) if p.target_pod else None) or "TARGET"
        rerun = rerun_command(
            p,
            address,
            p.source_pod.namespace,
            p.source_pod.name,
            self._exec_containers.get(p.source_pod, CLIENT_CONTAINER),
            self.connect_timeout(plan),
        )
        return Verdict(
            probe=p,
            status=status,
            observed=obs.outcome,
            tries=cell.tries,
            seconds=round(cell.at, 3),
            detail=detail,
            rerun=rerun,
            flipped=cell.flipped,
        )


def _quiet(_line: str) -> None:
    return None


def _pod_ips(pods: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, str]:
    ips: dict[str, str] = {}
    for (ns, name), pod in pods.items():
        ip = (pod.get("status") or {}).get("podIP")
        if ip:
            ips[str(PodRef(ns, name))] = str(ip)
    return ips
