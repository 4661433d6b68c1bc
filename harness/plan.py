"""Scenario -> Plan: the Kubernetes objects to create and the probes to run. Pure.

Every namespace the scenario creates gets a run suffix (``web`` ->
``web-<run_id>``), so parallel runs never collide; the manifests under test are
rewritten to the suffixed names (``metadata.namespace`` and
``kubernetes.io/metadata.name`` in namespace selectors). Namespaces marked
``existing`` keep their names and are never created or deleted.

Probe pods satisfy the Pod Security "restricted" profile, and the namespaces the
harness creates enforce it (label ``pod-security.kubernetes.io/enforce: restricted``
unless the scenario labels the namespace itself, or ``build(pod_security=None)``).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.model import CREATED_ANNOTATION
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from harness.model import SCENARIO_LABEL
from harness.model import WORKLOAD_LABEL
from harness.model import Cell
from harness.model import ManifestDoc
from harness.model import Plan
from harness.model import PodRef
from harness.model import Port
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Scenario
from harness.model import Target
from harness.model import TargetKind
from harness.model import Workload
from harness.model import kind_for

RUN_ID = re.compile(r"^[a-z0-9]{1,8}$")
#: The non-root user and group the probe containers run as.
PROBE_UID = 65532
#: The cluster domain the plan assumes; the runner reads the real one from a probe pod's
#: resolv.conf (search line) and rewrites the names (with_cluster_domain).
CLUSTER_DOMAIN = "cluster.local"
#: Service names are absolute (trailing dot): no search-list expansion, one lookup.
DNS_HOST = f"kube-dns.kube-system.svc.{CLUSTER_DOMAIN}."
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
NGINX_CONF_ENV = "NETPOL_NGINX_CONF"
#: The Pod Security admission label the created namespaces carry.
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"

#: In place: how long the ephemeral probe container lives (seconds). Kubernetes cannot
#: remove an ephemeral container; its command exits after this and it stays "terminated".
EPHEMERAL_LIFETIME = 3600
#: Name prefix of the ephemeral probe containers (reused while they run).
EPHEMERAL_PREFIX = "netpol-probe-"
#: In place: controller-specific labels NOT copied onto a fallback probe pod (a
#: ReplicaSet/StatefulSet/DaemonSet selector carries them: copying would invite adoption).
CONTROLLER_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
    }
)

CLIENT_COMMAND = (
    "sh",
    "-c",
    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
)
SERVER_COMMAND = (
    "sh",
    "-c",
    f'printf "%s\\n" "${NGINX_CONF_ENV}" > /tmp/nginx.conf'
    " && exec nginx -c /tmp/nginx.conf -g 'daemon off;'",
)


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
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must match [a-z0-9]{{1,8}}")
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
        _pod(w, namespace_map[w.namespace], common, images, pull_secrets)
        for w in scenario.workloads
    )
    services = tuple(
        _service(w, namespace_map[w.namespace], common)
        for w in scenario.workloads
        if w.is_server and _service_ports(w)
    )
    manifests = tuple(
        labelled(_map_manifest(doc, namespace_map), common) for doc in scenario.manifests
    )
    plan = Plan(
        scenario=scenario,
        run_id=run_id,
        namespace_map=namespace_map,
        namespaces=namespaces,
        pods=pods,
        services=services,
        manifests=manifests,
        probes=(),
    )
    probes = tuple(sorted((_probe(plan, cell) for cell in scenario.cells), key=lambda p: p.id))
    planned = replace(plan, probes=probes)
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


def with_cluster_domain(plan: Plan, domain: str) -> Plan:
    """The plan with every cluster name under ``domain`` instead of ``cluster.local``."""
    if domain == CLUSTER_DOMAIN:
        return plan
    old, new = f".svc.{CLUSTER_DOMAIN}.", f".svc.{domain}."

    def moved(probe: Probe) -> Probe:
        host = probe.host or ""
        return replace(probe, host=host[: -len(old)] + new) if host.endswith(old) else probe

    return replace(
        plan,
        probes=tuple(moved(p) for p in plan.probes),
        datapath=tuple(moved(p) for p in plan.datapath),
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


def run_labels(run_id: str, scenario: str) -> dict[str, str]:
    """The labels on every object a run creates (cleanup finds them by these)."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: run_id, SCENARIO_LABEL: scenario}


def labelled(doc: ManifestDoc, common: Mapping[str, str]) -> ManifestDoc:
    """A manifest carrying the run's labels (its own labels win), for cleanup by label."""
    body = dict(doc.body)
    meta = dict(body.get("metadata") or {})
    meta["labels"] = {**common, **dict(meta.get("labels") or {})}
    body["metadata"] = meta
    return ManifestDoc(body, doc.source)


# ---------------------------------------------------------------- pods


def nginx_conf(ports: tuple[Port, ...]) -> str:
    """An nginx config answering "ok" over HTTP on TCP ports and over UDP on UDP ports."""
    tcp = [p.number for p in ports if p.protocol == "TCP"]
    udp = [p.number for p in ports if p.protocol == "UDP"]
    lines = [
        "worker_processes 1;",
        "pid /tmp/nginx.pid;",
        "error_log /dev/stderr warn;",
        "events { worker_connections 1024; }",
    ]
    if tcp:
        lines += [
            "http {",
            "  access_log off;",
            "  client_body_temp_path /tmp/client_temp;",
            "  proxy_temp_path /tmp/proxy_temp;",
            "  fastcgi_temp_path /tmp/fastcgi_temp;",
            "  uwsgi_temp_path /tmp/uwsgi_temp;",
            "  scgi_temp_path /tmp/scgi_temp;",
            "  server {",
            *(f"    listen {n};" for n in tcp),
            '    location / { default_type text/plain; return 200 "ok\\n"; }',
            "  }",
            "}",
        ]
    if udp:
        lines += [
            "stream {",
            "  server {",
            *(f"    listen {n} udp;" for n in udp),
            '    return "ok\\n";',
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


#: The client container's memory limit. The probe batch runs as background jobs inside
#: it (a busybox subshell plus nc or nslookup: about 1 MiB each; curl --parallel is one
#: process for all its transfers), so the limit caps the jobs: client_job_limit().
CLIENT_MEMORY_MIB = 64
#: What the shell, curl and the kernel's bookkeeping take before any job.
_CLIENT_BASE_MIB = 24
_JOB_MIB = 1
_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "16Mi"},
    "limits": {"memory": f"{CLIENT_MEMORY_MIB}Mi"},
}


def client_job_limit(memory_mib: int = CLIENT_MEMORY_MIB) -> int:
    """Concurrent probe jobs that fit the client container's memory limit (40 for 64 MiB).

    More would risk an OOM kill in the middle of a batch: an exec error, retried, slow.
    """
    return max(1, (memory_mib - _CLIENT_BASE_MIB) // _JOB_MIB)


def _pod(
    w: Workload,
    namespace: str,
    common: Mapping[str, str],
    images: Images,
    pull_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    containers: list[dict[str, Any]] = []
    if w.is_server:
        server: dict[str, Any] = {
            "name": "server",
            "image": images.server,
            "imagePullPolicy": "IfNotPresent",
            "command": list(SERVER_COMMAND),
            "env": [{"name": NGINX_CONF_ENV, "value": nginx_conf(w.ports)}],
            "ports": [_container_port(p) for p in w.ports],
            "securityContext": _security_context(),
            "resources": copy.deepcopy(_RESOURCES),
        }
        first_tcp = next((p for p in w.ports if p.protocol == "TCP"), None)
        if first_tcp is not None:
            server["readinessProbe"] = {
                "tcpSocket": {"port": first_tcp.number},
                "periodSeconds": 1,
                "failureThreshold": 3,
            }
        else:
            server["readinessProbe"] = {
                "exec": {"command": ["sh", "-c", "test -s /tmp/nginx.pid"]},
                "periodSeconds": 1,
            }
        containers.append(server)
    if w.is_client:
        containers.append(_client_container(images))
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": PROBE_UID,
        "runAsGroup": PROBE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if w.is_server and any(p.number < 1024 for p in w.ports):
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 1,
        "restartPolicy": "Always",
        "securityContext": pod_security,
        "containers": containers,
    }
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": w.name,
            "namespace": namespace,
            "labels": {**w.labels, **common, WORKLOAD_LABEL: w.name},
        },
        "spec": spec,
    }


def _client_container(images: Images) -> dict[str, Any]:
    """The probe client container (curl image, restricted), in probe pods and fallbacks."""
    return {
        "name": "client",
        "image": images.client,
        "imagePullPolicy": "IfNotPresent",
        "command": list(CLIENT_COMMAND),
        "securityContext": _security_context(),
        "resources": copy.deepcopy(_RESOURCES),
    }


def _container_port(p: Port) -> dict[str, Any]:
    port: dict[str, Any] = {"containerPort": p.number, "protocol": p.protocol}
    if p.name:
        port["name"] = p.name
    return port


def _service_ports(w: Workload) -> list[Port]:
    """Ports a Service exposes: the probed ones (SCTP ports are declared-only)."""
    return [p for p in w.ports if p.protocol != "SCTP"]


def _service(w: Workload, namespace: str, common: Mapping[str, str]) -> dict[str, Any]:
    ports = []
    names = {p.name for p in w.ports if p.name}
    for p in _service_ports(w):
        name = p.name or f"{p.protocol.lower()}-{p.number}"
        while name in names and name != p.name:
            name = f"x{name}"[:15]
        names.add(name)
        ports.append(
            {"name": name, "port": p.number, "targetPort": p.number, "protocol": p.protocol}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": w.name,
            "namespace": namespace,
            "labels": {**common, WORKLOAD_LABEL: w.name},
        },
        "spec": {"selector": {WORKLOAD_LABEL: w.name}, "ports": ports},
    }


# ---------------------------------------------------------------- manifests


#: Cluster-wide policies confined to the run's namespaces (see _confine).
CALICO_VERSION = "projectcalico.org/v3"
CLUSTER_POLICY_KINDS = frozenset(
    {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
)
#: Namespace-name labels whose values a Calico selector string may name.
_CALICO_NAME_KEYS = ("projectcalico.org/name", "projectcalico.org/namespace", NAMESPACE_NAME_LABEL)
_CALICO_NAME_TERM = re.compile(
    r"(?P<key>" + "|".join(re.escape(k) for k in _CALICO_NAME_KEYS) + r")"
    r"(?P<op>\s*(?:==|!=|not\s+in|in)\s*)(?P<rest>\{[^}]*\}|'[^']*'|\"[^\"]*\")"
)
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def _map_manifest(doc: ManifestDoc, namespace_map: Mapping[str, str]) -> ManifestDoc:
    body = copy.deepcopy(dict(doc.body))
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("namespace"), str):
        meta["namespace"] = namespace_map.get(meta["namespace"], meta["namespace"])
    _map_selectors(body, namespace_map)
    kind = body.get("kind")
    if body.get("apiVersion") == CALICO_VERSION and kind in (
        "NetworkPolicy",
        "GlobalNetworkPolicy",
    ):
        _map_calico_selectors(body.get("spec"), namespace_map)
    created = sorted(v for k, v in namespace_map.items() if v != k)
    if str(body.get("apiVersion", "")).startswith("policy.networking.k8s.io/"):
        if kind in CLUSTER_POLICY_KINDS:
            _map_cluster_policy(body, namespace_map, created)
    elif body.get("apiVersion") == CALICO_VERSION and kind == "GlobalNetworkPolicy":
        spec = body.setdefault("spec", {})
        if isinstance(spec, dict):
            spec["namespaceSelector"] = _confined_calico(spec.get("namespaceSelector"), created)
    return ManifestDoc(body, doc.source)


def _confined_calico(selector: Any, created: Sequence[str]) -> str:
    """``selector`` AND "the namespace is one this run creates" (Calico selector syntax)."""
    names = ", ".join(f"'{n}'" for n in created)
    term = f"projectcalico.org/name in {{{names}}}"
    if isinstance(selector, str) and selector.strip():
        return f"({selector}) && {term}"
    return term


def _map_cluster_policy(
    body: dict[str, Any], namespace_map: Mapping[str, str], created: Sequence[str]
) -> None:
    """Map namespace names in ``namespaces`` peers; confine the subject to the run.

    A cluster-wide policy of a hermetic run must not select pods outside the namespaces
    the run creates: its subject gets a ``kubernetes.io/metadata.name In [...]`` term.
    """
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return
    stack: list[Any] = [spec.get("ingress"), spec.get("egress")]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("namespaces"), dict):
                _map_selector(node["namespaces"], namespace_map)
            stack.extend(v for k, v in node.items() if k != "namespaces")
    subject = spec.get("subject")
    if not isinstance(subject, dict):
        return
    term = {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(created)}
    if isinstance(subject.get("namespaces"), dict):
        selector = subject["namespaces"]
    elif isinstance(subject.get("pods"), dict):
        selector = subject["pods"].setdefault("namespaceSelector", {})
        if not isinstance(selector, dict):
            return
    else:
        return
    _map_selector(selector, namespace_map)
    exprs = selector.get("matchExpressions")
    selector["matchExpressions"] = [*(exprs if isinstance(exprs, list) else []), term]


def _map_calico_selectors(value: Any, namespace_map: Mapping[str, str]) -> None:
    """Rewrite namespace names in the selector strings of a Calico policy."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, child in node.items():
                if key in ("selector", "notSelector", "namespaceSelector") and isinstance(
                    child, str
                ):
                    node[key] = _map_calico_names(child, namespace_map)
                else:
                    stack.append(child)


def _map_calico_names(selector: str, namespace_map: Mapping[str, str]) -> str:
    def quoted(m: re.Match[str]) -> str:
        name = m.group(1) if m.group(1) is not None else m.group(2)
        return f"'{namespace_map.get(name, name)}'"

    def term(m: re.Match[str]) -> str:
        return m.group("key") + m.group("op") + _QUOTED.sub(quoted, m.group("rest"))

    return _CALICO_NAME_TERM.sub(term, selector)


def _map_selectors(value: Any, namespace_map: Mapping[str, str]) -> None:
    """Rewrite kubernetes.io/metadata.name in every namespaceSelector below ``value``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, child in node.items():
            if key == "namespaceSelector" and isinstance(child, dict):
                _map_selector(child, namespace_map)
            stack.append(child)


def _map_selector(selector: dict[str, Any], namespace_map: Mapping[str, str]) -> None:
    labels = selector.get("matchLabels")
    if isinstance(labels, dict) and isinstance(labels.get(NAMESPACE_NAME_LABEL), str):
        name = labels[NAMESPACE_NAME_LABEL]
        labels[NAMESPACE_NAME_LABEL] = namespace_map.get(name, name)
    for expr in selector.get("matchExpressions") or ():
        if isinstance(expr, dict) and expr.get("key") == NAMESPACE_NAME_LABEL:
            values = expr.get("values")
            if isinstance(values, list):
                expr["values"] = [
                    namespace_map.get(v, v) if isinstance(v, str) else v for v in values
                ]


# ---------------------------------------------------------------- probes


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


# ---------------------------------------------------------------- in place


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
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must match [a-z0-9]{{1,8}}")
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
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must match [a-z0-9]{{1,8}}")
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
            **_security_context(),
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
            "containers": [_client_container(images)],
        },
    }
