"""Hand-built Plans for the live tests (independent of harness.plan)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness import plan as planning
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from harness.model import Cell
from harness.model import Expectation
from harness.model import L4Protocol
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Plan
from harness.model import PodRef
from harness.model import Port
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Scenario
from harness.model import Settings
from harness.model import Source
from harness.model import Target
from harness.model import TargetKind
from harness.model import Workload


def make_probe(
    scenario: str,
    source: str,
    target: str,
    port: int,
    expect: Expectation,
    *,
    ns: str = "ns-r1",
    protocol: L4Protocol = "TCP",
    kind: ProbeKind = ProbeKind.HTTP,
    target_kind: TargetKind = TargetKind.POD,
    host: str | None = None,
) -> Probe:
    cell = Cell(source, Target(target_kind, target), port, protocol, expect)
    target_pod = PodRef(ns, target) if target_kind is TargetKind.POD else None
    return Probe(
        id=cell.test_id(scenario),
        cell=cell,
        kind=kind,
        source_pod=PodRef(ns, source),
        port=port,
        protocol=protocol,
        host=host,
        target_pod=target_pod,
    )


def _pod(name: str, ns: str, run_id: str, server: bool) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [{"name": "client", "image": "curl"}]
    if server:
        containers.append({"name": "server", "image": "nginx"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": name, RUN_LABEL: run_id, MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        },
        "spec": {"containers": containers},
    }


def make_plan(
    cells: list[tuple[str, str, int, Expectation]],
    *,
    name: str = "demo",
    run_id: str = "r1",
    settings: Settings | None = None,
    policies: list[dict[str, Any]] | None = None,
) -> Plan:
    """A one-namespace plan: workloads named in ``cells`` (source, target, port, expect)."""
    ns = f"ns-{run_id}"
    names = sorted({c[0] for c in cells} | {c[1] for c in cells})
    servers = {c[1] for c in cells}
    ports = {t: tuple(sorted({p for (_, tt, p, _) in cells if tt == t})) for t in servers}
    workloads = tuple(
        Workload(
            name=n,
            namespace="ns",
            labels={"app": n},
            ports=tuple(Port(p) for p in ports.get(n, ())),
            role="both" if n in servers else "client",
        )
        for n in names
    )
    probes = tuple(
        sorted(
            (make_probe(name, s, t, p, e, ns=ns) for (s, t, p, e) in cells),
            key=lambda pr: pr.id,
        )
    )
    scenario = Scenario(
        name=name,
        path=f"/x/{name}.netpol.yaml",
        namespaces=(Namespace("ns"),),
        workloads=workloads,
        externals=(),
        manifests=(),
        cells=tuple(sorted((p.cell for p in probes), key=lambda c: c.key)),
        settings=settings or Settings(connect_timeout=1.0, convergence_budget=30.0),
    )
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {RUN_LABEL: run_id, MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        },
    }
    pods = tuple(_pod(n, ns, run_id, n in servers) for n in names)
    services = tuple(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": n, "namespace": ns},
            "spec": {"selector": {"app": n}, "ports": [{"port": p} for p in ports[n]]},
        }
        for n in sorted(servers)
    )
    manifests = tuple(
        planning.labelled(
            ManifestDoc(body=p, source=Source(f"/x/{name}.yaml", i + 1)),
            planning.run_labels(run_id, name),
        )
        for i, p in enumerate(policies or [])
    )
    plan = Plan(
        scenario=scenario,
        run_id=run_id,
        namespace_map={"ns": ns},
        namespaces=(namespace,),
        pods=pods,
        services=services,
        manifests=manifests,
        probes=probes,
    )
    return replace(plan, datapath=planning.datapath_probes(plan))
