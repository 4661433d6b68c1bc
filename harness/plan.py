"""Scenario -> Plan: the Kubernetes objects to create and the probes to run. Pure.

Every namespace the scenario creates gets a run suffix (``web`` ->
``web-<run_id>``), so parallel runs never collide; the manifests under test are
rewritten to the suffixed names (``metadata.namespace`` and
``kubernetes.io/metadata.name`` in namespace selectors). Namespaces marked
``existing`` keep their names and are never created or deleted.

Probe pods satisfy the Pod Security "restricted" profile.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
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
from harness.model import Port
from harness.model import Probe
from harness.model import ProbeKind
from harness.model import Scenario
from harness.model import TargetKind
from harness.model import Workload

RUN_ID = re.compile(r"^[a-z0-9]{1,8}$")
#: The non-root user and group the probe containers run as.
PROBE_UID = 65532
CLUSTER_DOMAIN = "cluster.local"
DNS_HOST = f"kube-dns.kube-system.svc.{CLUSTER_DOMAIN}"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
NGINX_CONF_ENV = "NETPOL_NGINX_CONF"

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
) -> Plan:
    """The plan of one run of ``scenario``; ``created`` is the RFC 3339 creation time."""
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must match [a-z0-9]{{1,8}}")
    namespace_map = {
        ns.name: ns.name if ns.existing else f"{ns.name}-{run_id}" for ns in scenario.namespaces
    }
    common = {
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        RUN_LABEL: run_id,
        SCENARIO_LABEL: scenario.name,
    }
    namespaces = tuple(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace_map[ns.name],
                "labels": {**ns.labels, **common},
                "annotations": {CREATED_ANNOTATION: created},
            },
        }
        for ns in scenario.namespaces
        if not ns.existing
    )
    pods = tuple(_pod(w, namespace_map[w.namespace], common, images) for w in scenario.workloads)
    services = tuple(
        _service(w, namespace_map[w.namespace], common)
        for w in scenario.workloads
        if w.is_server and _service_ports(w)
    )
    manifests = tuple(_map_manifest(doc, namespace_map) for doc in scenario.manifests)
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
    probes = sorted((_probe(plan, cell) for cell in scenario.cells), key=lambda p: p.id)
    return Plan(
        scenario=scenario,
        run_id=run_id,
        namespace_map=namespace_map,
        namespaces=namespaces,
        pods=pods,
        services=services,
        manifests=manifests,
        probes=tuple(probes),
    )


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


_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}


def _pod(w: Workload, namespace: str, common: Mapping[str, str], images: Images) -> dict[str, Any]:
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
        containers.append(
            {
                "name": "client",
                "image": images.client,
                "imagePullPolicy": "IfNotPresent",
                "command": list(CLIENT_COMMAND),
                "securityContext": _security_context(),
                "resources": copy.deepcopy(_RESOURCES),
            }
        )
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": PROBE_UID,
        "runAsGroup": PROBE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if w.is_server and any(p.number < 1024 for p in w.ports):
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": w.name,
            "namespace": namespace,
            "labels": {**w.labels, **common, WORKLOAD_LABEL: w.name},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": "Always",
            "securityContext": pod_security,
            "containers": containers,
        },
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


def _map_manifest(doc: ManifestDoc, namespace_map: Mapping[str, str]) -> ManifestDoc:
    body = copy.deepcopy(dict(doc.body))
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("namespace"), str):
        meta["namespace"] = namespace_map.get(meta["namespace"], meta["namespace"])
    _map_selectors(body, namespace_map)
    return ManifestDoc(body, doc.source)


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
        probe_kind = ProbeKind.UDP if cell.protocol == "UDP" else ProbeKind.TCP
        return Probe(probe_id, cell, probe_kind, source, cell.port, cell.protocol, host=ext.address)
    probe_kind = ProbeKind.UDP if cell.protocol == "UDP" else ProbeKind.HTTP
    target = plan.pod_of(cell.target.name)
    if kind is TargetKind.SERVICE:
        host = f"{target.name}.{target.namespace}.svc.{CLUSTER_DOMAIN}"
        return Probe(probe_id, cell, probe_kind, source, cell.port, cell.protocol, host=host)
    return Probe(probe_id, cell, probe_kind, source, cell.port, cell.protocol, target_pod=target)
