"""Property tests: invariants of NetworkPolicy semantics on random small clusters."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from harness.policy.engine import ClusterModel
from tests.policy.builders import ns
from tests.policy.builders import pod
from tests.policy.builders import policy

NAMESPACES = ("x", "y", "z")
KEYS = ("app", "tier")
VALUES = ("a", "b", "c")
CONTAINER_PORTS = (
    ("http", 80, "TCP"),
    ("http", 81, "TCP"),
    ("dns", 53, "UDP"),
    ("alt", 81, "TCP"),
    (None, 80, "TCP"),
    ("dns", 53, "TCP"),
)
QUERIES: tuple[tuple[int | str, str], ...] = (
    (80, "TCP"),
    (81, "TCP"),
    (53, "UDP"),
    (53, "TCP"),
    ("http", "TCP"),
    ("dns", "UDP"),
    ("alt", "TCP"),
)
CIDRS = ("10.0.0.0/24", "10.0.0.0/16", "0.0.0.0/0", "10.0.1.0/24", "fd00::/64", "10.0.0.0/30")
EXCEPTS = ("10.0.0.0/30", "10.0.0.4/31", "10.0.1.0/25", "fd00::/127")

label_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    if draw(st.booleans()):  # half the selectors are empty: they select everything
        return sel
    if draw(st.booleans()):
        sel["matchLabels"] = draw(label_maps)
    exprs = []
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
        expr: dict[str, Any] = {
            "key": draw(st.sampled_from((*KEYS, "kubernetes.io/metadata.name"))),
            "operator": op,
        }
        if op in ("In", "NotIn"):
            expr["values"] = draw(
                st.lists(st.sampled_from((*VALUES, *NAMESPACES)), min_size=1, max_size=2)
            )
        exprs.append(expr)
    if exprs:
        sel["matchExpressions"] = exprs
    return sel


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("pod", "ns", "both", "ip")))
    if kind == "ip":
        block: dict[str, Any] = {"cidr": draw(st.sampled_from(CIDRS))}
        excepts = draw(st.lists(st.sampled_from(EXCEPTS), max_size=2))
        if excepts:
            block["except"] = excepts
        return {"ipBlock": block}
    peer: dict[str, Any] = {}
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(selectors())
    if kind in ("ns", "both"):
        peer["namespaceSelector"] = draw(selectors())
    return peer


@st.composite
def port_entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["protocol"] = draw(st.sampled_from(("TCP", "UDP", "SCTP")))
    port = draw(st.sampled_from((None, 80, 81, 53, "http", "dns", "alt")))
    if port is not None:
        entry["port"] = port
        if isinstance(port, int) and draw(st.booleans()):
            entry["endPort"] = port + draw(st.integers(0, 30))
    return entry


@st.composite
def rules(draw: st.DrawFn, peer_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    choice = draw(st.sampled_from(("missing", "empty", "list")))
    if choice == "empty":
        rule[peer_key] = []
    elif choice == "list":
        rule[peer_key] = draw(st.lists(peers(), min_size=1, max_size=3))
    choice = draw(st.sampled_from(("missing", "empty", "list")))
    if choice == "empty":
        rule["ports"] = []
    elif choice == "list":
        rule["ports"] = draw(st.lists(port_entries(), min_size=1, max_size=2))
    return rule


@st.composite
def policies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selectors())}
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
    if draw(st.booleans()):
        spec["egress"] = draw(st.lists(rules("to"), max_size=2))
    types = draw(st.sampled_from((None, ["Ingress"], ["Egress"], ["Ingress", "Egress"])))
    if types is not None:
        spec["policyTypes"] = types
    return policy(draw(st.sampled_from(NAMESPACES)), name, spec)


@st.composite
def clusters(draw: st.DrawFn, max_policies: int = 6) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for name in NAMESPACES:
        if draw(st.booleans()):  # else the namespace is implied by its pods
            objs.append(ns(name, **draw(label_maps)))
    for i in range(draw(st.integers(1, 6))):
        family = draw(st.sampled_from(("none", "v4a", "v4b", "v6")))
        ip = {
            "none": None,
            "v4a": f"10.0.0.{i + 1}",
            "v4b": f"10.0.1.{i + 1}",
            "v6": f"fd00::{i + 1}",
        }[family]
        ports = tuple(draw(st.lists(st.sampled_from(CONTAINER_PORTS), max_size=3, unique=True)))
        objs.append(pod(draw(st.sampled_from(NAMESPACES)), f"p{i}", draw(label_maps), ip, ports))
    for j in range(draw(st.integers(0, max_policies))):
        objs.append(draw(policies(f"np{j}")))
    return objs


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(PROPERTY, max_examples=1000)
@given(clusters())
def test_matrix_equals_decide(objs: list[dict[str, Any]]) -> None:
    """The indexed matrix and the per-cell decision agree on every cell, every port."""
    cluster = ClusterModel.from_objects(objs)
    refs = [p.ref for p in cluster.pods]
    for port, proto in QUERIES:
        matrix = cluster.matrix(port, proto)
        assert set(matrix) == set(refs)
        for src in refs:
            assert set(matrix[src]) == set(refs)
            for dst in refs:
                decision = cluster.decide(src, dst, port, proto)
                assert matrix[src][dst] is decision.allowed, (port, proto, decision.explain())


def _selects(cluster: ClusterModel, pol_obj: dict[str, Any], ref: str) -> bool:
    only = ClusterModel(
        [*cluster.namespaces.values()], cluster.pods, ClusterModel.from_objects([pol_obj]).policies
    )
    target = only.pod(ref)
    return bool(only.selecting(target, "ingress") or only.selecting(target, "egress"))


@PROPERTY
@given(clusters(), policies("added"))
def test_adding_a_policy_only_affects_pods_it_selects(
    objs: list[dict[str, Any]], added: dict[str, Any]
) -> None:
    """A policy changes no cell whose two pods it does not select (policies are additive)."""
    before = ClusterModel.from_objects(objs)
    after = ClusterModel.from_objects([*objs, added])
    refs = [p.ref for p in before.pods]
    selected = {r for r in refs if _selects(before, added, r)}
    for port, proto in QUERIES[:5]:
        old, new = before.matrix(port, proto), after.matrix(port, proto)
        for src in refs:
            for dst in refs:
                if src not in selected and dst not in selected:
                    assert new[src][dst] is old[src][dst], (src, dst, port, proto)


@PROPERTY
@given(clusters(), policies("added"))
def test_adding_a_policy_to_isolated_pods_never_denies(
    objs: list[dict[str, Any]], added: dict[str, Any]
) -> None:
    """Once both ends are isolated, another policy can only add allowed cells."""
    before = ClusterModel.from_objects(objs)
    after = ClusterModel.from_objects([*objs, added])
    refs = [p.ref for p in before.pods]
    for port, proto in QUERIES[:5]:
        old, new = before.matrix(port, proto), after.matrix(port, proto)
        for src in refs:
            for dst in refs:
                d = before.decide(src, dst, port, proto)
                if d.egress.isolated and d.ingress.isolated and old[src][dst]:
                    assert new[src][dst], (src, dst, port, proto)


@PROPERTY
@given(clusters(), st.data())
def test_isolated_pod_without_matching_rule_is_denied(
    objs: list[dict[str, Any]], data: st.DataObject
) -> None:
    """A pod isolated for ingress by policies without ingress rules accepts nothing."""
    cluster = ClusterModel.from_objects(objs)
    target = data.draw(st.sampled_from(cluster.pods))
    stripped = []
    for obj in objs:
        if obj["kind"] == "NetworkPolicy" and obj["metadata"]["namespace"] == target.namespace:
            obj = {**obj, "spec": {k: v for k, v in obj["spec"].items() if k != "ingress"}}
        stripped.append(obj)
    deny = policy(
        target.namespace, "deny-all-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}
    )
    isolated = ClusterModel.from_objects([*stripped, deny])
    for port, proto in QUERIES:
        matrix = isolated.matrix(port, proto)
        for src in matrix:
            assert matrix[src][target.ref] is False
            decision = isolated.decide(src, target.ref, port, proto)
            assert not decision.allowed
            assert decision.ingress.isolated and decision.ingress.match is None
        external = isolated.decide("192.0.2.1", target.ref, port, proto)
        assert not external.allowed
