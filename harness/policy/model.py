"""The objects the policy engine reasons about, parsed from Kubernetes object dicts.

Everything here is pure: ``parse_*`` functions take the plain dicts that
``kubectl get -o yaml`` prints (or that the harness builds) and return frozen
dataclasses. Malformed input raises :class:`harness.errors.ConfigError` with the
object and the field path in the message; callers add the file name.

Semantics follow the networking.k8s.io/v1 NetworkPolicy API reference; the
comments name the rule each piece implements.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from harness.errors import ConfigError
from harness.model import PROTOCOLS
from harness.model import L4Protocol
from harness.model import Port

Direction = Literal["ingress", "egress"]
#: Label the API server puts on every namespace (immutable, equal to the name).
NAME_LABEL = "kubernetes.io/metadata.name"
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# ---------------------------------------------------------------- selectors


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str  # one of OPERATORS
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        # Label selector semantics: NotIn and DoesNotExist also match objects without the key.
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist

    def __str__(self) -> str:
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{'!' if self.operator == 'DoesNotExist' else ''}{self.key}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    """A metav1.LabelSelector: matchLabels AND every matchExpressions requirement.

    An empty selector (no terms) matches everything.
    """

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def __str__(self) -> str:
        if self.is_empty:
            return "{} (all)"
        terms = [f"{k}={v}" for k, v in self.match_labels]
        terms += [str(r) for r in self.match_expressions]
        return ",".join(terms)


# ---------------------------------------------------------------- peers and ports


@dataclass(frozen=True)
class IPBlock:
    network: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, ip: IPAddress) -> bool:
        """The address is inside ``cidr`` and outside every ``except`` range."""
        if ip.version != self.network.version or ip not in self.network:
            return False
        return not any(ip.version == e.version and ip in e for e in self.excepts)

    def __str__(self) -> str:
        if self.excepts:
            return f"ipBlock {self.network} except {','.join(str(e) for e in self.excepts)}"
        return f"ipBlock {self.network}"


@dataclass(frozen=True)
class Peer:
    """A NetworkPolicyPeer. ``ip_block`` excludes the selectors (API validation)."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    @property
    def is_valid(self) -> bool:
        return (
            self.ip_block is not None
            or self.pod_selector is not None
            or self.namespace_selector is not None
        )

    def __str__(self) -> str:
        if self.ip_block is not None:
            return str(self.ip_block)
        if not self.is_valid:
            return "empty peer (matches nothing)"
        if self.namespace_selector is None:
            return f"pods [{self.pod_selector}] in the policy's namespace"
        if self.pod_selector is None:
            return f"all pods in namespaces [{self.namespace_selector}]"
        return f"pods [{self.pod_selector}] in namespaces [{self.namespace_selector}]"


@dataclass(frozen=True)
class PortRule:
    """A NetworkPolicyPort. ``port`` None = every port of ``protocol``."""

    protocol: L4Protocol = "TCP"  # the API default
    port: int | str | None = None
    end_port: int | None = None

    def __str__(self) -> str:
        if self.port is None:
            return f"all ports/{self.protocol}"
        if self.end_port is not None:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Rule:
    """An ingress or egress rule. None = the field was empty or missing (= all)."""

    peers: tuple[Peer, ...] | None = None
    ports: tuple[PortRule, ...] | None = None


@dataclass(frozen=True)
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: LabelSelector
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    policy_types: frozenset[str] = frozenset({"Ingress"})

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def affects_ingress(self) -> bool:
        return "Ingress" in self.policy_types

    @property
    def affects_egress(self) -> bool:
        return "Egress" in self.policy_types

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction == "ingress" else self.egress

    def affects(self, direction: Direction) -> bool:
        return self.affects_ingress if direction == "ingress" else self.affects_egress


# ---------------------------------------------------------------- pods and namespaces


#: A pod's container port: (number, protocol, name), the fields of a scenario's port.
ContainerPort = Port


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ips: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    service_account: str = "default"  # spec.serviceAccountName (Calico selectors see it)
    #: The labels of that ServiceAccount (Calico's serviceAccountSelector and
    #: ``serviceAccounts.selector`` match them, with ``projectcalico.org/name``).
    service_account_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        return tuple(ipaddress.ip_address(ip) for ip in self.ips)

    def named_port(self, name: str, protocol: L4Protocol) -> int | None:
        """The number of the container port called ``name`` with ``protocol``, if any."""
        for cp in self.ports:
            if cp.name == name and cp.protocol == protocol:
                return cp.number
        return None


# ---------------------------------------------------------------- kinds

#: The objects the engine understands, by (apiVersion, kind).
UNDERSTOOD = frozenset(
    {("v1", "Namespace"), ("v1", "Pod"), ("networking.k8s.io/v1", "NetworkPolicy")}
)
#: Tiered and cluster-wide policies (harness/policy/calico.py, cluster_policy.py).
EXTENDED = frozenset(
    {
        ("projectcalico.org/v3", "NetworkPolicy"),
        ("projectcalico.org/v3", "GlobalNetworkPolicy"),
        ("projectcalico.org/v3", "Tier"),
        ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"),
        ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"),
        ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"),
        ("policy.networking.k8s.io/v1beta1", "ClusterNetworkPolicy"),
    }
)


def extended_kinds(objs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The tiered / cluster-wide policy kinds among ``objs`` ("apiVersion kind"), sorted.

    The engine predicts them; a live run skips a scenario that applies one where the
    cluster does not serve the kind (the sandbox and kind with Calico's v3 CRDs do):
    harness/plugin/items.py.
    """
    found = {
        f"{obj.get('apiVersion')} {obj.get('kind')}"
        for obj in objs
        if (obj.get("apiVersion"), obj.get("kind")) in EXTENDED
    }
    return sorted(found)


#: API groups whose objects decide traffic with semantics the engine does not model.
POLICY_GROUPS = frozenset(
    {
        "projectcalico.org",
        "crd.projectcalico.org",
        "cilium.io",
        "policy.networking.k8s.io",
        "network.openshift.io",
        "security.antrea.io",
        "crd.antrea.io",
        "k8s.ovn.org",
    }
)
#: Kinds that make pods (the engine reads only Pods: pass them, not their controllers).
WORKLOAD_KINDS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    }
)
#: Kinds that do not change which pod may reach which (ignored by predictions).
NEUTRAL_KINDS = frozenset(
    {
        "Service",
        "Endpoints",
        "EndpointSlice",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Event",
        "Ingress",
        "IngressClass",
        "PersistentVolumeClaim",
        "PersistentVolume",
        "StorageClass",
        "LimitRange",
        "ResourceQuota",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Lease",
        "ControllerRevision",
        "PriorityClass",
        "Node",
        "ComponentStatus",
        "CustomResourceDefinition",
    }
)


def classify(api_version: Any, kind: Any) -> tuple[str, str]:
    """What a prediction does with an object, and why.

    ``"use"`` (understood), ``"ignore"`` (cannot change traffic), ``"policy"`` (decides
    traffic, not modelled), ``"workload"`` (makes pods: pass the pods instead) or
    ``"unknown"``; the last three are refused by ``predict``.

    Objects that may change traffic and are not modelled are refused by name, never
    skipped: a truth table that silently leaves out a policy is confidently wrong.
    """
    version = str(api_version or "")
    name = str(kind or "")
    group = version.rpartition("/")[0]
    shown = f"{version} {name}".strip()
    if (version, name) in UNDERSTOOD or (version, name) in EXTENDED:
        return "use", ""
    if group in POLICY_GROUPS or "NetworkPolicy" in name or name.endswith("NetworkSet"):
        if name == "NetworkPolicy" and group in ("networking.k8s.io", "extensions", ""):
            return "policy", (
                f"{shown} is not served by current clusters (fix: use apiVersion: "
                "networking.k8s.io/v1)"
            )
        return "policy", (
            f"{shown} is not supported yet: its rules decide traffic and the engine models "
            "networking.k8s.io/v1 NetworkPolicy, projectcalico.org/v3 NetworkPolicy, "
            "GlobalNetworkPolicy and Tier, and the policy.networking.k8s.io cluster policies "
            "(fix: remove it, or test it live on a cluster that enforces it)"
        )
    if name in ("Namespace", "Pod"):
        return "policy", f"{shown} is not served by current clusters (fix: use apiVersion: v1)"
    if name in WORKLOAD_KINDS:
        return "workload", (
            f"{shown} is not read: the engine reads Pods, not the controllers that make them "
            "(fix: pass the Pods, e.g. `kubectl get ns,pods,networkpolicies -A -o yaml`)"
        )
    if name in NEUTRAL_KINDS:
        return "ignore", f"{shown} does not change which pod may reach which"
    return "unknown", (
        f"{shown} is not a kind the engine knows (fix: pass Namespace, Pod and "
        "NetworkPolicy objects)"
    )


# ---------------------------------------------------------------- parsing


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    kind = obj.get("kind", "object")
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def _label_value(value: Any) -> str:
    if isinstance(value, bool):  # YAML `true` written without quotes
        return "true" if value else "false"
    return str(value)


def _labels(raw: Any, where: str, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {field} must be a mapping of label keys to values")
    return {str(k): _label_value(v) for k, v in raw.items()}


def _list(raw: Any, where: str, field: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: {field} must be a list")
    return raw


def _mapping(raw: Any, where: str, field: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {field} must be a mapping")
    return raw


def _protocol(raw: Any, where: str, field: str) -> L4Protocol:
    if raw is None:
        return "TCP"
    value = str(raw).upper()
    for proto in PROTOCOLS:
        if value == proto:
            return proto
    raise ConfigError(f"{where}: {field} is {raw!r} (fix: use TCP, UDP or SCTP)")


def parse_selector(raw: Any, where: str, field: str) -> LabelSelector:
    sel = _mapping(raw, where, field)
    labels = _labels(sel.get("matchLabels"), where, f"{field}.matchLabels")
    reqs: list[Requirement] = []
    for i, expr in enumerate(
        _list(sel.get("matchExpressions"), where, f"{field}.matchExpressions")
    ):
        path = f"{field}.matchExpressions[{i}]"
        expr = _mapping(expr, where, path)
        key, op = expr.get("key"), expr.get("operator")
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: {path}.key is missing")
        if op not in OPERATORS:
            raise ConfigError(
                f"{where}: {path}.operator is {op!r} (fix: use In, NotIn, Exists or DoesNotExist)"
            )
        values = frozenset(_label_value(v) for v in _list(expr.get("values"), where, path))
        if op in ("In", "NotIn") and not values:
            raise ConfigError(f"{where}: {path}: operator {op} needs a non-empty values list")
        if op in ("Exists", "DoesNotExist") and values:
            raise ConfigError(f"{where}: {path}: operator {op} takes no values")
        reqs.append(Requirement(key, str(op), values))
    return LabelSelector(tuple(sorted(labels.items())), tuple(reqs))


def _ip_block(raw: Any, where: str, field: str) -> IPBlock:
    block = _mapping(raw, where, field)
    cidr = block.get("cidr")
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        raise ConfigError(
            f"{where}: {field}.cidr {cidr!r} is not a CIDR (e.g. 10.0.0.0/8)"
        ) from None
    excepts: list[IPNetwork] = []
    for i, exc in enumerate(_list(block.get("except"), where, f"{field}.except")):
        try:
            excepts.append(ipaddress.ip_network(str(exc), strict=False))
        except ValueError:
            raise ConfigError(f"{where}: {field}.except[{i}] {exc!r} is not a CIDR") from None
    return IPBlock(net, tuple(excepts))


def _peer(raw: Any, where: str, field: str) -> Peer:
    peer = _mapping(raw, where, field)
    if peer.get("ipBlock") is not None:
        return Peer(ip_block=_ip_block(peer["ipBlock"], where, f"{field}.ipBlock"))
    pod = peer.get("podSelector")
    ns = peer.get("namespaceSelector")
    return Peer(
        pod_selector=None if pod is None else parse_selector(pod, where, f"{field}.podSelector"),
        namespace_selector=(
            None if ns is None else parse_selector(ns, where, f"{field}.namespaceSelector")
        ),
    )


def _port_rule(raw: Any, where: str, field: str) -> PortRule:
    entry = _mapping(raw, where, field)
    protocol = _protocol(entry.get("protocol"), where, f"{field}.protocol")
    port = entry.get("port")
    end = entry.get("endPort")
    if port is None:
        if end is not None:
            raise ConfigError(f"{where}: {field}.endPort needs a numeric port")
        return PortRule(protocol)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int | str):
        raise ConfigError(f"{where}: {field}.port {port!r} must be a number or a port name")
    if isinstance(port, int) and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: {field}.port {port} is outside 1-65535")
    if end is not None:
        if not isinstance(port, int) or isinstance(end, bool) or not isinstance(end, int):
            raise ConfigError(f"{where}: {field}.endPort needs a numeric port and number endPort")
        if end < port:
            raise ConfigError(f"{where}: {field}.endPort {end} is below port {port}")
    return PortRule(protocol, port, end)


def _rule(raw: Any, where: str, field: str, peer_key: str) -> Rule:
    rule = _mapping(raw, where, field)
    raw_peers = _list(rule.get(peer_key), where, f"{field}.{peer_key}")
    raw_ports = _list(rule.get("ports"), where, f"{field}.ports")
    # "If this field is empty or missing, this rule matches all sources/destinations"
    # and "... all ports": both empty and missing mean "all".
    peers = (
        tuple(_peer(p, where, f"{field}.{peer_key}[{i}]") for i, p in enumerate(raw_peers))
        if raw_peers
        else None
    )
    ports = (
        tuple(_port_rule(p, where, f"{field}.ports[{i}]") for i, p in enumerate(raw_ports))
        if raw_ports
        else None
    )
    return Rule(peers, ports)


def _named(obj: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], str]:
    """An object's metadata and its name, which must be given."""
    meta = _mapping(obj.get("metadata"), where, "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: metadata.name is missing")
    return meta, name


def _identity(obj: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], str, str]:
    """An object's metadata, name and namespace ("default" when not given)."""
    meta, name = _named(obj, where)
    return meta, name, str(meta.get("namespace") or "default")


def parse_policy(obj: Mapping[str, Any]) -> NetworkPolicy:
    where = _where(obj)
    _, name, namespace = _identity(obj, where)
    spec = _mapping(obj.get("spec"), where, "spec")
    ingress = tuple(
        _rule(r, where, f"spec.ingress[{i}]", "from")
        for i, r in enumerate(_list(spec.get("ingress"), where, "spec.ingress"))
    )
    egress = tuple(
        _rule(r, where, f"spec.egress[{i}]", "to")
        for i, r in enumerate(_list(spec.get("egress"), where, "spec.egress"))
    )
    raw_types = spec.get("policyTypes")
    if raw_types is None or raw_types == []:
        # Default policyTypes: Ingress always; Egress if the policy has egress rules.
        types = {"Ingress"} | ({"Egress"} if egress else set())
    else:
        types = set()
        for t in _list(raw_types, where, "spec.policyTypes"):
            if t not in ("Ingress", "Egress"):
                raise ConfigError(
                    f"{where}: spec.policyTypes has {t!r} (fix: use Ingress and/or Egress)"
                )
            types.add(str(t))
    return NetworkPolicy(
        namespace=namespace,
        name=name,
        pod_selector=parse_selector(spec.get("podSelector"), where, "spec.podSelector"),
        ingress=ingress,
        egress=egress,
        policy_types=frozenset(types),
    )


def parse_namespace(obj: Mapping[str, Any]) -> Namespace:
    where = _where(obj)
    meta, name = _named(obj, where)
    labels = _labels(meta.get("labels"), where, "metadata.labels")
    # The API server always sets kubernetes.io/metadata.name to the namespace name.
    labels.setdefault(NAME_LABEL, name)
    return Namespace(name, labels)


def parse_service_account(obj: Mapping[str, Any]) -> tuple[tuple[str, str], dict[str, str]]:
    """A ServiceAccount's (namespace, name) and labels."""
    where = _where(obj)
    meta, name, namespace = _identity(obj, where)
    return (namespace, name), _labels(meta.get("labels"), where, "metadata.labels")


def implied_namespace(name: str) -> Namespace:
    """A namespace known only by name: it carries just the automatic name label."""
    return Namespace(name, {NAME_LABEL: name})


def parse_pod(obj: Mapping[str, Any]) -> Pod:
    where = _where(obj)
    meta, name, namespace = _identity(obj, where)
    labels = _labels(meta.get("labels"), where, "metadata.labels")
    status = _mapping(obj.get("status"), where, "status")
    ips: list[str] = []
    candidates: list[Any] = [status.get("podIP")]
    candidates += [
        _mapping(e, where, "status.podIPs[]").get("ip")
        for e in _list(status.get("podIPs"), where, "status.podIPs")
    ]
    for ip in candidates:
        if ip in (None, ""):
            continue
        try:
            text = str(ipaddress.ip_address(str(ip)))
        except ValueError:
            raise ConfigError(f"{where}: status.podIP {ip!r} is not an IP address") from None
        if text not in ips:
            ips.append(text)
    spec = _mapping(obj.get("spec"), where, "spec")
    ports: list[ContainerPort] = []
    containers = _list(spec.get("containers"), where, "spec.containers")
    for ci, container in enumerate(containers):
        container = _mapping(container, where, f"spec.containers[{ci}]")
        for pi, port in enumerate(_list(container.get("ports"), where, "ports")):
            path = f"spec.containers[{ci}].ports[{pi}]"
            port = _mapping(port, where, path)
            number = port.get("containerPort")
            if isinstance(number, bool) or not isinstance(number, int):
                raise ConfigError(f"{where}: {path}.containerPort must be a number")
            pname = port.get("name")
            ports.append(
                ContainerPort(
                    number,
                    _protocol(port.get("protocol"), where, f"{path}.protocol"),
                    str(pname) if pname else None,
                )
            )
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return Pod(namespace, name, labels, tuple(ips), tuple(ports), str(account))


def flatten(objs: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    """Every object, with ``kind: List`` (and ``*List``) documents expanded to their items."""
    for obj in objs:
        if obj is None:
            continue
        if not isinstance(obj, Mapping):
            raise ConfigError(
                f"expected a Kubernetes object (a mapping), got {type(obj).__name__}"
                " (fix: give Namespace, Pod and NetworkPolicy objects or a kind: List)"
            )
        kind = obj.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and "items" in obj:
            yield from flatten(_list(obj.get("items"), _where(obj), "items"))
        else:
            yield obj
