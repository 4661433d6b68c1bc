"""NetworkPolicy semantics: decide one connection, or a whole matrix, without a cluster.

Two independent implementations live here on purpose:

- :meth:`ClusterModel.decide` evaluates one cell directly from the policy text and
  explains it (which policies isolate each side, which rule allowed it);
- :meth:`ClusterModel.matrix` computes every pod pair for one port from an index:
  sets of pods are Python ints used as bitsets (bit i = pod i), label
  selectors are evaluated once each against an inverted label index, and each
  policy rule contributes its allowed peer set to the pods it selects.

The property tests check that both agree cell by cell.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from functools import cached_property
from typing import Any

from harness.errors import ConfigError
from harness.model import PROTOCOLS
from harness.model import L4Protocol
from harness.policy import calico
from harness.policy import cluster_policy
from harness.policy import tiers
from harness.policy.explain import Decision
from harness.policy.explain import RuleMatch
from harness.policy.explain import SideVerdict
from harness.policy.model import EXTENDED
from harness.policy.model import Direction
from harness.policy.model import IPAddress
from harness.policy.model import IPBlock
from harness.policy.model import LabelSelector
from harness.policy.model import Namespace
from harness.policy.model import NetworkPolicy
from harness.policy.model import Peer
from harness.policy.model import Pod
from harness.policy.model import PortRule
from harness.policy.model import Rule
from harness.policy.model import _where
from harness.policy.model import classify
from harness.policy.model import flatten
from harness.policy.model import implied_namespace
from harness.policy.model import parse_namespace
from harness.policy.model import parse_pod
from harness.policy.model import parse_policy
from harness.policy.model import parse_service_account

Endpoint = Pod | IPAddress


def normalize_protocol(protocol: str) -> L4Protocol:
    value = protocol.upper()
    for proto in PROTOCOLS:
        if value == proto:
            return proto
    raise ConfigError(f"unknown protocol {protocol!r} (fix: use TCP, UDP or SCTP)")


def parse_port(text: str | int) -> int | str:
    """A port as given on a command line: a number (1-65535) or a port name."""
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) > 5:
        raise ConfigError(f"port {text[:12]}... is outside 1-65535")
    if isinstance(text, int) or (text.isascii() and text.isdigit()):
        number = int(text)
        if not 1 <= number <= 65535:
            raise ConfigError(f"port {number} is outside 1-65535")
        return number
    if not text:
        raise ConfigError("empty port (fix: give a port number or a container port name)")
    return text


def parse_extended(obj: Mapping[str, Any]) -> tiers.Extended:
    """A Calico v3 policy or Tier, or a policy.networking.k8s.io cluster policy."""
    kind = obj.get("kind")
    if kind == "Tier":
        return calico.parse_tier(obj)
    if kind in ("NetworkPolicy", "GlobalNetworkPolicy"):
        return calico.parse_policy(obj)
    return cluster_policy.parse_cluster_policy(obj)


def parse_objects(
    objs: Iterable[Mapping[str, Any]],
) -> tuple[list[Namespace], list[Pod], list[NetworkPolicy], list[tiers.Extended]]:
    """Namespaces, pods, NetworkPolicies and tiered/cluster policies among ``objs``.

    ``kind: List`` is expanded. Objects that decide traffic but are not modelled (a
    Cilium policy, a NetworkPolicy of another apiVersion) are a ConfigError naming
    them: leaving one out would give a confident, wrong answer. Other kinds are ignored.
    """
    namespaces: list[Namespace] = []
    pods: list[Pod] = []
    policies: list[NetworkPolicy] = []
    extended: list[tiers.Extended] = []
    accounts: dict[tuple[str, str], dict[str, str]] = {}
    for obj in flatten(objs):
        kind = obj.get("kind")
        if (obj.get("apiVersion"), kind) in EXTENDED:
            extended.append(parse_extended(obj))
            continue
        if "apiVersion" in obj and classify(obj.get("apiVersion"), kind)[0] == "policy":
            raise ConfigError(f"{_where(obj)}: {classify(obj.get('apiVersion'), kind)[1]}")
        if kind == "Namespace":
            namespaces.append(parse_namespace(obj))
        elif kind == "Pod":
            pods.append(parse_pod(obj))
        elif kind == "NetworkPolicy":
            policies.append(parse_policy(obj))
        elif kind == "ServiceAccount":
            key, labels = parse_service_account(obj)
            accounts[key] = labels
    pods = [
        replace(p, service_account_labels=accounts[(p.namespace, p.service_account)])
        if (p.namespace, p.service_account) in accounts
        else p
        for p in pods
    ]
    return namespaces, pods, policies, extended


def _bits(mask: int) -> Iterator[int]:
    """Indices of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


# ---------------------------------------------------------------- per-cell semantics


def port_matches(
    rule: PortRule, number: int | None, protocol: L4Protocol, destination: Pod | None
) -> bool:
    """Does one NetworkPolicyPort entry match traffic to ``number``/``protocol``?

    ``destination`` is the pod receiving the traffic (for ingress, the policy's
    pod; for egress, the peer); a named port only matches a pod destination
    whose container port of that name and protocol has this number.
    """
    if rule.protocol != protocol:
        return False
    if (
        rule.port is None
    ):  # "If this field is not provided, this matches all port names and numbers"
        return True
    if number is None:
        return False
    if isinstance(rule.port, int):
        end = rule.end_port if rule.end_port is not None else rule.port
        return rule.port <= number <= end
    return destination is not None and destination.named_port(rule.port, protocol) == number


@dataclass
class _Index:
    """Bitset indexes over the pods of a cluster (built once, reused per port)."""

    n: int
    all: int
    ns_pods: dict[str, int]  # namespace -> pods in it
    pod_label: dict[tuple[str, str], int]
    pod_key: dict[str, int]
    ns_names: list[str]
    ns_label: dict[tuple[str, str], int]  # over namespace indices
    ns_key: dict[str, int]
    named: dict[tuple[str, str], dict[int, int]]  # (name, protocol) -> number -> pods
    addresses: list[tuple[IPAddress, ...]]


def _select(
    sel: LabelSelector, universe: int, label: dict[tuple[str, str], int], key: dict[str, int]
) -> int:
    mask = universe
    for k, v in sel.match_labels:
        mask &= label.get((k, v), 0)
    for req in sel.match_expressions:
        if req.operator in ("In", "NotIn"):
            hit = 0
            for v in req.values:
                hit |= label.get((req.key, v), 0)
            mask &= hit if req.operator == "In" else universe & ~hit
        elif req.operator == "Exists":
            mask &= key.get(req.key, 0)
        else:
            mask &= universe & ~key.get(req.key, 0)
    return mask


@dataclass(frozen=True)
class MatrixBits:
    """A computed matrix: ``rows[s]`` has bit d set when pod s may reach pod d."""

    names: tuple[str, ...]
    rows: tuple[int, ...]

    def allowed(self, src: int, dst: int) -> bool:
        return bool(self.rows[src] >> dst & 1)

    def count(self) -> int:
        return sum(row.bit_count() for row in self.rows)

    def to_dict(self) -> dict[str, dict[str, bool]]:
        n = len(self.names)
        if n == 0:
            return {}
        is_one = "1".__eq__
        out: dict[str, dict[str, bool]] = {}
        for name, row in zip(self.names, self.rows, strict=True):
            text = format(row, f"0{n}b")[::-1]
            out[name] = dict(zip(self.names, map(is_one, text), strict=True))
        return out


class ClusterModel:
    """Namespaces, pods and NetworkPolicies: everything needed to predict traffic."""

    def __init__(
        self,
        namespaces: Iterable[Namespace] = (),
        pods: Iterable[Pod] = (),
        policies: Iterable[NetworkPolicy] = (),
        extended: Iterable[tiers.Extended] = (),
    ) -> None:
        ns: dict[str, Namespace] = {n.name: n for n in namespaces}
        pod_map: dict[str, Pod] = {p.ref: p for p in pods}
        pol_map: dict[str, NetworkPolicy] = {p.ref: p for p in policies}
        # Namespaces known only from their pods or policies carry just the name label.
        for name in [p.namespace for p in pod_map.values()] + [
            p.namespace for p in pol_map.values()
        ]:
            if name not in ns:
                ns[name] = implied_namespace(name)
        self.namespaces: Mapping[str, Namespace] = ns
        self.pods: tuple[Pod, ...] = tuple(pod_map.values())
        self.policies: tuple[NetworkPolicy, ...] = tuple(pol_map.values())
        self._pod_by_ref = pod_map
        self._pod_by_ip: dict[IPAddress, Pod] = {}
        for pod in self.pods:
            for addr in pod.addresses:
                self._pod_by_ip.setdefault(addr, pod)
        self._policies_by_ns: dict[str, list[NetworkPolicy]] = {}
        for pol in self.policies:
            self._policies_by_ns.setdefault(pol.namespace, []).append(pol)
        # Tiered and cluster-wide policies: None keeps the NetworkPolicy-only fast path.
        self.extended: tuple[tiers.Extended, ...] = tuple(extended)
        self._layers: tiers.Evaluation | None = None
        if self.extended:
            for obj in self.extended:
                namespace = obj.namespace if isinstance(obj, calico.CalicoPolicy) else None
                if namespace is not None and namespace not in ns:
                    ns[namespace] = implied_namespace(namespace)
            self._layers = tiers.Evaluation(
                tiers.build(self.policies, self.extended), self.namespace_labels, self._k8s_match
            )

    @classmethod
    def from_objects(cls, objs: Iterable[Mapping[str, Any]]) -> ClusterModel:
        """Build from Namespace, Pod and policy dicts (``kind: List`` expanded).

        Objects of kinds that cannot change traffic are ignored.
        """
        return cls(*parse_objects(objs))

    # ------------------------------------------------------------ lookup

    def pod(self, ref: str) -> Pod:
        try:
            return self._pod_by_ref[ref]
        except KeyError:
            raise ConfigError(
                f"unknown pod {ref!r} (fix: give namespace/name of a pod in the objects,"
                " or an IP address)"
            ) from None

    def resolve(self, endpoint: str) -> Endpoint:
        """A pod reference ("namespace/name") or an IP address (a pod's IP resolves to it)."""
        if "/" in endpoint:
            return self.pod(endpoint)
        try:
            addr = ipaddress.ip_address(endpoint)
        except ValueError:
            raise ConfigError(
                f"{endpoint!r} is neither namespace/pod nor an IP address"
                " (fix: write it as namespace/name)"
            ) from None
        return self._pod_by_ip.get(addr, addr)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.namespaces.get(name)
        return ns.labels if ns is not None else implied_namespace(name).labels

    def selecting(self, pod: Pod, direction: Direction) -> list[NetworkPolicy]:
        """Policies in the pod's namespace that select it and have this policy type."""
        return [
            pol
            for pol in self._policies_by_ns.get(pod.namespace, ())
            if pol.affects(direction) and pol.pod_selector.matches(pod.labels)
        ]

    # ------------------------------------------------------------ one cell

    def peer_matches(self, peer: Peer, policy_namespace: str, other: Endpoint) -> bool:
        """Does a NetworkPolicyPeer match the other end of the connection?"""
        if peer.ip_block is not None:
            # An ipBlock matches addresses, including pod IPs; a pod without IP matches none.
            block = peer.ip_block
            if isinstance(other, Pod):
                return any(block.contains(a) for a in other.addresses)
            return block.contains(other)
        if not isinstance(other, Pod) or not peer.is_valid:
            return False  # selectors only ever match pods
        if peer.namespace_selector is None:
            # podSelector alone: pods in the policy's own namespace.
            if other.namespace != policy_namespace:
                return False
        elif not peer.namespace_selector.matches(self.namespace_labels(other.namespace)):
            return False
        # namespaceSelector alone: all pods of the selected namespaces; both: AND.
        return peer.pod_selector is None or peer.pod_selector.matches(other.labels)

    def _rule_match(
        self,
        pol: NetworkPolicy,
        direction: Direction,
        index: int,
        rule: Rule,
        other: Endpoint,
        number: int | None,
        protocol: L4Protocol,
        destination: Pod | None,
    ) -> RuleMatch | None:
        port_at: int | None = None
        port_text = "all ports"
        if rule.ports is not None:  # empty or missing ports: all ports
            for i, pr in enumerate(rule.ports):
                if port_matches(pr, number, protocol, destination):
                    port_at, port_text = i, str(pr)
                    break
            else:
                return None
        peer_at: int | None = None
        peer_text = "all"
        if rule.peers is not None:  # empty or missing from/to: every peer
            for i, peer in enumerate(rule.peers):
                if self.peer_matches(peer, pol.namespace, other):
                    peer_at, peer_text = i, str(peer)
                    break
            else:
                return None
        return RuleMatch(pol.ref, direction, index, peer_at, port_at, peer_text, port_text)

    def _k8s_match(
        self,
        pol: NetworkPolicy,
        direction: Direction,
        subject: Pod,
        other: Endpoint,
        number: int | None,
        protocol: L4Protocol,
        destination: Pod | None,
    ) -> RuleMatch | None:
        """The first rule of a NetworkPolicy (in the default tier) that allows the traffic."""
        for i, rule in enumerate(pol.rules(direction)):
            match = self._rule_match(pol, direction, i, rule, other, number, protocol, destination)
            if match is not None:
                return match
        return None

    def _side(
        self,
        direction: Direction,
        subject: Endpoint,
        other: Endpoint,
        number: int | None,
        protocol: L4Protocol,
    ) -> SideVerdict:
        if not isinstance(subject, Pod):
            return SideVerdict(direction, str(subject), False, False, (), True)
        if self._layers is not None:
            return self._layers.side(direction, subject, other, number, protocol)
        policies = self.selecting(subject, direction)
        if not policies:
            return SideVerdict(direction, subject.ref, True, False, (), True)
        destination = subject if direction == "ingress" else other
        dst_pod = destination if isinstance(destination, Pod) else None
        refs = tuple(p.ref for p in policies)
        for pol in policies:
            for i, rule in enumerate(pol.rules(direction)):
                match = self._rule_match(pol, direction, i, rule, other, number, protocol, dst_pod)
                if match is not None:
                    return SideVerdict(direction, subject.ref, True, True, refs, True, match)
        return SideVerdict(direction, subject.ref, True, True, refs, False)

    def decide(self, src: str, dst: str, port: int | str, protocol: str = "TCP") -> Decision:
        """May ``src`` open a connection to ``dst`` on ``port``/``protocol``?

        Allowed only if the source's egress AND the destination's ingress allow it.
        ``port`` may be a container port name, resolved on the destination pod.
        """
        proto = normalize_protocol(protocol)
        port = parse_port(port)
        source = self.resolve(src)
        destination = self.resolve(dst)
        note = ""
        number: int | None
        if isinstance(port, int):
            number = port
        else:
            number = destination.named_port(port, proto) if isinstance(destination, Pod) else None
            if number is None:
                note = (
                    f"the destination serves no port named {port!r} with protocol {proto}:"
                    " there is nothing to connect to"
                )
        egress = self._side("egress", source, destination, number, proto)
        ingress = self._side("ingress", destination, source, number, proto)
        return Decision(
            source=source.ref if isinstance(source, Pod) else str(source),
            destination=destination.ref if isinstance(destination, Pod) else str(destination),
            port=port,
            protocol=proto,
            resolved_port=number,
            allowed=number is not None and egress.allowed and ingress.allowed,
            egress=egress,
            ingress=ingress,
            note=note,
        )

    # ------------------------------------------------------------ whole matrix

    @cached_property
    def _index(self) -> _Index:
        n = len(self.pods)
        ns_pods: dict[str, int] = {}
        pod_label: dict[tuple[str, str], int] = {}
        pod_key: dict[str, int] = {}
        named: dict[tuple[str, str], dict[int, int]] = {}
        for i, pod in enumerate(self.pods):
            bit = 1 << i
            ns_pods[pod.namespace] = ns_pods.get(pod.namespace, 0) | bit
            for k, v in pod.labels.items():
                pod_label[(k, v)] = pod_label.get((k, v), 0) | bit
                pod_key[k] = pod_key.get(k, 0) | bit
            seen: set[tuple[str, str]] = set()
            for cp in pod.ports:
                if cp.name is None or (cp.name, cp.protocol) in seen:
                    continue  # the first port of a name counts, as in Pod.named_port
                seen.add((cp.name, cp.protocol))
                by_number = named.setdefault((cp.name, cp.protocol), {})
                by_number[cp.number] = by_number.get(cp.number, 0) | bit
        ns_names = list(self.namespaces)
        ns_label: dict[tuple[str, str], int] = {}
        ns_key: dict[str, int] = {}
        for j, name in enumerate(ns_names):
            bit = 1 << j
            for k, v in self.namespaces[name].labels.items():
                ns_label[(k, v)] = ns_label.get((k, v), 0) | bit
                ns_key[k] = ns_key.get(k, 0) | bit
        return _Index(
            n=n,
            all=(1 << n) - 1,
            ns_pods=ns_pods,
            pod_label=pod_label,
            pod_key=pod_key,
            ns_names=ns_names,
            ns_label=ns_label,
            ns_key=ns_key,
            named=named,
            addresses=[p.addresses for p in self.pods],
        )

    def matrix_bits(self, port: int | str, protocol: str = "TCP") -> MatrixBits:
        """Every pod pair for one port, as bit rows (see :class:`MatrixBits`)."""
        if self._layers is not None:
            return self._matrix_layered(parse_port(port), normalize_protocol(protocol))
        return _MatrixBuilder(self, parse_port(port), normalize_protocol(protocol)).build()

    def _matrix_layered(self, port: int | str, protocol: L4Protocol) -> MatrixBits:
        """The matrix under tiered policies: cell by cell (no index; scenario-sized)."""
        assert self._layers is not None
        side = self._layers.side
        rows: list[int] = []
        for src in self.pods:
            row = 0
            for d, dst in enumerate(self.pods):
                number = port if isinstance(port, int) else dst.named_port(port, protocol)
                if number is None:
                    continue
                if (
                    side("egress", src, dst, number, protocol).allowed
                    and side("ingress", dst, src, number, protocol).allowed
                ):
                    row |= 1 << d
            rows.append(row)
        return MatrixBits(tuple(p.ref for p in self.pods), tuple(rows))

    def matrix(self, port: int | str, protocol: str = "TCP") -> dict[str, dict[str, bool]]:
        """``{src: {dst: allowed}}`` for every pod pair (the diagonal included)."""
        return self.matrix_bits(port, protocol).to_dict()


class _MatrixBuilder:
    """One matrix computation: caches of selector and port masks for one port."""

    def __init__(self, cluster: ClusterModel, port: int | str, protocol: L4Protocol) -> None:
        self.cluster = cluster
        self.ix = cluster._index
        self.port = port
        self.protocol = protocol
        self._pod_sel: dict[LabelSelector, int] = {}
        self._ns_sel: dict[LabelSelector, int] = {}
        self._blocks: dict[IPBlock, int] = {}
        self._ports: dict[PortRule, int] = {}
        ix = self.ix
        # Pods grouped by the number the asked port resolves to on them.
        self.by_number: dict[int, int] = {}
        self.unresolved = 0
        if isinstance(port, int):
            self.by_number[port] = ix.all
        else:
            for number, mask in ix.named.get((port, protocol), {}).items():
                self.by_number[number] = mask
            resolved = 0
            for mask in self.by_number.values():
                resolved |= mask
            self.unresolved = ix.all & ~resolved

    def pods_of(self, sel: LabelSelector) -> int:
        mask = self._pod_sel.get(sel)
        if mask is None:
            mask = _select(sel, self.ix.all, self.ix.pod_label, self.ix.pod_key)
            self._pod_sel[sel] = mask
        return mask

    def pods_in_namespaces(self, sel: LabelSelector) -> int:
        mask = self._ns_sel.get(sel)
        if mask is None:
            ix = self.ix
            ns_mask = _select(sel, (1 << len(ix.ns_names)) - 1, ix.ns_label, ix.ns_key)
            mask = 0
            for j in _bits(ns_mask):
                mask |= ix.ns_pods.get(ix.ns_names[j], 0)
            self._ns_sel[sel] = mask
        return mask

    def block(self, block: IPBlock) -> int:
        mask = self._blocks.get(block)
        if mask is None:
            mask = 0
            for i, addrs in enumerate(self.ix.addresses):
                if any(block.contains(a) for a in addrs):
                    mask |= 1 << i
            self._blocks[block] = mask
        return mask

    def peer(self, peer: Peer, policy_namespace: str) -> int:
        if peer.ip_block is not None:
            return self.block(peer.ip_block)
        if not peer.is_valid:
            return 0
        if peer.namespace_selector is None:
            ns_mask = self.ix.ns_pods.get(policy_namespace, 0)
        else:
            ns_mask = self.pods_in_namespaces(peer.namespace_selector)
        if peer.pod_selector is None:
            return ns_mask
        return ns_mask & self.pods_of(peer.pod_selector)

    def peers(self, rule: Rule, policy_namespace: str) -> int:
        if rule.peers is None:
            return self.ix.all
        mask = 0
        for peer in rule.peers:
            mask |= self.peer(peer, policy_namespace)
        return mask

    def port_rule(self, pr: PortRule) -> int:
        """Destination pods on which this port entry matches the asked port."""
        mask = self._ports.get(pr)
        if mask is None:
            mask = 0
            if pr.protocol != self.protocol:
                mask = 0
            elif pr.port is None:
                mask = self.ix.all
            elif isinstance(pr.port, int):
                end = pr.end_port if pr.end_port is not None else pr.port
                for number, pods in self.by_number.items():
                    if pr.port <= number <= end:
                        mask |= pods
            else:
                for number, pods in self.ix.named.get((pr.port, self.protocol), {}).items():
                    mask |= pods & self.by_number.get(number, 0)
            self._ports[pr] = mask
        return mask

    def ports(self, rule: Rule) -> int:
        if rule.ports is None:
            return self.ix.all
        mask = 0
        for pr in rule.ports:
            mask |= self.port_rule(pr)
        return mask

    def build(self) -> MatrixBits:
        ix = self.ix
        n, everyone = ix.n, ix.all
        names = tuple(p.ref for p in self.cluster.pods)
        if n == 0:
            return MatrixBits(names, ())
        ing_isolated = eg_isolated = 0
        # selected-pods mask -> union of what the rules allow them (merged per mask).
        ing_contrib: dict[int, int] = {}
        eg_contrib: dict[int, int] = {}
        for pol in self.cluster.policies:
            selected = self.pods_of(pol.pod_selector) & ix.ns_pods.get(pol.namespace, 0)
            if not selected:
                continue
            if pol.affects_ingress:
                ing_isolated |= selected
                for rule in pol.ingress:
                    dsts = selected & self.ports(rule)
                    if dsts:
                        srcs = self.peers(rule, pol.namespace)
                        if srcs:
                            ing_contrib[dsts] = ing_contrib.get(dsts, 0) | srcs
            if pol.affects_egress:
                eg_isolated |= selected
                for rule in pol.egress:
                    dsts = self.ports(rule)
                    if dsts:
                        dsts &= self.peers(rule, pol.namespace)
                        if dsts:
                            eg_contrib[selected] = eg_contrib.get(selected, 0) | dsts
        # ingress[d]: sources d accepts; egress[s]: destinations s may reach.
        ingress = [0 if ing_isolated >> d & 1 else everyone for d in range(n)]
        for dsts, srcs in ing_contrib.items():
            for d in _bits(dsts):
                ingress[d] |= srcs
        egress = [0 if eg_isolated >> s & 1 else everyone for s in range(n)]
        for srcs, dsts in eg_contrib.items():
            for s in _bits(srcs):
                egress[s] |= dsts
        # Transpose ingress (columns -> rows) through bit strings: C-speed loops.
        columns = [format(mask, f"0{n}b") for mask in ingress]
        accepted_by = [0] * n  # accepted_by[s]: destinations whose ingress admits s
        for position, chars in enumerate(zip(*columns, strict=True)):
            accepted_by[n - 1 - position] = int("".join(chars)[::-1], 2)
        reachable = everyone & ~self.unresolved
        rows = tuple(egress[s] & accepted_by[s] & reachable for s in range(n))
        return MatrixBits(names, rows)
