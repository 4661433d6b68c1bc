"""Decisions of the policy engine and their human-readable explanation."""

from __future__ import annotations

from dataclasses import dataclass

from harness.model import L4Protocol
from harness.policy.model import Direction


@dataclass(frozen=True)
class RuleMatch:
    """The first rule (in policy order) that allowed one side of a connection."""

    policy: str  # "namespace/name"
    direction: Direction
    rule: int  # index in spec.ingress / spec.egress
    peer: int | None  # index in from/to; None = the rule has no peers (all)
    port: int | None  # index in ports; None = the rule has no ports (all)
    peer_text: str
    port_text: str

    def __str__(self) -> str:
        field = "from" if self.direction == "ingress" else "to"
        peer = (
            f"{field}[{self.peer}] {self.peer_text}"
            if self.peer is not None
            else f"{field}: all {'sources' if field == 'from' else 'destinations'}"
        )
        port = f"ports[{self.port}] {self.port_text}" if self.port is not None else "all ports"
        return f"{self.policy} {self.direction}[{self.rule}] ({peer}; {port})"


@dataclass(frozen=True)
class TierStep:
    """What decided one side under tiered policies: the layer, tier, policy, rule, action.

    ``layer`` is "admin", "tiers" (Calico tiers and Kubernetes NetworkPolicies),
    "baseline" or "default"; ``rule`` is the index in the policy's ingress/egress list
    (None: the end of a tier, or no policy at all).
    """

    layer: str
    tier: str
    policy: str | None
    rule: int | None
    action: str
    detail: str = ""
    direction: str = ""

    def __str__(self) -> str:
        where = [self.tier]
        if self.policy is not None:
            where.append(self.policy)
        if self.rule is not None:
            where.append(f"{self.direction or 'rule'}[{self.rule}]")
        text = f"{', '.join(where)}: {self.action}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class SideVerdict:
    """One side of a connection: the source's egress or the destination's ingress."""

    direction: Direction
    endpoint: str  # "namespace/pod" or an IP address
    in_cluster: bool  # False for an address outside the cluster: no policy applies
    isolated: bool
    selected_by: tuple[str, ...]  # policies selecting the pod with this policy type
    allowed: bool
    match: RuleMatch | None = None
    decided: TierStep | None = None  # set when tiered / cluster-wide policies exist
    trace: tuple[str, ...] = ()  # the layers and tiers evaluated before the decision

    @property
    def reason(self) -> str:
        if self.decided is not None and self.in_cluster:
            return f"{self.endpoint} {self.direction} decided by {self.decided}"
        if not self.in_cluster:
            return f"{self.endpoint} is outside the cluster: no {self.direction} policy applies"
        if not self.isolated:
            return (
                f"{self.endpoint} is not isolated for {self.direction} "
                f"(no policy with {self.direction.capitalize()} in policyTypes selects it)"
            )
        by = ", ".join(self.selected_by)
        if self.match is not None:
            return (
                f"{self.endpoint} is isolated for {self.direction} by {by}; allowed by {self.match}"
            )
        return (
            f"{self.endpoint} is isolated for {self.direction} by {by}; "
            f"no {self.direction} rule of these policies matches"
        )


@dataclass(frozen=True)
class Decision:
    source: str
    destination: str
    port: int | str  # as asked: a number or a port name
    protocol: L4Protocol
    resolved_port: int | None  # the port number on the destination (None: name not served)
    allowed: bool
    egress: SideVerdict  # the source's side
    ingress: SideVerdict  # the destination's side
    note: str = ""

    def explain(self) -> str:
        return render(self)


def render(decision: Decision) -> str:
    """A multi-line explanation of one decision."""
    d = decision
    port = str(d.port)
    if isinstance(d.port, str) and d.resolved_port is not None:
        port = f"{d.port} (= {d.resolved_port})"
    verdict = "ALLOWED" if d.allowed else "DENIED"
    lines = [f"{verdict}: {d.source} -> {d.destination} port {port}/{d.protocol}"]
    for label, side in (("egress ", d.egress), ("ingress", d.ingress)):
        mark = "allows" if side.allowed else "denies"
        lines.append(f"  {label} {mark}: {side.reason}")
        lines += [f"      {step}" for step in side.trace]
    if d.note:
        lines.append(f"  note: {d.note}")
    if not d.allowed:
        blockers = [s.direction for s in (d.egress, d.ingress) if not s.allowed]
        if blockers:
            lines.append(f"  blocked by: {' and '.join(blockers)}")
    return "\n".join(lines)
