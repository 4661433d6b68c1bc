"""Plain frozen dataclasses passed between the stages of the harness.

Data flows one way:

    scenario YAML --scenario.load--> Scenario --plan.build--> Plan
    Plan --cluster/runner--> Observation per Probe --probes.judge--> Verdict
    Verdicts --report--> JUnit, truth tables, JSON

Nothing in this module does I/O. Every stage takes these objects and returns
these objects, so each stage can be tested on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import Literal

L4Protocol = Literal["TCP", "UDP", "SCTP"]
#: Every protocol a port can be declared with (the Kubernetes ones).
PROTOCOLS: tuple[L4Protocol, ...] = ("TCP", "UDP", "SCTP")
Expectation = Literal["allow", "deny"]
Role = Literal["client", "server", "both"]

#: Label put on every object the harness creates.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "netpol-harness"
#: Label carrying the run id on every object the harness creates.
RUN_LABEL = "netpol-harness.dev/run"
#: Label carrying the scenario name on every object the harness creates.
SCENARIO_LABEL = "netpol-harness.dev/scenario"
#: Label naming the probe workload a pod stands for.
WORKLOAD_LABEL = "netpol-harness.dev/workload"
#: Annotation with the creation time (RFC 3339) on every namespace the harness creates.
CREATED_ANNOTATION = "netpol-harness.dev/created"
#: Labels the ReplicaSet, StatefulSet and DaemonSet controllers put on their pods, per pod
#: or per revision (their selectors carry them).
APPS_CONTROLLER_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
    }
)

#: The built-in target name for the cluster DNS service (kube-system/kube-dns).
DNS_TARGET = "dns"
#: The port and protocol a ``dns`` cell probes (a name lookup).
DNS_PORT = 53
DNS_PROTOCOL: L4Protocol = "UDP"


@dataclass(frozen=True)
class Source:
    """Where something came from in a scenario file, for error messages."""

    path: str
    line: int  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Port:
    """A port: one a server workload serves, or a pod's container port (the policy model's)."""

    number: int
    protocol: L4Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Namespace:
    """A namespace the scenario creates (existing=False) or only refers to."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    existing: bool = False
    source: Source | None = None


@dataclass(frozen=True)
class Workload:
    """A probe workload: one pod the harness deploys (or, in place, an existing one).

    ``selector`` is set for in-place workloads only (existing pods picked by
    label in an existing namespace); ``labels`` then equals the selector (every
    selected pod carries at least those labels).
    """

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[Port, ...] = ()
    role: Role = "both"
    source: Source | None = None
    selector: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None  # in place: the real Service name for svc: cells
    #: Hermetic: the ServiceAccount the probe pod runs as (None: the namespace's
    #: ``default``), created by the run with ``service_account_labels``.
    service_account: str | None = None
    service_account_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def in_place(self) -> bool:
        return bool(self.selector)

    @property
    def is_client(self) -> bool:
        return self.role in ("client", "both")

    @property
    def is_server(self) -> bool:
        return self.role in ("server", "both") and bool(self.ports)


@dataclass(frozen=True)
class External:
    """A target outside the cluster: an IP address (or CIDR's first host) and port."""

    name: str
    address: str
    port: int
    protocol: L4Protocol = "TCP"
    source: Source | None = None


class TargetKind(enum.StrEnum):
    POD = "pod"  # a server workload by pod IP
    SERVICE = "service"  # a server workload by its Service DNS name
    DNS = "dns"  # the cluster DNS (a name lookup)
    EXTERNAL = "external"  # an external address


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    name: str  # workload name, external name, or DNS_TARGET

    def __str__(self) -> str:
        if self.kind is TargetKind.SERVICE:
            return f"svc:{self.name}"
        return self.name


@dataclass(frozen=True)
class Cell:
    """One expected-allow or expected-deny cell of the matrix."""

    source: str  # client workload name
    target: Target
    port: int
    protocol: L4Protocol
    expect: Expectation
    origin: Literal["default", "explicit"] = "explicit"
    where: Source | None = None
    #: The step of a multi-step scenario the cell is probed in ("" for none).
    step: str = ""

    @property
    def key(self) -> str:
        """Stable, scenario-local identity of the cell (without the expectation).

        A step's cell carries the step's name first: ``allow-dns::web->dns:53/UDP``.
        """
        base = f"{self.source}->{self.target}:{self.port}/{self.protocol}"
        return f"{self.step}::{base}" if self.step else base

    def test_id(self, scenario: str) -> str:
        return f"{scenario}::{self.key}[{self.expect}]"


@dataclass(frozen=True)
class Settings:
    """Per-scenario settings (seconds)."""

    connect_timeout: float = 1.0
    convergence_budget: float = 30.0


@dataclass(frozen=True)
class ManifestDoc:
    """One Kubernetes object from a manifest file the scenario applies."""

    body: Mapping[str, Any]
    source: Source


def object_identity(body: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """An object's identity: API group, kind, namespace and name (not the version)."""
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    meta = body.get("metadata") or {}
    return (group, str(body.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))


@dataclass(frozen=True)
class LabelChange:
    """One ``label:`` entry of a step: labels set and removed on a workload or namespace."""

    target: Literal["workload", "namespace"]
    name: str  # the workload's or the (scenario) namespace's name
    set: Mapping[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    source: Source | None = None


@dataclass(frozen=True)
class Step:
    """One step of a multi-step scenario: what changes, before its cells are probed.

    The changes happen in this order: ``delete`` (objects of earlier manifests),
    ``apply`` (new objects, or new versions of applied ones), ``labels``. The step's
    cells are the scenario's cells whose ``Cell.step`` is ``name``.
    """

    name: str
    apply: tuple[ManifestDoc, ...] = ()
    delete: tuple[ManifestDoc, ...] = ()
    labels: tuple[LabelChange, ...] = ()
    description: str = ""
    source: Source | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    namespaces: tuple[Namespace, ...]
    workloads: tuple[Workload, ...]
    externals: tuple[External, ...]
    manifests: tuple[ManifestDoc, ...]
    #: Defaults expanded, sorted by Cell.key; with steps: the top-level cells, then
    #: each step's (each part sorted by key), in the order they are probed.
    cells: tuple[Cell, ...]
    settings: Settings = Settings()
    description: str = ""
    #: Steps run in order after ``manifests`` are applied (and the cells without a
    #: step are probed); empty for a single-snapshot scenario.
    steps: tuple[Step, ...] = ()

    @property
    def in_place(self) -> bool:
        """Whether the scenario probes existing workloads (``--netpol-in-place``)."""
        return any(w.in_place for w in self.workloads)

    def workload(self, name: str) -> Workload:
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(name)

    def external(self, name: str) -> External:
        for e in self.externals:
            if e.name == name:
                return e
        raise KeyError(name)

    def restricted_to(self, keys: Collection[str]) -> Scenario:
        """The scenario with only the cells whose key is in ``keys`` (pytest's selection).

        Workloads no kept cell uses (as source, or as pod or Service target) are dropped:
        a run deploys only the pods the selected cells need. Namespaces and manifests
        stay (the policies are applied as written).
        """
        cells = tuple(c for c in self.cells if c.key in keys)
        if len(cells) == len(self.cells):
            return self
        used = {c.source for c in cells} | {
            c.target.name for c in cells if c.target.kind in (TargetKind.POD, TargetKind.SERVICE)
        }
        workloads = tuple(w for w in self.workloads if w.name in used)
        return replace(self, cells=cells, workloads=workloads)


# ---------------------------------------------------------------- plan


class ProbeKind(enum.StrEnum):
    HTTP = "http"  # curl to a TCP port (an nginx probe server answers HTTP)
    TCP = "tcp"  # curl connect-only to a TCP port (externals, real workloads)
    UDP = "udp"  # a datagram to a UDP port that answers
    DNS = "dns"  # a name lookup through the cluster DNS


#: The probe kind of each protocol with its own probe; every other protocol is probed
#: over TCP (curl). Adding a protocol's probe is a row here (and its module in
#: harness/probes/).
PROTOCOL_KINDS: Mapping[L4Protocol, ProbeKind] = {"UDP": ProbeKind.UDP}
#: The protocols a cell can probe (SCTP ports can be declared, not probed).
PROBED_PROTOCOLS: frozenset[L4Protocol] = frozenset({"TCP", *PROTOCOL_KINDS})


def kind_for(target: TargetKind, protocol: L4Protocol, *, probe_server: bool = True) -> ProbeKind:
    """How a cell to a ``target`` over ``protocol`` is probed: THE probe-kind decision.

    The ``dns`` target is a name lookup; a protocol with its own probe (UDP) uses it;
    the rest is TCP: HTTP to the harness's own probe server (``probe_server``: a pod or
    Service target of a hermetic run), a bare TCP connect to anything else (externals,
    the real workloads of an in-place run or ``check``).
    """
    if target is TargetKind.DNS:
        return ProbeKind.DNS
    if protocol in PROTOCOL_KINDS:
        return PROTOCOL_KINDS[protocol]
    if probe_server and target in (TargetKind.POD, TargetKind.SERVICE):
        return ProbeKind.HTTP
    return ProbeKind.TCP


@dataclass(frozen=True)
class PodRef:
    namespace: str  # the real (run-unique) namespace name
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Probe:
    """One cell made concrete: which pod probes what, how, and what is expected.

    ``host`` is the address to probe when it is known at plan time (a Service
    DNS name, an external address, a DNS name to look up). For pod targets it is
    None and ``target_pod`` names the pod whose IP is used once it is running.
    """

    id: str  # Cell.test_id(scenario)
    cell: Cell
    kind: ProbeKind
    source_pod: PodRef
    port: int
    protocol: L4Protocol
    host: str | None = None
    target_pod: PodRef | None = None


@dataclass(frozen=True)
class PlanStep:
    """What the cluster holds after one step (namespaces mapped), and the step's probes.

    ``namespaces``, ``pods`` and ``manifests`` are whole states, not changes: the live
    runner applies the difference from the state before, the engine predicts on it.
    """

    name: str
    namespaces: tuple[Mapping[str, Any], ...]
    pods: tuple[Mapping[str, Any], ...]
    manifests: tuple[ManifestDoc, ...]
    probes: tuple[Probe, ...]


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    run_id: str
    namespace_map: Mapping[str, str]  # scenario namespace -> real namespace
    namespaces: tuple[Mapping[str, Any], ...]  # Namespace manifests to create
    pods: tuple[Mapping[str, Any], ...]  # probe Pod manifests
    services: tuple[Mapping[str, Any], ...]  # Service manifests for server workloads
    manifests: tuple[ManifestDoc, ...]  # the policies under test, namespaces mapped
    probes: tuple[Probe, ...]  # sorted by id
    #: Probes run before any policy is applied, each expected to connect: every client
    #: and every target of the scenario (pod, Service, external, DNS) at least once.
    datapath: tuple[Probe, ...] = ()
    #: The state after each step of a multi-step scenario (``probes`` holds all cells).
    steps: tuple[PlanStep, ...] = ()
    #: ServiceAccount manifests the probe pods run as (``serviceAccount:``), created
    #: before the pods.
    service_accounts: tuple[Mapping[str, Any], ...] = ()

    def stages(self) -> list[tuple[str, Plan]]:
        """(step name, the plan of that state) in the order they are probed.

        A scenario without steps is one stage, the plan itself (name ""). With steps,
        the top-level cells come first when there are any (name ""), then one stage a
        step; each stage's plan has that state's namespaces, pods and manifests, that
        stage's probes, and no steps.
        """
        if not self.steps:
            return [("", self)]
        base = tuple(p for p in self.probes if not p.cell.step)
        out: list[tuple[str, Plan]] = []
        if base:
            out.append(("", replace(self, probes=base, steps=())))
        for step in self.steps:
            state = replace(
                self,
                namespaces=step.namespaces,
                pods=step.pods,
                manifests=step.manifests,
                probes=step.probes,
                steps=(),
            )
            out.append((step.name, state))
        return out

    def pod_of(self, workload: str) -> PodRef:
        w = self.scenario.workload(workload)
        return PodRef(self.namespace_map.get(w.namespace, w.namespace), workload)


# ---------------------------------------------------------------- results


class Outcome(enum.StrEnum):
    """What one probe observed. Only the first four are network facts."""

    CONNECTED = "connected"  # the connection (or lookup) succeeded
    DROPPED = "dropped"  # timed out: the network dropped it (what a policy deny looks like)
    REFUSED = "refused"  # reached the host, nothing listens (RST / ICMP unreachable)
    DNS_FAILURE = "dns-failure"  # the name did not resolve (NXDOMAIN or no answer)
    ERROR = "error"  # the probe itself failed: exec broke, lost status, bad output


@dataclass(frozen=True)
class Observation:
    probe_id: str
    outcome: Outcome
    detail: str = ""  # exit code, curl message, or the infrastructure cause
    seconds: float = 0.0


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the network disagreed with the expectation
    ERROR = "error"  # infrastructure failure: no verdict could be reached


@dataclass(frozen=True)
class Verdict:
    probe: Probe
    status: Status
    observed: Outcome
    tries: int
    seconds: float  # time from policies applied to the final observation
    detail: str = ""
    explanation: str = ""  # why, from the policy engine (live objects)
    rerun: str = ""  # the kubectl exec command that reproduces the probe
    #: An observation disagreed with the expectation after one that agreed: the network
    #: (or the CNI still programming) changed its answer; shown, never hidden by re-probing.
    flipped: bool = False


@dataclass(frozen=True)
class ScenarioResult:
    plan: Plan
    verdicts: tuple[Verdict, ...]
    setup_error: str = ""  # set when the scenario could not be set up at all
    seconds: float = 0.0

    @classmethod
    def setup_failed(cls, plan: Plan, message: str, seconds: float = 0.0) -> ScenarioResult:
        """A scenario that could not be set up: every cell an ERROR naming the cause."""
        verdicts = tuple(
            Verdict(p, Status.ERROR, Outcome.ERROR, 0, 0.0, detail=f"setup failed: {message}")
            for p in plan.probes
        )
        return cls(plan, verdicts, setup_error=message, seconds=seconds)
