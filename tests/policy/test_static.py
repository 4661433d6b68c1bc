"""Static check of a plan: built from model objects directly (no scenario file)."""

from __future__ import annotations

import ipaddress
from typing import Any

from harness.model import Cell
from harness.model import External
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Plan
from harness.model import PodRef
from harness.model import Port
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Scenario
from harness.model import Source
from harness.model import Target
from harness.model import TargetKind
from harness.model import Workload
from harness.policy.static import check_cell
from harness.policy.static import check_plan
from harness.policy.static import plan_objects
from tests.policy.builders import policy

RUN = "r1"
WORKLOADS = (
    Workload("web", "shop", {"app": "web"}, (Port(80),)),
    Workload("api", "shop", {"app": "api"}, (Port(80), Port(9090, name="metrics"))),
    Workload("outside", "other", {"app": "outside"}, (Port(80),)),
)
PARTNER = External("partner", "203.0.113.10", 443)


def _pod(w: Workload) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": w.name, "namespace": f"{w.namespace}-{RUN}", "labels": dict(w.labels)},
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "ports": [
                        {
                            "containerPort": p.number,
                            "protocol": p.protocol,
                            **({"name": p.name} if p.name else {}),
                        }
                        for p in w.ports
                    ],
                }
            ]
        },
    }


def _probe(
    source: str, kind: TargetKind, name: str, port: int, expect: str, protocol: str = "TCP"
) -> Probe:
    cell = Cell(source, Target(kind, name), port, protocol, expect)  # type: ignore[arg-type]
    src = PodRef("shop-r1" if source != "outside" else "other-r1", source)
    if kind is TargetKind.POD:
        ns = "other-r1" if name == "outside" else "shop-r1"
        return Probe(
            cell.test_id("t"),
            cell,
            ProbeKind.HTTP,
            src,
            port,
            cell.protocol,
            target_pod=PodRef(ns, name),
        )
    if kind is TargetKind.SERVICE:
        return Probe(
            cell.test_id("t"),
            cell,
            ProbeKind.HTTP,
            src,
            port,
            cell.protocol,
            host=f"{name}.shop-r1.svc.cluster.local",
        )
    if kind is TargetKind.DNS:
        return Probe(
            cell.test_id("t"), cell, ProbeKind.DNS, src, 53, "UDP", host="kubernetes.default"
        )
    return Probe(
        cell.test_id("t"), cell, ProbeKind.TCP, src, port, cell.protocol, host=PARTNER.address
    )


def make_plan(
    policies: list[dict[str, Any]],
    probes: list[Probe],
    extra_pods: tuple[dict[str, Any], ...] = (),
    namespaces: tuple[Namespace, ...] = (Namespace("shop", {"team": "shop"}), Namespace("other")),
) -> Plan:
    scenario = Scenario(
        name="t",
        path="t.netpol.yaml",
        namespaces=namespaces,
        workloads=WORKLOADS,
        externals=(PARTNER,),
        manifests=tuple(ManifestDoc(p, Source("policies.yaml", 1)) for p in policies),
        cells=tuple(p.cell for p in probes),
    )
    namespace_map = {ns.name: ns.name if ns.existing else f"{ns.name}-{RUN}" for ns in namespaces}
    return Plan(
        scenario=scenario,
        run_id=RUN,
        namespace_map=namespace_map,
        namespaces=tuple(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace_map[ns.name], "labels": dict(ns.labels)},
            }
            for ns in namespaces
            if not ns.existing
        ),
        pods=tuple(_pod(w) for w in WORKLOADS) + extra_pods,
        services=(),
        manifests=scenario.manifests,
        probes=tuple(probes),
    )


API_FROM_WEB = policy(
    "shop-r1",
    "api-from-web",
    {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [
            {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 80}]}
        ],
    },
)
WEB_EGRESS_ONLY_API = policy(
    "shop-r1",
    "web-egress",
    {
        "podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}]}],
    },
)
ALLOW_DNS = policy(
    "shop-r1",
    "allow-dns",
    {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"port": 53, "protocol": "UDP"}],
            }
        ],
    },
)


def test_pod_target_expectation_holds() -> None:
    allow = _probe("web", TargetKind.POD, "api", 80, "allow")
    deny = _probe("outside", TargetKind.POD, "api", 80, "deny")
    plan = make_plan([API_FROM_WEB], [allow, deny])
    assert check_cell(plan, allow)[0] is True
    holds, why = check_cell(plan, deny)
    assert holds is True
    assert "policies predict deny, scenario expects deny" in why
    assert "shop-r1/api-from-web" in why


def test_pod_target_wrong_expectation_is_reported() -> None:
    wrong = _probe("web", TargetKind.POD, "api", 9090, "allow")
    holds, why = check_cell(make_plan([API_FROM_WEB], [wrong]), wrong)
    assert holds is False
    assert why.startswith("policies predict deny, scenario expects allow")
    assert "no ingress rule of these policies matches" in why


def test_service_target_needs_dns() -> None:
    """The backing pod admits web, but web cannot look the Service name up."""
    by_pod = _probe("web", TargetKind.POD, "api", 80, "allow")
    by_service = _probe("web", TargetKind.SERVICE, "api", 80, "allow")
    plan = make_plan([API_FROM_WEB, WEB_EGRESS_ONLY_API], [by_pod, by_service])
    assert check_cell(plan, by_pod)[0] is True
    holds, why = check_cell(plan, by_service)
    assert holds is False
    assert "lookup fails first" in why
    fixed = make_plan([API_FROM_WEB, WEB_EGRESS_ONLY_API, ALLOW_DNS], [by_service])
    assert check_cell(fixed, by_service)[0] is True


def test_service_target_follows_backing_pod_policy() -> None:
    probe = _probe("outside", TargetKind.SERVICE, "api", 80, "deny")
    assert check_cell(make_plan([API_FROM_WEB], [probe]), probe)[0] is True


def test_dns_target() -> None:
    probe = _probe("web", TargetKind.DNS, "dns", 53, "allow", "UDP")
    assert check_cell(make_plan([], [probe]), probe)[0] is True
    assert check_cell(make_plan([WEB_EGRESS_ONLY_API], [probe]), probe)[0] is False
    assert check_cell(make_plan([WEB_EGRESS_ONLY_API, ALLOW_DNS], [probe]), probe)[0] is True


def test_external_target_uses_ip_blocks() -> None:
    probe = _probe("web", TargetKind.EXTERNAL, "partner", 443, "allow")
    to_partner = policy(
        "shop-r1",
        "to-partner",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443}]}],
        },
    )
    assert check_cell(make_plan([WEB_EGRESS_ONLY_API], [probe]), probe)[0] is False
    assert check_cell(make_plan([WEB_EGRESS_ONLY_API, to_partner], [probe]), probe)[0] is True


def test_check_plan_one_result_per_probe() -> None:
    probes = [
        _probe("web", TargetKind.POD, "api", 80, "allow"),
        _probe("outside", TargetKind.POD, "api", 80, "allow"),  # wrong on purpose
        _probe("web", TargetKind.DNS, "dns", 53, "allow", "UDP"),
    ]
    results = check_plan(make_plan([API_FROM_WEB], probes))
    assert [r[0] for r in results] == probes
    assert [r[1] for r in results] == [True, False, True]


def test_synthetic_ips_and_dns_pod_added() -> None:
    objs = plan_objects(make_plan([API_FROM_WEB], []))
    pods = [o for o in objs if o["kind"] == "Pod"]
    ips = [o["status"]["podIP"] for o in pods]
    assert len(set(ips)) == len(ips) == 4
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.255.0.0/16") for ip in ips)
    dns = [o for o in pods if o["metadata"]["namespace"] == "kube-system"]
    assert [d["metadata"]["name"] for d in dns] == ["coredns"]
    assert dns[0]["metadata"]["labels"] == {"k8s-app": "kube-dns"}
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"][-1] == "kube-system"


def test_plan_dns_pod_is_not_duplicated() -> None:
    own = {
        "kind": "Pod",
        "metadata": {
            "name": "dns-0",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "status": {"podIP": "10.96.5.5"},
    }
    objs = plan_objects(make_plan([], [], extra_pods=(own,)))
    dns = [o for o in objs if o["kind"] == "Pod" and o["metadata"]["namespace"] == "kube-system"]
    assert [d["metadata"]["name"] for d in dns] == ["dns-0"]
    assert dns[0]["status"]["podIP"] == "10.96.5.5"


def test_existing_namespace_labels_count() -> None:
    """A namespace the scenario only refers to is not created, but its labels select."""
    from_monitoring = policy(
        "shop-r1",
        "from-monitoring",
        {
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"purpose": "monitoring"}}}]}
            ],
        },
    )
    probe = _probe("outside", TargetKind.POD, "api", 80, "allow")
    namespaces = (Namespace("shop"), Namespace("other", {"purpose": "monitoring"}, existing=True))
    plan = make_plan([from_monitoring], [probe], namespaces=namespaces)
    # the probe's source pod lives in the unsuffixed existing namespace
    probe = Probe(
        probe.id,
        probe.cell,
        probe.kind,
        PodRef("other", "outside"),
        80,
        "TCP",
        target_pod=PodRef("shop-r1", "api"),
    )
    pods = tuple(
        {**p, "metadata": {**p["metadata"], "namespace": "other"}}
        if p["metadata"]["name"] == "outside"
        else p
        for p in plan.pods
    )
    plan = Plan(
        plan.scenario,
        plan.run_id,
        plan.namespace_map,
        plan.namespaces,
        pods,
        (),
        plan.manifests,
        (probe,),
    )
    assert check_cell(plan, probe)[0] is True
