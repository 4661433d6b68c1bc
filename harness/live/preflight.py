"""Is this cluster fit for live runs? Five checks, in order, one line each.

1. ``api``: the API server answers ``GET /version``.
2. ``rbac``: every permission of :data:`harness.rbac.HERMETIC_RULES` (or the
   in-place ones) is granted, asked with SelfSubjectAccessReview.
3. ``images``: the probe images pull: a short-lived client and server pod in a
   temporary namespace (harness labels, Pod Security "restricted") get Ready.
4. ``dns``: the client pod resolves ``kube-dns.kube-system.svc.<domain>.`` (the cluster
   domain read from its resolv.conf), judged by nslookup's output, not its exit code.
5. ``enforcement``: the CNI enforces NetworkPolicy. The client reaches the
   server (the data path works), then a deny-all-ingress policy is applied to
   the server's namespace and the same probe must time out within a bounded
   convergence time.

A check that cannot run because an earlier one failed is reported as skipped.
Everything created lives in one namespace carrying the run label; it is
deleted in a ``finally`` (so also on Ctrl-C), and the wait for it is bounded.

This module talks to the cluster only through the facade (:class:`PreflightApi`,
implemented by :class:`harness.cluster.Cluster`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Literal

from harness import plan as planning
from harness import probes as probing
from harness.errors import ClusterError
from harness.errors import HarnessError
from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.live.api import PreflightApi
from harness.live.pods import describe_pod
from harness.live.pods import is_ready
from harness.live.pods import pull_trouble
from harness.live.resolv import read_resolv_conf
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from harness.model import SCENARIO_LABEL
from harness.model import Cell
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Outcome
from harness.model import Plan
from harness.model import Port
from harness.model import Probe
from harness.model import Scenario
from harness.model import Source
from harness.model import Target
from harness.model import TargetKind
from harness.model import Workload
from harness.rbac import IN_PLACE_RULES
from harness.rbac import Permission
from harness.rbac import rules_for

Mode = Literal["hermetic", "in-place"]
CheckName = Literal["api", "rbac", "images", "dns", "enforcement"]
CHECKS: tuple[CheckName, ...] = ("api", "rbac", "images", "dns", "enforcement")

SCENARIO_NAME = "preflight"
NAMESPACE_BASE = "netpol-preflight"
SERVER_PORT = 8080
#: Waiting reasons that mean "this image will not pull".
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
RBAC_MANIFESTS: dict[Mode, str] = {
    "hermetic": "manifests/rbac/hermetic.yaml",
    "in-place": "manifests/rbac/in-place.yaml",
}
NOT_ENFORCED = (
    "the cluster does not enforce NetworkPolicy (which CNI runs? flannel alone, some cloud "
    "providers' basic CNIs and kind's kindnet before kind v0.24 ignore NetworkPolicy; a "
    "CNI may also be slower than {seconds:g}s): a "
    "deny-all-ingress policy on the canary server left {what} after {seconds:g}s; "
    "every deny cell would fail for the wrong reason (fix: install a CNI that enforces "
    "NetworkPolicy, e.g. scripts/kind-up for kind + Calico)"
)


@dataclass(frozen=True)
class CheckResult:
    name: CheckName
    status: Literal["ok", "fail", "skip"]
    message: str
    seconds: float = 0.0

    @property
    def line(self) -> str:
        label = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}[self.status]
        return f"{label} {self.name:<11} {self.message}"


@dataclass(frozen=True)
class PreflightReport:
    server: str
    results: tuple[CheckResult, ...]
    cleanup: str = ""  # non-empty when the temporary namespace could not be deleted

    @property
    def ok(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    def text(self) -> str:
        lines = [f"preflight of {self.server}"]
        lines += [f"  {r.line}" for r in self.results]
        if self.cleanup:
            lines.append(f"  warning: {self.cleanup}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One message for a failed preflight (what the plugin stops the run with)."""
        failed = self.failures
        if not failed:
            return f"preflight of {self.server} passed"
        return f"preflight of {self.server} failed: " + "; ".join(
            f"{r.name}: {r.message}" for r in failed
        )


@dataclass(frozen=True)
class PreflightSettings:
    mode: Mode = "hermetic"
    canary: bool = True  # images, DNS and enforcement (they need pods)
    images: Images = DEFAULT_IMAGES
    pull_secrets: tuple[str, ...] = ()
    ready_timeout: float = 120.0
    datapath_timeout: float = 30.0
    convergence: float = 20.0  # how long the deny may take to be enforced
    dns_timeout: float = 30.0  # how long a fresh pod may take to resolve (a loaded CoreDNS)
    connect_timeout: float = 1.0
    round_interval: float = 0.5
    delete_timeout: float = 60.0


# ------------------------------------------------------------------ pure parts


def canary_scenario(connect_timeout: float = 1.0) -> Scenario:
    """The canary as a scenario: a client, a server on 8080, DNS, a deny-all-ingress."""
    here = Source("<preflight>", 1)
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "netpol-preflight-deny-ingress", "namespace": NAMESPACE_BASE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    from harness.model import Settings

    return Scenario(
        name=SCENARIO_NAME,
        path="<preflight>",
        namespaces=(
            Namespace(
                NAMESPACE_BASE,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
        ),
        workloads=(
            Workload("client", NAMESPACE_BASE, {"app": "preflight-client"}, role="client"),
            Workload(
                "server",
                NAMESPACE_BASE,
                {"app": "preflight-server"},
                ports=(Port(SERVER_PORT),),
                role="server",
            ),
        ),
        externals=(),
        manifests=(ManifestDoc(policy, here),),
        cells=(
            Cell("client", Target(TargetKind.DNS, "dns"), 53, "UDP", "allow"),
            Cell("client", Target(TargetKind.POD, "server"), SERVER_PORT, "TCP", "deny"),
        ),
        settings=Settings(connect_timeout=connect_timeout, convergence_budget=20.0),
    )


def new_run_id() -> str:
    import secrets

    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "pf" + "".join(secrets.choice(alphabet) for _ in range(6))


def missing_permission(p: Permission, mode: Mode, namespace: str = "") -> str:
    where = f"in namespace {namespace}" if namespace else "in any namespace (cluster-wide)"
    return (
        f"missing permission: cannot {p.verb} {p.rbac_resource} (group '{p.group}') {where}; "
        f"see {RBAC_MANIFESTS[mode]}"
    )


def pull_failure(pods: Iterable[Mapping[str, Any]], *, permanent_only: bool = False) -> str:
    """'image X cannot be pulled (reason): message' for the first pull problem, else ''.

    ``permanent_only``: only problems waiting cannot cure (missing image, refused
    credentials); transient ones (timeouts, rate limits) are for the deadline to judge.
    """
    for pod in pods:
        trouble = pull_trouble(pod)
        if trouble is not None and (trouble[1] or not permanent_only):
            return trouble[0]
    return ""


# ------------------------------------------------------------------ the run


class Preflight:
    """Runs the checks against one cluster; :meth:`run` returns a PreflightReport."""

    def __init__(
        self,
        cluster: PreflightApi,
        settings: PreflightSettings | None = None,
        *,
        on_result: Callable[[CheckResult], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        run_id: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.settings = settings or PreflightSettings()
        self.on_result = on_result
        self._clock = clock
        self._sleep = sleep
        self.run_id = run_id or new_run_id()
        self._results: list[CheckResult] = []

    # -------------------------------------------------------- bookkeeping

    def _record(
        self,
        name: CheckName,
        status: Literal["ok", "fail", "skip"],
        message: str,
        started: float,
    ) -> bool:
        result = CheckResult(name, status, message, round(self._clock() - started, 2))
        self._results.append(result)
        if self.on_result is not None:
            self.on_result(result)
        return status == "ok"

    def _skip_rest(self, why: str) -> None:
        done = {r.name for r in self._results}
        for name in CHECKS:
            if name not in done:
                self._record(name, "skip", why, self._clock())

    def run(self) -> PreflightReport:
        cleanup = ""
        if not self._check_api():
            self._skip_rest("the API server is not reachable")
        elif not self._check_rbac():
            self._skip_rest("permissions are missing")
        elif self.settings.mode == "in-place":
            # The in-place role may not create namespaces, pods or policies: no canary.
            self._skip_rest(
                "in place creates nothing: no canary (images are checked when the first "
                "ephemeral probe container starts; enforcement is what the run observes)"
            )
        elif not self.settings.canary:
            self._skip_rest("canary skipped (--skip-canary)")
        else:
            cleanup = self._canary()
        return PreflightReport(self.cluster.server, tuple(self._results), cleanup)

    # -------------------------------------------------------- 1. API

    def _check_api(self) -> bool:
        started = self._clock()
        server = self.cluster.server
        try:
            doc = self.cluster.version()
        except HarnessError as exc:
            status = getattr(exc, "status", 0)
            if status in (401, 403):
                fix = "the credentials were refused: check the user/token of the kubeconfig context"
            else:
                fix = (
                    "check the kubeconfig's server URL and --context, that the cluster runs "
                    "(kind get clusters; kubectl cluster-info), and proxy settings"
                )
            return self._record(
                "api",
                "fail",
                f"cannot reach the API server at {server}: {exc} (fix: {fix})",
                started,
            )
        version = str(doc.get("gitVersion") or "unknown version")
        return self._record("api", "ok", f"{server} answers, Kubernetes {version}", started)

    # -------------------------------------------------------- 2. RBAC

    def _check_rbac(self) -> bool:
        started = self._clock()
        mode = self.settings.mode
        rules = rules_for(mode) if mode == "hermetic" else IN_PLACE_RULES
        missing: list[str] = []
        asked = 0
        for p in rules:
            try:
                allowed, _reason = self.cluster.can_i(
                    p.verb, p.group, p.resource, subresource=p.subresource
                )
            except HarnessError as exc:
                return self._record(
                    "rbac",
                    "fail",
                    f"cannot ask the API server about permissions (SelfSubjectAccessReview): "
                    f"{exc}; see {RBAC_MANIFESTS[mode]}",
                    started,
                )
            asked += 1
            if not allowed:
                missing.append(missing_permission(p, mode))
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            return self._record("rbac", "fail", "; ".join(missing[:3]) + more, started)
        return self._record(
            "rbac", "ok", f"all {asked} permissions of the {mode} role granted", started
        )

    # -------------------------------------------------------- 3-5. canary

    def _plan(self) -> Plan:
        from harness.plan import build

        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return build(
            canary_scenario(self.settings.connect_timeout),
            self.run_id,
            images=self.settings.images,
            created=created,
            pull_secrets=self.settings.pull_secrets,
        )

    def _canary(self) -> str:
        """Images, DNS, enforcement; returns a cleanup warning ('' when all was deleted)."""
        plan = self._plan()
        namespace = str(plan.namespaces[0]["metadata"]["name"])
        warning = ""
        try:
            self._run_canary(plan, namespace)
        finally:  # also on Ctrl-C: delete what the canary created
            warning = self._delete(namespace)
        return warning

    def _delete(self, namespace: str) -> str:
        try:
            left = self.cluster.delete_run(self.run_id, timeout=self.settings.delete_timeout)
        except ClusterError as exc:
            left = [f"{namespace} ({exc})"]
        if not left:
            return ""
        return (
            f"the preflight namespace is not gone yet: {', '.join(left)} "
            f"(kubectl delete namespace -l {RUN_LABEL}={self.run_id})"
        )

    def _run_canary(self, plan: Plan, namespace: str) -> None:
        started = self._clock()
        try:
            for body in (*plan.namespaces, *plan.pods):
                self.cluster.create(body, run_id=self.run_id)
        except HarnessError as exc:
            self._record("images", "fail", f"cannot create the canary pods: {exc}", started)
            self._skip_rest("the canary pods could not be created")
            return
        pods = self._wait_ready(namespace, started)
        if pods is None:
            self._skip_rest("the canary pods did not start")
            return
        ips = {name: str((p.get("status") or {}).get("podIP") or "") for name, p in pods.items()}
        probes = {p.cell.target.kind: p for p in plan.probes}
        self._check_dns(namespace, probes[TargetKind.DNS])
        self._check_enforcement(plan, probes[TargetKind.POD], ips.get("server", ""))

    def _wait_ready(self, namespace: str, started: float) -> dict[str, dict[str, Any]] | None:
        deadline = started + self.settings.ready_timeout
        selector = f"{RUN_LABEL}={self.run_id}"
        latest: list[dict[str, Any]] = []
        while True:
            try:
                latest = self.cluster.list_pods(namespace, selector)
            except HarnessError as exc:
                if self._clock() >= deadline:
                    self._record("images", "fail", f"cannot read the canary pods: {exc}", started)
                    return None
                latest = []
            failure = pull_failure(latest, permanent_only=True)
            if failure:
                self._record(
                    "images",
                    "fail",
                    f"{failure} (fix: check the image name, registry access and pull "
                    "secrets (--netpol-image-pull-secret), or mirror the images: "
                    "netpol-harness images)",
                    started,
                )
                return None
            by_name = {str((p.get("metadata") or {}).get("name")): p for p in latest}
            if {"client", "server"} <= set(by_name) and all(is_ready(p) for p in by_name.values()):
                images = f"{self.settings.images.client}, {self.settings.images.server}"
                self._record("images", "ok", f"probe pods Ready ({images})", started)
                return by_name
            if self._clock() >= deadline:
                transient = pull_failure(latest)
                if transient:
                    self._record(
                        "images",
                        "fail",
                        f"{transient}, still after {self.settings.ready_timeout:g}s of "
                        "retries (fix: check registry access and rate limits, or mirror the "
                        "images: netpol-harness images)",
                        started,
                    )
                    return None
                detail = "; ".join(
                    describe_pod(namespace, name, by_name.get(name), []).strip().replace("\n", ",")
                    for name in ("client", "server")
                    if not is_ready(by_name.get(name) or {})
                )
                self._record(
                    "images",
                    "fail",
                    f"canary pods not Ready after {self.settings.ready_timeout:g}s: {detail}",
                    started,
                )
                return None
            self._sleep(self.settings.round_interval)

    def _probe(self, probe: Probe, address: str) -> tuple[Outcome, str]:
        call = probing.ProbeCall(probe, address, self.settings.connect_timeout)
        try:
            result = self.cluster.exec(
                probe.source_pod.namespace,
                probe.source_pod.name,
                ["sh", "-c", probing.build_script([call])],
                container="client",
                timeout=probing.script_timeout([call]),
            )
        except HarnessError as exc:
            return Outcome.ERROR, f"exec failed: {exc}"
        (observation,) = probing.parse_output([call], result.stdout, result.stderr)
        return observation.outcome, observation.detail

    def _in_cluster_domain(self, probe: Probe) -> str:
        """The DNS name in the cluster's own domain (read from the probe pod's resolv.conf)."""
        host = probe.host or ""
        domain = read_resolv_conf(self.cluster, probe.source_pod, "client").domain
        return planning.host_in_domain(host, domain) if domain else host

    def _check_dns(self, namespace: str, probe: Probe) -> None:
        started = self._clock()
        host = self._in_cluster_domain(probe)
        outcome, detail = Outcome.ERROR, ""
        tries = 0
        # Bounded, like the data-path proof: at least 3 tries, then until dns_timeout.
        while tries < 3 or self._clock() - started < self.settings.dns_timeout:
            tries += 1
            outcome, detail = self._probe(probe, host)
            if outcome is Outcome.CONNECTED:
                self._record("dns", "ok", f"{host} resolves from a probe pod", started)
                return
            self._sleep(self.settings.round_interval)
        self._record(
            "dns",
            "fail",
            f"{host} does not resolve from a probe pod in {namespace} after {tries} tries: "
            f"{outcome} ({detail}) "
            "(fix: check CoreDNS in kube-system (k8s-app=kube-dns) and its Service)",
            started,
        )

    def _check_enforcement(self, plan: Plan, probe: Probe, server_ip: str) -> None:
        started = self._clock()
        if not server_ip:
            self._record("enforcement", "fail", "the canary server has no pod IP", started)
            return
        # 1. the data path works before any policy exists.
        deadline = started + self.settings.datapath_timeout
        outcome, detail = self._probe(probe, server_ip)
        while outcome is not Outcome.CONNECTED and self._clock() < deadline:
            self._sleep(self.settings.round_interval)
            outcome, detail = self._probe(probe, server_ip)
        if outcome is not Outcome.CONNECTED:
            self._record(
                "enforcement",
                "fail",
                f"the canary client cannot reach the canary server ({server_ip}:{SERVER_PORT}) "
                f"before any policy: {outcome} ({detail}); the pod network or exec is broken",
                started,
            )
            return
        # 2. deny all ingress to the server's namespace; 3. the probe must time out.
        try:
            for doc in plan.manifests:
                body = dict(doc.body)
                meta = dict(body.get("metadata") or {})
                meta["labels"] = {
                    MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                    RUN_LABEL: plan.run_id,
                    SCENARIO_LABEL: SCENARIO_NAME,
                }
                body["metadata"] = meta
                self.cluster.create(body, run_id=plan.run_id)
        except HarnessError as exc:
            self._record("enforcement", "fail", f"cannot apply the canary policy: {exc}", started)
            return
        applied = self._clock()
        seen: list[Outcome] = []
        while True:
            outcome, detail = self._probe(probe, server_ip)
            seen.append(outcome)
            waited = self._clock() - applied
            if outcome is Outcome.DROPPED:
                self._record(
                    "enforcement",
                    "ok",
                    f"a deny-all-ingress policy dropped the canary probe after {waited:.1f}s",
                    started,
                )
                return
            if waited >= self.settings.convergence:
                break
            self._sleep(self.settings.round_interval)
        if outcome is Outcome.REFUSED:
            what = f"the probe refused, not dropped ({detail})"
        elif outcome is Outcome.ERROR:
            what = f"no answer from the probe ({detail})"
        else:
            what = "the canary probe connected"
        self._record(
            "enforcement",
            "fail",
            NOT_ENFORCED.format(what=what, seconds=self.settings.convergence),
            started,
        )


def run(
    cluster: PreflightApi,
    settings: PreflightSettings | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> PreflightReport:
    """Run every check; never raises for a cluster problem (the report says it)."""
    return Preflight(cluster, settings, on_result=on_result).run()
