"""The probe pods and Services of a hermetic run, and the probe containers they share.

Probe pods satisfy the Pod Security "restricted" profile: non-root (:data:`PROBE_UID`),
no privilege escalation, every capability dropped, the runtime's seccomp profile. A
server runs nginx answering "ok" on its ports (:func:`nginx_conf`); a client sleeps
until the runner execs its probe batch (memory-capped: :func:`client_job_limit`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from harness.images import Images
from harness.model import WORKLOAD_LABEL
from harness.model import Port
from harness.model import Workload
from harness.plan.common import PROBE_UID

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


def security_context() -> dict[str, Any]:
    """A probe container's securityContext (Pod Security "restricted")."""
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


def probe_pod(
    w: Workload,
    namespace: str,
    common: Mapping[str, str],
    images: Images,
    pull_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The probe pod standing in for workload ``w``: a server container, a client, or both."""
    containers: list[dict[str, Any]] = []
    if w.is_server:
        server: dict[str, Any] = {
            "name": "server",
            "image": images.server,
            "imagePullPolicy": "IfNotPresent",
            "command": list(SERVER_COMMAND),
            "env": [{"name": NGINX_CONF_ENV, "value": nginx_conf(w.ports)}],
            "ports": [_container_port(p) for p in w.ports],
            "securityContext": security_context(),
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
        containers.append(client_container(images))
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
    if w.service_account:
        spec["serviceAccountName"] = w.service_account
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


def client_container(images: Images) -> dict[str, Any]:
    """The probe client container (curl image, restricted), in probe pods and fallbacks."""
    return {
        "name": "client",
        "image": images.client,
        "imagePullPolicy": "IfNotPresent",
        "command": list(CLIENT_COMMAND),
        "securityContext": security_context(),
        "resources": copy.deepcopy(_RESOURCES),
    }


def _container_port(p: Port) -> dict[str, Any]:
    port: dict[str, Any] = {"containerPort": p.number, "protocol": p.protocol}
    if p.name:
        port["name"] = p.name
    return port


def service_ports(w: Workload) -> list[Port]:
    """Ports a Service exposes: the probed ones (SCTP ports are declared-only)."""
    return [p for p in w.ports if p.protocol != "SCTP"]


def service(w: Workload, namespace: str, common: Mapping[str, str]) -> dict[str, Any]:
    """The Service in front of server ``w``'s probe pod (svc: cells probe it by name)."""
    ports = []
    names = {p.name for p in w.ports if p.name}
    for p in service_ports(w):
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
