"""NetworkPolicy -> nftables, for the sandbox node.

:func:`compile_ruleset` is pure: stored objects in, the text of one atomic nft
script out (tests check it as text). :func:`apply` loads it into the node
namespace, then forgets the tracked flows of the pods whose rules now deny
something they allowed before (:func:`flows_to_clear`), so those flows are
judged again under the new rules. Every other flow keeps its conntrack entry:
the node is shared by every scenario of a run, and a flushed entry makes the
next reply of an allowed flow look like a new connection the other way.

Semantics (networking.k8s.io/v1):

- A policy selects the pods of its namespace matching ``spec.podSelector``.
  ``policyTypes`` defaults to Ingress, plus Egress when ``spec.egress`` is
  non-empty. A pod selected by any policy with a type is *isolated* for that
  direction; what is allowed is the union of the rules of those policies.
- A rule without ``from``/``to`` matches every peer; without ``ports`` every
  port of every protocol. ``ingress: []`` (or none) allows nothing.
- Peers: ``podSelector`` alone = pods of the policy's namespace;
  ``namespaceSelector`` alone = all pods of the matching namespaces; both in
  one peer = pods matching the podSelector *in* matching namespaces;
  ``ipBlock`` = the CIDR minus its ``except`` blocks (pod IPs included).
- Ports: number or name (a named port resolves on the destination pod's
  containerPorts with that name and protocol), ``endPort`` ranges, TCP/UDP/SCTP.

Shape of the rules: ``ct state established,related accept`` first (replies of
allowed flows pass, as on Calico), every IPv6 packet dropped, then one lookup
in a concatenated interval set per direction:
``ip daddr . ip saddr . meta l4proto . th dport`` for ingress and
``ip saddr . ip daddr . meta l4proto . th dport`` for egress.
Service ClusterIPs are DNATed in ``prerouting`` (policy sees the pod IP after
DNAT, as with kube-proxy + Calico).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from netpol_sandbox import netns as nsx
from netpol_sandbox import tiered as tiers
from netpol_sandbox.endpoints import PROGRAMMED_ON as PROGRAMMED_ON
from netpol_sandbox.endpoints import PodInfo
from netpol_sandbox.endpoints import metadata_of
from netpol_sandbox.endpoints import pod_infos

ANY_NET = "0.0.0.0/0"
ALL_PORTS = "0-65535"
NS_NAME_LABEL = "kubernetes.io/metadata.name"
SERVICES_MARK = "  # services (ClusterIP DNAT)"
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}

Obj = Mapping[str, Any]


# ---------------------------------------------------------------- selectors


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against a label set. None/{} match everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        op = expr.get("operator", "")
        values = expr.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            ok = False  # unknown operator: the API server would have rejected it
        if not ok:
            return False
    return True


# ---------------------------------------------------------------- model


def namespace_labels(
    namespaces: Iterable[Obj], pods: Iterable[PodInfo]
) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for ns in namespaces:
        meta = metadata_of(ns)
        name = meta.get("name", "")
        labels[name] = {**(meta.get("labels") or {}), NS_NAME_LABEL: name}
    for pod in pods:  # a pod's namespace always exists
        labels.setdefault(pod.namespace, {NS_NAME_LABEL: pod.namespace})
    return labels


def cidr_minus(cidr: str, excepts: Iterable[str]) -> list[str]:
    """``cidr`` with every ``except`` block removed, as a sorted list of CIDRs."""
    try:
        nets = [ipaddress.IPv4Network(cidr, strict=False)]
    except ValueError:
        return []  # an IPv6 block never matches: IPv6 is dropped anyway
    for text in excepts:
        try:
            hole = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            continue
        out: list[ipaddress.IPv4Network] = []
        for net in nets:
            if hole.subnet_of(net):
                out.extend(net.address_exclude(hole))
            elif not net.subnet_of(hole):
                out.append(net)
        nets = out
    return [str(n) for n in sorted(nets)]


# ---------------------------------------------------------------- peers and ports


@dataclass(frozen=True)
class Peer:
    """A peer address range; ``pod`` set when it is exactly one pod's IP."""

    net: str
    pod: PodInfo | None = None


def _peers(
    rule_peers: Sequence[Obj] | None,
    policy_ns: str,
    pods: Sequence[PodInfo],
    ns_labels: Mapping[str, Mapping[str, str]],
) -> list[Peer]:
    if not rule_peers:
        return [Peer(ANY_NET)]
    out: list[Peer] = []
    for peer in rule_peers:
        block = peer.get("ipBlock")
        if block:
            out.extend(
                Peer(n) for n in cidr_minus(block.get("cidr", ""), block.get("except") or [])
            )
            continue
        pod_sel = peer.get("podSelector")
        ns_sel = peer.get("namespaceSelector")
        if pod_sel is None and ns_sel is None:
            continue  # an empty peer selects nothing
        for pod in pods:
            if ns_sel is None:
                if pod.namespace != policy_ns:
                    continue
            elif not selector_matches(ns_sel, ns_labels.get(pod.namespace, {})):
                continue
            if selector_matches(pod_sel, pod.labels):
                out.append(Peer(pod.ip, pod))
    return out


def _port_ranges(
    ports: Sequence[Obj] | None, target: PodInfo | None
) -> list[tuple[str, str]] | None:
    """[(proto, "lo-hi" or "n")] for a rule's ports on ``target``; None = everything."""
    if not ports:
        return None
    out: list[tuple[str, str]] = []
    for p in ports:
        protocol = p.get("protocol") or "TCP"
        proto = PROTOCOLS.get(protocol)
        if proto is None:
            continue
        port = p.get("port")
        end = p.get("endPort")
        if port is None:
            out.append((proto, ALL_PORTS))
        elif isinstance(port, int):
            if isinstance(end, int) and end > port:
                out.append((proto, f"{port}-{end}"))
            else:
                out.append((proto, str(port)))
        elif isinstance(port, str) and port.isdigit():
            out.append((proto, port))
        elif isinstance(port, str) and target is not None:
            number = target.named_port(port, protocol)
            if number is not None:
                out.append((proto, str(number)))
    return out


def _policy_types(spec: Mapping[str, Any]) -> set[str]:
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


@dataclass
class Compiled:
    ing_isolated: set[str]
    eg_isolated: set[str]
    ing_any: set[str]
    ing_ports: set[str]
    eg_any: set[str]
    eg_ports: set[str]
    #: Calico tiers and cluster-wide policies: per-pod chains (see netpol_sandbox.tiered)
    tiered: tiers.Tiered = field(default_factory=tiers.Tiered)


def compile_sets(
    namespaces: Sequence[Obj], pods: Sequence[Obj], policies: Sequence[Obj]
) -> Compiled:
    infos = pod_infos(pods)
    ns_labels = namespace_labels(namespaces, infos)
    c = Compiled(set(), set(), set(), set(), set(), set())
    for policy in policies:
        if tiers.is_extended(policy):
            continue
        meta = metadata_of(policy)
        if meta.get("deletionTimestamp"):
            continue
        spec = policy.get("spec") or {}
        ns = meta.get("namespace", "default")
        only = policy.get(PROGRAMMED_ON)
        on = None if only is None else set(only)
        selected = [
            p
            for p in infos
            if p.namespace == ns
            and selector_matches(spec.get("podSelector"), p.labels)
            and (on is None or p.key in on)
        ]
        types = _policy_types(spec)
        if "Ingress" in types:
            for pod in selected:
                c.ing_isolated.add(pod.ip)
                for rule in spec.get("ingress") or []:
                    ranges = _port_ranges(rule.get("ports"), pod)
                    for peer in _peers(rule.get("from"), ns, infos, ns_labels):
                        if ranges is None:
                            c.ing_any.add(f"{pod.ip} . {peer.net}")
                        for proto, rng in ranges or []:
                            c.ing_ports.add(f"{pod.ip} . {peer.net} . {proto} . {rng}")
        if "Egress" in types:
            for pod in selected:
                c.eg_isolated.add(pod.ip)
                for rule in spec.get("egress") or []:
                    ports = rule.get("ports")
                    for peer in _peers(rule.get("to"), ns, infos, ns_labels):
                        _egress_peer(c, pod, peer, ports, infos)
    c.tiered = tiers.compile_tiered(infos, ns_labels, policies, c.ing_isolated, c.eg_isolated)
    return c


def _egress_peer(
    c: Compiled, pod: PodInfo, peer: Peer, ports: Sequence[Obj] | None, infos: Sequence[PodInfo]
) -> None:
    if peer.pod is not None or not ports:
        ranges = _port_ranges(ports, peer.pod)
        if ranges is None:
            c.eg_any.add(f"{pod.ip} . {peer.net}")
        for proto, rng in ranges or []:
            c.eg_ports.add(f"{pod.ip} . {peer.net} . {proto} . {rng}")
        return
    # an address range with ports: numeric ports apply to the whole range; a named
    # port can only mean the pods inside the range that declare it
    net = ipaddress.IPv4Network(peer.net)
    for proto, rng in _port_ranges([p for p in ports if not _is_named(p)], None) or []:
        c.eg_ports.add(f"{pod.ip} . {peer.net} . {proto} . {rng}")
    named = [p for p in ports if _is_named(p)]
    if named:
        for target in infos:
            if ipaddress.IPv4Address(target.ip) in net:
                for proto, rng in _port_ranges(named, target) or []:
                    c.eg_ports.add(f"{pod.ip} . {target.ip} . {proto} . {rng}")


def _is_named(port: Obj) -> bool:
    value = port.get("port")
    return isinstance(value, str) and not value.isdigit()


# ---------------------------------------------------------------- services (DNAT)


def _service_rules(services: Sequence[Obj], pods: Sequence[Obj]) -> tuple[list[str], set[str]]:
    """DNAT rules for ClusterIPs and the (endpoint . endpoint) pairs needing hairpin SNAT."""
    from netpol_sandbox.dns import endpoints  # local: dns imports this module

    infos = {(p.namespace, p.name): p for p in pod_infos(pods)}
    rules: list[str] = []
    hairpin: set[str] = set()
    for svc in services:
        spec = svc.get("spec") or {}
        cluster_ip = spec.get("clusterIP")
        if not isinstance(cluster_ip, str) or not cluster_ip or cluster_ip == "None":
            continue
        try:
            ipaddress.IPv4Address(cluster_ip)
        except ValueError:
            continue
        eps = [infos[k] for e in endpoints(svc, pods) if (k := _key(e)) in infos]
        for sp in spec.get("ports") or []:
            protocol = sp.get("protocol") or "TCP"
            proto = PROTOCOLS.get(protocol)
            port = sp.get("port")
            if proto is None or not isinstance(port, int):
                continue
            target = sp.get("targetPort", port)
            dests: list[str] = []
            for ep in eps:
                if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
                    number: int | None = int(target)
                else:
                    number = ep.named_port(str(target), protocol)
                if number is not None:
                    dests.append(f"{ep.ip} . {number}")
                    hairpin.add(f"{ep.ip} . {ep.ip}")
            match = f"ip daddr {cluster_ip} meta l4proto {proto} th dport {port}"
            if len(dests) == 1:
                addr, number_text = dests[0].split(" . ")
                rules.append(f"{match} dnat ip to {addr}:{number_text}")
            elif dests:
                mapping = ", ".join(f"{i} : {d}" for i, d in enumerate(dests))
                rules.append(
                    f"{match} dnat ip to numgen random mod {len(dests)} map {{ {mapping} }}"
                )
    return rules, hairpin


def _key(pod: Obj) -> tuple[str, str]:
    meta = metadata_of(pod)
    return meta.get("namespace", "default"), meta.get("name", "")


# ---------------------------------------------------------------- text


def _set(name: str, type_: str, elements: set[str], interval: bool) -> list[str]:
    lines = [f"  set {name} {{", f"    type {type_}"]
    if interval:
        lines.append("    flags interval")
    if elements:
        lines.append("    elements = {")
        lines.extend(f"      {e}," for e in sorted(elements))
        lines.append("    }")
    lines.append("  }")
    return lines


def _vmap_chain(name: str, field_: str, targets: Mapping[str, str]) -> list[str]:
    """A chain sending each pod's packets to its first tiered chain (``goto``: a
    ``return`` there goes back to the forward chain)."""
    if not targets:
        return []
    elements = ", ".join(f"{ip} : goto {chain}" for ip, chain in sorted(targets.items()))
    return [f"  chain {name} {{", f"    ip {field_} vmap {{ {elements} }}", "  }"]


def compile_ruleset(
    namespaces: Sequence[Obj],
    pods: Sequence[Obj],
    policies: Sequence[Obj],
    table_name: str,
    *,
    services: Sequence[Obj] = (),
    enforce: bool = True,
    compiled: Compiled | None = None,
) -> str:
    """The complete nft script that atomically replaces table ``inet <table_name>``.

    ``compiled``: the result of :func:`compile_sets` for these objects when the caller
    already has it (with ``enforce=False``: for no policies).
    """
    c = (
        compiled
        if compiled is not None
        else compile_sets(namespaces, pods, policies if enforce else ())
    )
    dnat, hairpin = _service_rules(services, pods)
    addr2 = "ipv4_addr . ipv4_addr"
    addr2ports = "ipv4_addr . ipv4_addr . inet_proto . inet_service"
    t = c.tiered
    lines = [
        f"table inet {table_name} {{}}",
        f"delete table inet {table_name}",
        f"table inet {table_name} {{",
        *_set("ing_isolated", "ipv4_addr", c.ing_isolated - set(t.ingress), False),
        *_set("eg_isolated", "ipv4_addr", c.eg_isolated - set(t.egress), False),
        *_set("ing_any", addr2, c.ing_any, True),
        *_set("ing_ports", addr2ports, c.ing_ports, True),
        *_set("eg_any", addr2, c.eg_any, True),
        *_set("eg_ports", addr2ports, c.eg_ports, True),
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    meta nfproto ipv6 drop",
        "    ct state established,related accept",
        "    ct state invalid drop",
        *(["    jump eg_tiered"] if t.egress else []),
        "    ip saddr @eg_isolated jump egress",
        *(["    jump in_tiered"] if t.ingress else []),
        "    ip daddr @ing_isolated jump ingress",
        "  }",
        *_vmap_chain("eg_tiered", "saddr", t.egress),
        *_vmap_chain("in_tiered", "daddr", t.ingress),
        *t.chains,
        "  chain egress {",
        "    ip saddr . ip daddr @eg_any return",
        "    ip saddr . ip daddr . meta l4proto . th dport @eg_ports return",
        "    drop",
        "  }",
        "  chain ingress {",
        "    ip daddr . ip saddr @ing_any return",
        "    ip daddr . ip saddr . meta l4proto . th dport @ing_ports return",
        "    drop",
        "  }",
        SERVICES_MARK,
        *_set("hairpin", addr2, hairpin, False),
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {r}" for r in dnat),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        "    ct status dnat ip saddr . ip daddr @hairpin masquerade",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def filter_part(ruleset: str) -> str:
    """The part of a ruleset that decides allow/deny (policy, not Service DNAT)."""
    return ruleset.split(SERVICES_MARK, 1)[0]


# ---------------------------------------------------------------- per-pod rules, conntrack


@dataclass(frozen=True)
class PodRules:
    """One pod's compiled rules: None = not isolated in that direction, else what is
    allowed, as set elements without the pod's own address (``peer`` or
    ``peer . proto . ports``)."""

    ingress: frozenset[str] | None
    egress: frozenset[str] | None


def pod_rules(c: Compiled) -> dict[str, PodRules]:
    """The compiled sets split per pod IP (only pods isolated in some direction)."""

    def split(isolated: set[str], *element_sets: set[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {ip: set() for ip in isolated}
        for elements in element_sets:
            for element in elements:
                ip, _, rest = element.partition(" . ")
                if ip in out:
                    out[ip].add(rest)
        return out

    ingress = split(c.ing_isolated | set(c.tiered.ingress), c.ing_any, c.ing_ports)
    egress = split(c.eg_isolated | set(c.tiered.egress), c.eg_any, c.eg_ports)
    # a pod with tiered chains: its chains' text is one more element, so any change of
    # them counts as losing an element (its flows are judged again)
    for (ip, direction), text in c.tiered.texts.items():
        (ingress if direction == "ingress" else egress)[ip].add(f"chains {text}")
    rules: dict[str, PodRules] = {}
    for ip in ingress.keys() | egress.keys():
        ing = ingress.get(ip)
        eg = egress.get(ip)
        rules[ip] = PodRules(
            None if ing is None else frozenset(ing), None if eg is None else frozenset(eg)
        )
    return rules


@dataclass(frozen=True)
class FlowsToClear:
    """Pod IPs whose tracked flows must be judged again after a rule change."""

    towards: frozenset[str] = frozenset()  # ingress tightened: flows *to* these IPs
    from_: frozenset[str] = frozenset()  # egress tightened: flows *from* these IPs
    gone: frozenset[str] = frozenset()  # pods that went away: all their flows

    def __bool__(self) -> bool:
        return bool(self.towards or self.from_ or self.gone)


def flows_to_clear(
    old: Mapping[str, PodRules],
    new: Mapping[str, PodRules],
    old_ips: Iterable[str],
    new_ips: Iterable[str],
) -> FlowsToClear:
    """Compare per-pod rules before and after a change (:func:`pod_rules`).

    A direction of a pod needs its flows cleared when the change can deny a flow it
    allowed: it became isolated, or it stays isolated and lost an allowed element. An
    element lost only because its peer pod went away does not count (that pod's flows
    are cleared as ``gone``); a direction that gained elements or stopped being
    isolated allows at least what it did, so its flows are left alone.
    """
    live = set(new_ips)
    gone = set(old_ips) - live

    def tightened(before: frozenset[str] | None, after: frozenset[str] | None) -> bool:
        if after is None:
            return False
        if before is None:
            return True
        return any(element.split(" . ", 1)[0] not in gone for element in before - after)

    towards: set[str] = set()
    from_: set[str] = set()
    open_rules = PodRules(None, None)
    for ip in live & (old.keys() | new.keys()):
        before, after = old.get(ip, open_rules), new.get(ip, open_rules)
        if tightened(before.ingress, after.ingress):
            towards.add(ip)
        if tightened(before.egress, after.egress):
            from_.add(ip)
    return FlowsToClear(frozenset(towards), frozenset(from_), frozenset(gone))


async def clear_flows(node_netns: str, flows: FlowsToClear) -> None:
    """Delete the conntrack entries of ``flows`` in the node namespace.

    Flows to a pod are matched on the reply source (the pod also when the client
    dialled a ClusterIP), flows from a pod on the original source.
    """
    filters = [("--reply-src", ip) for ip in sorted(flows.towards | flows.gone)]
    filters += [("--orig-src", ip) for ip in sorted(flows.from_ | flows.gone)]
    await nsx.conntrack_delete(node_netns, filters)


async def apply(node_netns: str, ruleset: str, flows: FlowsToClear | None = None) -> None:
    """Atomically replace the table in the node namespace; then forget ``flows``."""
    await nsx.nft_load(node_netns, ruleset)
    if flows:
        await clear_flows(node_netns, flows)
