"""In-place runs (staging): probe existing workloads against the cluster's live policies.

Nothing is created, applied or deleted in the workloads' namespaces, apart from
the probe itself. :meth:`InPlace.run` does, for one scenario:

1. resolve every workload to a real pod: the first (by name) Running and Ready
   pod matching its selector in its existing namespace;
2. give every source workload a probe: one ephemeral container (the curl image,
   restricted security context, ``sleep EPHEMERAL_LIFETIME``) added to its pod
   through ``pods/ephemeralcontainers``, reused for the whole session; when the
   cluster refuses ephemeral containers (403/404/422), a fallback probe pod with
   the source's labels, but only when no Service, ReplicaSet, StatefulSet or
   DaemonSet in that namespace selects those labels (recorded for cleanup);
3. plan the probes (:func:`harness.plan.build_in_place`: pure) and run them with
   :meth:`harness.runner.Runner.run_in_place` (batched exec, convergence, retries).

A workload without a Ready pod raises :class:`~harness.errors.HarnessError` with
the fix (the caller turns it into ERROR verdicts for every cell). A source that
gets neither an ephemeral container nor a fallback pod makes only its own cells
ERROR, with the reason and the fix; the other cells still run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from harness.errors import ClusterError
from harness.errors import Forbidden
from harness.errors import HarnessError
from harness.errors import Invalid
from harness.errors import NotFound
from harness.errors import PodNotReady
from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.live.api import InPlaceApi
from harness.live.pods import choose_pod
from harness.live.runner import CLIENT_CONTAINER
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.model import Outcome
from harness.model import PodRef
from harness.model import Scenario
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import TargetKind
from harness.model import Verdict
from harness.model import Workload
from harness.plan import PROBE_UID
from harness.plan import build_in_place
from harness.plan import ephemeral_container
from harness.plan import ephemeral_name
from harness.plan import fallback_pod
from harness.plan import mesh_of
from harness.policy.model import parse_selector

#: HTTP statuses meaning "this cluster does not let us add an ephemeral container".
REFUSED_STATUSES = (403, 404, 405, 415, 422)
#: Controllers whose selector would adopt a fallback probe pod.
CONTROLLERS = (
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
)


class _Refused(HarnessError):
    """Neither an ephemeral container nor a fallback probe pod for one source workload."""


@dataclass(frozen=True)
class Source:
    """Where one source workload's probes run."""

    pod: PodRef
    container: str
    fallback: bool = False


# ---------------------------------------------------------------- pure helpers


def selector_text(selector: Mapping[str, str]) -> str:
    """A label selector query string (``app=web,tier=front``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics, by the policy engine's matcher ({} matches all).

    A selector the engine cannot read counts as matching: refusing a fallback pod is
    the safe answer when we cannot tell whether a controller would adopt it.
    """
    try:
        return parse_selector(selector, "controller", "spec.selector").matches(labels)
    except HarnessError:
        return True


def selecting(
    labels: Mapping[str, str],
    services: Sequence[Mapping[str, Any]],
    controllers: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Services and controllers whose selector matches ``labels`` (why a fallback is refused)."""
    found: list[str] = []
    for svc in services:
        selector = (svc.get("spec") or {}).get("selector") or {}
        if selector and all(labels.get(str(k)) == str(v) for k, v in selector.items()):
            meta = svc.get("metadata") or {}
            found.append(
                f"Service {meta.get('namespace')}/{meta.get('name')} "
                f"(selector {selector_text(selector)}) would send it real traffic"
            )
    for ctrl in controllers:
        selector = (ctrl.get("spec") or {}).get("selector")
        if isinstance(selector, Mapping) and label_selector_matches(selector, labels):
            meta = ctrl.get("metadata") or {}
            found.append(
                f"{ctrl.get('kind', 'controller')} {meta.get('namespace')}/{meta.get('name')} "
                "would adopt it"
            )
    return found


# ---------------------------------------------------------------- the run


class InPlace:
    """Prepares and runs in-place scenarios; one per live session (ephemeral containers
    are reused across its scenarios)."""

    def __init__(
        self,
        cluster: InPlaceApi,
        settings: RunSettings,
        *,
        session_id: str,
        images: Images = DEFAULT_IMAGES,
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.session_id = session_id  # names the ephemeral container
        self.images = images
        self._ephemeral: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @property
    def container_name(self) -> str:
        return ephemeral_name(self.session_id)

    def run(self, scenario: Scenario, run_id: str, recorder: Recorder) -> ScenarioResult:
        """Resolve, prepare the sources, plan and probe one in-place scenario.

        A source workload that can get neither an ephemeral container nor a
        fallback probe pod makes its own cells ERROR (with the reason); the
        other cells still run.
        """
        start = time.monotonic()
        chosen = self._resolve(scenario)
        prepared = self._sources(scenario, run_id, chosen, recorder)
        sources = {n: s for n, s in prepared.items() if isinstance(s, Source)}
        refused = {n: s for n, s in prepared.items() if isinstance(s, str)}
        targets = {
            name: PodRef(str(pod["metadata"]["namespace"]), str(pod["metadata"]["name"]))
            for name, pod in chosen.items()
        }
        plan = build_in_place(
            scenario,
            run_id,
            sources={name: s.pod for name, s in sources.items()},
            targets=targets,
        )
        ips = {
            str(targets[name]): str(pod["status"]["podIP"])
            for name, pod in chosen.items()
            if name in _target_names(scenario)
        }
        runner = Runner(self.cluster, self.settings, recorder=recorder)
        runnable = replace(plan, probes=tuple(p for p in plan.probes if p.cell.source in sources))
        result = runner.run_in_place(runnable, ips, {s.pod: s.container for s in sources.values()})
        if not refused:
            return replace(result, seconds=time.monotonic() - start)  # setup included
        errors = [
            Verdict(p, Status.ERROR, Outcome.ERROR, 0, 0.0, detail=refused[p.cell.source])
            for p in plan.probes
            if p.cell.source in refused
        ]
        verdicts = sorted([*result.verdicts, *errors], key=lambda v: v.probe.id)
        return ScenarioResult(plan, tuple(verdicts), seconds=time.monotonic() - start)

    # ------------------------------------------------------------ resolution

    def _resolve(self, scenario: Scenario) -> dict[str, Mapping[str, Any]]:
        used = _source_names(scenario) | _target_names(scenario)
        chosen: dict[str, Mapping[str, Any]] = {}
        missing: list[str] = []
        for w in scenario.workloads:
            if w.name not in used:
                continue
            text = selector_text(w.selector)
            pod = choose_pod(self.cluster.list_pods(w.namespace, text))
            if pod is None:
                missing.append(
                    f"workload {w.name!r} ({w.source or scenario.path}): no Running and Ready "
                    f"pod matches {text} in namespace {w.namespace} "
                    f"(check: kubectl get pods -n {w.namespace} -l {text})"
                )
                continue
            chosen[w.name] = pod
        if missing:
            raise HarnessError("in place: " + "; ".join(missing))
        return chosen

    # ------------------------------------------------------------ sources

    def _sources(
        self,
        scenario: Scenario,
        run_id: str,
        chosen: Mapping[str, Mapping[str, Any]],
        recorder: Recorder,
    ) -> dict[str, Source | str]:
        """Each source workload's Source, or why it has none (str)."""
        names = sorted(_source_names(scenario))
        if not names:
            return {}
        workers = max(1, min(len(names), self.settings.concurrency))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                name: pool.submit(
                    self._source, scenario, run_id, scenario.workload(name), chosen[name], recorder
                )
                for name in names
            }
        out: dict[str, Source | str] = {}
        for name, future in futures.items():
            try:
                out[name] = future.result()
            except _Refused as exc:
                out[name] = str(exc)
        return out

    def _source(
        self,
        scenario: Scenario,
        run_id: str,
        workload: Workload,
        pod: Mapping[str, Any],
        recorder: Recorder,
    ) -> Source:
        ns, name = str(pod["metadata"]["namespace"]), str(pod["metadata"]["name"])
        mesh = mesh_of(pod)
        uid = mesh[1] if mesh else PROBE_UID
        container, refused = self._add_ephemeral(ns, name, pod, uid)
        if not refused:
            return Source(PodRef(ns, name), container)
        if mesh:
            # A fallback pod with the source's labels would get the sidecar injected too.
            raise _Refused(
                f"{ns}/{name} runs the {mesh[0]} sidecar, which captures its outbound "
                f"traffic, and no ephemeral probe container running as the proxy's UID "
                f"{uid} (whose traffic the mesh leaves alone) could be added: {refused} "
                "(a probe through the proxy would connect whatever the policies say)"
            )
        return self._fallback(scenario, run_id, workload, pod, refused, recorder)

    def _add_ephemeral(
        self, ns: str, name: str, pod: Mapping[str, Any], uid: int = PROBE_UID
    ) -> tuple[str, str]:
        """Add (once per session) and wait for the ephemeral probe container.

        Returns (its name, "") when it runs, else (name, why the cluster refused it):
        then the fallback is considered. ``uid``: the user it runs as (in a meshed pod,
        the proxy's, so the mesh does not redirect the probes).
        """
        spec = ephemeral_container(self.session_id, self.images, uid=uid)
        container = str(spec["name"])
        with self._lock:
            if self._ephemeral.get((ns, name)) == container:
                return container, ""
        present = [
            str(c.get("name")) for c in (pod.get("spec") or {}).get("ephemeralContainers") or []
        ]
        if container not in present:
            try:
                self.cluster.add_ephemeral_container(ns, name, spec)
            except (Forbidden, NotFound, Invalid) as exc:
                return container, f"{exc} (HTTP {exc.status})"
            except ClusterError as exc:
                if exc.status in REFUSED_STATUSES:
                    return container, f"{exc} (HTTP {exc.status})"
                raise
        try:
            self.cluster.wait_ephemeral_running(
                ns, name, container, timeout=self.settings.ready_timeout
            )
        except PodNotReady as exc:
            # This source has no probe container: an ERROR of its cells, not the scenario's.
            raise _Refused(f"the probe container did not start: {exc}") from None
        with self._lock:
            self._ephemeral[(ns, name)] = container
        return container, ""

    def _fallback(
        self,
        scenario: Scenario,
        run_id: str,
        workload: Workload,
        pod: Mapping[str, Any],
        refused: str,
        recorder: Recorder,
    ) -> Source:
        ns, source_name = str(pod["metadata"]["namespace"]), str(pod["metadata"]["name"])
        body = fallback_pod(pod, run_id, scenario.name, workload.name, self.images)
        labels = body["metadata"]["labels"]
        copied = {k: v for k, v in labels.items() if k in (pod["metadata"].get("labels") or {})}
        why = (
            f"in place: workload {workload.name!r}: the cluster refused an ephemeral container "
            f"in {ns}/{source_name} ({refused})"
        )
        services = self._list(ns, "v1", "Service", why)
        controllers: list[dict[str, Any]] = []
        for api_version, kind in CONTROLLERS:
            controllers.extend(self._list(ns, api_version, kind, why))
        blockers = selecting(labels, services, controllers)
        if blockers:
            raise _Refused(
                f"{why}, and the fallback probe pod is refused: a pod with its labels "
                f"({selector_text(copied)}): " + "; ".join(blockers) + " (fix: allow ephemeral "
                "containers for this account in that namespace, or check these cells from a "
                "hermetic scenario that mirrors the labels; docs/staging.md)"
            )
        recorder.add(body)
        try:
            self.cluster.create(body, run_id=run_id)
        except Forbidden as exc:
            raise _Refused(
                f"{why}, and creating the fallback probe pod is forbidden: {exc} (fix: bind the "
                f"ClusterRole netpol-harness-in-place-fallback in namespace {ns}, docs/rbac.md)"
            ) from None
        probe = str(body["metadata"]["name"])
        self.cluster.wait_pods_ready([(ns, probe)], timeout=self.settings.ready_timeout)
        return Source(PodRef(ns, probe), CLIENT_CONTAINER, fallback=True)

    def _list(self, ns: str, api_version: str, kind: str, why: str) -> list[dict[str, Any]]:
        try:
            return self.cluster.list_objects(api_version, kind, ns)
        except NotFound:
            return []  # the API does not serve the kind: nothing of it can select the pod
        except Forbidden as exc:
            raise _Refused(
                f"{why}, and the fallback probe pod cannot be checked: listing {kind}s in {ns} "
                f"is forbidden ({exc}) (fix: bind the ClusterRole "
                f"netpol-harness-in-place-fallback in namespace {ns}, docs/rbac.md)"
            ) from None


def _source_names(scenario: Scenario) -> set[str]:
    return {c.source for c in scenario.cells}


def _target_names(scenario: Scenario) -> set[str]:
    return {
        c.target.name
        for c in scenario.cells
        if c.target.kind in (TargetKind.POD, TargetKind.SERVICE)
    }
