"""Validation of the Calico and network-policy-api policy kinds, as their servers do it.

A store hook: a ``projectcalico.org/v3`` object is checked as Calico's API (the v3 CRDs
with the calico-webhooks admission) checks it, a ``policy.networking.k8s.io`` object as
its CRD's OpenAPI schema and CEL rules do; a mistake is a 422 Invalid with every cause,
and nothing is stored. Defaulting: a Calico policy without ``tier`` is in ``default``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.calico_selectors import SelectorSyntax
from netpol_sandbox.calico_selectors import compile_selector
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.store import Store

Obj = dict[str, Any]
Cause = tuple[str, str, str]

TIERS = find("projectcalico.org", "tiers")
CALICO_ACTIONS = ("Allow", "Deny", "Pass", "Log")
CALICO_PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP", "UDPLite")
NPAPI_ACTIONS = {
    "ClusterNetworkPolicy": ("Accept", "Deny", "Pass"),
    "AdminNetworkPolicy": ("Allow", "Deny", "Pass"),
    "BaselineAdminNetworkPolicy": ("Allow", "Deny"),
}


def _bad(field: str, value: Any, message: str) -> Cause:
    return ("FieldValueInvalid", field, f'Invalid value: "{value}": {message}')


def _need(field: str) -> Cause:
    return ("FieldValueRequired", field, "Required value")


def _selector(field: str, text: Any) -> list[Cause]:
    if text is None:
        return []
    if not isinstance(text, str):
        return [_bad(field, text, "must be a selector string")]
    try:
        compile_selector(text)
    except SelectorSyntax as exc:
        return [_bad(field, text, str(exc))]
    return []


def _cidrs(field: str, raw: Any) -> list[Cause]:
    causes: list[Cause] = []
    for i, text in enumerate(raw or []):
        try:
            ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            causes.append(_bad(f"{field}[{i}]", text, "must be a CIDR"))
    return causes


def _calico_ports(field: str, raw: Any) -> list[Cause]:
    causes: list[Cause] = []
    for i, port in enumerate(raw or []):
        where = f"{field}[{i}]"
        if isinstance(port, bool):
            causes.append(_bad(where, port, "must be a port, a range or a name"))
        elif isinstance(port, int):
            if not 0 <= port <= 65535:
                causes.append(_bad(where, port, "must be 0-65535"))
        elif isinstance(port, str) and ":" in port:
            lo, _, hi = port.partition(":")
            if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi) or int(hi) > 65535:
                causes.append(_bad(where, port, "must be a range lo:hi within 0-65535"))
        elif not isinstance(port, str) or not port:
            causes.append(_bad(where, port, "must be a port, a range or a name"))
    return causes


def _calico_entity(field: str, raw: Any, source: bool) -> list[Cause]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [_bad(field, raw, "must be an object")]
    causes: list[Cause] = []
    for key in ("selector", "notSelector", "namespaceSelector"):
        causes += _selector(f"{field}.{key}", raw.get(key))
    causes += _cidrs(f"{field}.nets", raw.get("nets"))
    causes += _cidrs(f"{field}.notNets", raw.get("notNets"))
    causes += _calico_ports(f"{field}.ports", raw.get("ports"))
    causes += _calico_ports(f"{field}.notPorts", raw.get("notPorts"))
    sa = raw.get("serviceAccounts")
    if isinstance(sa, Mapping):
        causes += _selector(f"{field}.serviceAccounts.selector", sa.get("selector"))
    del source
    return causes


def _calico_rule(field: str, rule: Any) -> list[Cause]:
    if not isinstance(rule, Mapping):
        return [_bad(field, rule, "must be an object")]
    causes: list[Cause] = []
    action = rule.get("action")
    if action not in CALICO_ACTIONS:
        causes.append(_bad(f"{field}.action", action, "must be Allow, Deny, Pass or Log"))
    protocol = rule.get("protocol")
    for key in ("protocol", "notProtocol"):
        value = rule.get(key)
        if value is None:
            continue
        ok = (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 255) or (
            isinstance(value, str)
            and (value in CALICO_PROTOCOLS or (value.isdigit() and 1 <= int(value) <= 255))
        )
        if not ok:
            causes.append(_bad(f"{field}.{key}", value, "must be a protocol name or 1-255"))
    for side in ("source", "destination"):
        entity = rule.get(side)
        causes += _calico_entity(f"{field}.{side}", entity, side == "source")
        has_ports = isinstance(entity, Mapping) and (entity.get("ports") or entity.get("notPorts"))
        if has_ports and protocol not in PORT_PROTOCOLS and protocol not in (6, 17, 132, 136):
            causes.append(
                _bad(
                    f"{field}.protocol",
                    protocol,
                    "ports need protocol TCP, UDP, SCTP or UDPLite",
                )
            )
    return causes


def _calico_policy(kind: str, spec: Mapping[str, Any]) -> list[Cause]:
    causes = _selector("spec.selector", spec.get("selector"))
    causes += _selector("spec.serviceAccountSelector", spec.get("serviceAccountSelector"))
    if kind == "GlobalNetworkPolicy":
        causes += _selector("spec.namespaceSelector", spec.get("namespaceSelector"))
    elif spec.get("namespaceSelector") is not None:
        causes.append(
            _bad("spec.namespaceSelector", spec["namespaceSelector"], "field not allowed")
        )
    order = spec.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int | float)):
        causes.append(_bad("spec.order", order, "must be a number"))
    for t in spec.get("types") or []:
        if t not in ("Ingress", "Egress"):
            causes.append(_bad("spec.types", t, "must be Ingress or Egress"))
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(spec.get(direction) or []):
            causes += _calico_rule(f"spec.{direction}[{i}]", rule)
    return causes


def _label_selector(field: str, raw: Any) -> list[Cause]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [_bad(field, raw, "must be a label selector")]
    causes: list[Cause] = []
    for i, expr in enumerate(raw.get("matchExpressions") or []):
        op = expr.get("operator") if isinstance(expr, Mapping) else None
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            causes.append(
                _bad(f"{field}.matchExpressions[{i}].operator", op, "not a valid operator")
            )
    return causes


def _one_of(
    field: str, raw: Mapping[str, Any], keys: tuple[str, ...]
) -> tuple[str | None, list[Cause]]:
    present = [k for k in keys if raw.get(k) is not None]
    if len(present) != 1:
        return None, [
            _bad(
                field, ",".join(present) or "none", f"exactly one of {', '.join(keys)} must be set"
            )
        ]
    return present[0], []


def _npapi_peers(field: str, peers: Any, egress: bool) -> list[Cause]:
    if not isinstance(peers, list) or not peers:
        return [_need(field)]
    keys = (
        ("namespaces", "pods", "networks", "nodes", "domainNames")
        if egress
        else ("namespaces", "pods")
    )
    causes: list[Cause] = []
    for i, peer in enumerate(peers):
        where = f"{field}[{i}]"
        if not isinstance(peer, Mapping):
            causes.append(_bad(where, peer, "must be an object"))
            continue
        key, more = _one_of(where, peer, keys)
        causes += more
        if key == "namespaces":
            causes += _label_selector(f"{where}.namespaces", peer[key])
        elif key == "pods":
            pods = peer[key]
            if not isinstance(pods, Mapping) or pods.get("podSelector") is None:
                causes.append(_need(f"{where}.pods.podSelector"))
        elif key == "networks":
            causes += _cidrs(f"{where}.networks", peer[key])
    return causes


def _npapi_port_number(field: str, value: Any) -> list[Cause]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return [_bad(field, value, "must be 1-65535")]
    return []


def _npapi_range(field: str, raw: Any) -> list[Cause]:
    if not isinstance(raw, Mapping):
        return [_need(field)]
    causes = _npapi_port_number(f"{field}.start", raw.get("start"))
    causes += _npapi_port_number(f"{field}.end", raw.get("end"))
    if not causes and raw["start"] >= raw["end"]:
        causes.append(
            _bad(f"{field}", f"{raw['start']}-{raw['end']}", "start must be less than end")
        )
    return causes


def _npapi_rule(kind: str, field: str, rule: Any, egress: bool) -> list[Cause]:
    if not isinstance(rule, Mapping):
        return [_bad(field, rule, "must be an object")]
    causes: list[Cause] = []
    actions = NPAPI_ACTIONS[kind]
    if rule.get("action") not in actions:
        causes.append(
            _bad(f"{field}.action", rule.get("action"), f"supported values: {', '.join(actions)}")
        )
    causes += _npapi_peers(
        f"{field}.{'to' if egress else 'from'}", rule.get("to" if egress else "from"), egress
    )
    for i, entry in enumerate(rule.get("protocols") or []):
        where = f"{field}.protocols[{i}]"
        key, more = _one_of(where, entry, ("tcp", "udp", "sctp", "destinationNamedPort"))
        causes += more
        if key in ("tcp", "udp", "sctp"):
            dport = (entry[key] or {}).get("destinationPort")
            if dport is not None:
                which, more = _one_of(f"{where}.{key}.destinationPort", dport, ("number", "range"))
                causes += more
                if which == "number":
                    causes += _npapi_port_number(
                        f"{where}.{key}.destinationPort.number", dport["number"]
                    )
                elif which == "range":
                    causes += _npapi_range(f"{where}.{key}.destinationPort.range", dport["range"])
    for i, entry in enumerate(rule.get("ports") or []):
        where = f"{field}.ports[{i}]"
        key, more = _one_of(where, entry, ("portNumber", "portRange", "namedPort"))
        causes += more
        if key == "portNumber":
            causes += _npapi_port_number(f"{where}.portNumber.port", (entry[key] or {}).get("port"))
        elif key == "portRange":
            causes += _npapi_range(f"{where}.portRange", entry[key])
    return causes


def _npapi_policy(kind: str, name: str, spec: Mapping[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if kind == "ClusterNetworkPolicy" and spec.get("tier") not in ("Admin", "Baseline"):
        causes.append(_bad("spec.tier", spec.get("tier"), "supported values: Admin, Baseline"))
    if kind == "BaselineAdminNetworkPolicy":
        if name != "default":
            causes.append(
                _bad(
                    "metadata.name",
                    name,
                    'Only one baseline admin network policy with metadata.name="default" can '
                    "be created in the cluster",
                )
            )
    else:
        priority = spec.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
            causes.append(_bad("spec.priority", priority, "must be 0-1000"))
    subject = spec.get("subject")
    if not isinstance(subject, Mapping):
        causes.append(_need("spec.subject"))
    else:
        key, more = _one_of("spec.subject", subject, ("namespaces", "pods"))
        causes += more
        if key == "pods" and (
            not isinstance(subject["pods"], Mapping) or subject["pods"].get("podSelector") is None
        ):
            causes.append(_need("spec.subject.pods.podSelector"))
    for direction in ("ingress", "egress"):
        rules = spec.get(direction) or []
        if len(rules) > 100:
            causes.append(_bad(f"spec.{direction}", len(rules), "must have at most 100 items"))
        for i, rule in enumerate(rules):
            causes += _npapi_rule(kind, f"spec.{direction}[{i}]", rule, direction == "egress")
    return causes


class PolicyKinds:
    """The store hook (it needs the store: a Calico policy's tier must exist)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def hook(self, operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
        if kind.group not in ("projectcalico.org", "policy.networking.k8s.io"):
            return
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        spec = obj.get("spec")
        if spec is None:
            spec = obj["spec"] = {}
        causes: list[Cause] = []
        if not isinstance(spec, dict):
            causes.append(_bad("spec", spec, "must be an object"))
        elif kind.kind in ("NetworkPolicy", "GlobalNetworkPolicy"):
            spec.setdefault("tier", "default")
            causes += _calico_policy(kind.kind, spec)
            tier = spec.get("tier")
            if tier != "default" and (
                not isinstance(tier, str)
                or TIERS is None
                or self.store.find(TIERS, None, tier) is None
            ):
                causes.append(
                    _bad("spec.tier", tier, "tier does not exist (create the Tier first)")
                )
        elif kind.kind == "Tier":
            action = spec.get("defaultAction")
            if action not in (None, "Deny", "Pass"):
                causes.append(_bad("spec.defaultAction", action, "must be Deny or Pass"))
            order = spec.get("order")
            if order is not None and (
                isinstance(order, bool) or not isinstance(order, int | float)
            ):
                causes.append(_bad("spec.order", order, "must be a number"))
        else:
            causes += _npapi_policy(kind.kind, name, spec)
        if causes:
            raise ApiError.invalid(kind.kind, name, causes, kind.group)
