"""One live probe, FROM -> TO:PORT[/PROTO], with the verdict and why (``netpol-harness check``).

Steps (:meth:`Checker.check`):

1. resolve FROM and TO to pods: ``namespace/name`` or ``namespace/label=value[,...]``
   (the first Running and Ready pod by name);
2. resolve a named port on the target's container ports;
3. choose where the probe runs in the source pod: the ``client`` container of a
   harness probe pod; else a running ephemeral probe container added earlier;
   else the pod's default container, when it has ``curl`` (or ``nc`` for UDP);
   else a new ephemeral container with the curl image and a restricted security
   context (it sleeps an hour and exits: ephemeral containers cannot be removed);
4. one probe through ``exec`` (the same script and classification as the runner);
5. the explanation from the policy engine on the live Namespaces, Pods and
   NetworkPolicies of the namespaces involved, and the ``kubectl exec`` rerun command.

Only :mod:`harness.live.cluster` talks to the cluster (through :class:`CheckCluster`).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from harness import plan as planning
from harness import probes as probing
from harness.errors import ConfigError
from harness.errors import HarnessError
from harness.errors import NotFound
from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.live.api import CheckApi
from harness.live.pods import default_container
from harness.live.pods import is_ready
from harness.live.pods import named_port
from harness.live.pods import running_ephemeral
from harness.live.resolv import read_resolv_conf
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import Cell
from harness.model import Expectation
from harness.model import L4Protocol as Proto
from harness.model import Outcome
from harness.model import PodRef
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Status
from harness.model import Target
from harness.model import TargetKind
from harness.model import kind_for

_LABEL = re.compile(r"^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class CheckError(HarnessError):
    """No verdict possible: bad arguments, no pod, RBAC, exec or API failure (exit 2)."""


# ------------------------------------------------------------------ arguments


@dataclass(frozen=True)
class Endpoint:
    """``namespace/name`` (a pod) or ``namespace/label=value[,...]`` (first Ready pod).

    As a TO only, also ``kind``: ``external`` (``address`` is an IP outside the cluster),
    ``service`` (``svc:namespace/name``: the Service's DNS name) or ``dns`` (a lookup
    through the cluster DNS, as a scenario's ``-> dns`` cell).
    """

    namespace: str
    name: str = ""
    selector: tuple[tuple[str, str], ...] = ()
    kind: str = "pod"
    address: str = ""

    @property
    def selector_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.selector)

    def __str__(self) -> str:
        if self.kind == "external":
            return self.address
        if self.kind == "dns":
            return "dns"
        prefix = "svc:" if self.kind == "service" else ""
        return f"{prefix}{self.namespace}/{self.name or self.selector_text}"


def parse_endpoint(text: str, what: str) -> Endpoint:
    namespace, slash, rest = text.partition("/")
    fix = f"fix: write {what} as NAMESPACE/POD or NAMESPACE/LABEL=VALUE[,LABEL=VALUE]"
    if not slash or not namespace or not rest:
        raise ConfigError(f"{what} {text!r} is not NAMESPACE/POD or NAMESPACE/LABELS ({fix})")
    if not _NAME.match(namespace):
        raise ConfigError(f"{what} {text!r}: {namespace!r} is not a namespace name ({fix})")
    if "=" not in rest:
        if not _NAME.match(rest):
            raise ConfigError(f"{what} {text!r}: {rest!r} is not a pod name ({fix})")
        return Endpoint(namespace, name=rest)
    pairs = []
    for part in rest.split(","):
        m = _LABEL.match(part.strip())
        if not m:
            raise ConfigError(f"{what} {text!r}: {part!r} is not LABEL=VALUE ({fix})")
        pairs.append((m.group(1), m.group(2)))
    return Endpoint(namespace, selector=tuple(pairs))


def parse_target(text: str) -> tuple[Endpoint, int | str, Proto]:
    """``TO:PORT[/PROTO]`` -> (endpoint, port number or name, protocol).

    TO: a pod (``ns/pod``, ``ns/label=value``), ``svc:ns/name`` (a Service by its DNS
    name), an IP address (outside the cluster), or ``dns`` (no port: 53/UDP lookup).
    """
    fix = "fix: e.g. database/app=mysql:3306/TCP, svc:database/mysql:3306, 198.51.100.10:443 or dns"
    if text == "dns":
        return Endpoint("kube-system", kind="dns"), 53, "UDP"
    where, colon, port_text = text.rpartition(":")
    if where.startswith("[") and where.endswith("]"):
        where = where[1:-1]  # [IPv6]:port
    if not colon or not where or not port_text:
        raise ConfigError(f"TO {text!r} needs a port: TO:PORT[/PROTO] ({fix})")
    port_part, _, proto_part = port_text.partition("/")
    protocol = (proto_part or "TCP").upper()
    if protocol not in ("TCP", "UDP"):
        raise ConfigError(f"TO {text!r}: protocol {proto_part!r} is not TCP or UDP ({fix})")
    port: int | str
    if port_part.isdigit():
        port = int(port_part)
        if not 1 <= port <= 65535:
            raise ConfigError(f"TO {text!r}: port {port} is not in 1-65535 ({fix})")
    elif re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?", port_part):
        port = port_part
    else:
        raise ConfigError(f"TO {text!r}: {port_part!r} is not a port number or name ({fix})")
    proto: Proto = "UDP" if protocol == "UDP" else "TCP"
    try:
        address = ipaddress.ip_address(where)
    except ValueError:
        address = None
    if address is not None:
        if address.is_loopback or address.is_unspecified:
            raise ConfigError(f"TO {text!r}: {where} is not an address a pod can probe ({fix})")
        if not isinstance(port, int):
            raise ConfigError(f"TO {text!r}: an address needs a port number ({fix})")
        return Endpoint("", kind="external", address=str(address)), port, proto
    if where.startswith("svc:"):
        service = parse_endpoint(where[4:], "TO")
        if not service.name:
            raise ConfigError(f"TO {text!r}: svc: takes NAMESPACE/SERVICE ({fix})")
        if not isinstance(port, int):
            raise ConfigError(f"TO {text!r}: a Service needs its port number ({fix})")
        return Endpoint(service.namespace, name=service.name, kind="service"), port, proto
    return parse_endpoint(where, "TO"), port, proto


@dataclass(frozen=True)
class CheckRequest:
    source: Endpoint
    target: Endpoint
    port: int | str
    protocol: Proto = "TCP"
    expect: Expectation | None = None
    timeout: float = 1.0


# ------------------------------------------------------------------ result


@dataclass(frozen=True)
class CheckResult:
    request: CheckRequest
    source: PodRef
    target: PodRef
    target_ip: str
    port: int
    outcome: Outcome
    detail: str
    container: str  # where the probe ran in the source pod
    explanation: str
    predicted: bool | None  # the engine's allow/deny (None: no prediction)
    rerun: str
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    kind: ProbeKind = ProbeKind.TCP

    @property
    def holds(self) -> bool | None:
        """Whether the expectation holds (None without --expect, or on ERROR)."""
        if self.request.expect is None or self.outcome is Outcome.ERROR:
            return None
        return _judge(
            self.request.expect, self.outcome, self.port, self.request.protocol, self.kind
        )

    @property
    def exit_code(self) -> int:
        if self.outcome is Outcome.ERROR:
            return 2
        holds = self.holds
        return 0 if holds is None or holds else 1

    def text(self) -> str:
        req = self.request
        lines = [
            f"check {self.source} -> {self.target} ({self.target_ip}) "
            f"port {self.port}/{req.protocol}"
        ]
        verdict = f"verdict: {self.outcome}"
        if self.detail:
            verdict += f" ({self.detail})"
        if req.expect is not None and self.outcome is not Outcome.ERROR:
            verdict += f"; expected {req.expect}: " + ("holds" if self.holds else "DOES NOT HOLD")
        lines.append(verdict)
        if self.explanation:
            first, *rest = self.explanation.splitlines()
            lines.append(f"why: {first}")
            lines.extend(f"     {line}" for line in rest)
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(f"probe ran in: {self.source} container {self.container}")
        lines.append(f"rerun: {self.rerun}")
        lines.append(f"took {self.seconds:.2f}s")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        req = self.request
        return {
            "source": str(self.source),
            "target": str(self.target),
            "target_ip": self.target_ip,
            "port": self.port,
            "protocol": req.protocol,
            "expect": req.expect,
            "outcome": str(self.outcome),
            "detail": self.detail,
            "holds": self.holds,
            "exit_code": self.exit_code,
            "predicted": None
            if self.predicted is None
            else ("allow" if self.predicted else "deny"),
            "explanation": self.explanation,
            "container": self.container,
            "rerun": self.rerun,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def _judge(
    expect: Expectation,
    outcome: Outcome,
    port: int,
    protocol: Proto,
    kind: ProbeKind = ProbeKind.TCP,
) -> bool:
    probe = _probe(PodRef("x", "x"), PodRef("x", "x"), port, protocol, expect)
    if kind is ProbeKind.DNS:
        probe = replace(probe, kind=kind)  # an NXDOMAIN answer still reached the server
    return probing.judge(probe, outcome) is Status.PASS


def _is_dns_pod_target(request: CheckRequest) -> bool:
    """TO the cluster DNS pods on port 53 (``kube-system/k8s-app=kube-dns:53/UDP``)."""
    labels = dict(request.target.selector)
    return request.port == 53 and labels.get("k8s-app") == "kube-dns"


def _probe(
    source: PodRef, target: PodRef, port: int, protocol: Proto, expect: Expectation | None
) -> Probe:
    cell = Cell(source.name, Target(TargetKind.POD, target.name), port, protocol, expect or "allow")
    kind = kind_for(TargetKind.POD, protocol, probe_server=False)
    return Probe(f"check::{cell.key}", cell, kind, source, port, protocol, target_pod=target)


# ------------------------------------------------------------------ the check


class Checker:
    def __init__(
        self,
        cluster: CheckApi,
        *,
        images: Images = DEFAULT_IMAGES,
        ephemeral_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.images = images
        self.ephemeral_timeout = ephemeral_timeout
        self._clock = clock

    def _resolve(self, endpoint: Endpoint, what: str) -> dict[str, Any]:
        try:
            if endpoint.name:
                pod = self.cluster.get_pod(endpoint.namespace, endpoint.name)
                if not is_ready(pod):
                    phase = (pod.get("status") or {}).get("phase", "Unknown")
                    raise CheckError(
                        f"{what} pod {endpoint} is not Running and Ready (phase {phase}) "
                        "(fix: pick a Ready pod: kubectl get pods -n "
                        f"{endpoint.namespace} -o wide)"
                    )
                return pod
            pods = self.cluster.list_pods(endpoint.namespace, endpoint.selector_text)
        except NotFound:
            raise CheckError(
                f"{what} pod {endpoint} not found (fix: kubectl get pods -n {endpoint.namespace}; "
                f"or select by label: {endpoint.namespace}/app=NAME)"
            ) from None
        candidates = sorted(
            (p for p in pods if is_ready(p)), key=lambda p: str(p["metadata"]["name"])
        )
        if not candidates:
            found = f"{len(pods)} pods match, none Running and Ready" if pods else "no pod matches"
            raise CheckError(
                f"{what} {endpoint}: {found} (fix: kubectl get pods -n {endpoint.namespace} "
                f"-l {endpoint.selector_text} --show-labels)"
            )
        return candidates[0]

    def check(self, request: CheckRequest) -> CheckResult:
        start = self._clock()
        src_pod = self._resolve(request.source, "FROM")
        source = PodRef(str(src_pod["metadata"]["namespace"]), str(src_pod["metadata"]["name"]))
        if request.target.kind != "pod" or _is_dns_pod_target(request):
            return self._check_named(request, src_pod, source, start)
        dst_pod = self._resolve(request.target, "TO")
        target = PodRef(str(dst_pod["metadata"]["namespace"]), str(dst_pod["metadata"]["name"]))
        target_ip = str((dst_pod.get("status") or {}).get("podIP"))
        if isinstance(request.port, int):
            port = request.port
        else:
            found = named_port(dst_pod, request.port, request.protocol)
            if found is None:
                raise CheckError(
                    f"TO pod {target} has no container port named {request.port!r} "
                    f"({request.protocol}) (fix: give the port number)"
                )
            port = found
        probe = _probe(source, target, port, request.protocol, request.expect)
        return self._probe_and_report(request, src_pod, probe, target, target_ip, target, [], start)

    def _probe_and_report(
        self,
        request: CheckRequest,
        src_pod: Mapping[str, Any],
        probe: Probe,
        target: PodRef,
        address: str,
        explain_to: PodRef | str | None,
        notes: list[str],
        start: float,
    ) -> CheckResult:
        """Run ``probe`` from the FROM pod, explain it by ``explain_to``, say what it means."""
        source, port = probe.source_pod, probe.port
        container, outcome, detail = self._run(src_pod, probe, address, request.timeout, notes)
        explanation, predicted = ("", None)
        if explain_to is not None:
            explanation, predicted = self._explain(source, explain_to, port, probe.protocol)
        if predicted is not None and outcome in (Outcome.CONNECTED, Outcome.DROPPED):
            observed = outcome is Outcome.CONNECTED
            if observed != predicted:
                notes.append(
                    f"the policies {'allow' if predicted else 'deny'} it but the network "
                    f"{'connected' if observed else 'dropped it'}: policy programming lag, a CNI "
                    "difference, or a filter outside NetworkPolicy"
                )
        if outcome is Outcome.REFUSED:
            notes.append(
                f"refused: the packet reached {target} but nothing listens on "
                f"{port}/{probe.protocol} (or a REJECT rule answered): not a policy drop"
            )
        rerun = probing.rerun_command(
            probe, address, source.namespace, source.name, container, request.timeout
        )
        return CheckResult(
            request=request,
            source=source,
            target=target,
            target_ip=address,
            port=port,
            outcome=outcome,
            detail=detail,
            container=container,
            explanation=explanation,
            predicted=predicted,
            rerun=rerun,
            seconds=self._clock() - start,
            notes=tuple(notes),
            kind=probe.kind,
        )

    def _check_named(
        self, request: CheckRequest, src_pod: Mapping[str, Any], source: PodRef, start: float
    ) -> CheckResult:
        """TO an external address, a Service by name, or the cluster DNS (a lookup)."""
        to = request.target
        port = int(request.port) if isinstance(request.port, int) else 53
        notes: list[str] = []
        domain = self._cluster_domain(source, src_pod)
        if to.kind == "external":
            host, target = to.address, PodRef("", to.address)
            kind = kind_for(TargetKind.EXTERNAL, request.protocol)
            explain_to: str | None = to.address
        elif to.kind == "service":
            host = f"{to.name}.{to.namespace}.svc.{domain}."
            target = PodRef(to.namespace, f"svc:{to.name}")
            kind = kind_for(TargetKind.SERVICE, request.protocol, probe_server=False)
            explain_to = self._backend(to.namespace, to.name, notes)
        else:  # the cluster DNS, by a lookup (a DNS pod target is checked the same way)
            host = f"kube-dns.kube-system.svc.{domain}."  # as a scenario's -> dns cell
            target, port = PodRef("kube-system", "kube-dns"), 53
            kind = ProbeKind.DNS
            explain_to = self._dns_pod(notes)
            if to.kind == "pod":
                notes.append(
                    f"{to} are DNS pods: checked with a name lookup through the cluster DNS "
                    "(a bare datagram to port 53 gets no answer from a DNS server)"
                )
        cell = Cell(
            source.name,
            Target(TargetKind.DNS if kind is ProbeKind.DNS else TargetKind.EXTERNAL, "to"),
            port,
            "UDP" if kind is ProbeKind.DNS else request.protocol,
            request.expect or "allow",
        )
        probe = Probe(f"check::{cell.key}", cell, kind, source, port, cell.protocol, host=host)
        return self._probe_and_report(
            request, src_pod, probe, target, host, explain_to, notes, start
        )

    def _cluster_domain(self, source: PodRef, pod: Mapping[str, Any]) -> str:
        """The cluster domain from the FROM pod's resolv.conf (default cluster.local)."""
        container = default_container(pod) or "client"
        return read_resolv_conf(self.cluster, source, container).domain or planning.CLUSTER_DOMAIN

    def _backend(self, namespace: str, service: str, notes: list[str]) -> str | None:
        """A Ready pod behind the Service (the policies decide on it, after the DNAT)."""
        try:
            services = self.cluster.list_objects("v1", "Service", namespace)
        except HarnessError:
            services = []
        svc = next((o for o in services if o["metadata"]["name"] == service), None)
        selector = ((svc or {}).get("spec") or {}).get("selector") or {}
        if not selector:
            notes.append(f"Service {namespace}/{service} not found or without a selector")
            return None
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = [p for p in self.cluster.list_pods(namespace, text) if is_ready(p)]
        if not pods:
            notes.append(f"Service {namespace}/{service} has no Ready pod ({text})")
            return None
        name = min(str(p["metadata"]["name"]) for p in pods)
        return f"{namespace}/{name}"

    def _dns_pod(self, notes: list[str]) -> str | None:
        pods = [p for p in self.cluster.list_pods("kube-system", "k8s-app=kube-dns") if is_ready(p)]
        if not pods:
            notes.append("no Ready kube-dns pod (k8s-app=kube-dns) in kube-system to explain by")
            return None
        return f"kube-system/{min(str(p['metadata']['name']) for p in pods)}"

    # -------------------------------------------------------- probing

    def _exec_probe(
        self, pod: PodRef, container: str, probe: Probe, address: str, timeout: float
    ) -> tuple[Outcome, str]:
        call = probing.ProbeCall(probe, address, timeout)
        try:
            result = self.cluster.exec(
                pod.namespace,
                pod.name,
                ["sh", "-c", probing.build_script([call])],
                container=container,
                timeout=probing.script_timeout([call]),
            )
        except HarnessError as exc:
            return Outcome.ERROR, f"exec failed: {exc}"
        stderr = result.stderr
        if result.exit_code != 0:
            stderr = f"script exit {result.exit_code}; {stderr}"
        (obs,) = probing.parse_output([call], result.stdout, stderr)
        return obs.outcome, obs.detail

    def _run(
        self,
        pod: Mapping[str, Any],
        probe: Probe,
        address: str,
        timeout: float,
        notes: list[str],
    ) -> tuple[str, Outcome, str]:
        """(container used, outcome, detail)."""
        ref = probe.source_pod
        meta = pod.get("metadata") or {}
        names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
        ours = (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
        if ours and "client" in names:
            outcome, detail = self._exec_probe(ref, "client", probe, address, timeout)
            return "client", outcome, detail
        existing = running_ephemeral(pod)
        if existing:
            outcome, detail = self._exec_probe(ref, existing, probe, address, timeout)
            if outcome is not Outcome.ERROR:
                return existing, outcome, detail
        workload = default_container(pod)
        if workload:
            outcome, detail = self._exec_probe(ref, workload, probe, address, timeout)
            if outcome is not Outcome.ERROR:
                return workload, outcome, detail
            notes.append(
                f"container {workload} cannot run the probe ({detail[:120]}): "
                "used an ephemeral probe container"
            )
        run_id = "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(8))
        name = planning.ephemeral_name(run_id)
        try:
            self.cluster.add_ephemeral_container(
                ref.namespace, ref.name, planning.ephemeral_container(run_id, self.images)
            )
            self.cluster.wait_ephemeral_running(
                ref.namespace, ref.name, name, timeout=self.ephemeral_timeout
            )
        except HarnessError as exc:
            raise CheckError(
                f"cannot probe from {ref}: its containers have no curl/nc and an ephemeral "
                f"probe container could not be added: {exc} (fix: grant patch on "
                "pods/ephemeralcontainers (manifests/rbac/in-place.yaml), or probe FROM a pod "
                "that has curl)"
            ) from None
        outcome, detail = self._exec_probe(ref, name, probe, address, timeout)
        return name, outcome, detail

    # -------------------------------------------------------- explanation

    def _explain(
        self, source: PodRef, target: PodRef | str, port: int, protocol: Proto
    ) -> tuple[str, bool | None]:
        try:
            from harness.policy import engine

            where = target.namespace if isinstance(target, PodRef) else target.split("/")[0]
            namespaces = {source.namespace} | ({where} if "/" in str(target) else set())
            objects = self.cluster.snapshot(namespaces)
            decision = engine.ClusterModel.from_objects(objects).decide(
                str(source), str(target), port, protocol
            )
        except Exception as exc:  # the explanation must never break the check
            return f"no explanation: {type(exc).__name__}: {exc}", None
        verdict = "allow" if decision.allowed else "deny"
        return f"the policies {verdict} it (live objects): {decision.explain()}", decision.allowed
