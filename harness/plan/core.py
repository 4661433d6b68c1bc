"""The hermetic plan: namespaces, probe pods, Services, manifests and every probe. Pure.

:func:`build` puts the parts together (probe pods and Services:
:mod:`harness.plan.pods`; the manifests rewritten for the run:
:mod:`harness.plan.manifests`); the probes that prove the data path first
(:func:`datapath_probes`) and the cluster domain a run finds (:func:`with_cluster_domain`)
are here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.model import CREATED_ANNOTATION
from harness.model import Cell
from harness.model import ManifestDoc
from harness.model import Plan
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Scenario
from harness.model import Target
from harness.model import TargetKind
from harness.model import kind_for
from harness.plan.common import CLUSTER_DOMAIN
from harness.plan.common import DNS_HOST
from harness.plan.common import check_run_id
from harness.plan.manifests import labelled
from harness.plan.manifests import map_manifest
from harness.plan.manifests import run_labels
from harness.plan.pods import probe_pod
from harness.plan.pods import service
from harness.plan.pods import service_ports
from harness.plan.steps import plan_steps

#: The Pod Security admission label the created namespaces carry.
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"


def run_id_from(testrun_uid: str, worker: str) -> str:
    """A run id ([a-z0-9]{8}) from xdist's testrun_uid and the worker id ("gw0", "master")."""
    digest = hashlib.sha256(f"{testrun_uid}\0{worker}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(8):
        number, rest = divmod(number, 36)
        chars.append(alphabet[rest])
    return "".join(chars)


def build(
    scenario: Scenario,
    run_id: str,
    *,
    images: Images = DEFAULT_IMAGES,
    created: str,
    pull_secrets: Sequence[str] = (),
    pod_security: str | None = "restricted",
) -> Plan:
    """The plan of one run of ``scenario``; ``created`` is the RFC 3339 creation time.

    ``pod_security``: the Pod Security level the created namespaces enforce (label
    ``pod-security.kubernetes.io/enforce``; None: no label; a scenario's own label wins).

    ``pull_secrets``: Secret names for the probe pods' ``imagePullSecrets`` (a private
    registry or mirror); each must exist in every namespace the pods run in.
    """
    check_run_id(run_id)
    namespace_map = {
        ns.name: ns.name if ns.existing else f"{ns.name}-{run_id}" for ns in scenario.namespaces
    }
    common = run_labels(run_id, scenario.name)
    namespaces = tuple(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace_map[ns.name],
                "labels": {
                    **({POD_SECURITY_LABEL: pod_security} if pod_security else {}),
                    **ns.labels,
                    **common,
                },
                "annotations": {CREATED_ANNOTATION: created},
            },
        }
        for ns in scenario.namespaces
        if not ns.existing
    )
    pods = tuple(
        probe_pod(w, namespace_map[w.namespace], common, images, pull_secrets)
        for w in scenario.workloads
    )
    services = tuple(
        service(w, namespace_map[w.namespace], common)
        for w in scenario.workloads
        if w.is_server and service_ports(w)
    )
    accounts = {
        (namespace_map[w.namespace], w.service_account): w.service_account_labels
        for w in scenario.workloads
        if w.service_account and w.service_account != "default"
    }
    service_accounts = tuple(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **common}},
            "automountServiceAccountToken": False,
        }
        for (namespace, name), labels in sorted(accounts.items())
    )

    def mapped(doc: ManifestDoc) -> ManifestDoc:
        return labelled(map_manifest(doc, namespace_map, run_id), common)

    manifests = tuple(mapped(doc) for doc in scenario.manifests)
    plan = Plan(
        scenario=scenario,
        run_id=run_id,
        namespace_map=namespace_map,
        namespaces=namespaces,
        pods=pods,
        services=services,
        manifests=manifests,
        probes=(),
        service_accounts=service_accounts,
    )
    probes = tuple(sorted((_probe(plan, cell) for cell in scenario.cells), key=lambda p: p.id))
    planned = replace(plan, probes=probes)
    planned = replace(planned, steps=plan_steps(planned, mapped, _probe))
    return replace(planned, datapath=datapath_probes(planned))


def cluster_domain_of(resolv_conf: str) -> str | None:
    """The cluster domain a pod's resolv.conf names: ``svc.<domain>`` on the search line."""
    for line in resolv_conf.splitlines():
        words = line.split()
        if words[:1] == ["search"]:
            for word in words[1:]:
                if word.startswith("svc.") and len(word) > 4:
                    return word[4:].rstrip(".")
    return None


def uses_cluster_names(plan: Plan) -> bool:
    """Whether any probe looks a name up under the cluster domain (Services, DNS)."""
    suffix = f".svc.{CLUSTER_DOMAIN}."
    return any((p.host or "").endswith(suffix) for p in (*plan.probes, *plan.datapath))


def host_in_domain(host: str, domain: str) -> str:
    """A planned cluster name (``....svc.cluster.local.``) under ``domain``; others as given."""
    old = f".svc.{CLUSTER_DOMAIN}."
    return host[: -len(old)] + f".svc.{domain}." if host.endswith(old) else host


def with_cluster_domain(plan: Plan, domain: str) -> Plan:
    """The plan with every cluster name under ``domain`` instead of ``cluster.local``."""
    if domain == CLUSTER_DOMAIN:
        return plan

    def moved(probe: Probe) -> Probe:
        host = probe.host or ""
        return replace(probe, host=host_in_domain(host, domain)) if host else probe

    return replace(
        plan,
        probes=tuple(moved(p) for p in plan.probes),
        datapath=tuple(moved(p) for p in plan.datapath),
        steps=tuple(replace(s, probes=tuple(moved(p) for p in s.probes)) for s in plan.steps),
    )


def datapath_probes(plan: Plan) -> tuple[Probe, ...]:
    """What proves the data path before any policy: each must connect, or no verdict.

    Every target the plan probes (a pod port, a Service port, an external address,
    the cluster DNS) is probed once, from the first client (by probe id) with a cell
    to it, and every client probes at least once (its first cell, else a TCP port of
    another server). A target that does not answer now is broken infrastructure (not
    served, not routed, no DNS): were it probed only after the policies, its silence
    would pass as a deny.
    """
    chosen: dict[str, Probe] = {}
    covered: set[str] = set()

    def take(probe: Probe) -> None:
        cell = replace(probe.cell, expect="allow")
        key = f"datapath::{cell.key}"
        chosen.setdefault(key, replace(probe, id=key, cell=cell))
        covered.add(probe.cell.source)

    first: dict[tuple[str, str, int, str], Probe] = {}
    for probe in plan.probes:
        target = probe.cell.target
        first.setdefault((target.kind.value, target.name, probe.port, probe.protocol), probe)
    for probe in first.values():
        take(probe)
    for w in plan.scenario.workloads:
        if not w.is_client or w.name in covered:
            continue
        own = next((p for p in plan.probes if p.cell.source == w.name), None)
        if own is not None:
            take(own)
            continue
        server = next(
            (
                s
                for s in plan.scenario.workloads
                if s.is_server and s.name != w.name and any(p.protocol == "TCP" for p in s.ports)
            ),
            None,
        )
        if server is None:
            continue
        port = next(p.number for p in server.ports if p.protocol == "TCP")
        cell = Cell(w.name, Target(TargetKind.POD, server.name), port, "TCP", "allow")
        chosen[f"datapath::{cell.key}"] = Probe(
            id=f"datapath::{cell.key}",
            cell=cell,
            kind=kind_for(TargetKind.POD, "TCP"),
            source_pod=plan.pod_of(w.name),
            port=port,
            protocol="TCP",
            target_pod=plan.pod_of(server.name),
        )
    return tuple(sorted(chosen.values(), key=lambda p: p.id))


def _probe(plan: Plan, cell: Cell) -> Probe:
    scenario = plan.scenario
    source = plan.pod_of(cell.source)
    probe_id = cell.test_id(scenario.name)
    kind = cell.target.kind
    if kind is TargetKind.DNS:
        return Probe(probe_id, cell, ProbeKind.DNS, source, cell.port, cell.protocol, host=DNS_HOST)
    if kind is TargetKind.EXTERNAL:
        ext = scenario.external(cell.target.name)
        probe_kind = kind_for(kind, cell.protocol)
        return Probe(probe_id, cell, probe_kind, source, cell.port, cell.protocol, host=ext.address)
    probe_kind = kind_for(kind, cell.protocol)
    target = plan.pod_of(cell.target.name)
    if kind is TargetKind.SERVICE:
        host = f"{target.name}.{target.namespace}.svc.{CLUSTER_DOMAIN}."
        return Probe(probe_id, cell, probe_kind, source, cell.port, cell.protocol, host=host)
    return Probe(probe_id, cell, probe_kind, source, cell.port, cell.protocol, target_pod=target)
