"""The Calico and network-policy-api case tables as scenario files, for engine and sandbox.

``tests/policy/test_calico.py`` (CASES: Calico's policy reference, one cell each) and the
network-policy-api conformance transcription (``tests/policy/conformance``) check the
engine on synthetic objects. Here the same policies become scenarios: the same
namespaces and pods as workloads, the case's objects as the manifest, its cells as
``expect``. One set of files is then judged twice: by the engine (``--netpol-static``)
and live on the sandbox, whose nftables dataplane is a separate implementation
(netpol_sandbox/tiered.py). Both must pass every cell.

Rewrites that keep each case's meaning: the CIDRs that name the synthetic addresses
become run-time placeholders (``${podCIDR:tool}``...); a Tier (cluster-wide and shared
by name) gets the case's name in its own, so cases running at once cannot change each
other's tiers.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from tests.policy import test_calico as tc
from tests.policy.conformance import network_policy_api as npa

#: What the synthetic CIDRs of the case table stand for, as placeholders.
_NETS = {
    "10.0.1.0/24": ["${podCIDR:tool}"],  # dev/tool's network
    "10.0.0.0/24": ["${podCIDR:web}", "${podCIDR:api}"],  # prod's two pods
}

CALICO_WORKLOADS: list[dict[str, Any]] = [
    {
        "name": "web",
        "namespace": "prod",
        "labels": {"app": "web"},
        "ports": [{"port": 80, "name": "http"}],
    },
    {
        "name": "api",
        "namespace": "prod",
        "labels": {"app": "api", "tier": "backend"},
        "ports": [{"port": 8080, "name": "http"}],
        "serviceAccount": {"name": "api-sa", "labels": {"group": "backend"}},
    },
    {"name": "tool", "namespace": "dev", "labels": {"app": "tool", "role": "intruder"}},
]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:30].strip("-")


def _rewrite_nets(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            if key in ("nets", "notNets", "networks") and isinstance(child, list):
                out[key] = [n for c in child for n in _NETS.get(str(c), [str(c)])]
            else:
                out[key] = _rewrite_nets(child)
        return out
    if isinstance(value, list):
        return [_rewrite_nets(v) for v in value]
    return value


def _own_tiers(objs: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """Tiers renamed ``<tier>-<suffix>``; their policies follow (name prefix and spec.tier)."""
    names = {o["metadata"]["name"] for o in objs if o["kind"] == "Tier"}
    out = []
    for obj in copy.deepcopy(objs):
        meta = obj["metadata"]
        if obj["kind"] == "Tier":
            meta["name"] = f"{meta['name']}-{suffix}"
        spec = obj.get("spec") or {}
        tier = spec.get("tier")
        if obj["apiVersion"] == "projectcalico.org/v3" and tier in names:
            spec["tier"] = f"{tier}-{suffix}"
            if str(meta["name"]).startswith(f"{tier}."):
                meta["name"] = f"{tier}-{suffix}.{str(meta['name'])[len(str(tier)) + 1 :]}"
        out.append(obj)
    return out


def _cell(src: str, dst: str, port: int | str, proto: str, workload: dict[str, str]) -> str:
    return f"{workload[src]} -> {workload[dst]}:{port}/{proto}"


def _scenario(
    name: str,
    namespaces: list[dict[str, Any]],
    workloads: list[dict[str, Any]],
    cells: list[tuple[str, bool]],
    description: str,
) -> dict[str, Any]:
    return {
        "apiVersion": "netpol-harness.dev/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": name, "description": description[:200]},
        "namespaces": namespaces,
        "workloads": workloads,
        "manifests": ["policies.yaml"],
        "expect": {
            "allow": [c for c, ok in cells if ok],
            "deny": [c for c, ok in cells if not ok],
        },
    }


def write_scenario(
    directory: Path, name: str, doc: dict[str, Any], objs: list[dict[str, Any]]
) -> None:
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policies.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False))
    (folder / f"{name}.netpol.yaml").write_text(
        yaml.safe_dump({k: v for k, v in doc.items() if v != []}, sort_keys=False, width=200)
    )


def calico_cases() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Scenario name -> (scenario document, manifest objects), one per CASES entry."""
    ns_labels = {
        o["metadata"]["name"]: o["metadata"].get("labels") or {}
        for o in tc.WORLD
        if o["kind"] == "Namespace"
    }
    namespaces = [
        {"name": n, "labels": ns_labels[n]} if ns_labels[n] else {"name": n}
        for n in ("prod", "dev")
    ]
    by_ref = {f"{w['namespace']}/{w['name']}": str(w["name"]) for w in CALICO_WORKLOADS}
    out = {}
    for index, (case, (ref, objs, src, dst, port, proto, allowed)) in enumerate(tc.CASES.items()):
        name = f"calico-{index:02d}-{_slug(case)}"
        manifests = _rewrite_nets(_own_tiers(objs, f"c{index:02d}"))
        cell = _cell(src, dst, port, proto, by_ref)
        doc = _scenario(name, namespaces, CALICO_WORKLOADS, [(cell, allowed)], ref)
        out[name] = (doc, manifests)
    return out


def conformance_cases() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The conformance sub-tests, one scenario per distinct set of objects."""
    namespaces = [
        {"name": npa.namespace(h), "labels": {"conformance-house": h}} for h in npa.HOUSES
    ]
    workloads = [
        {
            "name": f"{pod}-{i}",
            "namespace": npa.namespace(house),
            "labels": {"conformance-house": house, "pod": f"{pod}-{i}"},
            "ports": [80, 8080, "53/UDP", "5353/UDP"],
        }
        for house, pod in npa.HOUSES.items()
        for i in range(2)
    ]
    by_ref = {f"{w['namespace']}/{w['name']}": str(w["name"]) for w in workloads}
    groups: dict[str, tuple[list[dict[str, Any]], list[tuple[str, bool]], str]] = {}
    for _subtest, (order, truth) in npa.CNP_INGRESS_TCP.items():
        key = "cnp-admin-ingress-" + "".join(map(str, order))
        objs = [npa.cnp_ingress_tcp(order)]
        entry = groups.setdefault(key, (objs, [], "CNPAdminTierIngressTCP"))
        entry[1].extend((_cell(s, d, p, pr, by_ref), ok) for s, d, p, pr, ok in truth)
    for _subtest, (ingress, egress, with_np, truth) in npa.INTEGRATION.items():
        key = f"anp-integration-{ingress}-{egress}-{'np' if with_np else 'no-np'}".lower()
        objs = npa.integration(ingress, egress, with_np)
        entry = groups.setdefault(key, (objs, [], "AdminNetworkPolicyIntegration"))
        entry[1].extend((_cell(s, d, p, pr, by_ref), ok) for s, d, p, pr, ok in truth)
    out = {}
    for key, (objs, cells, source) in groups.items():
        unique = list(dict.fromkeys(cells))
        out[key] = (_scenario(key, namespaces, workloads, unique, source), objs)
    return out


#: Scenarios also written with every expectation inverted: these must FAIL, cell by cell
#: (a control: a dataplane or engine that ignored these kinds would pass some of them).
CONTROLS = (
    "deny-rule-denies",  # CASES keys
    "pass-to-default-tier-k8s",
    "admin-priority-lower-first",
    "anp-integration-pass-pass-no-np",  # a conformance scenario
)
INVERTED = "-inverted"


def _inverted(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["metadata"]["name"] = doc["metadata"]["name"][:30] + INVERTED
    expect = doc["expect"]
    out["expect"] = {"allow": expect["deny"], "deny": expect["allow"]}
    return out


def write_all(directory: Path) -> dict[str, int]:
    """Write every case's scenario under ``directory`` (and the inverted CONTROLS);
    scenario name -> its cell count."""
    counts = {}
    for name, (doc, objs) in {**calico_cases(), **conformance_cases()}.items():
        case = name.split("-", 2)[-1] if name.startswith("calico-") else name
        controls = {*CONTROLS, *(_slug(c) for c in CONTROLS)}
        docs = [doc, _inverted(doc)] if case in controls else [doc]
        for one in docs:
            write_scenario(directory, one["metadata"]["name"], one, objs)
            counts[one["metadata"]["name"]] = len(one["expect"]["allow"]) + len(
                one["expect"]["deny"]
            )
    return counts
