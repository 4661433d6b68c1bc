"""compile_ruleset as text: which set elements the NetworkPolicy semantics produce."""

from __future__ import annotations

import re
from typing import Any

from netpol_sandbox.enforce import cidr_minus
from netpol_sandbox.enforce import compile_ruleset
from netpol_sandbox.enforce import compile_sets
from netpol_sandbox.enforce import filter_part
from netpol_sandbox.enforce import flows_to_clear
from netpol_sandbox.enforce import pod_rules
from netpol_sandbox.enforce import selector_matches


def pod(ns: str, name: str, ip: str, labels: dict[str, str], ports: Any = ()) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "ports": list(ports)}]},
        "status": {"podIP": ip},
    }


NAMESPACES = [
    {"metadata": {"name": "x", "labels": {"team": "x"}}},
    {"metadata": {"name": "y", "labels": {"team": "y"}}},
]
A = pod("x", "a", "10.1.0.1", {"app": "a"})
B = pod("x", "b", "10.1.0.2", {"app": "b"}, [{"name": "http", "containerPort": 8080}])
C = pod("y", "c", "10.1.0.3", {"app": "a"})
PODS = [A, B, C]


def pol(ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": "p"}, "spec": spec}


def sets(policies: list[dict[str, Any]]) -> Any:
    return compile_sets(NAMESPACES, PODS, policies)


def elements(text: str, name: str) -> list[str]:
    m = re.search(rf"set {name} {{(.*?)\n  }}", text, re.S)
    assert m, name
    body = m.group(1)
    if "elements" not in body:
        return []
    return [
        e.strip().rstrip(",")
        for e in body.split("elements = {")[1].split("}")[0].splitlines()
        if e.strip()
    ]


def test_no_policies_isolates_nothing_but_drops_ipv6_and_accepts_established() -> None:
    text = compile_ruleset(NAMESPACES, PODS, [], "nphabc")
    assert elements(text, "ing_isolated") == []
    assert elements(text, "eg_isolated") == []
    fwd = text.split("chain forward {")[1]
    lines = [line.strip() for line in fwd.splitlines()]
    assert lines.index("meta nfproto ipv6 drop") < lines.index(
        "ct state established,related accept"
    )
    assert lines.index("ct state established,related accept") < lines.index(
        "ip saddr @eg_isolated jump egress"
    )
    # atomic replace of our table only
    assert text.startswith("table inet nphabc {}\ndelete table inet nphabc\ntable inet nphabc {")


def test_deny_all_ingress_isolates_selected_pods_only() -> None:
    c = sets([pol("x", {"podSelector": {"matchLabels": {"app": "b"}}})])
    assert c.ing_isolated == {"10.1.0.2"}
    assert c.eg_isolated == set()
    assert c.ing_any == set() and c.ing_ports == set()


def test_default_policy_types_include_egress_when_egress_rules_exist() -> None:
    c = sets([pol("x", {"podSelector": {}, "egress": [{}]})])
    assert c.ing_isolated == {"10.1.0.1", "10.1.0.2"}
    assert c.eg_isolated == {"10.1.0.1", "10.1.0.2"}
    assert "10.1.0.1 . 0.0.0.0/0" in c.eg_any
    c = sets([pol("x", {"podSelector": {}, "policyTypes": ["Egress"]})])
    assert c.ing_isolated == set() and c.eg_isolated == {"10.1.0.1", "10.1.0.2"}


def test_pod_selector_peer_is_policy_namespace_only() -> None:
    c = sets(
        [
            pol(
                "x",
                {
                    "podSelector": {},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}],
                },
            )
        ]
    )
    assert c.ing_any == {"10.1.0.1 . 10.1.0.1", "10.1.0.2 . 10.1.0.1"}  # C (ns y) not included


def test_namespace_selector_and_both() -> None:
    ns_only = {"namespaceSelector": {"matchLabels": {"team": "y"}}}
    c = sets(
        [pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"from": [ns_only]}]})]
    )
    assert c.ing_any == {"10.1.0.2 . 10.1.0.3"}
    both = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}
    c = sets(
        [pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"from": [both]}]})]
    )
    assert c.ing_any == {"10.1.0.2 . 10.1.0.1", "10.1.0.2 . 10.1.0.3"}


def test_namespace_name_label_is_implicit() -> None:
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}
    c = sets(
        [pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"from": [peer]}]})]
    )
    assert c.ing_any == {"10.1.0.2 . 10.1.0.3"}


def test_ports_named_end_port_and_protocols() -> None:
    rule = {
        "ports": [
            {"port": "http"},
            {"port": "missing"},
            {"port": 9000, "endPort": 9010},
            {"port": 53, "protocol": "UDP"},
            {"protocol": "SCTP"},
        ]
    }
    c = sets([pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [rule]})])
    assert c.ing_ports == {
        "10.1.0.2 . 0.0.0.0/0 . tcp . 8080",
        "10.1.0.2 . 0.0.0.0/0 . tcp . 9000-9010",
        "10.1.0.2 . 0.0.0.0/0 . udp . 53",
        "10.1.0.2 . 0.0.0.0/0 . sctp . 0-65535",
    }
    assert c.ing_any == set()


def test_named_port_in_egress_resolves_on_destination_pod() -> None:
    rule = {"to": [{"podSelector": {}}], "ports": [{"port": "http"}]}
    c = sets(
        [
            pol(
                "x",
                {
                    "podSelector": {"matchLabels": {"app": "a"}},
                    "policyTypes": ["Egress"],
                    "egress": [rule],
                },
            )
        ]
    )
    assert c.eg_ports == {"10.1.0.1 . 10.1.0.2 . tcp . 8080"}  # only b declares "http"


def test_ip_block_with_except() -> None:
    assert cidr_minus("10.0.0.0/8", ["10.1.0.0/16"]) == [
        "10.0.0.0/16",
        "10.2.0.0/15",
        "10.4.0.0/14",
        "10.8.0.0/13",
        "10.16.0.0/12",
        "10.32.0.0/11",
        "10.64.0.0/10",
        "10.128.0.0/9",
    ]
    assert cidr_minus("10.1.0.0/16", ["10.0.0.0/8"]) == []
    assert cidr_minus("fd00::/8", []) == []  # IPv6 never matches: it is dropped
    rule = {"from": [{"ipBlock": {"cidr": "10.1.0.0/30", "except": ["10.1.0.1/32"]}}]}
    c = sets([pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [rule]})])
    assert c.ing_any == {"10.1.0.2 . 10.1.0.0/32", "10.1.0.2 . 10.1.0.2/31"}


def test_empty_rule_list_allows_nothing_and_empty_rule_allows_everything() -> None:
    c = sets([pol("x", {"podSelector": {}, "ingress": []})])
    assert c.ing_any == set() and len(c.ing_isolated) == 2
    c = sets([pol("x", {"podSelector": {}, "ingress": [{}]})])
    assert c.ing_any == {"10.1.0.1 . 0.0.0.0/0", "10.1.0.2 . 0.0.0.0/0"}


def test_policies_union() -> None:
    p1 = pol(
        "x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"ports": [{"port": 1}]}]}
    )
    p2 = pol("x", {"podSelector": {}, "ingress": [{"ports": [{"port": 2}]}]})
    c = sets([p1, p2])
    assert {e for e in c.ing_ports if e.startswith("10.1.0.2 ")} == {
        "10.1.0.2 . 0.0.0.0/0 . tcp . 1",
        "10.1.0.2 . 0.0.0.0/0 . tcp . 2",
    }


def test_pods_without_ip_are_ignored() -> None:
    pending = {"metadata": {"namespace": "x", "name": "p", "labels": {}}, "spec": {}, "status": {}}
    c = compile_sets(NAMESPACES, [*PODS, pending], [pol("x", {"podSelector": {}})])
    assert c.ing_isolated == {"10.1.0.1", "10.1.0.2"}


def test_enforce_false_compiles_no_policy() -> None:
    text = compile_ruleset(NAMESPACES, PODS, [pol("x", {"podSelector": {}})], "t", enforce=False)
    assert elements(text, "ing_isolated") == []


def test_match_expressions() -> None:
    labels = {"app": "a", "tier": "web"}
    assert selector_matches(
        {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, labels
    )
    assert not selector_matches(
        {"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "z", "operator": "Exists"}]},
        labels,
    )
    assert selector_matches({}, labels) and selector_matches(None, {})


def test_services_dnat_to_endpoints_by_named_target_port() -> None:
    svc: dict[str, Any] = {
        "metadata": {"namespace": "x", "name": "web"},
        "spec": {
            "clusterIP": "10.96.0.7",
            "selector": {"app": "b"},
            "ports": [{"port": 80, "targetPort": "http"}],
        },
    }
    two = {**svc, "spec": {**svc["spec"], "selector": {}, "clusterIP": "10.96.0.8"}}
    many = {
        "metadata": {"namespace": "x", "name": "any"},
        "spec": {
            "clusterIP": "10.96.0.9",
            "selector": {"app": "a"},
            "ports": [{"port": 81, "targetPort": 8080}],
        },
    }
    text = compile_ruleset(
        NAMESPACES,
        [*PODS, pod("x", "a2", "10.1.0.4", {"app": "a"})],
        [],
        "t",
        services=[svc, two, many],
    )
    assert "ip daddr 10.96.0.7 meta l4proto tcp th dport 80 dnat ip to 10.1.0.2:8080" in text
    assert "10.96.0.8" not in text  # no selector: no endpoints
    assert (
        "ip daddr 10.96.0.9 meta l4proto tcp th dport 81 dnat ip to numgen random mod 2 "
        "map { 0 : 10.1.0.1 . 8080, 1 : 10.1.0.4 . 8080 }" in text
    )
    # a Service change does not touch the filter part (no conntrack flush needed)
    plain = compile_ruleset(NAMESPACES, PODS, [], "t")
    assert filter_part(plain) == filter_part(text)
    assert "dnat" not in filter_part(text)


# ---------------------------------------------------------------- per-pod rules and conntrack


def _flows(before: list[dict[str, Any]], after: list[dict[str, Any]], pods: Any = None) -> Any:
    old_pods, new_pods = PODS, pods if pods is not None else PODS
    old = pod_rules(compile_sets(NAMESPACES, old_pods, before))
    new = pod_rules(compile_sets(NAMESPACES, new_pods, after))
    ips = [p["status"]["podIP"] for p in old_pods]
    return flows_to_clear(old, new, ips, [p["status"]["podIP"] for p in new_pods])


def test_pod_rules_split_the_sets_per_pod() -> None:
    allow = pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"from": []}]})
    rules = pod_rules(sets([allow]))
    assert set(rules) == {"10.1.0.2"}
    assert (
        rules["10.1.0.2"].ingress == frozenset({"0.0.0.0/0"}) and rules["10.1.0.2"].egress is None
    )


def test_only_pods_whose_rules_tighten_lose_their_flows() -> None:
    only_b = pol("x", {"podSelector": {"matchLabels": {"app": "b"}}})
    flows = _flows([], [only_b])
    assert flows.towards == {"10.1.0.2"} and not flows.from_ and not flows.gone
    # an unrelated policy elsewhere keeps b's (unchanged) rules: nothing to clear for b
    other = {**pol("y", {"podSelector": {}}), "metadata": {"namespace": "y", "name": "q"}}
    assert _flows([only_b], [only_b, other]).towards == {"10.1.0.3"}
    # egress: flows from the pod
    eg = pol("x", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]})
    flows = _flows([], [eg])
    assert flows.from_ == {"10.1.0.1"} and not flows.towards
    # an allowed element removed: b's ingress lost port 8080 from a
    port_rule = {
        "from": [{"podSelector": {"matchLabels": {"app": "a"}}}],
        "ports": [{"port": 8080}],
    }
    wide = pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [port_rule]})
    assert _flows([wide], [only_b]).towards == {"10.1.0.2"}


def test_loosening_and_peers_coming_or_going_clear_nothing_of_the_others() -> None:
    only_b = pol("x", {"podSelector": {"matchLabels": {"app": "b"}}})
    assert not _flows([only_b], [])  # b no longer isolated
    from_x: dict[str, Any] = {"from": [{"podSelector": {}}]}
    allow = pol("x", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [from_x]})
    assert not _flows([only_b], [allow])  # b allows more
    # a goes away: b's element for a vanishes, but only a's own flows are cleared
    flows = _flows([allow], [allow], [B, C])
    assert flows.gone == {"10.1.0.1"} and not flows.towards and not flows.from_
    # a new pod in x becomes an allowed peer of b: an addition, nothing to clear
    d = pod("x", "d", "10.1.0.4", {"app": "d"})
    assert not _flows([allow], [allow], [*PODS, d])
