"""Server-side printing: ``meta.k8s.io/v1 Table`` answers for ``kubectl get`` (with -o wide)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from netpol_sandbox.kinds import Kind
from netpol_sandbox.store import Obj

Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)


def age(stamp: str | None, at: datetime | None = None) -> str:
    """Like kubectl's short durations: 42s, 5m3s, 3h, 2d."""
    if not stamp:
        return "<unknown>"
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int(((at or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _pod_status(pod: Obj) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Pending")


def _pod_cells(pod: Obj) -> list[Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    total = len(spec.get("containers") or [])
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        _pod_status(pod),
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        "<none>",
        "<none>",
    ]


def _service_cells(svc: Obj) -> list[Any]:
    spec = svc.get("spec") or {}
    ports = (
        ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
        or "<none>"
    )
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        svc["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        "<none>",
        ports,
        age(svc["metadata"].get("creationTimestamp")),
        selector or "<none>",
    ]


def _selector_text(selector: Any) -> str:
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        parts.append(
            f"{expr.get('key')} {expr.get('operator')} ({values})"
            if values
            else f"{expr.get('key')} {expr.get('operator')}"
        )
    return ",".join(parts) or "<none>"


def _endpoints_cells(ep: Obj) -> list[Any]:
    addresses = []
    for subset in ep.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or []:
                addresses.append(f"{address['ip']}:{port['port']}")
    text = ",".join(addresses[:3]) + (
        f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    )
    return [ep["metadata"]["name"], text or "<none>", age(ep["metadata"].get("creationTimestamp"))]


def _event_cells(ev: Obj) -> list[Any]:
    involved = ev.get("involvedObject") or {}
    return [
        age(ev.get("lastTimestamp")),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        ev.get("message", ""),
    ]


#: (API group, resource) -> the columns kubectl shows; other kinds get DEFAULT_COLUMNS
#: (by group too: projectcalico.org has networkpolicies of its own, without podSelector).
COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "pods"): [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ],
    ("", "services"): [
        ("Name", "string", 0),
        ("Type", "string", 0),
        ("Cluster-IP", "string", 0),
        ("External-IP", "string", 0),
        ("Port(s)", "string", 0),
        ("Age", "string", 0),
        ("Selector", "string", 1),
    ],
    ("", "namespaces"): [("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
    ("networking.k8s.io", "networkpolicies"): [
        ("Name", "string", 0),
        ("Pod-Selector", "string", 0),
        ("Age", "string", 0),
    ],
    ("", "endpoints"): [("Name", "string", 0), ("Endpoints", "string", 0), ("Age", "string", 0)],
    ("", "events"): [
        ("Last Seen", "string", 0),
        ("Type", "string", 0),
        ("Reason", "string", 0),
        ("Object", "string", 0),
        ("Message", "string", 0),
    ],
}
DEFAULT_COLUMNS: list[Column] = [("Name", "string", 0), ("Age", "string", 0)]


def cells(kind: Kind, obj: Obj) -> list[Any]:
    meta = obj["metadata"]
    key = (kind.group, kind.resource)
    if key == ("", "pods"):
        return _pod_cells(obj)
    if key == ("", "services"):
        return _service_cells(obj)
    if key == ("", "namespaces"):
        return [
            meta["name"],
            (obj.get("status") or {}).get("phase", "Active"),
            age(meta.get("creationTimestamp")),
        ]
    if key == ("networking.k8s.io", "networkpolicies"):
        return [
            meta["name"],
            _selector_text((obj.get("spec") or {}).get("podSelector")),
            age(meta.get("creationTimestamp")),
        ]
    if key == ("", "endpoints"):
        return _endpoints_cells(obj)
    if key == ("", "events"):
        return _event_cells(obj)
    return [meta["name"], age(meta.get("creationTimestamp"))]


def table(
    kind: Kind, objects: list[Obj], resource_version: str, include: str = "Metadata"
) -> dict[str, Any]:
    columns = COLUMNS.get((kind.group, kind.resource), DEFAULT_COLUMNS)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(kind, obj)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": type_,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, type_, priority in columns
        ],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    return "as=Table" in accept
