"""Calico tiers and the cluster-wide policy APIs -> nftables chains, for the sandbox node.

The stand-in for what Calico's Felix programs when a cluster has more than Kubernetes
NetworkPolicies: Calico ``projectcalico.org/v3`` NetworkPolicy, GlobalNetworkPolicy and
Tier; ``policy.networking.k8s.io`` ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy
and BaselineAdminNetworkPolicy (v1alpha1). Written for the sandbox from the upstream
documents, not from the harness's engine (the fidelity tests compare the two).

Per pod and direction that some of these policies select, one chain per layer, in
the order traffic meets them (Calico's model: each is a tier):

1. admin: ClusterNetworkPolicy ``tier: Admin`` and AdminNetworkPolicy, by priority;
2. the Calico tiers by ``order`` (the ``default`` tier at 1,000,000 unless a Tier object
   says otherwise), each holding its policies by ``order`` (none = last; ties by name);
   the default tier also holds the Kubernetes NetworkPolicies, at order 1000;
3. baseline: ClusterNetworkPolicy ``tier: Baseline`` and the BaselineAdminNetworkPolicy.

A rule's action is ``return`` (allowed in this direction: the other direction is
still judged), ``drop``, or ``goto`` the next layer (Pass). A Calico tier that selects
the pod and decided nothing ends with its ``defaultAction`` (Deny: drop; Pass: next);
the admin layer passes on; after the last layer the packet is allowed (Calico's
profiles). Layers that select nothing for the pod are left out. The forward chain
reaches these chains through one verdict map per direction (``goto``, so ``return``
goes back to the forward chain).

What the sandbox does not model, and says so in docs/sandbox.md: ``serviceAccounts``
selectors see only the account's name (``projectcalico.org/name``), not its labels;
``nodes`` peers match no address (probes never start on a node); ``domainNames`` peers
match nothing; ICMP type/code, HTTP match, ``services`` rules and host endpoints are
not programmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from netpol_sandbox.endpoints import PodInfo
from netpol_sandbox.endpoints import metadata_of
from netpol_sandbox.tier_rules import CALICO
from netpol_sandbox.tier_rules import NPAPI
from netpol_sandbox.tier_rules import Layer
from netpol_sandbox.tier_rules import Obj
from netpol_sandbox.tier_rules import World
from netpol_sandbox.tier_rules import _calico_rule
from netpol_sandbox.tier_rules import _calico_selects
from netpol_sandbox.tier_rules import _npapi_rule
from netpol_sandbox.tier_rules import _npapi_subject
from netpol_sandbox.tier_rules import _order
from netpol_sandbox.tier_rules import _programmed_on

K8S_ORDER = 1000.0
DEFAULT_TIER_ORDER = 1_000_000.0


def is_extended(obj: Obj) -> bool:
    """A policy object this module programs (not a Kubernetes NetworkPolicy)."""
    api = str(obj.get("apiVersion") or "")
    kind = obj.get("kind")
    if api == CALICO:
        return kind in ("NetworkPolicy", "GlobalNetworkPolicy", "Tier")
    return api.startswith(NPAPI) and kind in (
        "ClusterNetworkPolicy",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
    )


# ---------------------------------------------------------------- layering


def layers_for(
    objs: Sequence[Obj], ep: PodInfo, world: World, direction: str, k8s_isolated: bool
) -> list[Layer]:
    """The layers ``ep``'s traffic meets in ``direction``, leaving out those that select nothing."""
    mine = [
        o for o in objs if _programmed_on(o, ep) and not metadata_of(o).get("deletionTimestamp")
    ]
    key = "ingress" if direction == "ingress" else "egress"
    admin, baseline = Layer("admin"), Layer("baseline")
    npapi: list[tuple[str, int, str, Obj]] = []
    for obj in mine:
        kind = obj.get("kind")
        if not str(obj.get("apiVersion", "")).startswith(NPAPI):
            continue
        spec = obj.get("spec") or {}
        if kind == "ClusterNetworkPolicy":
            where = "admin" if spec.get("tier") == "Admin" else "baseline"
        elif kind == "AdminNetworkPolicy":
            where = "admin"
        elif kind == "BaselineAdminNetworkPolicy":
            where = "baseline"
        else:
            continue
        priority = int(spec.get("priority") or 0)
        npapi.append((where, priority, str(metadata_of(obj).get("name")), obj))
    for where, _, name, obj in sorted(npapi, key=lambda t: (t[1], t[2])):
        spec = obj.get("spec") or {}
        if not _npapi_subject(spec, ep, world):
            continue
        layer = admin if where == "admin" else baseline
        for i, raw in enumerate(spec.get(key) or []):
            rule = _npapi_rule(raw, direction, ep, world, f"{obj.get('kind')} {name} {key}[{i}]")
            if rule is not None:
                layer.rules.append(rule)
    # Calico tiers
    tiers: dict[str, tuple[float, str]] = {"default": (DEFAULT_TIER_ORDER, "Deny")}
    for obj in mine:
        if obj.get("apiVersion") == CALICO and obj.get("kind") == "Tier":
            spec = obj.get("spec") or {}
            name = str(metadata_of(obj).get("name"))
            order = _order(spec.get("order"))
            if name == "default" and spec.get("order") is None:
                order = DEFAULT_TIER_ORDER
            tiers[name] = (order, str(spec.get("defaultAction") or "Deny"))
    members: dict[str, list[tuple[float, str, Obj | None]]] = {}
    for obj in mine:
        if obj.get("apiVersion") != CALICO or obj.get("kind") not in (
            "NetworkPolicy",
            "GlobalNetworkPolicy",
        ):
            continue
        spec = obj.get("spec") or {}
        tier = str(spec.get("tier") or "default")
        if tier not in tiers or not _calico_selects(obj, ep, world, direction):
            continue
        members.setdefault(tier, []).append(
            (_order(spec.get("order")), str(metadata_of(obj).get("name")), obj)
        )
    if k8s_isolated:
        members.setdefault("default", []).append((K8S_ORDER, "knp.default.", None))
    out: list[Layer] = []
    if admin.rules:
        out.append(admin)
    for tier, (_, default_action) in sorted(tiers.items(), key=lambda t: (t[1][0], t[0])):
        if tier not in members:
            continue
        layer = Layer(f"tier {tier}", end="pass" if default_action == "Pass" else "deny")
        for _, name, member in sorted(members[tier], key=lambda t: (t[0], t[1])):
            if member is None:
                layer.k8s_block_at = len(layer.rules)
                continue
            layer.calico_policies += 1
            ns = (
                metadata_of(member).get("namespace")
                if member.get("kind") == "NetworkPolicy"
                else None
            )
            what = f"{member.get('kind')} {ns + '/' if ns else ''}{name}"
            for i, raw in enumerate((member.get("spec") or {}).get(key) or []):
                rule = _calico_rule(raw, direction, ep, ns, world, f"{what} {key}[{i}]")
                if rule is not None:
                    layer.rules.append(rule)
        out.append(layer)
    if baseline.rules:
        out.append(baseline)
    return out


# ---------------------------------------------------------------- nft text


@dataclass(frozen=True)
class Tiered:
    """What the node's ruleset gets: each pod's chains, and the verdict-map elements."""

    ingress: Mapping[str, str] = field(default_factory=dict)  # pod ip -> first chain
    egress: Mapping[str, str] = field(default_factory=dict)
    texts: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (ip, dir) -> chains

    @property
    def chains(self) -> list[str]:
        """Every pod's chain definitions, as ruleset lines (in the order compiled)."""
        return [line for text in self.texts.values() for line in text.split("\n")]


def _chain_text(ep: PodInfo, direction: str, layers: Sequence[Layer]) -> tuple[str, list[str]]:
    """(first chain name, chain definitions) for one pod and direction."""
    stem = ("in_" if direction == "ingress" else "eg_") + ep.ip.replace(".", "_")
    remote = "saddr" if direction == "ingress" else "daddr"
    names = [f"{stem}_{i}" for i in range(len(layers))]
    lines: list[str] = []
    for i, layer in enumerate(layers):
        after = f"goto {names[i + 1]}" if i + 1 < len(layers) else "return"
        lines.append(f"  chain {names[i]} {{  # {layer.name}")
        for j, rule in enumerate(layer.rules):
            if layer.k8s_block_at == j:
                lines.extend(_k8s_block(direction))
            verdict = {"allow": "return", "deny": "drop", "pass": after}[rule.verdict]
            for match in rule.matches:
                text = match.nft(remote)
                if text is not None:
                    statement = " ".join(part for part in (text, verdict) if part)
                    lines.append(f"    {statement}  # {rule.origin}")
        if layer.k8s_block_at is not None and layer.k8s_block_at >= len(layer.rules):
            lines.extend(_k8s_block(direction))
        lines.append(f"    {'drop' if layer.end == 'deny' else after}")
        lines.append("  }")
    return names[0], lines


def _k8s_block(direction: str) -> list[str]:
    if direction == "ingress":
        return [
            "    ip daddr . ip saddr @ing_any return  # Kubernetes NetworkPolicies",
            "    ip daddr . ip saddr . meta l4proto . th dport @ing_ports return",
        ]
    return [
        "    ip saddr . ip daddr @eg_any return  # Kubernetes NetworkPolicies",
        "    ip saddr . ip daddr . meta l4proto . th dport @eg_ports return",
    ]


def compile_tiered(
    pods: Sequence[PodInfo],
    ns_labels: Mapping[str, Mapping[str, str]],
    policies: Sequence[Obj],
    ing_isolated: set[str],
    eg_isolated: set[str],
) -> Tiered:
    """The chains for every pod some Calico or cluster-wide policy selects."""
    extended = [p for p in policies if is_extended(p)]
    if not any(p.get("kind") != "Tier" for p in extended):
        return Tiered()
    world = World(tuple(pods), ns_labels)
    ingress: dict[str, str] = {}
    egress: dict[str, str] = {}
    texts: dict[tuple[str, str], str] = {}
    for ep in world.endpoints:
        for direction, isolated, target in (
            ("ingress", ing_isolated, ingress),
            ("egress", eg_isolated, egress),
        ):
            layers = layers_for(extended, ep, world, direction, ep.ip in isolated)
            if not layers or (
                len(layers) == 1
                and layers[0].name == "tier default"
                and layers[0].calico_policies == 0
                and layers[0].end == "deny"
            ):
                continue  # nothing, or only Kubernetes policies: the plain sets decide
            first, lines = _chain_text(ep, direction, layers)
            target[ep.ip] = first
            texts[(ep.ip, direction)] = "\n".join(lines)
    return Tiered(ingress, egress, texts)
