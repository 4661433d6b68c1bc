"""Calico ``projectcalico.org/v3`` NetworkPolicy, GlobalNetworkPolicy and Tier, parsed.

References (Calico Open Source 3.32, the line ``scripts/kind-up`` installs):

- NetworkPolicy resource: https://docs.tigera.io/calico/latest/reference/resources/networkpolicy
- GlobalNetworkPolicy resource:
  https://docs.tigera.io/calico/latest/reference/resources/globalnetworkpolicy
- Tier resource: https://docs.tigera.io/calico/latest/reference/resources/tier

What is read: ``tier``, ``order``, ``selector``, ``namespaceSelector`` (global policies),
``serviceAccountSelector``, ``types`` (with Calico's own defaulting), and per rule
``action`` (Allow, Deny, Pass, Log), ``protocol`` / ``notProtocol``, ``ipVersion`` and
``source`` / ``destination`` (``selector``, ``notSelector``, ``namespaceSelector``,
``nets``, ``notNets``, ``ports``, ``notPorts``, ``serviceAccounts``). Service-account
selectors see the labels of the pod's ServiceAccount (given among the objects) plus
``projectcalico.org/name``; pod selectors see ``projectcalico.org/serviceaccount``.
Fields whose effect the engine cannot predict (``http``, source ports, ``services``,
``doNotTrack``, ``preDNAT``, ``applyOnForward`` set to true) are refused by name.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from harness.errors import ConfigError
from harness.policy import selectors
from harness.policy.model import IPAddress
from harness.policy.model import IPNetwork
from harness.policy.model import Pod
from harness.policy.model import _list
from harness.policy.model import _mapping
from harness.policy.model import _named
from harness.policy.model import _where

GROUP_VERSION = "projectcalico.org/v3"
DEFAULT_TIER = "default"
#: The order of the default tier when no Tier object gives one (Calico creates it so).
DEFAULT_TIER_ORDER = 1_000_000.0
#: The policy order Calico gives every Kubernetes NetworkPolicy (in the default tier).
K8S_POLICY_ORDER = 1000.0
ACTIONS = ("Allow", "Deny", "Pass", "Log")
#: Calico's automatic labels (on workload endpoints and namespaces).
NAMESPACE_LABEL = "projectcalico.org/namespace"
ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"
SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount"
NAME_LABEL = "projectcalico.org/name"
#: Protocol names Calico accepts, with their IANA numbers.
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "SCTP": 132, "ICMP": 1, "ICMPv6": 58, "UDPLite": 136}
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP", "UDPLite")


def endpoint_labels(pod: Pod) -> dict[str, str]:
    """The labels a Calico selector sees on a pod: its own plus Calico's automatic ones."""
    return {
        **pod.labels,
        NAMESPACE_LABEL: pod.namespace,
        ORCHESTRATOR_LABEL: "k8s",
        SERVICE_ACCOUNT_LABEL: pod.service_account,
    }


def account_labels(pod: Pod) -> dict[str, str]:
    """The labels a Calico service-account selector sees: the pod's ServiceAccount's labels
    plus ``projectcalico.org/name`` (its name)."""
    return {**pod.service_account_labels, NAME_LABEL: pod.service_account}


def namespace_view(name: str, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels a Calico namespaceSelector sees: the namespace's plus projectcalico.org/name."""
    return {**labels, NAME_LABEL: name}


# ---------------------------------------------------------------- the objects


@dataclass(frozen=True)
class Selector:
    """A parsed selector with its text (for explanations)."""

    text: str
    node: selectors.Node

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.node.matches(labels)

    def __str__(self) -> str:
        return self.text or "all()"


@dataclass(frozen=True)
class PortSpec:
    """One entry of ``ports``: a number, a range "80:81" or a named port."""

    start: int = 0
    end: int = 0
    name: str | None = None

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        return str(self.start) if self.start == self.end else f"{self.start}:{self.end}"


def _present(*fields: tuple[str, object]) -> list[str]:
    """``name value`` of each (name, value) whose value is set (not None), in order."""
    return [f"{name} {value}" for name, value in fields if value is not None]


def _joined(values: Iterable[object] | None) -> str | None:
    """The values comma-separated (None stays None: the field is not set)."""
    return None if values is None else ",".join(map(str, values))


@dataclass(frozen=True)
class EntityRule:
    selector: Selector | None = None
    not_selector: Selector | None = None
    namespace_selector: Selector | None = None
    nets: tuple[IPNetwork, ...] | None = None
    not_nets: tuple[IPNetwork, ...] | None = None
    ports: tuple[PortSpec, ...] | None = None
    not_ports: tuple[PortSpec, ...] | None = None
    sa_names: frozenset[str] | None = None
    sa_selector: Selector | None = None

    @property
    def matches_endpoints_only(self) -> bool:
        """Whether only pods can match (a selector narrows it to endpoints)."""
        return (
            self.selector is not None
            or self.namespace_selector is not None
            or self.sa_names is not None
            or self.sa_selector is not None
        )

    def __str__(self) -> str:
        sa_names = None if self.sa_names is None else sorted(self.sa_names)
        parts = _present(
            ("selector", self.selector),
            ("notSelector", self.not_selector),
            ("namespaceSelector", self.namespace_selector),
            ("nets", _joined(self.nets)),
            ("notNets", _joined(self.not_nets)),
            ("ports", _joined(self.ports)),
            ("notPorts", _joined(self.not_ports)),
            ("serviceAccounts", _joined(sa_names)),
            ("serviceAccounts.selector", self.sa_selector),
        )
        return "; ".join(parts) or "any"


@dataclass(frozen=True)
class CalicoRule:
    action: str
    protocol: str | int | None = None  # a name of PROTOCOL_NUMBERS or a number
    not_protocol: str | int | None = None
    ip_version: int | None = None
    source: EntityRule = field(default_factory=EntityRule)
    destination: EntityRule = field(default_factory=EntityRule)

    def __str__(self) -> str:
        fields = _present(
            ("protocol", self.protocol),
            ("notProtocol", self.not_protocol),
            ("ipVersion", self.ip_version),
        )
        return " ".join(
            [self.action, *fields, f"source [{self.source}]", f"destination [{self.destination}]"]
        )


@dataclass(frozen=True)
class CalicoPolicy:
    kind: str  # "NetworkPolicy" or "GlobalNetworkPolicy"
    name: str
    namespace: str | None  # None for a GlobalNetworkPolicy
    tier: str = DEFAULT_TIER
    order: float = math.inf  # missing order: after every ordered policy
    selector: Selector = Selector("", selectors.All())
    namespace_selector: Selector | None = None
    sa_selector: Selector | None = None
    types: frozenset[str] = frozenset({"Ingress"})
    ingress: tuple[CalicoRule, ...] = ()
    egress: tuple[CalicoRule, ...] = ()

    @property
    def ref(self) -> str:
        if self.namespace is None:
            return f"GlobalNetworkPolicy {self.name}"
        return f"NetworkPolicy.projectcalico.org {self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[CalicoRule, ...]:
        return self.ingress if direction == "ingress" else self.egress

    def applies(self, pod: Pod, ns_labels: Mapping[str, str], direction: str) -> bool:
        """Does the policy select ``pod`` for ``direction``?"""
        if ("Ingress" if direction == "ingress" else "Egress") not in self.types:
            return False
        if self.namespace is not None and pod.namespace != self.namespace:
            return False
        if not self.selector.matches(endpoint_labels(pod)):
            return False
        if self.namespace_selector is not None and not self.namespace_selector.matches(
            namespace_view(pod.namespace, ns_labels)
        ):
            return False
        return self.sa_selector is None or self.sa_selector.matches(account_labels(pod))


@dataclass(frozen=True)
class Tier:
    name: str
    order: float = math.inf
    default_action: str = "Deny"

    def __str__(self) -> str:
        order = "no order (last)" if self.order == math.inf else f"order {self.order:.15g}"
        return f"tier {self.name!r} ({order}, defaultAction {self.default_action})"


def default_tier() -> Tier:
    return Tier(DEFAULT_TIER, DEFAULT_TIER_ORDER, "Deny")


# ---------------------------------------------------------------- matching


def _addresses(endpoint: Pod | IPAddress) -> tuple[IPAddress, ...]:
    return endpoint.addresses if isinstance(endpoint, Pod) else (endpoint,)


def _in_nets(endpoint: Pod | IPAddress, nets: tuple[IPNetwork, ...]) -> bool:
    return any(a.version == n.version and a in n for a in _addresses(endpoint) for n in nets)


def _port_hit(spec: PortSpec, number: int, protocol: str, dst: Pod | None) -> bool:
    if spec.name is None:
        return spec.start <= number <= spec.end
    return (
        dst is not None
        and protocol in ("TCP", "UDP", "SCTP")
        and dst.named_port(spec.name, protocol) == number  # type: ignore[arg-type]
    )


def entity_matches(
    entity: EntityRule,
    endpoint: Pod | IPAddress,
    policy_namespace: str | None,
    ns_labels: Mapping[str, str] | None,
    *,
    number: int | None = None,
    protocol: str = "TCP",
    dst: Pod | None = None,
) -> bool:
    """Does one side of the traffic (``endpoint``) match a source/destination entity?

    Selectors match endpoints only (an address outside the cluster never matches
    ``selector``/``namespaceSelector``/``serviceAccounts``, and always passes
    ``notSelector``); in a namespaced policy a selector without ``namespaceSelector``
    matches endpoints of the policy's own namespace. ``ports`` are matched when
    ``number`` is given (the destination entity).
    """
    pod = endpoint if isinstance(endpoint, Pod) else None
    if entity.matches_endpoints_only:
        if pod is None:
            return False
        if entity.namespace_selector is not None:
            assert ns_labels is not None
            if not entity.namespace_selector.matches(namespace_view(pod.namespace, ns_labels)):
                return False
        elif policy_namespace is not None and pod.namespace != policy_namespace:
            return False
        if entity.selector is not None and not entity.selector.matches(endpoint_labels(pod)):
            return False
        if entity.sa_names is not None and pod.service_account not in entity.sa_names:
            return False
        if entity.sa_selector is not None and not entity.sa_selector.matches(account_labels(pod)):
            return False
    if entity.not_selector is not None and pod is not None:
        in_scope = policy_namespace is None or pod.namespace == policy_namespace
        if in_scope and entity.not_selector.matches(endpoint_labels(pod)):
            return False
    if entity.nets is not None and not _in_nets(endpoint, entity.nets):
        return False
    if entity.not_nets is not None and _in_nets(endpoint, entity.not_nets):
        return False
    if entity.ports is not None and (
        number is None or not any(_port_hit(p, number, protocol, dst) for p in entity.ports)
    ):
        return False
    return not (
        entity.not_ports is not None
        and number is not None
        and any(_port_hit(p, number, protocol, dst) for p in entity.not_ports)
    )


def protocol_matches(rule_protocol: str | int | None, protocol: str) -> bool:
    if rule_protocol is None:
        return True
    if isinstance(rule_protocol, int):
        return PROTOCOL_NUMBERS.get(protocol) == rule_protocol
    return rule_protocol == protocol


# ---------------------------------------------------------------- parsing


def _selector(raw: Any, where: str, path: str) -> Selector:
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: {path} must be a selector string, e.g. app == 'web'")
    try:
        return Selector(raw.strip(), selectors.parse(raw))
    except selectors.SelectorError as exc:
        raise ConfigError(f"{where}: {path}: {exc}") from None


def _optional_selector(raw: Any, where: str, path: str) -> Selector | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return _selector(raw, where, path)


def _nets(raw: Any, where: str, path: str) -> tuple[IPNetwork, ...] | None:
    if raw is None or raw == []:  # Calico's API (Go, omitempty): [] is the same as unset
        return None
    nets: list[IPNetwork] = []
    for i, text in enumerate(_list(raw, where, path)):
        try:
            nets.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            raise ConfigError(f"{where}: {path}[{i}] {text!r} is not a CIDR") from None
    return tuple(nets)


def parse_port_spec(raw: Any, where: str, path: str) -> PortSpec:
    """80, "80", "80:81" or a named port."""
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: {path} {raw!r} is not a port")
    if isinstance(raw, int):
        start = end = raw
    elif isinstance(raw, str) and ":" in raw:
        first, _, last = raw.partition(":")
        if not (first.strip().isdigit() and last.strip().isdigit()):
            raise ConfigError(f'{where}: {path} {raw!r} is not a port range (e.g. "80:81")')
        start, end = int(first), int(last)
    elif isinstance(raw, str) and raw.isdigit():
        start = end = int(raw)
    elif isinstance(raw, str) and raw:
        return PortSpec(name=raw)
    else:
        raise ConfigError(f"{where}: {path} {raw!r} is not a port, a range or a port name")
    if not (1 <= start <= 65535 and 1 <= end <= 65535) or end < start:
        raise ConfigError(f"{where}: {path} {raw!r} is outside 1-65535 or an empty range")
    return PortSpec(start, end)


def _ports(raw: Any, where: str, path: str) -> tuple[PortSpec, ...] | None:
    if raw is None or raw == []:  # as for nets: an empty list matches like no list
        return None
    return tuple(
        parse_port_spec(p, where, f"{path}[{i}]") for i, p in enumerate(_list(raw, where, path))
    )


def _protocol(raw: Any, where: str, path: str) -> str | int | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 1 <= raw <= 255:
            raise ConfigError(f"{where}: {path} {raw} is outside 1-255")
        for name, number in PROTOCOL_NUMBERS.items():
            if number == raw and name in ("TCP", "UDP", "SCTP"):
                return name
        return raw
    if isinstance(raw, str):
        if raw.isdigit():
            return _protocol(int(raw), where, path)
        for name in PROTOCOL_NUMBERS:
            if raw.lower() == name.lower():
                return name
    raise ConfigError(
        f"{where}: {path} {raw!r} is not a protocol (fix: TCP, UDP, ICMP, ICMPv6, SCTP, "
        "UDPLite or a number 1-255)"
    )


def _entity(raw: Any, where: str, path: str, *, source: bool) -> EntityRule:
    entity = _mapping(raw, where, path)
    for key in ("services",):
        if entity.get(key) is not None:
            raise ConfigError(
                f"{where}: {path}.{key} is not modelled (fix: test it live on Calico)"
            )
    if source and (entity.get("ports") is not None or entity.get("notPorts") is not None):
        raise ConfigError(
            f"{where}: {path}.ports: source ports are ephemeral and not modelled (fix: match "
            "the destination port instead)"
        )
    sa = entity.get("serviceAccounts")
    sa_names: frozenset[str] | None = None
    sa_selector: Selector | None = None
    if sa is not None:
        sa_map = _mapping(sa, where, f"{path}.serviceAccounts")
        if sa_map.get("names") is not None:
            sa_names = frozenset(
                str(n) for n in _list(sa_map["names"], where, f"{path}.serviceAccounts.names")
            )
        sa_selector = _optional_selector(
            sa_map.get("selector"), where, f"{path}.serviceAccounts.selector"
        )
    return EntityRule(
        selector=_optional_selector(entity.get("selector"), where, f"{path}.selector"),
        not_selector=_optional_selector(entity.get("notSelector"), where, f"{path}.notSelector"),
        namespace_selector=_optional_selector(
            entity.get("namespaceSelector"), where, f"{path}.namespaceSelector"
        ),
        nets=_nets(entity.get("nets"), where, f"{path}.nets"),
        not_nets=_nets(entity.get("notNets"), where, f"{path}.notNets"),
        ports=_ports(entity.get("ports"), where, f"{path}.ports"),
        not_ports=_ports(entity.get("notPorts"), where, f"{path}.notPorts"),
        sa_names=sa_names,
        sa_selector=sa_selector,
    )


def _rule(raw: Any, where: str, path: str) -> CalicoRule:
    rule = _mapping(raw, where, path)
    action = rule.get("action")
    if action not in ACTIONS:
        raise ConfigError(
            f"{where}: {path}.action is {action!r} (fix: use Allow, Deny, Pass or Log)"
        )
    if rule.get("http") is not None:
        raise ConfigError(f"{where}: {path}.http (layer 7) is not modelled")
    version = rule.get("ipVersion")
    if version is not None and version not in (4, 6):
        raise ConfigError(f"{where}: {path}.ipVersion is {version!r} (fix: 4 or 6)")
    protocol = _protocol(rule.get("protocol"), where, f"{path}.protocol")
    destination = _entity(rule.get("destination"), where, f"{path}.destination", source=False)
    if (destination.ports is not None or destination.not_ports is not None) and (
        protocol not in PORT_PROTOCOLS
    ):
        raise ConfigError(
            f"{where}: {path}: ports need protocol TCP, UDP, SCTP or UDPLite (fix: add "
            "protocol: TCP)"
        )
    return CalicoRule(
        action=str(action),
        protocol=protocol,
        not_protocol=_protocol(rule.get("notProtocol"), where, f"{path}.notProtocol"),
        ip_version=version,
        source=_entity(rule.get("source"), where, f"{path}.source", source=True),
        destination=destination,
    )


def _order(raw: Any, where: str, path: str) -> float:
    if raw is None:
        return math.inf
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"{where}: {path} {raw!r} must be a number")
    return float(raw)


def parse_policy(obj: Mapping[str, Any]) -> CalicoPolicy:
    """A Calico NetworkPolicy or GlobalNetworkPolicy (``projectcalico.org/v3``)."""
    where = f"{_where(obj)} ({GROUP_VERSION})"
    kind = str(obj.get("kind"))
    meta, name = _named(obj, where)
    namespace = str(meta.get("namespace") or "default") if kind == "NetworkPolicy" else None
    spec = _mapping(obj.get("spec"), where, "spec")
    for key in ("doNotTrack", "preDNAT", "applyOnForward"):
        if spec.get(key) is True:
            raise ConfigError(f"{where}: spec.{key} (host endpoint policy) is not modelled")
    ingress = tuple(
        _rule(r, where, f"spec.ingress[{i}]")
        for i, r in enumerate(_list(spec.get("ingress"), where, "spec.ingress"))
    )
    egress = tuple(
        _rule(r, where, f"spec.egress[{i}]")
        for i, r in enumerate(_list(spec.get("egress"), where, "spec.egress"))
    )
    raw_types = spec.get("types")
    if raw_types is None or raw_types == []:
        # Calico's default: Egress alone when only egress rules are present, both when both
        # are, Ingress otherwise (NetworkPolicy resource, Spec, footnote on `types`).
        if egress and not ingress:
            types = {"Egress"}
        elif egress:
            types = {"Ingress", "Egress"}
        else:
            types = {"Ingress"}
    else:
        types = set()
        for t in _list(raw_types, where, "spec.types"):
            if t not in ("Ingress", "Egress"):
                raise ConfigError(f"{where}: spec.types has {t!r} (fix: Ingress and/or Egress)")
            types.add(str(t))
    tier = spec.get("tier") or DEFAULT_TIER
    if not isinstance(tier, str):
        raise ConfigError(f"{where}: spec.tier must be a tier name")
    raw_selector = spec.get("selector")
    selector = (
        Selector("", selectors.All())
        if raw_selector is None or (isinstance(raw_selector, str) and not raw_selector.strip())
        else _selector(raw_selector, where, "spec.selector")
    )
    ns_selector = None
    if kind == "GlobalNetworkPolicy":
        ns_selector = _optional_selector(
            spec.get("namespaceSelector"), where, "spec.namespaceSelector"
        )
    elif spec.get("namespaceSelector") is not None:
        raise ConfigError(
            f"{where}: spec.namespaceSelector is a GlobalNetworkPolicy field (fix: remove it; "
            "a NetworkPolicy selects endpoints of its own namespace)"
        )
    return CalicoPolicy(
        kind=kind,
        name=name,
        namespace=namespace,
        tier=tier,
        order=_order(spec.get("order"), where, "spec.order"),
        selector=selector,
        namespace_selector=ns_selector,
        sa_selector=_optional_selector(
            spec.get("serviceAccountSelector"), where, "spec.serviceAccountSelector"
        ),
        types=frozenset(types),
        ingress=ingress,
        egress=egress,
    )


def parse_tier(obj: Mapping[str, Any]) -> Tier:
    where = f"{_where(obj)} ({GROUP_VERSION})"
    _, name = _named(obj, where)
    spec = _mapping(obj.get("spec"), where, "spec")
    action = spec.get("defaultAction") or "Deny"
    if action not in ("Deny", "Pass"):
        raise ConfigError(f"{where}: spec.defaultAction is {action!r} (fix: Deny or Pass)")
    order = _order(spec.get("order"), where, "spec.order")
    if name == DEFAULT_TIER and spec.get("order") is None:
        order = DEFAULT_TIER_ORDER
    return Tier(name, order, str(action))
