"""Structural validation of Kubernetes objects, the way the API server rejects them.

NetworkPolicy (networking.k8s.io/v1) is checked fully against the API
reference; every other kind gets the generic object checks (apiVersion, kind,
metadata.name, namespace, labels, annotations). Unknown fields are errors, as
with ``kubectl apply`` (strict field validation). The checks of other kinds live
beside this module: Pod in :mod:`harness.scenario.k8spods`, Calico and the
network-policy-api kinds in :mod:`harness.scenario.k8scalico`.

Input values come from :mod:`harness.scenario.yamlload`, so every error names a line.
The name/label helpers it uses live in :mod:`harness.scenario.checker`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from harness.scenario.checker import closest
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import dns1035_label_problem
from harness.scenario.checker import dns1123_label_problem
from harness.scenario.checker import dns1123_subdomain_problem
from harness.scenario.checker import is_int
from harness.scenario.checker import label_key_problem
from harness.scenario.checker import label_value_problem
from harness.scenario.checker import port_name_problem
from harness.scenario.checker import type_name
from harness.scenario.k8sbase import difflib_ratio
from harness.scenario.k8scalico import CALICO_VERSION
from harness.scenario.k8scalico import CLUSTER_KINDS
from harness.scenario.k8scalico import CalicoChecks
from harness.scenario.k8scalico import SelectorCheck
from harness.scenario.k8scalico import register_selector_check
from harness.scenario.k8spods import PodChecks
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import escape

__all__ = [
    "CALICO_VERSION",
    "CLUSTER_SCOPED_KINDS",
    "SelectorCheck",
    "difflib_ratio",
    "register_selector_check",
    "validate",
]

#: Kinds that live outside namespaces (their metadata.namespace is not mapped).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "Node",
        "GlobalNetworkPolicy",
        "GlobalNetworkSet",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
        "Tier",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)

#: Built-in kinds, by their lower-case spelling (kinds are case-sensitive).
_KNOWN_KINDS = {
    k.lower(): k
    for k in (
        "Namespace",
        "Pod",
        "NetworkPolicy",
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Endpoints",
        "EndpointSlice",
        "Ingress",
        "PersistentVolumeClaim",
        "LimitRange",
        "ResourceQuota",
        "List",
        "GlobalNetworkPolicy",
        "NetworkSet",
        "GlobalNetworkSet",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "ReplicationController",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    )
}
#: The one apiVersion a built-in kind is served under.
_CORE_VERSIONS = {
    "Namespace": "v1",
    "Pod": "v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "ServiceAccount": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}

_OBJECT_META = (
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
)


# ---------------------------------------------------------------- the validator


class _Checker(PodChecks, CalicoChecks):
    """Every check: the generic object, NetworkPolicy here, the other kinds in the bases."""

    # -- generic object

    def object(self, doc: Any, line: int) -> None:
        doc = self.mapping(doc, line, "a Kubernetes object")
        for key in ("apiVersion", "kind"):
            value = self.string(doc, key, "the object", required=True)
            if not value:
                raise self.fail(doc.value_line(key), f"{key} must not be empty")
        kind = str(doc["kind"])
        proper = _KNOWN_KINDS.get(kind.lower())
        if proper is not None and proper != kind:
            raise self.fail(
                doc.value_line("kind"),
                f"kind {echo(kind)} is not known: kinds are case-sensitive",
                f"kind: {proper}",
            )
        if proper is None and kind[:1].islower():
            best = closest(kind, _KNOWN_KINDS.values())
            raise self.fail(
                doc.value_line("kind"),
                f"kind {echo(kind)} is not a Kubernetes kind (kinds start with a capital letter)",
                f"did you mean kind: {best}?" if best else "e.g. kind: NetworkPolicy",
            )
        meta = doc.get("metadata")
        if meta is None:
            raise self.fail(
                doc.line, "the object is missing 'metadata'", "add metadata: {name: ...}"
            )
        meta = self.mapping(meta, doc.value_line("metadata"), "metadata")
        self.keys(meta, _OBJECT_META, "metadata")
        kind = str(doc["kind"])
        name = self.string(meta, "name", "metadata", required=True)
        assert name is not None
        if kind == "Namespace":
            problem = dns1123_label_problem(name)
        elif kind == "Service":
            problem = dns1035_label_problem(name)
        else:
            problem = dns1123_subdomain_problem(name)
        with self.collecting():
            if problem:
                raise self.fail(
                    meta.value_line("name"),
                    f"{escape(kind[:60])} name {echo(name)} {problem}",
                    "e.g. name: allow-web",
                )
        namespace = self.string(meta, "namespace", "metadata")
        if namespace is not None:
            problem = dns1123_label_problem(namespace)
            if problem:
                raise self.fail(
                    meta.value_line("namespace"), f"namespace {echo(namespace)} {problem}"
                )
        if meta.get("labels") is not None:
            self.label_map(meta["labels"], meta.value_line("labels"), "metadata.labels")
        if meta.get("annotations") is not None:
            annotations = self.mapping(
                meta["annotations"], meta.value_line("annotations"), "metadata.annotations"
            )
            for key, value in annotations.items():
                problem = label_key_problem(key)
                if problem:
                    raise self.fail(
                        annotations.key_line(key), problem.replace("label", "annotation")
                    )
                if not isinstance(value, str):
                    raise self.fail(
                        annotations.value_line(key),
                        f"annotation {echo(key)} must be a string, got {type_name(value)}",
                        "quote the value",
                    )
        api_version = str(doc["apiVersion"])
        proper_version = _CORE_VERSIONS.get(kind)
        if proper_version is not None and api_version != proper_version:
            group = api_version.rpartition("/")[0]
            if group in ("", "networking.k8s.io", "extensions", "apps", "batch"):
                raise self.fail(
                    doc.value_line("apiVersion"),
                    f"{escape(kind)} {echo(api_version)} is not served by current clusters",
                    f"use apiVersion: {proper_version}",
                )
        if kind == "NetworkPolicy" and api_version == "networking.k8s.io/v1":
            self.network_policy(doc)
        if kind == "Pod" and api_version == "v1":
            self.pod(doc)
        if api_version == CALICO_VERSION and kind in ("NetworkPolicy", "GlobalNetworkPolicy"):
            self.calico_policy(doc)
        if api_version == CALICO_VERSION and kind == "Tier":
            self.calico_tier(doc)
        if (api_version, kind) in CLUSTER_KINDS:
            self.cluster_policy(doc)

    # -- NetworkPolicy

    def network_policy(self, doc: YMap) -> None:
        with self.collecting():
            self.keys(doc, ("apiVersion", "kind", "metadata", "spec", "status"), "NetworkPolicy")
        if doc.get("spec") is None:
            return  # an empty spec selects every pod and isolates ingress
        spec = self.mapping(doc["spec"], doc.value_line("spec"), "spec")
        with self.collecting():
            self.keys(spec, ("podSelector", "policyTypes", "ingress", "egress"), "spec")
        if spec.get("podSelector") is not None:
            self.selector(spec["podSelector"], spec.value_line("podSelector"), "spec.podSelector")
        types = self.ingress_egress(spec, "policyTypes", "policyTypes")
        if types is not None and len(types) > 2:
            raise self.fail(types.line, "policyTypes may not have more than two values")
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            if spec.get(direction) is None:
                continue
            rules = self.listing(spec[direction], spec.value_line(direction), f"spec.{direction}")
            for i, rule in enumerate(rules):
                what = f"spec.{direction}[{i}]"
                rule = self.mapping(rule, rules.item_line(i), what)
                with self.collecting():
                    self.keys(rule, ("ports", peers), what)
                self.each(rule, "ports", what, self.policy_port)
                self.each(rule, peers, what, self.peer)

    def policy_port(self, value: Any, line: int, what: str) -> None:
        port = self.mapping(value, line, what)
        self.keys(port, ("protocol", "port", "endPort"), what)
        self.port_protocol(port, what)
        number = port.get("port")
        if number is not None:
            if is_int(number):
                if not 1 <= number <= 65535:
                    raise self.fail(
                        port.value_line("port"),
                        f"{what}.port {number} is out of range",
                        "use a port between 1 and 65535",
                    )
            elif isinstance(number, str):
                problem = port_name_problem(number)
                if problem:
                    fix = "write the number without quotes" if number.isdigit() else ""
                    raise self.fail(
                        port.value_line("port"),
                        f"{what}.port {echo(number)} is not a valid port name: {problem}",
                        fix,
                    )
            else:
                raise self.fail(
                    port.value_line("port"),
                    f"{what}.port must be a number or a port name, got {type_name(number)}",
                )
        end = port.get("endPort")
        if end is not None:
            line = port.value_line("endPort")
            if not is_int(end):
                raise self.fail(line, f"{what}.endPort must be a number, got {type_name(end)}")
            if number is None:
                raise self.fail(line, f"{what}.endPort needs a port", "add port: <first port>")
            if not is_int(number):
                raise self.fail(
                    line, f"{what}.endPort needs a numeric port, not the named port {echo(number)}"
                )
            if not 1 <= end <= 65535:
                raise self.fail(line, f"{what}.endPort {end} is out of range", "use 1-65535")
            if end < number:
                raise self.fail(
                    line,
                    f"{what}.endPort {end} is smaller than port {number}",
                    "endPort must be greater than or equal to port",
                )

    def peer(self, value: Any, line: int, what: str) -> None:
        peer = self.mapping(value, line, what)
        self.keys(peer, ("podSelector", "namespaceSelector", "ipBlock"), what)
        present = [
            k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None
        ]
        if not present:
            raise self.fail(
                peer.line,
                f"{what} must specify a peer",
                "add podSelector, namespaceSelector or ipBlock",
            )
        if "ipBlock" in present and len(present) > 1:
            raise self.fail(
                peer.line,
                f"{what} may not combine ipBlock with a selector",
                "put the ipBlock in its own list item",
            )
        for key in ("podSelector", "namespaceSelector"):
            if key in present:
                self.selector(peer[key], peer.value_line(key), f"{what}.{key}")
        if "ipBlock" in present:
            self.ip_block(peer["ipBlock"], peer.value_line("ipBlock"), f"{what}.ipBlock")

    def ip_block(self, value: Any, line: int, what: str) -> None:
        block = self.mapping(value, line, what)
        self.keys(block, ("cidr", "except"), what)
        cidr_text = self.string(block, "cidr", what, required=True)
        assert cidr_text is not None
        cidr = self.cidr(cidr_text, block.value_line("cidr"), f"{what}.cidr")
        if block.get("except") is None:
            return
        excepts = self.listing(block["except"], block.value_line("except"), f"{what}.except")
        for i, text in enumerate(excepts):
            line = excepts.item_line(i)
            if not isinstance(text, str):
                raise self.fail(line, f"{what}.except[{i}] must be a string CIDR")
            inner = self.cidr(text, line, f"{what}.except[{i}]")
            if (
                inner.version != cidr.version
                or not inner.subnet_of(cidr)  # type: ignore[arg-type]
                or inner.prefixlen <= cidr.prefixlen
            ):
                raise self.fail(
                    line,
                    f"{what}.except[{i}] {echo(text)} must be a strict subset of "
                    f"cidr {echo(cidr_text)}",
                    "use a longer prefix inside the cidr",
                )

    def cidr(
        self, text: str, line: int, what: str
    ) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if "/" not in text:
            raise self.fail(
                line,
                f"{what} {echo(text)} is not a CIDR",
                f"write it as {escape(text[:45])}/{128 if ':' in text else 32} or a range",
            )
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise self.fail(
                line, f"{what} {echo(text)} is not a valid CIDR", "e.g. 10.0.0.0/8"
            ) from None

    def selector(self, value: Any, line: int, what: str) -> None:
        sel = self.mapping(value, line, what)
        self.keys(sel, ("matchLabels", "matchExpressions"), what)
        if sel.get("matchLabels") is not None:
            self.label_map(sel["matchLabels"], sel.value_line("matchLabels"), f"{what}.matchLabels")
        if sel.get("matchExpressions") is None:
            return
        exprs = self.listing(
            sel["matchExpressions"], sel.value_line("matchExpressions"), f"{what}.matchExpressions"
        )
        for i, expr in enumerate(exprs):
            where = f"{what}.matchExpressions[{i}]"
            expr = self.mapping(expr, exprs.item_line(i), where)
            self.keys(expr, ("key", "operator", "values"), where)
            key = self.string(expr, "key", where, required=True)
            problem = label_key_problem(key)
            if problem:
                raise self.fail(expr.value_line("key"), f"{where}: {problem}")
            operator = self.string(expr, "operator", where, required=True)
            operators = ("In", "NotIn", "Exists", "DoesNotExist")
            if operator not in operators:
                raise self.fail(
                    expr.value_line("operator"),
                    f"{where}.operator {echo(operator)} is not supported",
                    did_you_mean(str(operator), operators, "supported operators"),
                )
            values = expr.get("values")
            if values is not None:
                values = self.listing(values, expr.value_line("values"), f"{where}.values")
                for j, item in enumerate(values):
                    problem = label_value_problem(item)
                    if problem:
                        raise self.fail(values.item_line(j), f"{where}.values: {problem}")
            if operator in ("In", "NotIn") and not values:
                raise self.fail(
                    expr.line, f"{where}: operator {operator} needs values", "add values: [...]"
                )
            if operator in ("Exists", "DoesNotExist") and values:
                raise self.fail(
                    expr.value_line("values"),
                    f"{where}: operator {operator} must not have values",
                    "remove values",
                )


def validate(doc: Any, path: str, line: int) -> None:
    """Raise ScenarioError(path, line, ...) if the API server would reject ``doc``.

    Independent problems of one object are all reported (:class:`ScenarioErrors`).
    """
    checker = _Checker(path)
    with checker.collecting():
        checker.object(doc, line)
    checker.raise_collected()
