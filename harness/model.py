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
    """A port a server workload serves."""

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

    @property
    def key(self) -> str:
        """Stable, scenario-local identity of the cell (without the expectation)."""
        return f"{self.source}->{self.target}:{self.port}/{self.protocol}"

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


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    namespaces: tuple[Namespace, ...]
    workloads: tuple[Workload, ...]
    externals: tuple[External, ...]
    manifests: tuple[ManifestDoc, ...]
    cells: tuple[Cell, ...]  # sorted by Cell.key, defaults expanded
    settings: Settings = Settings()
    description: str = ""

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
