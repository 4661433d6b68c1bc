"""In-place runs: probing existing workloads instead of probe pods. Pure.

Nothing is created or applied; the probes run in an ephemeral container added to a
real pod (:func:`ephemeral_container`), or in a fallback probe pod copying its labels
(:func:`fallback_pod`), and target the real pods and Services. :func:`mesh_of` tells
when a service mesh sidecar would answer in the policies' place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.model import APPS_CONTROLLER_LABELS
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from harness.model import SCENARIO_LABEL
from harness.model import WORKLOAD_LABEL
from harness.model import Plan
from harness.model import PodRef
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Scenario
from harness.model import TargetKind
from harness.model import kind_for
from harness.plan.common import CLUSTER_DOMAIN
from harness.plan.common import DNS_HOST
from harness.plan.common import PROBE_UID
from harness.plan.common import check_run_id
from harness.plan.pods import client_container
from harness.plan.pods import security_context

#: In place: how long the ephemeral probe container lives (seconds). Kubernetes cannot
#: remove an ephemeral container; its command exits after this and it stays "terminated".
EPHEMERAL_LIFETIME = 3600
#: Name prefix of the ephemeral probe containers (reused while they run).
EPHEMERAL_PREFIX = "netpol-probe-"
#: In place: controller-specific labels NOT copied onto a fallback probe pod (a
#: ReplicaSet/StatefulSet/DaemonSet selector carries them: copying would invite adoption).
CONTROLLER_LABELS = APPS_CONTROLLER_LABELS


def build_in_place(
    scenario: Scenario,
    run_id: str,
    *,
    sources: Mapping[str, PodRef] | None = None,
    targets: Mapping[str, PodRef] | None = None,
) -> Plan:
    """The plan of an in-place run: nothing to create or apply, only probes.

    ``sources`` maps a workload to the pod its probes run in (the real pod holding
    the ephemeral probe container, or a fallback probe pod); ``targets`` maps a
    workload to the real pod whose IP is probed. Both are chosen at run time
    (:mod:`harness.live.inplace`: the first Running and Ready pod of the selector). A
    workload missing from them gets the placeholder ``PodRef(namespace, workload)``,
    so a plan exists even when the run cannot start (its cells report why).
    Pod targets are probed with ``ProbeKind.TCP`` (a real port, not a probe
    server); svc: cells probe the workload's real Service by DNS name.
    """
    check_run_id(run_id)
    if not scenario.in_place:
        raise ValueError(f"scenario {scenario.name!r} has no in-place (selector:) workloads")
    sources = sources or {}
    targets = targets or {}

    def placeholder(workload: str) -> PodRef:
        return PodRef(scenario.workload(workload).namespace, workload)

    probes: list[Probe] = []
    for cell in scenario.cells:
        probe_id = cell.test_id(scenario.name)
        source = sources.get(cell.source) or placeholder(cell.source)
        kind = cell.target.kind
        if kind is TargetKind.DNS:
            probes.append(
                Probe(
                    probe_id, cell, ProbeKind.DNS, source, cell.port, cell.protocol, host=DNS_HOST
                )
            )
            continue
        probe_kind = kind_for(kind, cell.protocol, probe_server=False)
        if kind is TargetKind.EXTERNAL:
            ext = scenario.external(cell.target.name)
            probes.append(
                Probe(
                    probe_id, cell, probe_kind, source, cell.port, cell.protocol, host=ext.address
                )
            )
            continue
        w = scenario.workload(cell.target.name)
        target = targets.get(w.name) or placeholder(w.name)
        host = None
        if kind is TargetKind.SERVICE:
            host = f"{w.service or w.name}.{w.namespace}.svc.{CLUSTER_DOMAIN}."
        probes.append(
            Probe(
                probe_id,
                cell,
                probe_kind,
                source,
                cell.port,
                cell.protocol,
                host=host,
                target_pod=target,
            )
        )
    return Plan(
        scenario=scenario,
        run_id=run_id,
        namespace_map={ns.name: ns.name for ns in scenario.namespaces},
        namespaces=(),
        pods=(),
        services=(),
        manifests=(),
        probes=tuple(sorted(probes, key=lambda p: p.id)),
    )


def ephemeral_name(run_id: str) -> str:
    """The ephemeral probe container's name: one per source pod per run."""
    check_run_id(run_id)
    return f"{EPHEMERAL_PREFIX}{run_id}"


#: Service mesh sidecars that capture a pod's outbound traffic, and the UID whose
#: traffic their iptables rules leave alone (the proxy's own): (name, uid).
MESH_SIDECARS: dict[str, tuple[str, int]] = {
    "istio-proxy": ("Istio", 1337),
    "linkerd-proxy": ("Linkerd", 2102),
}
_MESH_ANNOTATIONS: dict[str, str] = {
    "sidecar.istio.io/status": "istio-proxy",
    "linkerd.io/proxy-version": "linkerd-proxy",
}


def mesh_of(pod: Mapping[str, Any]) -> tuple[str, int] | None:
    """The service mesh whose sidecar redirects this pod's outbound traffic, if any.

    Detected by the sidecar container (also as a native sidecar: an init container
    with restartPolicy Always), or by the injector's annotation. A probe from inside
    such a pod would hit the local proxy, whose handshake always completes: every
    deny cell would fail and every allow cell pass, whatever the policies say.
    """
    spec = pod.get("spec") or {}
    names = {
        str(c.get("name")) for key in ("containers", "initContainers") for c in spec.get(key) or []
    }
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    names |= {sidecar for key, sidecar in _MESH_ANNOTATIONS.items() if key in annotations}
    for sidecar, mesh in MESH_SIDECARS.items():
        if sidecar in names:
            return mesh
    return None


def ephemeral_container(
    run_id: str, images: Images = DEFAULT_IMAGES, *, uid: int = PROBE_UID
) -> dict[str, Any]:
    """The ephemeral probe container added to a real pod (Pod Security "restricted").

    Its command sleeps ``EPHEMERAL_LIFETIME`` seconds and exits: an ephemeral
    container cannot be removed, so it must not run forever. No ports, probes or
    resources: the API forbids them on ephemeral containers. ``uid``: in a meshed
    pod, the proxy's UID, whose traffic the mesh does not redirect (mesh_of).
    """
    return {
        "name": ephemeral_name(run_id) + ("" if uid == PROBE_UID else f"-u{uid}"),
        "image": images.client,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", str(EPHEMERAL_LIFETIME)],
        "stdin": False,
        "tty": False,
        "securityContext": {
            **security_context(),
            "runAsUser": uid,
            "runAsGroup": uid,
        },
    }


def fallback_pod(
    source: Mapping[str, Any],
    run_id: str,
    scenario: str,
    workload: str,
    images: Images = DEFAULT_IMAGES,
) -> dict[str, Any]:
    """A probe pod standing in for ``source`` (a real pod): same namespace, same labels.

    Controller-specific labels (:data:`CONTROLLER_LABELS`) are not copied; the
    harness's run, scenario and workload labels are added (cleanup by run label), and
    managed-by unless the source has one. Callers must first
    check that no Service or controller selects the copied labels.
    """
    meta = source.get("metadata") or {}
    copied = {
        str(k): str(v) for k, v in (meta.get("labels") or {}).items() if k not in CONTROLLER_LABELS
    }
    labels = {**copied, RUN_LABEL: run_id, SCENARIO_LABEL: scenario, WORKLOAD_LABEL: workload}
    # A copied managed-by (Helm sets one on pods) stays: policies may select on it.
    labels.setdefault(MANAGED_BY_LABEL, MANAGED_BY_VALUE)
    name = f"netpol-probe-{run_id}-{workload}"[:63].rstrip("-")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": str(meta.get("namespace", "")),
            "labels": labels,
        },
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": EPHEMERAL_LIFETIME,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": PROBE_UID,
                "runAsGroup": PROBE_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [client_container(images)],
        },
    }
