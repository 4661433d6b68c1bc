"""Calico tiers and the cluster-wide policy kinds in the sandbox's nft ruleset, as text.

Upstream behaviour checked (how the per-pod chains of ``netpol_sandbox.tiered`` are laid out):

- Calico tiers, https://docs.tigera.io/calico/latest/reference/resources/tier ("How policy
  is evaluated"): tiers are met in ``order``; a ``Pass`` rule skips to the next tier that
  selects the endpoint; a tier that selects the endpoint but takes no action ends with its
  ``defaultAction`` (Deny: dropped); Kubernetes NetworkPolicies live in the ``default``
  tier; when the last tier passes, the endpoint's profiles allow the traffic.
- Calico rules, https://docs.tigera.io/calico/latest/reference/resources/networkpolicy
  ("Rule": ``action`` Allow, Deny, Pass, Log; "Spec": ``selector``, ``types``).
- network-policy-api, https://network-policy-api.sigs.k8s.io/reference/spec/ and
  https://github.com/kubernetes-sigs/network-policy-api (apis/v1alpha2
  clusternetworkpolicy_types.go): a ClusterNetworkPolicy in ``tier: Admin`` is judged
  before every NetworkPolicy, ``Accept`` allows (the other direction is still judged),
  ``Deny`` drops, ``Pass`` goes on to the next tier; ``tier: Baseline`` comes last.

Without any of these kinds the ruleset keeps its Kubernetes-only shape. The scripts of the
table-driven cases of tests/policy/test_calico.py are checked by ``nft -c`` when it can run
(root and nft on PATH; ``-c`` checks the script and changes nothing).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from netpol_sandbox import enforce
from netpol_sandbox.endpoints import ACCOUNT_LABELS
from tests.policy.builders import policy
from tests.policy.test_calico import ALL_NS
from tests.policy.test_calico import CASES
from tests.policy.test_calico import DENY_IN
from tests.policy.test_calico import WORLD
from tests.policy.test_calico import cnp
from tests.policy.test_calico import gnp
from tests.policy.test_calico import k8s_cnp
from tests.policy.test_calico import tier

Obj = dict[str, Any]

NAMESPACES = [o for o in WORLD if o["kind"] == "Namespace"]
PODS = [o for o in WORLD if o["kind"] == "Pod"]
WEB_IP, API_IP, TOOL_IP = "10.0.0.1", "10.0.0.2", "10.0.1.1"
WEB_IN = "in_10_0_0_1"  # stem of web's ingress chains
WEB_EG = "eg_10_0_0_1"

#: a Calico policy in prod denying all ingress to web
DENY_WEB = cnp(
    "deny-web", {"selector": "app == 'web'", "types": ["Ingress"], "ingress": [{"action": "Deny"}]}
)
#: a Kubernetes NetworkPolicy selecting web, allowing from api on TCP 80
K8S_WEB_FROM_API = policy(
    "prod",
    "web-from-api",
    {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"app": "api"}}}],
                "ports": [{"port": 80, "protocol": "TCP"}],
            }
        ],
    },
)
K8S_WEB_ALLOW_ALL = policy(
    "prod", "web-any", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}
)


def ruleset(*objs: Obj) -> str:
    return enforce.compile_ruleset(NAMESPACES, PODS, list(objs), "t")


def block(text: str, name: str) -> str:
    """The body of ``chain name`` or ``set name`` (the lines up to its closing brace)."""
    m = re.search(rf"^  (?:chain|set) {re.escape(name)} \{{[^\n]*\n(.*?)^  \}}", text, re.S | re.M)
    assert m, f"no {name} in\n{text}"
    return m.group(1)


def rule_lines(text: str, name: str) -> list[str]:
    """The statements of a chain, without comments and indentation."""
    return [line.split("  #")[0].strip() for line in block(text, name).splitlines()]


def chain_names(text: str) -> list[str]:
    return re.findall(r"^  chain (\S+) \{", text, re.M)


def chain_comment(text: str, name: str) -> str:
    m = re.search(rf"^  chain {re.escape(name)} \{{  # (.*)$", text, re.M)
    assert m, name
    return m.group(1)


def set_elements(text: str, name: str) -> list[str]:
    body = block(text, name)
    if "elements = {" not in body:
        return []
    inner = body.split("elements = {", 1)[1].split("}", 1)[0]
    return [e.strip().rstrip(",") for e in inner.splitlines() if e.strip()]


def vmap(text: str, name: str) -> dict[str, str]:
    """``ip -> chain`` of the verdict map in ``chain name`` (every entry a ``goto``)."""
    lines = rule_lines(text, name)
    assert len(lines) == 1, lines
    m = re.fullmatch(r"ip [sd]addr vmap \{ (.*) \}", lines[0])
    assert m, lines[0]
    out: dict[str, str] = {}
    for entry in m.group(1).split(", "):
        ip, verdict = entry.split(" : ")
        assert verdict.startswith("goto "), entry
        out[ip] = verdict.removeprefix("goto ")
    return out


# ---------------------------------------------------------------- (a) Kubernetes only


@pytest.mark.parametrize(
    "objs",
    [
        [],
        [K8S_WEB_FROM_API],
        [K8S_WEB_FROM_API, policy("prod", "deny-all", {"podSelector": {}})],
        [policy("prod", "eg", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})],
    ],
)
def test_kubernetes_only_has_no_tiered_chains(objs: list[Obj]) -> None:
    text = ruleset(*objs)
    assert "tiered" not in text
    assert "vmap" not in text
    assert not re.search(r"chain (in|eg)_\d", text)
    assert chain_names(text) == [
        "forward",
        "egress",
        "ingress",
        "prerouting",
        "postrouting",
    ]
    assert rule_lines(text, "forward") == [
        "type filter hook forward priority filter; policy accept;",
        "meta nfproto ipv6 drop",
        "ct state established,related accept",
        "ct state invalid drop",
        "ip saddr @eg_isolated jump egress",
        "ip daddr @ing_isolated jump ingress",
    ]


def test_kubernetes_only_sets_are_unchanged() -> None:
    text = ruleset(K8S_WEB_FROM_API)
    assert set_elements(text, "ing_isolated") == [WEB_IP]
    assert set_elements(text, "ing_ports") == [f"{WEB_IP} . {API_IP} . tcp . 80"]
    assert set_elements(text, "eg_isolated") == []


def test_tier_objects_alone_change_nothing() -> None:
    """A Tier selects nothing: without a policy in it, the ruleset is the Kubernetes one."""
    assert ruleset(K8S_WEB_FROM_API, tier("sec", 100)) == ruleset(K8S_WEB_FROM_API)
    assert ruleset(tier("sec", 100, "Pass")) == ruleset()


def test_extended_kinds_need_their_api_version() -> None:
    """A policy with another apiVersion is a Kubernetes NetworkPolicy to the compiler."""
    fake = copy.deepcopy(DENY_WEB)
    fake["apiVersion"] = "networking.k8s.io/v1"
    assert "in_tiered" not in ruleset(fake)
    assert "in_tiered" in ruleset(DENY_WEB)


# ---------------------------------------------------------------- (b) a Calico Deny


def test_calico_deny_gives_web_a_chain_with_drop() -> None:
    text = ruleset(DENY_WEB)
    forward = rule_lines(text, "forward")
    assert "jump in_tiered" in forward
    assert "jump eg_tiered" not in forward
    # ingress: the tiered jump comes before the plain isolated-set jump
    assert forward.index("jump in_tiered") < forward.index("ip daddr @ing_isolated jump ingress")
    assert vmap(text, "in_tiered") == {WEB_IP: f"{WEB_IN}_0"}
    assert f"chain {WEB_IN}_0 " in text
    assert chain_comment(text, f"{WEB_IN}_0") == "tier default"
    lines = rule_lines(text, f"{WEB_IN}_0")
    assert lines == ["ip saddr 0.0.0.0/0 drop", "drop"]
    assert "# NetworkPolicy prod/deny-web ingress[0]" in block(text, f"{WEB_IN}_0")
    # nobody else has a chain, and there is nothing for egress
    assert [n for n in chain_names(text) if re.match(r"(in|eg)_\d", n)] == [f"{WEB_IN}_0"]
    assert "eg_tiered" not in text


def test_calico_deny_removes_the_pod_from_the_plain_isolated_set() -> None:
    prod_all = policy("prod", "all", {"podSelector": {}, "ingress": [{}]})
    text = ruleset(DENY_WEB, prod_all)
    assert set_elements(text, "ing_isolated") == [API_IP]
    # web's Kubernetes allow elements stay in the sets: its default-tier chain looks them up
    assert f"{WEB_IP} . 0.0.0.0/0" in set_elements(text, "ing_any")
    # deny-web has no order: after the Kubernetes policies (order 1000), as Calico puts a
    # policy without order last in its tier
    assert rule_lines(text, f"{WEB_IN}_0") == [
        "ip daddr . ip saddr @ing_any return",
        "ip daddr . ip saddr . meta l4proto . th dport @ing_ports return",
        "ip saddr 0.0.0.0/0 drop",
        "drop",
    ]
    early = copy.deepcopy(DENY_WEB)
    early["spec"]["order"] = 0
    assert rule_lines(ruleset(early, prod_all), f"{WEB_IN}_0")[0] == "ip saddr 0.0.0.0/0 drop"


def test_calico_allow_from_one_source_then_end_of_tier_drop() -> None:
    allow_api = cnp(
        "from-api",
        {
            "selector": "app == 'web'",
            "ingress": [{"action": "Allow", "source": {"selector": "app == 'api'"}}],
        },
    )
    lines = rule_lines(ruleset(allow_api), f"{WEB_IN}_0")
    assert lines == [f"ip saddr {API_IP}/32 return", "drop"]


def _with_account_labels(pods: list[Obj], name: str, labels: dict[str, str]) -> list[Obj]:
    """The pods as the controllers hand them to the node: ``name``'s account labels set."""
    return [{**p, ACCOUNT_LABELS: labels} if p["metadata"]["name"] == name else p for p in pods]


def test_account_selectors_match_the_accounts_labels() -> None:
    # Calico, https://docs.tigera.io/calico/latest/network-policy/policy-rules/service-accounts
    # ("Service account labels"): serviceAccountSelector and serviceAccounts.selector match
    # the labels of the pod's ServiceAccount (api runs as api-sa, labelled group=backend).
    pods = _with_account_labels(PODS, "api", {"group": "backend"})
    by_account = cnp("sa", {"serviceAccountSelector": "group == 'backend'", **DENY_IN})
    text = enforce.compile_ruleset(NAMESPACES, pods, [by_account], "t")
    assert vmap(text, "in_tiered") == {API_IP: "in_10_0_0_2_0"}
    # without the labels (another account, or none) the policy selects nobody
    assert "in_tiered" not in enforce.compile_ruleset(NAMESPACES, PODS, [by_account], "t")
    from_account = cnp(
        "from-sa",
        {
            "selector": "app == 'web'",
            "ingress": [
                {
                    "action": "Allow",
                    "source": {"serviceAccounts": {"selector": "group == 'backend'"}},
                }
            ],
        },
    )
    text = enforce.compile_ruleset(NAMESPACES, pods, [from_account], "t")
    assert rule_lines(text, f"{WEB_IN}_0") == [f"ip saddr {API_IP}/32 return", "drop"]


def test_calico_egress_deny_uses_the_egress_map() -> None:
    egress = cnp("eg", {"selector": "app == 'web'", "egress": [{"action": "Deny"}]})
    text = ruleset(egress)
    forward = rule_lines(text, "forward")
    assert "jump eg_tiered" in forward
    assert "jump in_tiered" not in forward  # egress-only: types default to Egress
    assert forward.index("jump eg_tiered") < forward.index("ip saddr @eg_isolated jump egress")
    assert rule_lines(text, "eg_tiered") == [f"ip saddr vmap {{ {WEB_IP} : goto {WEB_EG}_0 }}"]
    assert rule_lines(text, f"{WEB_EG}_0") == ["ip daddr 0.0.0.0/0 drop", "drop"]


def test_calico_ports_and_protocol_in_the_rule() -> None:
    p = cnp(
        "ports",
        {
            "selector": "app == 'web'",
            "ingress": [
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "destination": {"ports": ["http", "8000:8001"]},
                }
            ],
        },
    )
    lines = rule_lines(ruleset(p), f"{WEB_IN}_0")
    # the named port resolves on web's own containerPort "http" (80)
    assert lines == [
        "ip saddr 0.0.0.0/0 meta l4proto tcp th dport { 80, 8000-8001 } return",
        "drop",
    ]


def test_gnp_selects_across_namespaces() -> None:
    text = ruleset(gnp("all", DENY_IN))
    chains = vmap(text, "in_tiered")
    assert set(chains) == {WEB_IP, API_IP, TOOL_IP, "10.0.9.9"}
    assert chains[TOOL_IP] == "in_10_0_1_1_0"


# ---------------------------------------------------------------- (c) Pass to the next tier

PASS_TIER = [
    tier("sec", 100),
    gnp("sec.p", {"tier": "sec", "selector": "app == 'web'", "ingress": [{"action": "Pass"}]}),
]


def test_pass_goes_to_the_default_tier_with_the_kubernetes_sets() -> None:
    text = ruleset(*PASS_TIER, K8S_WEB_FROM_API)
    assert vmap(text, "in_tiered") == {WEB_IP: f"{WEB_IN}_0"}
    assert chain_comment(text, f"{WEB_IN}_0") == "tier sec"
    assert chain_comment(text, f"{WEB_IN}_1") == "tier default"
    assert rule_lines(text, f"{WEB_IN}_0") == [
        f"ip saddr 0.0.0.0/0 goto {WEB_IN}_1",
        "drop",  # sec's defaultAction (Deny) when nothing matched
    ]
    assert rule_lines(text, f"{WEB_IN}_1") == [
        "ip daddr . ip saddr @ing_any return",
        "ip daddr . ip saddr . meta l4proto . th dport @ing_ports return",
        "drop",
    ]
    # web is judged by its chains only, and its Kubernetes elements are still there
    assert set_elements(text, "ing_isolated") == []
    assert set_elements(text, "ing_ports") == [f"{WEB_IP} . {API_IP} . tcp . 80"]


def test_pass_in_the_last_tier_returns() -> None:
    """No Kubernetes policy selects web: the default tier is left out, profiles allow."""
    text = ruleset(*PASS_TIER)
    assert chain_names(text).count(f"{WEB_IN}_1") == 0
    assert rule_lines(text, f"{WEB_IN}_0") == ["ip saddr 0.0.0.0/0 return", "drop"]


def test_tier_default_action_pass() -> None:
    objs = [
        tier("sec", 100, "Pass"),
        gnp(
            "sec.p",
            {
                "tier": "sec",
                "selector": "app == 'web'",
                "ingress": [{"action": "Allow", "source": {"selector": "app == 'api'"}}],
            },
        ),
    ]
    last = rule_lines(ruleset(*objs), f"{WEB_IN}_0")
    assert last == [f"ip saddr {API_IP}/32 return", "return"]
    with_k8s = ruleset(*objs, K8S_WEB_FROM_API)
    assert rule_lines(with_k8s, f"{WEB_IN}_0")[-1] == f"goto {WEB_IN}_1"
    assert rule_lines(with_k8s, f"{WEB_IN}_1")[-1] == "drop"


def test_tiers_in_order_and_default_last() -> None:
    objs = [
        tier("b", 20),
        tier("a", 10),
        gnp("b.p", {"tier": "b", "selector": "app == 'web'", "ingress": [{"action": "Pass"}]}),
        gnp("a.p", {"tier": "a", "selector": "app == 'web'", "ingress": [{"action": "Pass"}]}),
        cnp("late", {"selector": "app == 'web'", "ingress": [{"action": "Allow"}]}),
    ]
    text = ruleset(*objs)
    assert [chain_comment(text, f"{WEB_IN}_{i}") for i in range(3)] == [
        "tier a",
        "tier b",
        "tier default",
    ]
    assert rule_lines(text, f"{WEB_IN}_0")[0] == f"ip saddr 0.0.0.0/0 goto {WEB_IN}_1"
    assert rule_lines(text, f"{WEB_IN}_1")[0] == f"ip saddr 0.0.0.0/0 goto {WEB_IN}_2"
    assert rule_lines(text, f"{WEB_IN}_2") == ["ip saddr 0.0.0.0/0 return", "drop"]


def test_policy_order_within_a_tier_and_kubernetes_at_1000() -> None:
    objs = [
        cnp("late", {"order": 2000, "selector": "app == 'web'", "ingress": [{"action": "Deny"}]}),
        cnp(
            "early",
            {
                "order": 10,
                "selector": "app == 'web'",
                "ingress": [{"action": "Allow", "source": {"selector": "app == 'api'"}}],
            },
        ),
        K8S_WEB_FROM_API,
    ]
    assert rule_lines(ruleset(*objs), f"{WEB_IN}_0") == [
        f"ip saddr {API_IP}/32 return",  # early (10)
        "ip daddr . ip saddr @ing_any return",  # Kubernetes (1000)
        "ip daddr . ip saddr . meta l4proto . th dport @ing_ports return",
        "ip saddr 0.0.0.0/0 drop",  # late (2000)
        "drop",
    ]


def test_log_rules_decide_nothing() -> None:
    p = cnp(
        "log", {"selector": "app == 'web'", "ingress": [{"action": "Log"}, {"action": "Allow"}]}
    )
    assert rule_lines(ruleset(p), f"{WEB_IN}_0") == ["ip saddr 0.0.0.0/0 return", "drop"]


@pytest.mark.parametrize(
    "spec",
    [
        {"selector": "app == 'web'", "types": ["Ingress"]},
        {"selector": "app == 'web'", "types": ["Ingress"], "ingress": []},
        {"selector": "app == 'web'", "ingress": [{"action": "Log"}]},
    ],
)
def test_selected_by_a_ruleless_calico_policy_is_denied(spec: Obj) -> None:
    """Calico tier docs: a tier applies to the endpoint, takes no action: dropped."""
    text = ruleset(cnp("no-rules", spec))
    isolated = WEB_IP in set_elements(text, "ing_isolated")
    chained = "in_tiered" in text and WEB_IP in vmap(text, "in_tiered")
    assert isolated or chained, text
    if chained:
        assert rule_lines(text, f"{WEB_IN}_0")[-1] == "drop"


# ---------------------------------------------------------------- (d) admin / baseline


def admin(action: str, priority: int = 1, tier_: str = "Admin") -> Obj:
    return k8s_cnp(
        f"{tier_.lower()}-{action.lower()}-{priority}",
        tier_,
        priority,
        {
            "subject": {
                "pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}
            },
            "ingress": [
                {
                    "action": action,
                    "from": [
                        {
                            "pods": {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"app": "api"}},
                            }
                        }
                    ],
                }
            ],
        },
    )


def test_admin_accept_returns() -> None:
    text = ruleset(admin("Accept"))
    assert vmap(text, "in_tiered") == {WEB_IP: f"{WEB_IN}_0"}
    assert chain_comment(text, f"{WEB_IN}_0") == "admin"
    # Accept: return (allowed in this direction); no match: the admin layer passes on,
    # and as the last layer that is "allowed" too
    assert rule_lines(text, f"{WEB_IN}_0") == [f"ip saddr {API_IP}/32 return", "return"]
    assert "# ClusterNetworkPolicy admin-accept-1 ingress[0]" in block(text, f"{WEB_IN}_0")


def test_admin_deny_drops_and_pass_goes_on() -> None:
    text = ruleset(admin("Deny"), admin("Pass", 2), K8S_WEB_ALLOW_ALL)
    assert chain_comment(text, f"{WEB_IN}_0") == "admin"
    assert chain_comment(text, f"{WEB_IN}_1") == "tier default"
    assert rule_lines(text, f"{WEB_IN}_0") == [
        f"ip saddr {API_IP}/32 drop",  # priority 1 first
        f"ip saddr {API_IP}/32 goto {WEB_IN}_1",
        f"goto {WEB_IN}_1",
    ]
    assert "ip daddr . ip saddr @ing_any return" in rule_lines(text, f"{WEB_IN}_1")


def test_admin_before_the_default_tier_and_baseline_after() -> None:
    text = ruleset(admin("Accept"), admin("Deny", 5, "Baseline"), K8S_WEB_FROM_API)
    names = [n for n in chain_names(text) if n.startswith(WEB_IN)]
    assert names == [f"{WEB_IN}_0", f"{WEB_IN}_1", f"{WEB_IN}_2"]
    assert [chain_comment(text, n) for n in names] == ["admin", "tier default", "baseline"]
    # the default tier holding only the Kubernetes policies ends with drop: baseline is
    # reached only when no Kubernetes policy selects the pod
    assert rule_lines(text, f"{WEB_IN}_1")[-1] == "drop"
    assert rule_lines(text, f"{WEB_IN}_2") == [f"ip saddr {API_IP}/32 drop", "return"]


def test_baseline_alone() -> None:
    text = ruleset(admin("Deny", 5, "Baseline"))
    assert chain_comment(text, f"{WEB_IN}_0") == "baseline"
    assert rule_lines(text, f"{WEB_IN}_0") == [f"ip saddr {API_IP}/32 drop", "return"]


def test_admin_namespaces_subject_and_ports() -> None:
    p = k8s_cnp(
        "ports",
        "Admin",
        3,
        {
            "subject": ALL_NS,
            "ingress": [
                {
                    "action": "Deny",
                    "from": [ALL_NS],
                    "protocols": [
                        {"tcp": {"destinationPort": {"range": {"start": 79, "end": 81}}}}
                    ],
                }
            ],
        },
    )
    text = ruleset(p)
    assert set(vmap(text, "in_tiered")) == {WEB_IP, API_IP, TOOL_IP, "10.0.9.9"}
    first = rule_lines(text, f"{WEB_IN}_0")[0]
    assert first.startswith("ip saddr { ")
    assert first.endswith(" meta l4proto tcp th dport 79-81 drop")
    for ip in (WEB_IP, API_IP, TOOL_IP, "10.0.9.9"):
        assert f"{ip}/32" in first


# ---------------------------------------------------------------- (e) per-pod rules


def chains_element(objs: list[Obj], ip: str = WEB_IP) -> str:
    rules = enforce.pod_rules(enforce.compile_sets(NAMESPACES, PODS, objs))
    assert ip in rules, rules
    ingress = rules[ip].ingress
    assert ingress is not None
    found = [e for e in ingress if e.startswith("chains ")]
    assert len(found) == 1, ingress
    return found[0]


def test_pod_rules_carry_the_chains_text() -> None:
    element = chains_element([DENY_WEB])
    assert f"chain {WEB_IN}_0" in element
    assert "drop" in element
    rules = enforce.pod_rules(enforce.compile_sets(NAMESPACES, PODS, [DENY_WEB]))
    assert rules[WEB_IP].egress is None  # not isolated for egress
    assert API_IP not in rules
    assert chains_element([DENY_WEB]) == element  # deterministic


def test_pod_rules_keep_the_kubernetes_elements_of_a_tiered_pod() -> None:
    rules = enforce.pod_rules(enforce.compile_sets(NAMESPACES, PODS, [DENY_WEB, K8S_WEB_FROM_API]))
    ingress = rules[WEB_IP].ingress
    assert ingress is not None
    assert f"{API_IP} . tcp . 80" in ingress
    assert any(e.startswith("chains ") for e in ingress)


def test_changing_the_calico_policy_changes_the_chains_element() -> None:
    before = chains_element([DENY_WEB])
    allow = copy.deepcopy(DENY_WEB)
    allow["spec"]["ingress"] = [{"action": "Allow"}]
    assert chains_element([allow]) != before
    narrower = copy.deepcopy(DENY_WEB)
    narrower["spec"]["ingress"] = [{"action": "Deny", "source": {"selector": "app == 'api'"}}]
    assert chains_element([narrower]) not in (before, chains_element([allow]))
    # a tier in front changes it too
    assert chains_element([DENY_WEB, *PASS_TIER]) != before


def test_tightening_a_calico_policy_clears_the_pods_flows() -> None:
    allow = copy.deepcopy(DENY_WEB)
    allow["spec"]["ingress"] = [{"action": "Allow"}]
    old = enforce.pod_rules(enforce.compile_sets(NAMESPACES, PODS, [allow]))
    new = enforce.pod_rules(enforce.compile_sets(NAMESPACES, PODS, [DENY_WEB]))
    ips = [WEB_IP, API_IP, TOOL_IP, "10.0.9.9"]
    flows = enforce.flows_to_clear(old, new, ips, ips)
    assert flows.towards == frozenset({WEB_IP})
    assert flows.from_ == frozenset()
    # a new tiered pod (not isolated before) counts as tightened too
    fresh = enforce.flows_to_clear({}, new, ips, ips)
    assert WEB_IP in fresh.towards


# ---------------------------------------------------------------- (f) __programmedOn


def test_programmed_on_other_pods_gives_web_no_chain() -> None:
    assert enforce.PROGRAMMED_ON == "__programmedOn"
    on_api = {**gnp("all", DENY_IN), enforce.PROGRAMMED_ON: ["prod/api"]}
    text = ruleset(on_api)
    assert vmap(text, "in_tiered") == {API_IP: "in_10_0_0_2_0"}
    assert not any(n.startswith(WEB_IN) for n in chain_names(text))
    on_web = {**gnp("all", DENY_IN), enforce.PROGRAMMED_ON: ["prod/web"]}
    assert set(vmap(ruleset(on_web), "in_tiered")) == {WEB_IP}
    nowhere = {**gnp("all", DENY_IN), enforce.PROGRAMMED_ON: []}
    assert "in_tiered" not in ruleset(nowhere)
    rules = enforce.pod_rules(enforce.compile_sets(NAMESPACES, PODS, [on_api]))
    assert WEB_IP not in rules


def test_deleted_policy_programs_nothing() -> None:
    gone = copy.deepcopy(DENY_WEB)
    gone["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert "in_tiered" not in ruleset(gone)


# ---------------------------------------------------------------- nft -c


def _nft_usable() -> bool:
    return shutil.which("nft") is not None and os.geteuid() == 0


def _nft_check(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nft", "-c", "-f", "-"],
        input=script,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


needs_nft = pytest.mark.skipif(not _nft_usable(), reason="needs nft on PATH and root")


@needs_nft
def test_nft_check_rejects_a_broken_script() -> None:
    """The check below means something: a goto to a chain that does not exist fails."""
    text = ruleset(DENY_WEB).replace(f"goto {WEB_IN}_0", "goto in_nowhere_0")
    assert _nft_check(text).returncode != 0


@needs_nft
@pytest.mark.parametrize("name", CASES)
def test_nft_accepts_the_ruleset_of_each_case(name: str) -> None:
    _, objs, *_ = CASES[name]
    text = enforce.compile_ruleset(NAMESPACES, PODS, objs, "npcheck")
    result = _nft_check(text)
    assert result.returncode == 0, f"{result.stderr}\n{text}"


def test_a_named_destination_port_resolves_with_a_numeric_protocol() -> None:
    """Calico NetworkPolicy, rule ``protocol``: a name or a number (6 is TCP); a named
    destination port resolves on each destination pod with that protocol."""
    policy = cnp(
        "egress-by-name",
        {
            "selector": "app == 'api'",
            "types": ["Egress"],
            "egress": [
                {
                    "action": "Allow",
                    "protocol": 6,
                    "destination": {"selector": "app == 'web'", "ports": ["http"]},
                }
            ],
        },
    )
    lines = rule_lines(ruleset(policy), "eg_10_0_0_2_0")
    assert "ip daddr 10.0.0.1/32 meta l4proto tcp th dport 80 return" in lines, lines
