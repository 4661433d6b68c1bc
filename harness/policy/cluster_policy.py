"""The cluster-wide policy APIs of kubernetes-sigs/network-policy-api, parsed.

- ``policy.networking.k8s.io/v1alpha2`` (and ``v1beta1``) ClusterNetworkPolicy: ``tier``
  Admin or Baseline, ``priority`` 0-1000, actions Accept / Deny / Pass;
- ``policy.networking.k8s.io/v1alpha1`` AdminNetworkPolicy (priority 0-1000, actions
  Allow / Deny / Pass) and BaselineAdminNetworkPolicy (one object named ``default``,
  actions Allow / Deny).

Reference: the API types, apis/v1alpha2/clusternetworkpolicy_types.go and
apis/v1alpha1/*_types.go of https://github.com/kubernetes-sigs/network-policy-api,
and https://network-policy-api.sigs.k8s.io/reference/spec/.

Actions are normalised to Accept / Deny / Pass (v1alpha1 Allow = Accept). Ports are read
in both spellings the API has had: ``protocols`` (``tcp``/``udp``/``sctp`` with
``destinationPort`` ``number`` or ``range``, or ``destinationNamedPort``) and ``ports``
(``portNumber``, ``portRange``, ``namedPort``). ``domainNames`` peers are refused (a
prediction cannot resolve names); ``nodes`` peers match nothing the engine knows
(it reads no Node objects).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.model import L4Protocol
from harness.policy.model import IPAddress
from harness.policy.model import IPNetwork
from harness.policy.model import LabelSelector
from harness.policy.model import Pod
from harness.policy.model import _list
from harness.policy.model import _mapping
from harness.policy.model import _named
from harness.policy.model import _protocol
from harness.policy.model import _where
from harness.policy.model import parse_selector

GROUP = "policy.networking.k8s.io"
CNP_VERSIONS = (f"{GROUP}/v1alpha2", f"{GROUP}/v1beta1")
ANP_VERSION = f"{GROUP}/v1alpha1"
MAX_PRIORITY = 1000


@dataclass(frozen=True)
class Subject:
    """``namespaces`` (a namespace selector) or ``pods`` (namespace AND pod selectors)."""

    namespace_selector: LabelSelector
    pod_selector: LabelSelector | None = None

    def matches(self, pod: Pod, ns_labels: Mapping[str, str]) -> bool:
        if not self.namespace_selector.matches(ns_labels):
            return False
        return self.pod_selector is None or self.pod_selector.matches(pod.labels)

    def __str__(self) -> str:
        if self.pod_selector is None:
            return f"pods in namespaces [{self.namespace_selector}]"
        return f"pods [{self.pod_selector}] in namespaces [{self.namespace_selector}]"


@dataclass(frozen=True)
class ClusterPeer:
    kind: str  # "namespaces", "pods", "networks", "nodes"
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None
    networks: tuple[IPNetwork, ...] = ()

    def matches(self, other: Pod | IPAddress, ns_labels: Mapping[str, str] | None) -> bool:
        if self.kind == "networks":
            addrs = other.addresses if isinstance(other, Pod) else (other,)
            return any(a.version == n.version and a in n for a in addrs for n in self.networks)
        if self.kind == "nodes" or not isinstance(other, Pod):
            return False
        assert self.namespace_selector is not None and ns_labels is not None
        if not self.namespace_selector.matches(ns_labels):
            return False
        return self.pod_selector is None or self.pod_selector.matches(other.labels)

    def __str__(self) -> str:
        if self.kind == "networks":
            return "networks " + ",".join(map(str, self.networks))
        if self.kind == "nodes":
            return "nodes (no Node objects are read: matches nothing)"
        if self.kind == "namespaces":
            return f"namespaces [{self.namespace_selector}]"
        return f"pods [{self.pod_selector}] in namespaces [{self.namespace_selector}]"


@dataclass(frozen=True)
class ClusterPort:
    """A destination port: a number range of one protocol, or a named container port."""

    protocol: L4Protocol | None = None  # None: a named port (its own protocol)
    start: int = 0
    end: int = 65535
    name: str | None = None

    def matches(self, number: int, protocol: L4Protocol, dst: Pod | None) -> bool:
        if self.name is not None:
            return dst is not None and dst.named_port(self.name, protocol) == number
        return protocol == self.protocol and self.start <= number <= self.end

    def __str__(self) -> str:
        if self.name is not None:
            return f"named port {self.name}"
        if self.start == 1 and self.end == 65535:
            return f"all ports/{self.protocol}"
        span = str(self.start) if self.start == self.end else f"{self.start}-{self.end}"
        return f"{span}/{self.protocol}"


@dataclass(frozen=True)
class ClusterRule:
    name: str
    action: str  # "Accept", "Deny", "Pass"
    peers: tuple[ClusterPeer, ...]
    ports: tuple[ClusterPort, ...] | None = None  # None: every port and protocol


@dataclass(frozen=True)
class ClusterPolicy:
    kind: str  # "ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"
    name: str
    tier: str  # "Admin" or "Baseline"
    priority: int
    subject: Subject
    ingress: tuple[ClusterRule, ...] = ()
    egress: tuple[ClusterRule, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.name}"

    def rules(self, direction: str) -> tuple[ClusterRule, ...]:
        return self.ingress if direction == "ingress" else self.egress


# ---------------------------------------------------------------- parsing


def _selector(raw: Any, where: str, path: str) -> LabelSelector:
    if raw is None:
        return LabelSelector()
    return parse_selector(raw, where, path)


def _namespaced_pod(raw: Any, where: str, path: str) -> tuple[LabelSelector, LabelSelector]:
    pods = _mapping(raw, where, path)
    if pods.get("podSelector") is None:
        raise ConfigError(f"{where}: {path}.podSelector is required")
    return (
        _selector(pods.get("namespaceSelector"), where, f"{path}.namespaceSelector"),
        _selector(pods.get("podSelector"), where, f"{path}.podSelector"),
    )


def _one_of(raw: Mapping[str, Any], keys: tuple[str, ...], where: str, path: str) -> str:
    present = [k for k in keys if raw.get(k) is not None]
    if len(present) != 1:
        raise ConfigError(
            f"{where}: {path} must set exactly one of {', '.join(keys)} (has "
            f"{', '.join(present) or 'none'})"
        )
    return present[0]


def _subject(raw: Any, where: str) -> Subject:
    subject = _mapping(raw, where, "spec.subject")
    if not subject:
        raise ConfigError(f"{where}: spec.subject is required (namespaces or pods)")
    key = _one_of(subject, ("namespaces", "pods"), where, "spec.subject")
    if key == "namespaces":
        return Subject(_selector(subject["namespaces"], where, "spec.subject.namespaces"))
    ns_sel, pod_sel = _namespaced_pod(subject["pods"], where, "spec.subject.pods")
    return Subject(ns_sel, pod_sel)


def _peer(raw: Any, where: str, path: str, egress: bool) -> ClusterPeer:
    peer = _mapping(raw, where, path)
    keys = (
        ("namespaces", "pods", "networks", "nodes", "domainNames")
        if egress
        else (
            "namespaces",
            "pods",
        )
    )
    key = _one_of(peer, keys, where, path)
    if key == "namespaces":
        return ClusterPeer("namespaces", _selector(peer[key], where, f"{path}.namespaces"))
    if key == "pods":
        ns_sel, pod_sel = _namespaced_pod(peer[key], where, f"{path}.pods")
        return ClusterPeer("pods", ns_sel, pod_sel)
    if key == "networks":
        nets: list[IPNetwork] = []
        for i, text in enumerate(_list(peer[key], where, f"{path}.networks")):
            try:
                nets.append(ipaddress.ip_network(str(text), strict=False))
            except ValueError:
                raise ConfigError(f"{where}: {path}.networks[{i}] {text!r} is not a CIDR") from None
        return ClusterPeer("networks", networks=tuple(nets))
    if key == "nodes":
        _selector(peer[key], where, f"{path}.nodes")
        return ClusterPeer("nodes")
    raise ConfigError(
        f"{where}: {path}.domainNames is not modelled: a prediction cannot resolve names "
        "(fix: test it live on a cluster that implements it)"
    )


def _number(raw: Any, where: str, path: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise ConfigError(f"{where}: {path} {raw!r} is not a port number (1-65535)")
    return raw


def _protocols(raw: Any, where: str, path: str) -> tuple[ClusterPort, ...]:
    """The v1alpha2 ``protocols`` list."""
    out: list[ClusterPort] = []
    for i, entry in enumerate(_list(raw, where, path)):
        at = f"{path}[{i}]"
        entry = _mapping(entry, where, at)
        key = _one_of(entry, ("tcp", "udp", "sctp", "destinationNamedPort"), where, at)
        if key == "destinationNamedPort":
            out.append(ClusterPort(name=str(entry[key])))
            continue
        proto: L4Protocol = _protocol(key, where, at)
        body = _mapping(entry[key], where, f"{at}.{key}")
        dport = body.get("destinationPort")
        if dport is None:
            out.append(ClusterPort(proto, 1, 65535))
            continue
        dport = _mapping(dport, where, f"{at}.{key}.destinationPort")
        which = _one_of(dport, ("number", "range"), where, f"{at}.{key}.destinationPort")
        if which == "number":
            n = _number(dport["number"], where, f"{at}.{key}.destinationPort.number")
            out.append(ClusterPort(proto, n, n))
        else:
            out.append(_range(proto, dport["range"], where, f"{at}.{key}.destinationPort.range"))
    return tuple(out)


def _range(proto: L4Protocol, raw: Any, where: str, path: str) -> ClusterPort:
    span = _mapping(raw, where, path)
    start = _number(span.get("start"), where, f"{path}.start")
    end = _number(span.get("end"), where, f"{path}.end")
    if not start < end:
        raise ConfigError(f"{where}: {path}: start {start} must be less than end {end}")
    return ClusterPort(proto, start, end)


def _ports(raw: Any, where: str, path: str) -> tuple[ClusterPort, ...]:
    """The v1alpha1 ``ports`` list (portNumber, portRange, namedPort)."""
    out: list[ClusterPort] = []
    for i, entry in enumerate(_list(raw, where, path)):
        at = f"{path}[{i}]"
        entry = _mapping(entry, where, at)
        key = _one_of(entry, ("portNumber", "portRange", "namedPort"), where, at)
        if key == "namedPort":
            out.append(ClusterPort(name=str(entry[key])))
            continue
        body = _mapping(entry[key], where, f"{at}.{key}")
        proto = _protocol(body.get("protocol"), where, f"{at}.{key}.protocol")
        if key == "portNumber":
            n = _number(body.get("port"), where, f"{at}.portNumber.port")
            out.append(ClusterPort(proto, n, n))
        else:
            out.append(_range(proto, body, where, f"{at}.portRange"))
    return tuple(out)


_ACTIONS = {
    "ClusterNetworkPolicy": {"Accept": "Accept", "Deny": "Deny", "Pass": "Pass"},
    "AdminNetworkPolicy": {"Allow": "Accept", "Deny": "Deny", "Pass": "Pass"},
    "BaselineAdminNetworkPolicy": {"Allow": "Accept", "Deny": "Deny"},
}


def _rule(kind: str, raw: Any, where: str, path: str, egress: bool) -> ClusterRule:
    rule = _mapping(raw, where, path)
    actions = _ACTIONS[kind]
    action = rule.get("action")
    if action not in actions:
        raise ConfigError(f"{where}: {path}.action is {action!r} (fix: use {', '.join(actions)})")
    peer_key = "to" if egress else "from"
    raw_peers = _list(rule.get(peer_key), where, f"{path}.{peer_key}")
    if not raw_peers:
        raise ConfigError(f"{where}: {path}.{peer_key} must list at least one peer")
    peers = tuple(
        _peer(p, where, f"{path}.{peer_key}[{i}]", egress) for i, p in enumerate(raw_peers)
    )
    ports: tuple[ClusterPort, ...] | None = None
    if rule.get("protocols") is not None:
        ports = _protocols(rule["protocols"], where, f"{path}.protocols")
    elif rule.get("ports") is not None:
        ports = _ports(rule["ports"], where, f"{path}.ports")
    name = rule.get("name")
    return ClusterRule(str(name) if name else "", actions[str(action)], peers, ports)


def parse_cluster_policy(obj: Mapping[str, Any]) -> ClusterPolicy:
    kind = str(obj.get("kind"))
    where = f"{_where(obj)} ({obj.get('apiVersion')})"
    _, name = _named(obj, where)
    spec = _mapping(obj.get("spec"), where, "spec")
    if kind == "ClusterNetworkPolicy":
        tier = spec.get("tier")
        if tier not in ("Admin", "Baseline"):
            raise ConfigError(f"{where}: spec.tier is {tier!r} (fix: Admin or Baseline)")
    else:
        tier = "Admin" if kind == "AdminNetworkPolicy" else "Baseline"
    if kind == "BaselineAdminNetworkPolicy":
        if name != "default":
            raise ConfigError(
                f"{where}: a BaselineAdminNetworkPolicy must be named 'default' (it is a singleton)"
            )
        priority = 0
    else:
        raw = spec.get("priority")
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_PRIORITY:
            raise ConfigError(
                f"{where}: spec.priority is {raw!r} (fix: a number from 0 to {MAX_PRIORITY})"
            )
        priority = raw
    ingress = tuple(
        _rule(kind, r, where, f"spec.ingress[{i}]", False)
        for i, r in enumerate(_list(spec.get("ingress"), where, "spec.ingress"))
    )
    egress = tuple(
        _rule(kind, r, where, f"spec.egress[{i}]", True)
        for i, r in enumerate(_list(spec.get("egress"), where, "spec.egress"))
    )
    return ClusterPolicy(
        kind, name, str(tier), priority, _subject(spec.get("subject"), where), ingress, egress
    )
