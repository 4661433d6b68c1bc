"""Upstream test steps as scenario files (``*.netpol.yaml`` + a policy manifest).

One scenario per step: namespaces x, y, z (labelled ``ns: <name>``, plus the step's
label changes), nine workloads ``xa``, ``xb``, ... ``zc`` (labelled ``pod: a``...,
plus the step's label changes) serving TCP 80 and 81 under upstream's port names
``serve-80-tcp`` / ``serve-81-tcp``, the step's policies as ``policies.yaml``, and an
``expect:`` that lists every probed cell explicitly (no ``default``), allow or deny,
from the upstream truth table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.fidelity import upstream as up

#: The live subset: (upstream test name, step number) -> scenario name suffix.
#: TCP only, chosen to cover ingress, egress, podSelector, namespaceSelector (matchLabels,
#: In/NotIn, a label added later), AND/OR peers, numeric and named ports, policyTypes,
#: several policies on one pod and policies on both ends of a connection.
LIVE: dict[tuple[str, int], str] = {
    ("should support a 'default-deny-all' policy", 1): "deny-all",
    ("should enforce policy to allow ingress traffic for a target", 1): "target-allow",
    ("should enforce policy based on PodSelector or NamespaceSelector", 1): "pod-or-ns",
    ("should enforce policy based on PodSelector and NamespaceSelector", 1): "pod-and-ns",
    ("should enforce multiple, stacked policies with overlapping podSelectors", 1): "stacked",
    ("should allow ingress access from namespace on one named port", 1): "named-ingress",
    ("should allow egress access on one named port", 1): "named-egress",
    ("should allow ingress access from updated namespace", 2): "ns-label",
    ("should work with Ingress, Egress specified together", 1): "ingress-egress",
    (
        "should support denying of egress traffic on the client side (even if the server "
        "explicitly allows this traffic)",
        1,
    ): "client-egress",
    (
        "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin "
        "doesn't support SCTP",
        1,
    ): "sctp-not-tcp",
    (
        "should enforce policy based on NamespaceSelector with MatchExpressions using default ns "
        "label",
        1,
    ): "egress-notin",
}


def workload(pod: str) -> str:
    """``x/a`` -> ``xa`` (workload names are unique per scenario)."""
    return pod.replace("/", "")


def pod_of(workload_name: str) -> str:
    return f"{workload_name[0]}/{workload_name[1:]}"


def scenario_name(test: up.UpstreamTest, number: int) -> str:
    """A DNS label of at most 40 characters, unique per (test, step)."""
    slug = LIVE.get((test.name, number))
    if slug is None:
        index = up.TCP_TESTS.index(test) + 1
        slug = f"t{index:02d}-s{number}"
    name = f"upstream-{slug}"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 40, name
    return name


def expected_cells(step: up.Step) -> dict[str, bool]:
    """``"xa -> xb:80"`` -> allowed, for every probe of the step (TCP only)."""
    out: dict[str, bool] = {}
    for pr in step.probes:
        if pr.protocol != "TCP":
            raise ValueError(
                f"only TCP probes can be written as scenario cells here, not {pr.protocol}"
            )
        for (src, dst), allowed in pr.table().items():
            out[f"{workload(src)} -> {workload(dst)}:{pr.port}"] = allowed
    return out


def scenario_document(test: up.UpstreamTest, number: int, step: up.Step) -> dict[str, Any]:
    cells = expected_cells(step)
    expect: dict[str, Any] = {}
    allowed = sorted(c for c, ok in cells.items() if ok)
    denied = sorted(c for c, ok in cells.items() if not ok)
    if allowed:
        expect["allow"] = allowed
    if denied:
        expect["deny"] = denied
    return {
        "apiVersion": "netpol-harness.dev/v1alpha1",
        "kind": "Scenario",
        "metadata": {
            "name": scenario_name(test, number),
            "description": f"upstream e2e [{test.suite}] {test.name} (step "
            "{number}/{len(test.steps)})",
        },
        "settings": {"connectTimeout": "1s", "convergence": "30s"},
        "namespaces": [
            {"name": ns, "labels": {"ns": ns, **step.namespace_labels.get(ns, {})}}
            for ns in up.NAMESPACES
        ],
        "workloads": [
            {
                "name": workload(pod),
                "namespace": pod.split("/")[0],
                "labels": up.pod_labels(step, pod),
                "ports": [{"port": p, "name": up.port_name(p, "TCP")} for p in up.PORTS],
            }
            for pod in up.PODS
        ],
        "manifests": ["policies.yaml"] if step.policies else [],
        "expect": expect,
    }


def write(directory: Path, test: up.UpstreamTest, number: int, step: up.Step) -> Path:
    """Write ``<directory>/<name>/{<name>.netpol.yaml, policies.yaml}``; return the scenario "
    "path."""
    name = scenario_name(test, number)
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    if step.policies:
        (folder / "policies.yaml").write_text(
            yaml.safe_dump_all([dict(p) for p in step.policies], sort_keys=False)
        )
    path = folder / f"{name}.netpol.yaml"
    path.write_text(
        yaml.safe_dump(scenario_document(test, number, step), sort_keys=False, width=200)
    )
    return path


def live_cases() -> list[tuple[up.UpstreamTest, int, up.Step]]:
    by_name = {t.name: t for t in up.TCP_TESTS}
    return [(by_name[name], n, by_name[name].steps[n - 1]) for name, n in LIVE]


def tcp_cases() -> list[tuple[up.UpstreamTest, int, up.Step]]:
    """Every TCP-only step (those without a UDP probe) that needs no live pod IP."""
    return [
        (t, n, s)
        for t in up.TCP_TESTS
        if not t.needs_pod_ips
        for n, s in enumerate(t.steps, 1)
        if all(p.protocol == "TCP" for p in s.probes)
    ]
