"""The sandbox's Calico selector parser and its validation of the extended policy kinds.

Upstream behaviour checked:

- Calico's selector language, "Selectors" in
  https://docs.tigera.io/calico/latest/reference/resources/networkpolicy: ``all()``,
  ``global()`` (only non-namespaced objects, never a pod), ``has(k)``, ``!has(k)``,
  ``k == 'v'``, ``k != 'v'`` (true when ``k`` is absent), ``k in {...}``,
  ``k not in {...}`` (true when absent), ``starts with`` / ``ends with`` / ``contains``
  (the label must be present), ``!``, ``&&`` binding tighter than ``||``, parentheses,
  single or double quotes; an empty selector is ``all()``.
- What Calico's API server (the ``projectcalico.org/v3`` CRDs with calico-webhooks) refuses
  in NetworkPolicy, GlobalNetworkPolicy and Tier
  (https://docs.tigera.io/calico/latest/reference/resources/networkpolicy,
  .../globalnetworkpolicy, .../tier): rule ``action`` Allow/Deny/Pass/Log, selectors that do
  not parse, ``ports`` only with protocol TCP/UDP/SCTP/UDPLite, ``nets`` as CIDRs, ``tier``
  defaulting to ``default`` and naming an existing Tier, Tier ``defaultAction`` Deny or Pass.
- What the network-policy-api CRD schemas and CEL rules refuse
  (https://network-policy-api.sigs.k8s.io/reference/spec/,
  https://github.com/kubernetes-sigs/network-policy-api apis/v1alpha2 and apis/v1alpha1):
  ClusterNetworkPolicy ``tier`` Admin or Baseline, ``priority`` 0..1000, the
  BaselineAdminNetworkPolicy named ``default``, ``subject`` and peers with exactly one
  field set, ``from``/``to`` with at least one peer, port ranges with ``start < end``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.calico_selectors import SelectorSyntax
from netpol_sandbox.calico_selectors import compile_selector
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.policy_kinds import PolicyKinds
from netpol_sandbox.store import Store

Obj = dict[str, Any]

# ---------------------------------------------------------------- selectors

WEB = {"app": "web", "tier": "frontend", "env": "prod-eu"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        # all() / global()
        ("all()", {}, True),
        ("all()", WEB, True),
        ("global()", {}, False),
        ("global()", WEB, False),
        ("!global()", WEB, True),
        # has / !has
        ("has(app)", WEB, True),
        ("has(app)", {}, False),
        ("has(missing)", WEB, False),
        ("!has(app)", WEB, False),
        ("!has(missing)", WEB, True),
        ("has(projectcalico.org/name)", {"projectcalico.org/name": "x"}, True),
        # ==
        ("app == 'web'", WEB, True),
        ("app == 'api'", WEB, False),
        ("missing == 'web'", WEB, False),
        ("app == ''", {}, False),
        ('app == "web"', WEB, True),
        ("app=='web'", WEB, True),
        # != (absent label: true)
        ("app != 'web'", WEB, False),
        ("app != 'api'", WEB, True),
        ("missing != 'web'", WEB, True),
        ("missing != 'web'", {}, True),
        # in / not in (absent label: not in is true, in is false)
        ("app in {'web', 'api'}", WEB, True),
        ("app in {'api','db'}", WEB, False),
        ("missing in {'web'}", WEB, False),
        ('app in {"web"}', WEB, True),
        ("app in {}", WEB, False),
        ("app not in {'web', 'api'}", WEB, False),
        ("app not in {'api', 'db'}", WEB, True),
        ("missing not in {'web'}", WEB, True),
        ("app not in {}", WEB, True),
        # starts with / ends with / contains (absent label: false, even for '')
        ("env starts with 'prod'", WEB, True),
        ("env starts with 'eu'", WEB, False),
        ("missing starts with ''", WEB, False),
        ("env starts with ''", WEB, True),
        ("env ends with '-eu'", WEB, True),
        ("env ends with 'prod'", WEB, False),
        ("missing ends with ''", WEB, False),
        ("env contains 'd-e'", WEB, True),
        ("env contains 'us'", WEB, False),
        ("missing contains ''", WEB, False),
        ('env contains "prod"', WEB, True),
        # ! on comparisons
        ("!app == 'web'", WEB, False),
        ("!app == 'api'", WEB, True),
        ("!(app == 'web')", WEB, False),
        ("!!has(app)", WEB, True),
        # && and ||
        ("app == 'web' && tier == 'frontend'", WEB, True),
        ("app == 'web' && tier == 'backend'", WEB, False),
        ("app == 'api' || tier == 'frontend'", WEB, True),
        ("app == 'api' || tier == 'backend'", WEB, False),
        ("app == 'web' && has(tier) && env starts with 'prod'", WEB, True),
        ("app == 'x' || app == 'y' || app == 'web'", WEB, True),
        # nesting
        ("(app == 'web')", WEB, True),
        ("((app == 'web'))", WEB, True),
        ("!(app == 'api' || (tier == 'frontend' && !has(env)))", WEB, True),
        ("!(app == 'api' || (tier == 'frontend' && has(env)))", WEB, False),
        ("(app == 'api' || app == 'web') && (tier in {'frontend'})", WEB, True),
        ("(app == 'api' || app == 'db') && tier in {'frontend'}", WEB, False),
        # whitespace around the expression
        ("  app == 'web'  ", WEB, True),
    ],
)
def test_selector_semantics(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert compile_selector(selector)(labels) is expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # a == 'x' || (b == 'y' && c == 'z'), not (a == 'x' || b == 'y') && c == 'z'
        ({"a": "x"}, True),
        ({"a": "x", "c": "no"}, True),
        ({"b": "y", "c": "z"}, True),
        ({"b": "y"}, False),
        ({"c": "z"}, False),
        ({}, False),
    ],
)
def test_and_binds_tighter_than_or(labels: dict[str, str], expected: bool) -> None:
    assert compile_selector("a == 'x' || b == 'y' && c == 'z'")(labels) is expected
    # the other way round too: (a && b) || c
    flipped = compile_selector("b == 'y' && c == 'z' || a == 'x'")
    assert flipped(labels) is expected


def test_parentheses_override_precedence() -> None:
    grouped = compile_selector("(a == 'x' || b == 'y') && c == 'z'")
    assert grouped({"a": "x"}) is False
    assert grouped({"a": "x", "c": "z"}) is True
    assert grouped({"b": "y", "c": "z"}) is True


def test_not_binds_tighter_than_and() -> None:
    # !a == 'x' && b == 'y'  is  (!(a == 'x')) && b == 'y'
    sel = compile_selector("!a == 'x' && b == 'y'")
    assert sel({"b": "y"}) is True
    assert sel({"a": "x", "b": "y"}) is False
    assert sel({"a": "x"}) is False


def test_quotes_keep_the_other_quote_and_operators_literally() -> None:
    assert compile_selector("""k == "it's" """)({"k": "it's"}) is True
    assert compile_selector("""k == 'say "hi"'""")({"k": 'say "hi"'}) is True
    assert compile_selector("k == 'a && b || !c'")({"k": "a && b || !c"}) is True
    assert compile_selector("k in {'a,b', 'c'}")({"k": "a,b"}) is True
    assert compile_selector("k in {'a,b', 'c'}")({"k": "a"}) is False


@pytest.mark.parametrize("text", [None, "", "   ", "\t"])
def test_empty_selector_is_all(text: str | None) -> None:
    assert compile_selector(text)({}) is True
    assert compile_selector(text)(WEB) is True


def test_selector_length_limit() -> None:
    key = "k" * 4084
    ok = f"{key} == 'v'"  # 4084 + 7 = 4091 characters
    assert len(ok) <= 4096
    assert compile_selector(ok)({key: "v"}) is True
    longest = "k == '" + "v" * 4089 + "'"
    assert len(longest) == 4096
    assert compile_selector(longest)({"k": "v" * 4089}) is True
    too_long = "k == '" + "v" * 4090 + "'"
    assert len(too_long) == 4097
    with pytest.raises(SelectorSyntax):
        compile_selector(too_long)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        # unterminated strings: the column of the opening quote
        ("a == 'x", 6),
        ('a == "x', 6),
        ("a == \"x'", 6),
        ("a in {'x}", 7),
        ("a starts with 'x", 15),
        # missing operands
        ("a == 'x' &&", 12),
        ("a == 'x' ||", 12),
        ("a ==", 5),
        ("a !=", 5),
        ("&& a == 'x'", 1),
        ("a == 'x' && || b == 'y'", 13),
        ("!", 2),
        ("()", 2),
        ("a == b", 6),
        ("a starts with", 14),
        ("a", 2),
        # trailing garbage
        ("all() x", 7),
        ("has(a) b", 8),
        ("a == 'x' 'y'", 10),
        ("a == 'x' b == 'y'", 10),
        ("all())", 6),
        ("a == 'x' &", 10),
        # missing ',' in a set
        ("k in {'a' 'b'}", 11),
        ("k not in {'a', 'b' 'c'}", 20),
        ("k in {'a',}", 11),
        ("k in {'a'", 10),
        ("k in 'a'", 6),
        # has() without a key
        ("has()", 5),
        ("has( )", 6),
        ("!has()", 6),
        ("has('a')", 5),
        ("has(a", 6),
        # unbalanced parentheses
        ("(a == 'x'", 10),
        # unknown operators
        ("a = 'x'", 3),
        ("a startswith 'x'", 3),
        ("a == 'x' and b == 'y'", 10),
    ],
)
def test_selector_syntax_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(SelectorSyntax) as info:
        compile_selector(text)
    assert info.value.column == column, str(info.value)
    assert f"column {column}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_overlong_selector_error_column() -> None:
    with pytest.raises(SelectorSyntax) as info:
        compile_selector("a" * 5000)
    assert info.value.column == 4097


# ---------------------------------------------------------------- policy kinds


def kind(group: str, resource: str) -> Kind:
    found = find(group, resource)
    assert found is not None, (group, resource)
    return found


CALICO_NP = kind("projectcalico.org", "networkpolicies")
CALICO_GNP = kind("projectcalico.org", "globalnetworkpolicies")
TIER = kind("projectcalico.org", "tiers")
CNP = kind("policy.networking.k8s.io", "clusternetworkpolicies")
ANP = kind("policy.networking.k8s.io", "adminnetworkpolicies")
BANP = kind("policy.networking.k8s.io", "baselineadminnetworkpolicies")
K8S_NP = kind("networking.k8s.io", "networkpolicies")
NAMESPACE = kind("", "namespaces")


def calico_np(spec: Obj, name: str = "p") -> Obj:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": spec,
    }


def calico_gnp(spec: Obj, name: str = "g") -> Obj:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def tier_obj(name: str, spec: Obj) -> Obj:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "Tier",
        "metadata": {"name": name},
        "spec": spec,
    }


ALL_NS: Obj = {"namespaces": {}}
INGRESS_DENY_ALL: Obj = {"action": "Deny", "from": [ALL_NS]}


def cnp_obj(spec: Obj, name: str = "c") -> Obj:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": "Admin", "priority": 10, "subject": ALL_NS, **spec},
    }


def anp_obj(spec: Obj, name: str = "a") -> Obj:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"priority": 10, "subject": ALL_NS, **spec},
    }


def banp_obj(spec: Obj, name: str = "default") -> Obj:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "BaselineAdminNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"subject": ALL_NS, **spec},
    }


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def kinds(store: Store) -> PolicyKinds:
    return PolicyKinds(store)


def causes_of(kinds: PolicyKinds, k: Kind, obj: Obj) -> list[dict[str, str]]:
    """The causes of the 422 the hook raises for ``obj`` (fails when it accepts it)."""
    with pytest.raises(ApiError) as info:
        kinds.hook("create", k, obj, None)
    err = info.value
    assert err.code == 422
    assert err.reason == "Invalid"
    assert err.details is not None
    assert err.details["kind"] == k.kind
    assert err.details["group"] == k.group
    assert err.details["name"] == obj["metadata"]["name"]
    causes: list[dict[str, str]] = err.details["causes"]
    assert causes, err.details
    for cause in causes:
        assert cause["field"] in err.message
    return causes


def fields_of(causes: list[dict[str, str]]) -> list[str]:
    return [c["field"] for c in causes]


VALID: list[tuple[str, Kind, Obj]] = [
    (
        "calico-networkpolicy",
        CALICO_NP,
        calico_np(
            {
                "selector": "app == 'web' && !has(debug)",
                "order": 100,
                "types": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "action": "Allow",
                        "protocol": "TCP",
                        "source": {
                            "selector": "role in {'fe', 'be'}",
                            "nets": ["10.0.0.0/8", "fd00::/8"],
                        },
                        "destination": {"ports": [80, "8000:8080", "http"]},
                    },
                    {"action": "Log"},
                    {"action": "Pass", "protocol": 6, "destination": {"ports": [443]}},
                ],
                "egress": [{"action": "Deny", "protocol": "UDP", "notProtocol": None}],
            }
        ),
    ),
    (
        "calico-globalnetworkpolicy",
        CALICO_GNP,
        calico_gnp(
            {
                "namespaceSelector": "projectcalico.org/name starts with 'kube-'",
                "selector": "all()",
                "order": 1.5,
                "egress": [
                    {
                        "action": "Allow",
                        "protocol": "UDP",
                        "destination": {"nets": ["10.96.0.10/32"], "ports": [53]},
                    }
                ],
            }
        ),
    ),
    ("calico-tier", TIER, tier_obj("security", {"order": 100, "defaultAction": "Pass"})),
    (
        "clusternetworkpolicy",
        CNP,
        cnp_obj(
            {
                "tier": "Baseline",
                "priority": 0,
                "subject": {
                    "pods": {
                        "namespaceSelector": {},
                        "podSelector": {"matchLabels": {"app": "web"}},
                    }
                },
                "ingress": [
                    {
                        "action": "Accept",
                        "from": [{"pods": {"namespaceSelector": {}, "podSelector": {}}}],
                        "protocols": [
                            {"tcp": {"destinationPort": {"number": 80}}},
                            {"udp": {"destinationPort": {"range": {"start": 1000, "end": 2000}}}},
                            {"destinationNamedPort": "http"},
                        ],
                    }
                ],
                "egress": [{"action": "Pass", "to": [{"networks": ["10.0.0.0/24"]}]}],
            }
        ),
    ),
    (
        "adminnetworkpolicy",
        ANP,
        anp_obj(
            {
                "priority": 1000,
                "ingress": [
                    {
                        "action": "Allow",
                        "from": [ALL_NS],
                        "ports": [
                            {"portNumber": {"protocol": "TCP", "port": 80}},
                            {"portRange": {"protocol": "UDP", "start": 1, "end": 65535}},
                            {"namedPort": "dns"},
                        ],
                    }
                ],
                "egress": [{"action": "Deny", "to": [{"nodes": {}}]}],
            }
        ),
    ),
    (
        "baselineadminnetworkpolicy",
        BANP,
        banp_obj({"ingress": [{"action": "Deny", "from": [ALL_NS]}]}),
    ),
]


@pytest.mark.parametrize(("what", "k", "obj"), VALID, ids=[v[0] for v in VALID])
def test_valid_objects_pass(kinds: PolicyKinds, what: str, k: Kind, obj: Obj) -> None:
    body = copy.deepcopy(obj)
    kinds.hook("create", k, body, None)
    kinds.hook("update", k, body, copy.deepcopy(body))


def test_other_groups_are_not_checked(kinds: PolicyKinds) -> None:
    obj: Obj = {"metadata": {"name": "x", "namespace": "prod"}, "spec": {"bogus": 1}}
    kinds.hook("create", K8S_NP, obj, None)
    assert obj == {"metadata": {"name": "x", "namespace": "prod"}, "spec": {"bogus": 1}}


@pytest.mark.parametrize(("k", "builder"), [(CALICO_NP, calico_np), (CALICO_GNP, calico_gnp)])
def test_calico_tier_defaults_to_default(kinds: PolicyKinds, k: Kind, builder: Any) -> None:
    obj: Obj = builder({"selector": "all()"})
    kinds.hook("create", k, obj, None)
    assert obj["spec"]["tier"] == "default"
    explicit: Obj = builder({"tier": "default"})
    kinds.hook("create", k, explicit, None)
    assert explicit["spec"]["tier"] == "default"


def test_calico_policy_without_spec_gets_default_tier(kinds: PolicyKinds) -> None:
    obj: Obj = {"metadata": {"name": "g"}}
    kinds.hook("create", CALICO_GNP, obj, None)
    assert obj["spec"] == {"tier": "default"}


def test_store_create_defaults_tier_and_refuses_invalid(store: Store) -> None:
    store.hooks.append(PolicyKinds(store).hook)
    created = store.create(CALICO_GNP, None, calico_gnp({"selector": "all()"}, "ok"))
    assert created["spec"]["tier"] == "default"
    assert store.get(CALICO_GNP, None, "ok")["spec"]["tier"] == "default"
    with pytest.raises(ApiError) as info:
        store.create(CALICO_GNP, None, calico_gnp({"selector": "a =="}, "bad"))
    assert info.value.code == 422
    assert store.find(CALICO_GNP, None, "bad") is None


@pytest.mark.parametrize("action", ["allow", "Reject", "Accept", None, ""])
def test_calico_bad_action(kinds: PolicyKinds, action: str | None) -> None:
    obj = calico_np({"ingress": [{"action": "Allow"}, {"action": action}]})
    causes = causes_of(kinds, CALICO_NP, obj)
    assert fields_of(causes) == ["spec.ingress[1].action"]
    assert causes[0]["reason"] == "FieldValueInvalid"


def test_calico_bad_egress_action_field_path(kinds: PolicyKinds) -> None:
    obj = calico_gnp({"egress": [{"action": "Drop"}]})
    assert fields_of(causes_of(kinds, CALICO_GNP, obj)) == ["spec.egress[0].action"]


def test_calico_bad_action_field_path(kinds: PolicyKinds) -> None:
    causes = causes_of(kinds, CALICO_NP, calico_np({"ingress": [{"action": "Block"}]}))
    assert fields_of(causes) == ["spec.ingress[0].action"]
    assert "Block" in causes[0]["message"]


@pytest.mark.parametrize(
    ("spec", "field", "column"),
    [
        ({"selector": "app == 'web"}, "spec.selector", 8),
        ({"selector": "app == 'web' &&"}, "spec.selector", 16),
        ({"serviceAccountSelector": "has()"}, "spec.serviceAccountSelector", 5),
        (
            {"ingress": [{"action": "Allow", "source": {"selector": "k in {'a' 'b'}"}}]},
            "spec.ingress[0].source.selector",
            11,
        ),
        (
            {"ingress": [{"action": "Allow", "source": {"notSelector": "all() x"}}]},
            "spec.ingress[0].source.notSelector",
            7,
        ),
        (
            {"egress": [{"action": "Allow", "destination": {"namespaceSelector": "a = 'b'"}}]},
            "spec.egress[0].destination.namespaceSelector",
            3,
        ),
        (
            {
                "egress": [
                    {
                        "action": "Allow",
                        "destination": {"serviceAccounts": {"selector": "!"}},
                    }
                ]
            },
            "spec.egress[0].destination.serviceAccounts.selector",
            2,
        ),
    ],
)
def test_calico_bad_selector_names_field_and_column(
    kinds: PolicyKinds, spec: Obj, field: str, column: int
) -> None:
    causes = causes_of(kinds, CALICO_NP, calico_np(spec))
    assert fields_of(causes) == [field]
    assert f"column {column}" in causes[0]["message"]


def test_gnp_bad_namespace_selector(kinds: PolicyKinds) -> None:
    causes = causes_of(kinds, CALICO_GNP, calico_gnp({"namespaceSelector": "team == "}))
    assert fields_of(causes) == ["spec.namespaceSelector"]
    assert "column 9" in causes[0]["message"]


def test_namespaced_policy_has_no_namespace_selector(kinds: PolicyKinds) -> None:
    causes = causes_of(kinds, CALICO_NP, calico_np({"namespaceSelector": "all()"}))
    assert fields_of(causes) == ["spec.namespaceSelector"]


@pytest.mark.parametrize("side", ["destination", "source"])
@pytest.mark.parametrize("protocol", [None, "ICMP", "ICMPv6", 1])
@pytest.mark.parametrize("ports_key", ["ports", "notPorts"])
def test_calico_ports_need_a_port_protocol(
    kinds: PolicyKinds, side: str, protocol: str | int | None, ports_key: str
) -> None:
    rule: Obj = {"action": "Allow", side: {ports_key: [80]}}
    if protocol is not None:
        rule["protocol"] = protocol
    causes = causes_of(kinds, CALICO_NP, calico_np({"ingress": [rule]}))
    assert fields_of(causes) == ["spec.ingress[0].protocol"]


@pytest.mark.parametrize("protocol", ["TCP", "UDP", "SCTP", "UDPLite", 6, 17, 132, 136])
def test_calico_ports_with_a_port_protocol_pass(kinds: PolicyKinds, protocol: str | int) -> None:
    rule = {"action": "Allow", "protocol": protocol, "destination": {"ports": [80, "1:2"]}}
    kinds.hook("create", CALICO_NP, calico_np({"ingress": [rule]}), None)


@pytest.mark.parametrize("net", ["10.0.0.0/33", "10.0.0", "not-a-cidr", "300.0.0.0/8", ""])
@pytest.mark.parametrize("key", ["nets", "notNets"])
def test_calico_bad_cidr(kinds: PolicyKinds, net: str, key: str) -> None:
    rule = {"action": "Allow", "destination": {key: ["10.0.0.0/8", net]}}
    causes = causes_of(kinds, CALICO_GNP, calico_gnp({"egress": [rule]}))
    assert fields_of(causes) == [f"spec.egress[0].destination.{key}[1]"]


def test_calico_every_cause_is_reported(kinds: PolicyKinds) -> None:
    spec = {
        "selector": "a == ",
        "ingress": [
            {"action": "Nope"},
            {"action": "Allow", "source": {"nets": ["x"]}, "destination": {"ports": [80]}},
        ],
    }
    causes = causes_of(kinds, CALICO_NP, calico_np(spec))
    assert sorted(fields_of(causes)) == sorted(
        [
            "spec.selector",
            "spec.ingress[0].action",
            "spec.ingress[1].source.nets[0]",
            "spec.ingress[1].protocol",
        ]
    )


def test_calico_tier_must_exist(store: Store, kinds: PolicyKinds) -> None:
    obj = calico_gnp({"tier": "security", "selector": "all()"}, "security.p")
    causes = causes_of(kinds, CALICO_GNP, copy.deepcopy(obj))
    assert fields_of(causes) == ["spec.tier"]
    assert "security" in causes[0]["message"]
    # a namespaced policy too
    np = calico_np({"tier": "security"}, "security.q")
    assert fields_of(causes_of(kinds, CALICO_NP, copy.deepcopy(np))) == ["spec.tier"]
    store.create(TIER, None, tier_obj("security", {"order": 100}), hooks=False)
    kinds.hook("create", CALICO_GNP, obj, None)
    assert obj["spec"]["tier"] == "security"
    kinds.hook("create", CALICO_NP, np, None)
    # another tier is still missing
    other = calico_gnp({"tier": "other"}, "other.p")
    assert fields_of(causes_of(kinds, CALICO_GNP, other)) == ["spec.tier"]


def test_calico_default_tier_needs_no_tier_object(store: Store, kinds: PolicyKinds) -> None:
    assert store.items(TIER) == []
    kinds.hook("create", CALICO_GNP, calico_gnp({"tier": "default"}), None)


@pytest.mark.parametrize("action", ["Allow", "Accept", "deny", "Log", ""])
def test_tier_default_action(kinds: PolicyKinds, action: str) -> None:
    causes = causes_of(kinds, TIER, tier_obj("t", {"order": 1, "defaultAction": action}))
    assert fields_of(causes) == ["spec.defaultAction"]


@pytest.mark.parametrize("action", ["Deny", "Pass", None])
def test_tier_good_default_action(kinds: PolicyKinds, action: str | None) -> None:
    spec: Obj = {"order": 1}
    if action is not None:
        spec["defaultAction"] = action
    kinds.hook("create", TIER, tier_obj("t", spec), None)


def test_tier_order_must_be_a_number(kinds: PolicyKinds) -> None:
    assert fields_of(causes_of(kinds, TIER, tier_obj("t", {"order": "first"}))) == ["spec.order"]


# ---------------------------------------------------------------- network-policy-api


@pytest.mark.parametrize("tier", ["admin", "Default", "Application", None, ""])
def test_cnp_tier_admin_or_baseline(kinds: PolicyKinds, tier: str | None) -> None:
    causes = causes_of(kinds, CNP, cnp_obj({"tier": tier}))
    assert fields_of(causes) == ["spec.tier"]


@pytest.mark.parametrize("tier", ["Admin", "Baseline"])
def test_cnp_tiers_pass(kinds: PolicyKinds, tier: str) -> None:
    kinds.hook("create", CNP, cnp_obj({"tier": tier}), None)


@pytest.mark.parametrize(("k", "builder"), [(CNP, cnp_obj), (ANP, anp_obj)])
@pytest.mark.parametrize("priority", [-1, 1001, 5000, None, "1", True, 1.5])
def test_priority_out_of_range(kinds: PolicyKinds, k: Kind, builder: Any, priority: object) -> None:
    causes = causes_of(kinds, k, builder({"priority": priority}))
    assert fields_of(causes) == ["spec.priority"]


@pytest.mark.parametrize(("k", "builder"), [(CNP, cnp_obj), (ANP, anp_obj)])
@pytest.mark.parametrize("priority", [0, 1, 999, 1000])
def test_priority_in_range(kinds: PolicyKinds, k: Kind, builder: Any, priority: int) -> None:
    kinds.hook("create", k, builder({"priority": priority}), None)


def test_banp_must_be_named_default(kinds: PolicyKinds) -> None:
    causes = causes_of(kinds, BANP, banp_obj({}, name="baseline"))
    assert fields_of(causes) == ["metadata.name"]
    assert "default" in causes[0]["message"]
    kinds.hook("create", BANP, banp_obj({}, name="default"), None)


@pytest.mark.parametrize(("k", "builder"), [(CNP, cnp_obj), (ANP, anp_obj), (BANP, banp_obj)])
def test_subject_exactly_one_of_namespaces_and_pods(
    kinds: PolicyKinds, k: Kind, builder: Any
) -> None:
    both = builder(
        {"subject": {"namespaces": {}, "pods": {"namespaceSelector": {}, "podSelector": {}}}}
    )
    assert fields_of(causes_of(kinds, k, both)) == ["spec.subject"]
    neither = builder({"subject": {}})
    assert fields_of(causes_of(kinds, k, neither)) == ["spec.subject"]
    missing = builder({})
    del missing["spec"]["subject"]
    causes = causes_of(kinds, k, missing)
    assert fields_of(causes) == ["spec.subject"]
    assert causes[0]["reason"] == "FieldValueRequired"


def test_subject_pods_need_a_pod_selector(kinds: PolicyKinds) -> None:
    obj = cnp_obj({"subject": {"pods": {"namespaceSelector": {}}}})
    assert fields_of(causes_of(kinds, CNP, obj)) == ["spec.subject.pods.podSelector"]


@pytest.mark.parametrize(
    ("direction", "peer"),
    [
        ("ingress", {}),
        ("ingress", {"namespaces": {}, "pods": {"namespaceSelector": {}, "podSelector": {}}}),
        ("ingress", {"networks": ["10.0.0.0/8"]}),  # not an ingress peer
        ("egress", {}),
        ("egress", {"namespaces": {}, "networks": ["10.0.0.0/8"]}),
        ("egress", {"pods": {"namespaceSelector": {}, "podSelector": {}}, "nodes": {}}),
    ],
)
@pytest.mark.parametrize(("k", "builder"), [(CNP, cnp_obj), (ANP, anp_obj)])
def test_peer_exactly_one_key(
    kinds: PolicyKinds, k: Kind, builder: Any, direction: str, peer: Obj
) -> None:
    action = "Deny"
    side = "from" if direction == "ingress" else "to"
    rule = {"action": action, side: [ALL_NS, peer]}
    causes = causes_of(kinds, k, builder({direction: [rule]}))
    assert fields_of(causes) == [f"spec.{direction}[0].{side}[1]"]


@pytest.mark.parametrize("peers", [[], None])
@pytest.mark.parametrize(("direction", "side"), [("ingress", "from"), ("egress", "to")])
def test_rule_needs_peers(
    kinds: PolicyKinds, peers: list[Obj] | None, direction: str, side: str
) -> None:
    rule: Obj = {"action": "Deny"}
    if peers is not None:
        rule[side] = peers
    causes = causes_of(kinds, CNP, cnp_obj({direction: [rule]}))
    assert fields_of(causes) == [f"spec.{direction}[0].{side}"]
    assert causes[0]["reason"] == "FieldValueRequired"


@pytest.mark.parametrize(
    ("k", "builder", "action"),
    [
        (CNP, cnp_obj, "Allow"),  # v1alpha2 says Accept
        (CNP, cnp_obj, "accept"),
        (ANP, anp_obj, "Accept"),  # v1alpha1 says Allow
        (BANP, banp_obj, "Pass"),  # a baseline has no Pass
        (BANP, banp_obj, "Accept"),
    ],
)
def test_npapi_actions_per_kind(kinds: PolicyKinds, k: Kind, builder: Any, action: str) -> None:
    causes = causes_of(kinds, k, builder({"ingress": [{"action": action, "from": [ALL_NS]}]}))
    assert fields_of(causes) == ["spec.ingress[0].action"]


@pytest.mark.parametrize(("start", "end"), [(80, 80), (81, 80), (65535, 1)])
def test_protocols_range_start_below_end(kinds: PolicyKinds, start: int, end: int) -> None:
    rng = {"range": {"start": start, "end": end}}
    rule = {**INGRESS_DENY_ALL, "protocols": [{"tcp": {"destinationPort": rng}}]}
    causes = causes_of(kinds, CNP, cnp_obj({"ingress": [rule]}))
    assert fields_of(causes) == ["spec.ingress[0].protocols[0].tcp.destinationPort.range"]


@pytest.mark.parametrize(("start", "end"), [(80, 80), (90, 80)])
def test_ports_range_start_below_end(kinds: PolicyKinds, start: int, end: int) -> None:
    rule = {**INGRESS_DENY_ALL, "ports": [{"portRange": {"start": start, "end": end}}]}
    causes = causes_of(kinds, ANP, anp_obj({"ingress": [rule]}))
    assert fields_of(causes) == ["spec.ingress[0].ports[0].portRange"]


def test_protocols_port_number_range(kinds: PolicyKinds) -> None:
    bad = {"udp": {"destinationPort": {"number": 0}}}
    rule = {**INGRESS_DENY_ALL, "protocols": [{"tcp": {}}, bad]}
    causes = causes_of(kinds, CNP, cnp_obj({"ingress": [rule]}))
    assert fields_of(causes) == ["spec.ingress[0].protocols[1].udp.destinationPort.number"]


def test_protocols_entry_exactly_one_protocol(kinds: PolicyKinds) -> None:
    entry: Obj = {"tcp": {}, "udp": {}}
    rule = {**INGRESS_DENY_ALL, "protocols": [entry]}
    causes = causes_of(kinds, CNP, cnp_obj({"ingress": [rule]}))
    assert fields_of(causes) == ["spec.ingress[0].protocols[0]"]


def test_npapi_bad_networks_cidr(kinds: PolicyKinds) -> None:
    rule = {"action": "Deny", "to": [{"networks": ["10.0.0.0/8", "10.0.0.0/40"]}]}
    causes = causes_of(kinds, CNP, cnp_obj({"egress": [rule]}))
    assert fields_of(causes) == ["spec.egress[0].to[0].networks[1]"]


def test_npapi_at_most_100_rules(kinds: PolicyKinds) -> None:
    kinds.hook("create", CNP, cnp_obj({"ingress": [INGRESS_DENY_ALL] * 100}), None)
    causes = causes_of(kinds, CNP, cnp_obj({"ingress": [INGRESS_DENY_ALL] * 101}))
    assert fields_of(causes) == ["spec.ingress"]


def test_npapi_message_lists_every_cause(kinds: PolicyKinds) -> None:
    obj = cnp_obj({"tier": "Nope", "priority": 2000, "ingress": [{"action": "Deny", "from": []}]})
    causes = causes_of(kinds, CNP, obj)
    assert fields_of(causes) == ["spec.tier", "spec.priority", "spec.ingress[0].from"]


def test_calico_and_kubernetes_networkpolicies_are_separate_resources() -> None:
    """Same resource name, other group: one of each with one name are two objects."""
    store = Store()
    k8s = find("networking.k8s.io", "networkpolicies")
    calico = find("projectcalico.org", "networkpolicies")
    namespaces = find("", "namespaces")
    assert k8s is not None and calico is not None and namespaces is not None
    store.create(namespaces, None, {"metadata": {"name": "prod"}}, hooks=False)
    store.create(k8s, "prod", {"metadata": {"name": "x"}, "spec": {}}, hooks=False)
    store.create(calico, "prod", {"metadata": {"name": "x"}, "spec": {}}, hooks=False)
    assert len(store.items(k8s)) == 1
    assert len(store.items(calico)) == 1
    assert store.items(calico)[0]["apiVersion"] == "projectcalico.org/v3"
