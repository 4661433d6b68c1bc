"""The layered evaluation of one side of a connection under tiered and cluster-wide policies.

Per direction (the source's egress, the destination's ingress), in this order:

1. **Admin**: ClusterNetworkPolicy ``tier: Admin`` and AdminNetworkPolicy, lowest
   ``priority`` first, rules in order; Accept / Deny decide, Pass goes to 2.
2. **Tiers**: Calico tiers by ``order`` (lowest first; the ``default`` tier holds the
   Kubernetes NetworkPolicies at policy order 1000 and the Calico policies without a
   tier). A tier applies when one of its policies selects the endpoint; its policies run
   by ``order`` (missing = last), rules in order: Allow / Deny decide, Pass skips to the
   next tier, Log decides nothing. A tier that applies and decides nothing ends with its
   ``defaultAction``: Deny (the default), or Pass to the next tier.
3. **Baseline**: ClusterNetworkPolicy ``tier: Baseline`` and the
   BaselineAdminNetworkPolicy; reached when no tier applied or every tier passed.
4. **Default**: allowed.

The network-policy-api puts its Admin tier before every other policy and its Baseline
after; Calico implements them as its own tiers (kube-admin at order 1,000, kube-baseline
after the default tier), so a Calico tier ordered below 1,000 would run before the Admin
tier on a real cluster. The engine follows the API (docs/calico.md, "Deviations").
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import ConfigError
from harness.model import L4Protocol
from harness.policy.calico import DEFAULT_TIER
from harness.policy.calico import K8S_POLICY_ORDER
from harness.policy.calico import CalicoPolicy
from harness.policy.calico import CalicoRule
from harness.policy.calico import Tier
from harness.policy.calico import default_tier
from harness.policy.calico import entity_matches
from harness.policy.calico import protocol_matches
from harness.policy.cluster_policy import ClusterPolicy
from harness.policy.explain import RuleMatch
from harness.policy.explain import SideVerdict
from harness.policy.explain import TierStep
from harness.policy.model import Direction
from harness.policy.model import IPAddress
from harness.policy.model import NetworkPolicy
from harness.policy.model import Pod

Endpoint = Pod | IPAddress
Extended = CalicoPolicy | ClusterPolicy | Tier
#: (policy, direction, subject, other, port number, protocol, destination pod) -> match
K8sMatch = Callable[
    [NetworkPolicy, Direction, Pod, Endpoint, int | None, L4Protocol, Pod | None],
    RuleMatch | None,
]


@dataclass(frozen=True)
class _Entry:
    """A policy of a Calico tier: a Calico policy or a Kubernetes NetworkPolicy."""

    order: float
    name: str
    policy: CalicoPolicy | NetworkPolicy


@dataclass(frozen=True)
class Layers:
    admin: tuple[ClusterPolicy, ...]
    tiers: tuple[tuple[Tier, tuple[_Entry, ...]], ...]
    baseline: tuple[ClusterPolicy, ...]

    @property
    def refs(self) -> tuple[str, ...]:
        out = [p.ref for p in self.admin]
        for _, entries in self.tiers:
            out += [_ref(e.policy) for e in entries]
        return (*out, *(p.ref for p in self.baseline))


def _ref(policy: CalicoPolicy | NetworkPolicy | ClusterPolicy) -> str:
    if isinstance(policy, NetworkPolicy):
        return f"NetworkPolicy {policy.ref}"
    return policy.ref


def build(k8s: Iterable[NetworkPolicy], extended: Iterable[Extended]) -> Layers:
    """The layers of a cluster's policies; a policy naming an unknown tier is an error."""
    tiers: dict[str, Tier] = {}
    calico: list[CalicoPolicy] = []
    admin: list[ClusterPolicy] = []
    baseline: list[ClusterPolicy] = []
    for obj in extended:
        if isinstance(obj, Tier):
            tiers[obj.name] = obj
        elif isinstance(obj, CalicoPolicy):
            calico.append(obj)
        elif obj.tier == "Admin":
            admin.append(obj)
        else:
            baseline.append(obj)
    tiers.setdefault(DEFAULT_TIER, default_tier())
    members: dict[str, list[_Entry]] = {name: [] for name in tiers}
    for pol in calico:
        if pol.tier not in tiers:
            raise ConfigError(
                f"{pol.ref}: spec.tier {pol.tier!r} is not among the objects (fix: add the "
                f"projectcalico.org/v3 Tier {pol.tier!r}; the API server refuses a policy in a "
                "tier that does not exist)"
            )
        members[pol.tier].append(_Entry(pol.order, pol.name, pol))
    for np in k8s:
        members[DEFAULT_TIER].append(_Entry(K8S_POLICY_ORDER, f"knp.default.{np.name}", np))
    ordered = sorted(tiers.values(), key=lambda t: (t.order, t.name))
    return Layers(
        admin=tuple(sorted(admin, key=lambda p: (p.priority, p.name))),
        tiers=tuple(
            (t, tuple(sorted(members[t.name], key=lambda e: (e.order, e.name)))) for t in ordered
        ),
        baseline=tuple(sorted(baseline, key=lambda p: (p.priority, p.name))),
    )


def _versions(endpoint: Endpoint) -> set[int]:
    if isinstance(endpoint, Pod):
        return {a.version for a in endpoint.addresses}
    return {endpoint.version}


@dataclass(frozen=True)
class _Side:
    """The side of a connection being evaluated: what every rule is matched against."""

    direction: Direction
    subject: Pod
    other: Endpoint
    own_ns: Mapping[str, str]
    other_ns: Mapping[str, str] | None  # None for an address outside the cluster
    number: int | None
    protocol: L4Protocol
    dst: Pod | None  # the destination pod, when it is one (for named ports)


class Evaluation:
    """One side of one connection, evaluated layer by layer."""

    def __init__(
        self,
        layers: Layers,
        ns_labels: Callable[[str], Mapping[str, str]],
        k8s_match: K8sMatch,
    ) -> None:
        self.layers = layers
        self.ns_labels = ns_labels
        self.k8s_match = k8s_match

    def side(
        self,
        direction: Direction,
        subject: Pod,
        other: Endpoint,
        number: int | None,
        protocol: L4Protocol,
    ) -> SideVerdict:
        ctx = _Side(
            direction,
            subject,
            other,
            self.ns_labels(subject.namespace),
            self.ns_labels(other.namespace) if isinstance(other, Pod) else None,
            number,
            protocol,
            subject if direction == "ingress" else (other if isinstance(other, Pod) else None),
        )
        trace: list[str] = []
        applied: list[str] = []

        def done(step: TierStep, allowed: bool, match: RuleMatch | None = None) -> SideVerdict:
            return SideVerdict(
                direction,
                subject.ref,
                True,
                bool(applied),
                tuple(applied),
                allowed,
                match,
                step,
                tuple(trace),
            )

        def cluster_layer(
            layer: str, policies: tuple[ClusterPolicy, ...], onward: str
        ) -> TierStep | None:
            """The Accept / Deny of an Admin or Baseline policy; None when all pass by."""
            for pol in policies:
                step = self._cluster(pol, ctx, layer, applied)
                if step is None:
                    continue
                if step.action == "Pass":
                    trace.append(f"{step} -> {onward}")
                    return None
                return step
            return None

        # 1. Admin
        step = cluster_layer("admin", self.layers.admin, "to the NetworkPolicy / Calico tiers")
        if step is not None:
            return done(step, step.action == "Accept")
        # 2. Calico tiers (Kubernetes NetworkPolicies in the default tier)
        for tier, entries in self.layers.tiers:
            selecting = [
                e for e in entries if self._applies(e.policy, subject, ctx.own_ns, direction)
            ]
            if not selecting:
                continue
            applied += [_ref(e.policy) for e in selecting]
            passed: TierStep | None = None
            for entry in selecting:
                if isinstance(entry.policy, NetworkPolicy):
                    knp = entry.policy
                    match = self.k8s_match(
                        knp, direction, subject, other, number, protocol, ctx.dst
                    )
                    if match is not None:
                        step = TierStep(
                            "tiers",
                            str(tier),
                            _ref(knp),
                            match.rule,
                            "Allow",
                            str(match),
                            direction,
                        )
                        return done(step, True, match)
                    continue
                cpol = entry.policy
                for i, rule in enumerate(cpol.rules(direction)):
                    if not self._calico_rule(cpol, rule, ctx):
                        continue
                    step = TierStep(
                        "tiers",
                        str(tier),
                        cpol.ref,
                        i,
                        rule.action,
                        _scoped(cpol, str(rule)),
                        direction,
                    )
                    if rule.action == "Log":
                        trace.append(f"{step} (logged, evaluation goes on)")
                        continue
                    if rule.action == "Pass":
                        passed = step
                        break
                    return done(step, rule.action == "Allow")
                if passed is not None:
                    break
            if passed is not None:
                trace.append(f"{passed} -> to the next tier")
                continue
            names = ", ".join(_ref(e.policy) for e in selecting)
            end = TierStep(
                "tiers",
                str(tier),
                None,
                None,
                f"end of tier: {tier.default_action}",
                f"selected by {names}; no rule matched",
            )
            if tier.default_action == "Pass":
                trace.append(f"{end} -> to the next tier")
                continue
            return done(end, False)
        # 3. Baseline
        step = cluster_layer("baseline", self.layers.baseline, "to the default")
        if step is not None:
            return done(step, step.action == "Accept")
        # 4. Default
        why = "no policy decided" if applied else "no policy selects it"
        return done(TierStep("default", "default", None, None, "Allow", why), True)

    # ------------------------------------------------------------ pieces

    def _applies(
        self,
        pol: CalicoPolicy | NetworkPolicy,
        pod: Pod,
        ns_labels: Mapping[str, str],
        direction: Direction,
    ) -> bool:
        if isinstance(pol, NetworkPolicy):
            return (
                pol.namespace == pod.namespace
                and pol.affects(direction)
                and pol.pod_selector.matches(pod.labels)
            )
        return pol.applies(pod, ns_labels, direction)

    def _cluster(
        self, pol: ClusterPolicy, ctx: _Side, layer: str, applied: list[str]
    ) -> TierStep | None:
        rules = pol.rules(ctx.direction)
        if not rules or not pol.subject.matches(ctx.subject, ctx.own_ns):
            return None  # "CNPs with no ingress rules do not affect ingress traffic"
        applied.append(pol.ref)
        number, protocol = ctx.number, ctx.protocol
        for i, rule in enumerate(rules):
            if not any(peer.matches(ctx.other, ctx.other_ns) for peer in rule.peers):
                continue
            if rule.ports is not None and (
                number is None or not any(p.matches(number, protocol, ctx.dst) for p in rule.ports)
            ):
                continue
            tier = "Admin tier" if layer == "admin" else "Baseline tier"
            detail = f"{rule.name!r}; " if rule.name else ""
            detail += f"subject: {pol.subject}"  # shows a hermetic run's confinement
            return TierStep(layer, tier, pol.ref, i, rule.action, detail, ctx.direction)
        return None

    def _calico_rule(self, pol: CalicoPolicy, rule: CalicoRule, ctx: _Side) -> bool:
        protocol, number = ctx.protocol, ctx.number
        if not protocol_matches(rule.protocol, protocol):
            return False
        if rule.not_protocol is not None and protocol_matches(rule.not_protocol, protocol):
            return False
        if rule.ip_version is not None and rule.ip_version not in _versions(ctx.other):
            return False
        src: Endpoint
        dst_end: Endpoint
        src_ns: Mapping[str, str] | None
        dst_ns: Mapping[str, str] | None
        if ctx.direction == "ingress":
            src, src_ns, dst_end, dst_ns = ctx.other, ctx.other_ns, ctx.subject, ctx.own_ns
        else:
            src, src_ns, dst_end, dst_ns = ctx.subject, ctx.own_ns, ctx.other, ctx.other_ns
        if not entity_matches(rule.source, src, pol.namespace, src_ns):
            return False
        if (rule.destination.ports is not None) and number is None:
            return False
        return entity_matches(
            rule.destination,
            dst_end,
            pol.namespace,
            dst_ns,
            number=number,
            protocol=protocol,
            dst=ctx.dst,
        )


def _scoped(pol: CalicoPolicy, detail: str) -> str:
    """A global policy's rule with the namespaces it applies to (a hermetic run confines
    them to its own: the explanation shows it)."""
    if pol.namespace is None and pol.namespace_selector is not None:
        return f"{detail}; applies in namespaces [{pol.namespace_selector}]"
    return detail
