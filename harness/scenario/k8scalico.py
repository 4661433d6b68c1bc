"""Calico (projectcalico.org/v3) and network-policy-api checks of the object validation.

Calico NetworkPolicy, GlobalNetworkPolicy and Tier (resource reference, Calico 3.32);
AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy
(policy.networking.k8s.io). Calico selector strings are checked by the parser a caller
registers (:func:`register_selector_check`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import partial
from typing import Any

from harness.scenario.checker import did_you_mean
from harness.scenario.checker import is_int
from harness.scenario.checker import port_name_problem
from harness.scenario.checker import type_name
from harness.scenario.k8sbase import K8sChecker
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo

#: Checks a Calico selector: None, or (0-based offset, problem). The parser lives in
#: harness.policy.selectors, which this layer may not import (the stages are independent):
#: a caller above both (predict, the plugin) registers it. Unregistered, only the shape of
#: a selector is checked here; the engine still refuses a bad one when it parses it.
SelectorCheck = Callable[[str], "tuple[int, str] | None"]
_SELECTOR_CHECKS: list[SelectorCheck] = []


def register_selector_check(check: SelectorCheck) -> None:
    _SELECTOR_CHECKS[:] = [check]


#: Checks one item of a list field: (the item, its line, its name such as ``spec.egress[0]``).
ItemCheck = Callable[[Any, int, str], None]


CALICO_VERSION = "projectcalico.org/v3"
_CALICO_POLICY_KEYS = (
    "order",
    "tier",
    "selector",
    "namespaceSelector",
    "serviceAccountSelector",
    "types",
    "ingress",
    "egress",
    "doNotTrack",
    "preDNAT",
    "applyOnForward",
    "performanceHints",
)
_CALICO_RULE_KEYS = (
    "action",
    "protocol",
    "notProtocol",
    "icmp",
    "notICMP",
    "ipVersion",
    "source",
    "destination",
    "http",
    "metadata",
)
_CALICO_ENTITY_KEYS = (
    "nets",
    "notNets",
    "selector",
    "notSelector",
    "namespaceSelector",
    "ports",
    "notPorts",
    "serviceAccounts",
    "services",
)
_CALICO_PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")
#: The network-policy-api kinds checked, by (apiVersion, kind).
CLUSTER_KINDS = {
    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"),
    ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"),
    ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"),
    ("policy.networking.k8s.io/v1beta1", "ClusterNetworkPolicy"),
}
_CLUSTER_ACTIONS = {
    "ClusterNetworkPolicy": ("Accept", "Deny", "Pass"),
    "AdminNetworkPolicy": ("Allow", "Deny", "Pass"),
    "BaselineAdminNetworkPolicy": ("Allow", "Deny"),
}


class CalicoChecks(K8sChecker):
    """The checks of the Calico kinds and the cluster-wide policy kinds."""

    # -- list fields (the NetworkPolicy checks use them too)

    def each(self, obj: YMap, key: str, what: str, check: ItemCheck) -> None:
        """``check(item, line, what)`` of every item of the list ``obj[key]``, when set.

        The errors of each item are collected: one bad item does not hide the next.
        """
        if obj.get(key) is None:
            return
        items = self.listing(obj[key], obj.value_line(key), f"{what}.{key}")
        for i, item in enumerate(items):
            with self.collecting():
                check(item, items.item_line(i), f"{what}.{key}[{i}]")

    def ingress_egress(self, obj: YMap, key: str, what: str) -> YList | None:
        """The list ``obj[key]`` (named ``what``), when set: every value Ingress or Egress.

        Calico's ``spec.types`` and NetworkPolicy's ``policyTypes``.
        """
        if obj.get(key) is None:
            return None
        types = self.listing(obj[key], obj.value_line(key), what)
        for i, value in enumerate(types):
            if value not in ("Ingress", "Egress"):
                raise self.fail(
                    types.item_line(i),
                    f"{what} value {echo(value)} is not supported",
                    did_you_mean(str(value), ["Ingress", "Egress"], "supported values"),
                )
        return types

    # -- Calico projectcalico.org/v3 (NetworkPolicy resource reference, Calico 3.32)

    def enum(self, obj: YMap, key: str, allowed: tuple[str, ...], what: str) -> None:
        value = obj.get(key)
        if value is not None and value not in allowed:
            raise self.fail(
                obj.value_line(key),
                f"{what}.{key} {echo(value)} is not supported",
                did_you_mean(str(value), allowed, "supported values"),
            )

    def calico_selector(self, obj: YMap, key: str, what: str) -> None:
        value = obj.get(key)
        if value is None:
            return
        line = obj.value_line(key)
        if not isinstance(value, str):
            raise self.fail(
                line,
                f"{what}.{key} must be a selector string, got {type_name(value)}",
                "e.g. app == 'web' && has(tier)",
            )
        for check in _SELECTOR_CHECKS:
            found = check(value)
            if found is not None:
                offset, problem = found
                raise self.fail(
                    line, f"{what}.{key} {echo(value)}: at column {offset + 1}: {problem}"
                )

    def number(self, obj: YMap, key: str, what: str, low: float, high: float) -> None:
        value = obj.get(key)
        if value is None:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (low <= value <= high)
        ):
            raise self.fail(
                obj.value_line(key),
                f"{what}.{key} {echo(value)} must be a number from {low:g} to {high:g}",
            )

    def calico_policy(self, doc: YMap) -> None:
        kind = str(doc["kind"])
        with self.collecting():
            self.keys(doc, ("apiVersion", "kind", "metadata", "spec", "status"), kind)
        if doc.get("spec") is None:
            return  # selector all(), no rules: isolates ingress of every endpoint
        spec = self.mapping(doc["spec"], doc.value_line("spec"), "spec")
        with self.collecting():
            self.keys(spec, _CALICO_POLICY_KEYS, "spec")
        with self.collecting():
            self.number(spec, "order", "spec", -1e18, 1e18)
        with self.collecting():
            self.string(spec, "tier", "spec")
        for key in ("selector", "serviceAccountSelector", "namespaceSelector"):
            with self.collecting():
                if key == "namespaceSelector" and kind == "NetworkPolicy" and key in spec:
                    raise self.fail(
                        spec.key_line(key),
                        "spec.namespaceSelector is a GlobalNetworkPolicy field",
                        "remove it: a NetworkPolicy selects endpoints of its own namespace",
                    )
                self.calico_selector(spec, key, "spec")
        self.ingress_egress(spec, "types", "spec.types")
        for direction in ("ingress", "egress"):
            self.each(spec, direction, "spec", self.calico_rule)

    def calico_rule(self, value: Any, line: int, what: str) -> None:
        rule = self.mapping(value, line, what)
        with self.collecting():
            self.keys(rule, _CALICO_RULE_KEYS, what)
        action = self.string(rule, "action", what, required=True)
        if action not in ("Allow", "Deny", "Pass", "Log"):
            raise self.fail(
                rule.value_line("action"),
                f"{what}.action {echo(action)} is not supported",
                did_you_mean(str(action), ("Allow", "Deny", "Pass", "Log"), "actions"),
            )
        for key in ("protocol", "notProtocol"):
            proto = rule.get(key)
            if proto is None or (is_int(proto) and 1 <= proto <= 255):
                continue
            if proto not in _CALICO_PROTOCOLS:
                raise self.fail(
                    rule.value_line(key),
                    f"{what}.{key} {echo(proto)} is not a protocol",
                    did_you_mean(str(proto), _CALICO_PROTOCOLS, "protocols") or "or 1-255",
                )
        if rule.get("ipVersion") is not None and rule["ipVersion"] not in (4, 6):
            raise self.fail(rule.value_line("ipVersion"), f"{what}.ipVersion must be 4 or 6")
        for side in ("source", "destination"):
            if rule.get(side) is None:
                continue
            entity = self.mapping(rule[side], rule.value_line(side), f"{what}.{side}")
            with self.collecting():
                self.calico_entity(entity, f"{what}.{side}")
            has_ports = entity.get("ports") is not None or entity.get("notPorts") is not None
            if has_ports and rule.get("protocol") not in ("TCP", "UDP", "SCTP", "UDPLite", 6, 17):
                raise self.fail(
                    entity.line,
                    f"{what}.{side}: ports need protocol TCP, UDP, SCTP or UDPLite",
                    "add protocol: TCP to the rule",
                )

    def calico_entity(self, entity: YMap, what: str) -> None:
        with self.collecting():
            self.keys(entity, _CALICO_ENTITY_KEYS, what)
        for key in ("selector", "notSelector", "namespaceSelector"):
            with self.collecting():
                self.calico_selector(entity, key, what)
        for key in ("nets", "notNets"):
            self.each(entity, key, what, self.calico_net)
        for key in ("ports", "notPorts"):
            self.each(entity, key, what, self.calico_port)
        if entity.get("serviceAccounts") is not None:
            sa = self.mapping(
                entity["serviceAccounts"],
                entity.value_line("serviceAccounts"),
                f"{what}.serviceAccounts",
            )
            with self.collecting():
                self.keys(sa, ("names", "selector"), f"{what}.serviceAccounts")
            self.calico_selector(sa, "selector", f"{what}.serviceAccounts")

    def calico_net(self, value: Any, line: int, what: str) -> None:
        try:
            ipaddress.ip_network(value if isinstance(value, str) else "-", strict=False)
        except ValueError:
            raise self.fail(
                line, f"{what} {echo(value)} is not a CIDR", "e.g. 10.0.0.0/8"
            ) from None

    def calico_port(self, value: Any, line: int, what: str) -> None:
        if is_int(value) and 1 <= value <= 65535:
            return
        if isinstance(value, str):
            first, sep, last = value.partition(":")
            if sep and first.isdigit() and last.isdigit():
                if 1 <= int(first) <= int(last) <= 65535:
                    return
                raise self.fail(line, f"{what} {echo(value)} is not a range within 1-65535")
            if not sep and (value.isdigit() or not port_name_problem(value)):
                return
        raise self.fail(
            line,
            f"{what} {echo(value)} is not a port, a range or a port name",
            'e.g. 80, "8000:8080" or http',
        )

    def calico_tier(self, doc: YMap) -> None:
        with self.collecting():
            self.keys(doc, ("apiVersion", "kind", "metadata", "spec", "status"), "Tier")
        if doc.get("spec") is None:
            return
        spec = self.mapping(doc["spec"], doc.value_line("spec"), "spec")
        with self.collecting():
            self.keys(spec, ("order", "defaultAction"), "spec")
        with self.collecting():
            self.number(spec, "order", "spec", -1e18, 1e18)
        self.enum(spec, "defaultAction", ("Deny", "Pass"), "spec")

    # -- policy.networking.k8s.io cluster policies (network-policy-api)

    def cluster_policy(self, doc: YMap) -> None:
        kind = str(doc["kind"])
        with self.collecting():
            self.keys(doc, ("apiVersion", "kind", "metadata", "spec", "status"), kind)
        spec = self.mapping(
            self.required(doc, "spec", kind, "{priority: 10, subject: ...}"),
            doc.value_line("spec"),
            "spec",
        )
        known = ["subject", "ingress", "egress"]
        if kind != "BaselineAdminNetworkPolicy":
            known.append("priority")
        if kind == "ClusterNetworkPolicy":
            known.append("tier")
        with self.collecting():
            self.keys(spec, known, "spec")
        if kind == "BaselineAdminNetworkPolicy":
            name = doc["metadata"].get("name")
            if name != "default":
                raise self.fail(
                    doc["metadata"].value_line("name"),
                    f"a BaselineAdminNetworkPolicy must be named 'default', not {echo(name)}",
                    "name: default (it is a singleton)",
                )
        if kind == "ClusterNetworkPolicy":
            with self.collecting():
                self.required(spec, "tier", "spec", "Admin")
                self.enum(spec, "tier", ("Admin", "Baseline"), "spec")
        if kind != "BaselineAdminNetworkPolicy":
            with self.collecting():
                self.required(spec, "priority", "spec", "10")
                value = spec["priority"]
                if not is_int(value) or not 0 <= value <= 1000:
                    raise self.fail(
                        spec.value_line("priority"),
                        f"spec.priority {echo(value)} must be a number from 0 to 1000",
                    )
        with self.collecting():
            subject = self.mapping(
                self.required(spec, "subject", "spec", "{namespaces: {}}"),
                spec.value_line("subject"),
                "spec.subject",
            )
            self.one_of(subject, ("namespaces", "pods"), "spec.subject")
        for direction in ("ingress", "egress"):
            self.each(spec, direction, "spec", partial(self.cluster_rule, kind, direction))

    def cluster_rule(self, kind: str, direction: str, value: Any, line: int, what: str) -> None:
        """One rule of a cluster policy's ``spec.ingress`` or ``spec.egress``."""
        rule = self.mapping(value, line, what)
        peer_key = "from" if direction == "ingress" else "to"
        with self.collecting():
            self.keys(rule, ("name", "action", peer_key, "ports", "protocols"), what)
        action = self.string(rule, "action", what, required=True)
        actions = _CLUSTER_ACTIONS[kind]
        if action not in actions:
            raise self.fail(
                rule.value_line("action"),
                f"{what}.action {echo(action)} is not supported by {kind}",
                did_you_mean(str(action), actions, "actions"),
            )
        peers = self.listing(
            self.required(rule, peer_key, what, "[{namespaces: {}}]"),
            rule.value_line(peer_key),
            f"{what}.{peer_key}",
            nonempty=True,
        )
        keys: tuple[str, ...] = ("namespaces", "pods")
        if direction == "egress":
            keys = (*keys, "networks", "nodes", "domainNames")
        for j, peer in enumerate(peers):
            with self.collecting():
                peer = self.mapping(peer, peers.item_line(j), f"{what}.{peer_key}[{j}]")
                self.one_of(peer, keys, f"{what}.{peer_key}[{j}]")

    def required(self, obj: YMap, key: str, what: str, example: str = "...") -> Any:
        if obj.get(key) is None:
            if key in obj:
                raise self.fail(obj.key_line(key), f"{what}: {echo(key)} has no value", example)
            raise self.fail(obj.line, f"{what} is missing {echo(key)}", f"add {key}: {example}")
        return obj[key]

    def one_of(self, obj: YMap, keys: tuple[str, ...], what: str) -> None:
        self.keys(obj, keys, what)
        present = [k for k in keys if obj.get(k) is not None]
        if len(present) != 1:
            raise self.fail(
                obj.line,
                f"{what} must set exactly one of {', '.join(keys)}"
                + (f" (has {', '.join(present)})" if present else ""),
            )
