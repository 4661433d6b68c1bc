"""The pieces of the sandbox's tiered dataplane: endpoints, address sets, rule matches.

Calico EntityRules (selectors, nets, ports, protocols) and network-policy-api peers and
ports, turned into :class:`Rule` values over IPv4 networks and port spans for one
endpoint; netpol_sandbox/tiered.py orders them into layers and writes the nft chains.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from netpol_sandbox.calico_selectors import compile_selector
from netpol_sandbox.endpoints import PROGRAMMED_ON
from netpol_sandbox.endpoints import PodInfo
from netpol_sandbox.selectors import selector_matches as _label_match

Obj = Mapping[str, Any]
Net = ipaddress.IPv4Network

CALICO = "projectcalico.org/v3"
NPAPI = "policy.networking.k8s.io/"
UNIVERSE: tuple[Net, ...] = (Net("0.0.0.0/0"),)
PROTO_NAMES = {
    "TCP": "tcp",
    "UDP": "udp",
    "SCTP": "sctp",
    "ICMP": "icmp",
    "UDPLITE": "udplite",
    "ICMPV6": "icmpv6",
}
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "udplite": 136, "icmpv6": 58}


def _order(raw: Any) -> float:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else math.inf


def _programmed_on(obj: Obj, ep: PodInfo) -> bool:
    only = obj.get(PROGRAMMED_ON)
    return only is None or ep.key in only


# ---------------------------------------------------------------- the world


def calico_labels(ep: PodInfo) -> dict[str, str]:
    """The labels a Calico selector sees on a pod: its own and Calico's automatic ones."""
    return {
        **ep.labels,
        "projectcalico.org/namespace": ep.namespace,
        "projectcalico.org/orchestrator": "k8s",
        "projectcalico.org/serviceaccount": ep.service_account,
    }


def _net(ep: PodInfo) -> Net:
    return Net(f"{ep.ip}/32")


@dataclass(frozen=True)
class World:
    endpoints: tuple[PodInfo, ...]
    ns_labels: Mapping[str, Mapping[str, str]]  # with kubernetes.io/metadata.name

    def calico_ns(self, namespace: str) -> dict[str, str]:
        return {**self.ns_labels.get(namespace, {}), "projectcalico.org/name": namespace}


# ---------------------------------------------------------------- address sets


def _intersect(a: Sequence[Net], b: Sequence[Net]) -> list[Net]:
    out: list[Net] = []
    for x in a:
        for y in b:
            if x.subnet_of(y):
                out.append(x)
            elif y.subnet_of(x):
                out.append(y)
    return list(ipaddress.collapse_addresses(out))


def _subtract(a: Sequence[Net], b: Sequence[Net]) -> list[Net]:
    current = list(a)
    for hole in b:
        nxt: list[Net] = []
        for net in current:
            if net.subnet_of(hole):
                continue
            if hole.subnet_of(net):
                nxt.extend(net.address_exclude(hole))
            else:
                nxt.append(net)
        current = nxt
    return list(ipaddress.collapse_addresses(current))


def _v4_nets(raw: Any) -> list[Net] | None:
    """A CIDR list (IPv6 entries never match IPv4 traffic); None or [] = not set."""
    if not raw:
        return None
    out: list[Net] = []
    for text in raw:
        try:
            net = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            continue
        if isinstance(net, Net):
            out.append(net)
    return out


def _contains(nets: Sequence[Net], ip: str) -> bool:
    addr = ipaddress.IPv4Address(ip)
    return any(addr in n for n in nets)


# ---------------------------------------------------------------- matches


@dataclass(frozen=True)
class Match:
    """One rule's match on the remote side: addresses (None: any), and ports."""

    nets: tuple[Net, ...] | None
    protocol: str | None = None  # nft name or number text
    not_protocol: str | None = None
    ports: tuple[tuple[int, int], ...] | None = None  # None: any port
    not_ports: tuple[tuple[int, int], ...] = ()

    def nft(self, remote: str) -> str | None:
        """The nft match text (``remote`` is "saddr" or "daddr"); None if it can never match."""
        parts: list[str] = []
        if self.nets is not None:
            if not self.nets:
                return None
            parts.append(f"ip {remote} {_set(str(n) for n in self.nets)}")
        if self.protocol is not None:
            parts.append(f"meta l4proto {self.protocol}")
        if self.not_protocol is not None:
            parts.append(f"meta l4proto != {self.not_protocol}")
        if self.ports is not None:
            if not self.ports:
                return None
            parts.append(f"th dport {_set(_span(p) for p in _merge(self.ports))}")
        if self.not_ports:
            parts.append(f"th dport != {_set(_span(p) for p in _merge(self.not_ports))}")
        return " ".join(parts)


def _span(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}-{p[1]}"


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _set(items: Any) -> str:
    values = list(items)
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


@dataclass(frozen=True)
class Rule:
    verdict: str  # "allow", "deny", "pass"
    matches: tuple[Match, ...]  # OR of these (an empty tuple never matches)
    origin: str  # for the comment in the ruleset


@dataclass
class Layer:
    name: str  # "admin", "tier <name>", "baseline"
    rules: list[Rule] = field(default_factory=list)
    end: str = "pass"  # what happens when no rule decided: "pass" or "deny"
    k8s_block_at: int | None = None  # index into rules where the K8s allow sets go
    calico_policies: int = 0  # Calico policies that select the pod here (rules or not)


# ---------------------------------------------------------------- ports


def _calico_port_spans(
    raw: Any, protocol: str | None, named_on: PodInfo | None
) -> list[tuple[int, int]]:
    """Calico ``ports``: numbers, "lo:hi" ranges, names resolved on ``named_on``."""
    spans: list[tuple[int, int]] = []
    for item in raw or []:
        if isinstance(item, int):
            spans.append((item, item))
        elif isinstance(item, str) and ":" in item:
            lo, _, hi = item.partition(":")
            spans.append((int(lo), int(hi)))
        elif isinstance(item, str) and item.isdigit():
            spans.append((int(item), int(item)))
        elif isinstance(item, str) and named_on is not None and protocol:
            number = named_on.named_port(item, protocol)
            if number is not None:
                spans.append((number, number))
    return spans


def _has_named(raw: Any) -> bool:
    return any(isinstance(p, str) and not p.isdigit() and ":" not in p for p in raw or [])


def _protocol_text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, int):
        for name, number in PROTO_NUMBERS.items():
            if number == raw:
                return name
        return str(raw)
    text = str(raw)
    if text.isdigit():
        return _protocol_text(int(text))
    return PROTO_NAMES.get(text.upper(), text.lower())


# ---------------------------------------------------------------- Calico policies


def _policy_types(spec: Mapping[str, Any]) -> set[str]:
    types = spec.get("types")
    if types:
        return {str(t) for t in types}
    has_in, has_eg = bool(spec.get("ingress")), bool(spec.get("egress"))
    if has_eg and not has_in:
        return {"Egress"}
    return {"Ingress", "Egress"} if has_eg else {"Ingress"}


def account_labels(ep: PodInfo) -> dict[str, str]:
    """What a Calico service-account selector sees: the account's labels and its name."""
    return {**ep.service_account_labels, "projectcalico.org/name": ep.service_account}


def _calico_selects(policy: Obj, ep: PodInfo, world: World, direction: str) -> bool:
    spec = policy.get("spec") or {}
    if ("Ingress" if direction == "ingress" else "Egress") not in _policy_types(spec):
        return False
    if policy.get("kind") == "NetworkPolicy":
        if (policy.get("metadata") or {}).get("namespace", "default") != ep.namespace:
            return False
    elif not compile_selector(spec.get("namespaceSelector"))(world.calico_ns(ep.namespace)):
        return False
    if not compile_selector(spec.get("selector"))(calico_labels(ep)):
        return False
    sa_sel = spec.get("serviceAccountSelector")
    return compile_selector(sa_sel)(account_labels(ep))


def _entity_endpoints(
    entity: Mapping[str, Any], policy_ns: str | None, world: World
) -> list[PodInfo] | None:
    """The endpoints an entity's selectors allow; None when it has no endpoint selector."""
    selector = entity.get("selector")
    ns_selector = entity.get("namespaceSelector")
    sa = entity.get("serviceAccounts") or None
    if not (selector or ns_selector or sa):
        return None
    chosen: list[PodInfo] = []
    match_pod = compile_selector(selector)
    match_ns = compile_selector(ns_selector) if ns_selector else None
    for ep in world.endpoints:
        if match_ns is not None:
            if not match_ns(world.calico_ns(ep.namespace)):
                continue
        elif policy_ns is not None and ep.namespace != policy_ns:
            continue
        if not match_pod(calico_labels(ep)):
            continue
        if sa:
            names = sa.get("names")
            if names and ep.service_account not in names:
                continue
            if sa.get("selector") and not compile_selector(sa["selector"])(account_labels(ep)):
                continue
        chosen.append(ep)
    return chosen


def _entity_nets(entity: Mapping[str, Any], policy_ns: str | None, world: World) -> list[Net]:
    """Every IPv4 address the entity (source or destination, without ports) matches."""
    eps = _entity_endpoints(entity, policy_ns, world)
    nets: list[Net] = list(UNIVERSE) if eps is None else [_net(e) for e in eps]
    not_sel = entity.get("notSelector")
    if not_sel:
        excluded = compile_selector(not_sel)
        holes = [
            _net(e)
            for e in world.endpoints
            if (policy_ns is None or e.namespace == policy_ns) and excluded(calico_labels(e))
        ]
        nets = _subtract(nets, holes)
    allowed = _v4_nets(entity.get("nets"))
    if allowed is not None:
        nets = _intersect(nets, allowed)
    denied = _v4_nets(entity.get("notNets"))
    if denied is not None:
        nets = _subtract(nets, denied)
    return list(ipaddress.collapse_addresses(nets))


def _calico_rule(
    rule: Obj, direction: str, ep: PodInfo, policy_ns: str | None, world: World, origin: str
) -> Rule | None:
    action = rule.get("action")
    verdict = {"Allow": "allow", "Deny": "deny", "Pass": "pass"}.get(str(action))
    if verdict is None:  # Log decides nothing
        return None
    if rule.get("ipVersion") == 6:
        return None
    protocol = _protocol_text(rule.get("protocol"))
    not_protocol = _protocol_text(rule.get("notProtocol"))
    proto_name = (_protocol_text(rule.get("protocol")) or "").upper()  # 6 -> TCP
    local_key, remote_key = (
        ("destination", "source") if direction == "ingress" else ("source", "destination")
    )
    local = rule.get(local_key) or {}
    remote = rule.get(remote_key) or {}
    # the local side is this endpoint: decided here, once
    if not _contains(_entity_nets(local, policy_ns, world), ep.ip):
        return None
    dest = rule.get("destination") or {}
    ports_raw, not_ports_raw = dest.get("ports") or None, dest.get("notPorts") or None
    remote_nets = _entity_nets(remote, policy_ns, world)
    if direction == "ingress":  # destination ports are on this endpoint
        ports = None if ports_raw is None else tuple(_calico_port_spans(ports_raw, proto_name, ep))
        not_ports = tuple(_calico_port_spans(not_ports_raw, proto_name, ep))
        match = Match(tuple(remote_nets), protocol, not_protocol, ports, not_ports)
        return Rule(verdict, (match,), origin)
    if not (_has_named(ports_raw) or _has_named(not_ports_raw)):
        match = Match(
            tuple(remote_nets),
            protocol,
            not_protocol,
            None if ports_raw is None else tuple(_calico_port_spans(ports_raw, proto_name, None)),
            tuple(_calico_port_spans(not_ports_raw, proto_name, None)),
        )
        return Rule(verdict, (match,), origin)
    # named destination ports: each destination pod resolves them on its own ports
    matches: list[Match] = []
    inside = [e for e in world.endpoints if _contains(remote_nets, e.ip)]
    for target in inside:
        matches.append(
            Match(
                (_net(target),),
                protocol,
                not_protocol,
                None
                if ports_raw is None
                else tuple(_calico_port_spans(ports_raw, proto_name, target)),
                tuple(_calico_port_spans(not_ports_raw, proto_name, target)),
            )
        )
    rest = _subtract(remote_nets, [_net(e) for e in inside])
    matches.append(
        Match(
            tuple(rest),
            protocol,
            not_protocol,
            None if ports_raw is None else tuple(_calico_port_spans(ports_raw, proto_name, None)),
            tuple(_calico_port_spans(not_ports_raw, proto_name, None)),
        )
    )
    return Rule(verdict, tuple(matches), origin)


# ---------------------------------------------------------------- network-policy-api


def _npapi_subject(spec: Mapping[str, Any], ep: PodInfo, world: World) -> bool:
    subject = spec.get("subject") or {}
    ns_labels = world.ns_labels.get(ep.namespace, {})
    if subject.get("namespaces") is not None:
        return _label_match(subject["namespaces"], ns_labels)
    pods = subject.get("pods")
    if pods is not None:
        return _label_match(pods.get("namespaceSelector") or {}, ns_labels) and _label_match(
            pods.get("podSelector") or {}, ep.labels
        )
    return False


def _npapi_peer_nets(peer: Mapping[str, Any], world: World) -> list[Net]:
    if peer.get("namespaces") is not None:
        return [
            _net(e)
            for e in world.endpoints
            if _label_match(peer["namespaces"], world.ns_labels.get(e.namespace, {}))
        ]
    if peer.get("pods") is not None:
        pods = peer["pods"]
        return [
            _net(e)
            for e in world.endpoints
            if _label_match(
                pods.get("namespaceSelector") or {}, world.ns_labels.get(e.namespace, {})
            )
            and _label_match(pods.get("podSelector") or {}, e.labels)
        ]
    if peer.get("networks") is not None:
        return _v4_nets(peer["networks"]) or []
    return []  # nodes, domainNames: see the module docstring


def _npapi_ports(rule: Mapping[str, Any]) -> list[tuple[str | None, int, int, str | None]] | None:
    """(protocol, lo, hi, port name) per entry; None = every port of every protocol."""
    out: list[tuple[str | None, int, int, str | None]] = []
    if rule.get("protocols") is not None:
        for entry in rule["protocols"]:
            if entry.get("destinationNamedPort") is not None:
                out.append((None, 0, 0, str(entry["destinationNamedPort"])))
                continue
            for proto in ("tcp", "udp", "sctp"):
                if entry.get(proto) is None:
                    continue
                dport = (entry[proto] or {}).get("destinationPort")
                if dport is None:
                    out.append((proto, 1, 65535, None))
                elif dport.get("number") is not None:
                    out.append((proto, int(dport["number"]), int(dport["number"]), None))
                else:
                    span = dport.get("range") or {}
                    out.append((proto, int(span["start"]), int(span["end"]), None))
        return out
    if rule.get("ports") is not None:
        for entry in rule["ports"]:
            if entry.get("namedPort") is not None:
                out.append((None, 0, 0, str(entry["namedPort"])))
            elif entry.get("portNumber") is not None:
                body = entry["portNumber"]
                proto = str(body.get("protocol") or "TCP").lower()
                out.append((proto, int(body["port"]), int(body["port"]), None))
            elif entry.get("portRange") is not None:
                body = entry["portRange"]
                proto = str(body.get("protocol") or "TCP").lower()
                out.append((proto, int(body["start"]), int(body["end"]), None))
        return out
    return None


def _npapi_rule(rule: Obj, direction: str, ep: PodInfo, world: World, origin: str) -> Rule | None:
    verdict = {"Accept": "allow", "Allow": "allow", "Deny": "deny", "Pass": "pass"}.get(
        str(rule.get("action"))
    )
    if verdict is None:
        return None
    peers = rule.get("from" if direction == "ingress" else "to") or []
    nets = list(ipaddress.collapse_addresses(n for p in peers for n in _npapi_peer_nets(p, world)))
    ports = _npapi_ports(rule)
    if ports is None:
        return Rule(verdict, (Match(tuple(nets)),), origin)
    matches: list[Match] = []
    by_proto: dict[str, list[tuple[int, int]]] = {}
    named = [name for proto, _, _, name in ports if name is not None]
    for proto, lo, hi, name in ports:
        if name is None and proto is not None:
            by_proto.setdefault(proto, []).append((lo, hi))
    for proto, spans in sorted(by_proto.items()):
        matches.append(Match(tuple(nets), proto, None, tuple(spans)))
    if named:
        targets = (
            [ep]
            if direction == "ingress"
            else [e for e in world.endpoints if _contains(nets, e.ip)]
        )
        for target in targets:
            for name in named:
                for pname, number, protocol in target.ports:
                    if pname == name:
                        where = tuple(nets) if direction == "ingress" else (_net(target),)
                        matches.append(Match(where, protocol.lower(), None, ((number, number),)))
    return Rule(verdict, tuple(matches), origin)
