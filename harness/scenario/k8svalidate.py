"""Structural validation of Kubernetes objects, the way the API server rejects them.

NetworkPolicy (networking.k8s.io/v1) is checked fully against the API
reference; every other kind gets the generic object checks (apiVersion, kind,
metadata.name, namespace, labels, annotations). Unknown fields are errors, as
with ``kubectl apply`` (strict field validation).

Input values come from :mod:`harness.scenario.yamlload`, so every error names a line.
The name/label helpers it uses live in :mod:`harness.scenario.checker`.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable
from typing import Any

from harness.model import PROTOCOLS
from harness.scenario.checker import Checker
from harness.scenario.checker import closest
from harness.scenario.checker import combine
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import dns1035_label_problem
from harness.scenario.checker import dns1123_label_problem
from harness.scenario.checker import dns1123_subdomain_problem
from harness.scenario.checker import is_int
from harness.scenario.checker import label_key_problem
from harness.scenario.checker import label_value_problem
from harness.scenario.checker import port_name_problem
from harness.scenario.checker import quoted
from harness.scenario.checker import type_name
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import escape

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

_POD_SPEC_KEYS = (
    "activeDeadlineSeconds",
    "affinity",
    "automountServiceAccountToken",
    "containers",
    "dnsConfig",
    "dnsPolicy",
    "enableServiceLinks",
    "ephemeralContainers",
    "hostAliases",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "hostUsers",
    "hostname",
    "imagePullSecrets",
    "initContainers",
    "nodeName",
    "nodeSelector",
    "os",
    "overhead",
    "preemptionPolicy",
    "priority",
    "priorityClassName",
    "readinessGates",
    "resourceClaims",
    "resources",
    "restartPolicy",
    "runtimeClassName",
    "schedulerName",
    "schedulingGates",
    "securityContext",
    "serviceAccount",
    "serviceAccountName",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "subdomain",
    "terminationGracePeriodSeconds",
    "tolerations",
    "topologySpreadConstraints",
    "volumes",
)
_CONTAINER_KEYS = (
    "args",
    "command",
    "env",
    "envFrom",
    "image",
    "imagePullPolicy",
    "lifecycle",
    "livenessProbe",
    "name",
    "ports",
    "readinessProbe",
    "resizePolicy",
    "resources",
    "restartPolicy",
    "securityContext",
    "startupProbe",
    "stdin",
    "stdinOnce",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "tty",
    "volumeDevices",
    "volumeMounts",
    "workingDir",
)

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


#: Checks a Calico selector: None, or (0-based offset, problem). The parser lives in
#: harness.policy.selectors, which this layer may not import (the stages are independent):
#: a caller above both (predict, the plugin) registers it. Unregistered, only the shape of
#: a selector is checked here; the engine still refuses a bad one when it parses it.
SelectorCheck = Callable[[str], "tuple[int, str] | None"]
_SELECTOR_CHECKS: list[SelectorCheck] = []


def register_selector_check(check: SelectorCheck) -> None:
    _SELECTOR_CHECKS[:] = [check]


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
_CLUSTER_KINDS = {
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


def difflib_ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


# ---------------------------------------------------------------- the validator


class _Checker(Checker):
    KEY_WORD = "field"

    def string(self, obj: YMap, key: str, what: str, *, required: bool = False) -> str | None:
        if key not in obj or obj[key] is None:
            if required:
                if key in obj:  # `key:` with no value: name that line
                    raise self.fail(
                        obj.key_line(key), f"{what}: {echo(key)} has no value", f"{key}: ..."
                    )
                raise self.fail(obj.line, f"{what} is missing {echo(key)}", f"add {key}: ...")
            return None
        value = obj[key]
        if not isinstance(value, str):
            raw = obj.raw_text(key)
            raise self.fail(
                obj.value_line(key),
                f"{what}.{key} must be a string, got {type_name(value, raw)}",
                f"quote it: {key}: {quoted(value, raw)}" if raw is not None else "",
            )
        return value

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
        if (api_version, kind) in _CLUSTER_KINDS:
            self.cluster_policy(doc)

    def label_map(self, value: Any, line: int, what: str) -> YMap:
        labels = self.mapping(value, line, what)
        for key, val in labels.items():
            problem = label_key_problem(key)
            if problem:
                raise self.fail(labels.key_line(key), f"{what}: {problem}")
            problem = label_value_problem(val)
            if problem:
                fix = "quote it" if not isinstance(val, str) and val is not None else ""
                raise self.fail(labels.value_line(key), f"{what}: {problem}", fix)
        return labels

    # -- Pod (the fields a prediction reads; typos of the others)

    def near_miss_keys(self, obj: YMap, known: tuple[str, ...], what: str) -> None:
        """Unknown keys that look like a misspelt known one (newer fields pass)."""
        found = []
        for key in obj:
            if key in known or not isinstance(key, str):
                continue
            best = closest(key, known)
            if best is not None and difflib_ratio(key, best) >= 0.8:
                found.append(
                    self.fail(
                        obj.key_line(key),
                        f"unknown field {echo(key)} in {what}",
                        f"did you mean {echo(best)}?",
                    )
                )
        if found:
            raise combine(found)

    def pod(self, doc: YMap) -> None:
        with self.collecting():
            self.keys(doc, ("apiVersion", "kind", "metadata", "spec", "status"), "Pod")
        spec = doc.get("spec")
        if spec is not None:
            spec = self.mapping(spec, doc.value_line("spec"), "spec")
            with self.collecting():
                self.near_miss_keys(spec, _POD_SPEC_KEYS, "spec")
            for field in ("containers", "initContainers"):
                if spec.get(field) is None:
                    continue
                items = self.listing(spec[field], spec.value_line(field), f"spec.{field}")
                for ci, container in enumerate(items):
                    with self.collecting():
                        self.container(container, items.item_line(ci), f"spec.{field}[{ci}]")
        status = doc.get("status")
        if status is not None:
            status = self.mapping(status, doc.value_line("status"), "status")
            with self.collecting():
                self.ip(status.get("podIP"), status.value_line("podIP"), "status.podIP")
            if status.get("podIPs") is not None:
                ips = self.listing(status["podIPs"], status.value_line("podIPs"), "status.podIPs")
                for i, entry in enumerate(ips):
                    with self.collecting():
                        entry = self.mapping(entry, ips.item_line(i), f"status.podIPs[{i}]")
                        self.ip(entry.get("ip"), entry.value_line("ip"), f"status.podIPs[{i}].ip")

    def ip(self, value: Any, line: int, what: str) -> None:
        if value is None or value == "":
            return
        try:
            ipaddress.ip_address(value if isinstance(value, str) else "-")
        except ValueError:
            raise self.fail(
                line, f"{what} {echo(value)} is not an IP address", "e.g. 10.0.0.5"
            ) from None

    def container(self, value: Any, line: int, what: str) -> None:
        container = self.mapping(value, line, what)
        with self.collecting():
            self.near_miss_keys(container, _CONTAINER_KEYS, what)
        if container.get("ports") is None:
            return
        ports = self.listing(container["ports"], container.value_line("ports"), f"{what}.ports")
        names: dict[str, int] = {}
        for j, port in enumerate(ports):
            where = f"{what}.ports[{j}]"
            with self.collecting():
                port = self.mapping(port, ports.item_line(j), where)
                with self.collecting():
                    self.keys(
                        port, ("containerPort", "hostPort", "hostIP", "name", "protocol"), where
                    )
                number = port.get("containerPort")
                if number is None:
                    raise self.fail(
                        port.line, f"{where} is missing 'containerPort'", "add containerPort: 8080"
                    )
                if not is_int(number) or not 1 <= number <= 65535:
                    raise self.fail(
                        port.value_line("containerPort"),
                        f"{where}.containerPort {echo(number)} is not a port number",
                        "use a number from 1 to 65535",
                    )
                protocol = port.get("protocol")
                if protocol is not None and protocol not in PROTOCOLS:
                    raise self.fail(
                        port.value_line("protocol"),
                        f"{where}.protocol {echo(protocol)} is not supported",
                        did_you_mean(str(protocol).upper(), PROTOCOLS, "supported values"),
                    )
                name = port.get("name")
                if name is not None:
                    if not isinstance(name, str) or port_name_problem(name):
                        raise self.fail(
                            port.value_line("name"),
                            f"{where}.name {echo(name)} is not a valid port name: "
                            f"{port_name_problem(str(name))}",
                        )
                    if name in names:
                        raise self.fail(
                            port.value_line("name"),
                            f"{where}.name {echo(name)} is used twice "
                            f"(first at line {names[name]})",
                            "port names must be unique in a container",
                        )
                    names[name] = port.value_line("name")

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
        if spec.get("policyTypes") is not None:
            types = self.listing(spec["policyTypes"], spec.value_line("policyTypes"), "policyTypes")
            for i, value in enumerate(types):
                if value not in ("Ingress", "Egress"):
                    raise self.fail(
                        types.item_line(i),
                        f"policyTypes value {echo(value)} is not supported",
                        did_you_mean(str(value), ["Ingress", "Egress"], "supported values"),
                    )
            if len(types) > 2:
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
                if rule.get("ports") is not None:
                    ports = self.listing(rule["ports"], rule.value_line("ports"), f"{what}.ports")
                    for j, port in enumerate(ports):
                        with self.collecting():
                            self.policy_port(port, ports.item_line(j), f"{what}.ports[{j}]")
                if rule.get(peers) is not None:
                    items = self.listing(rule[peers], rule.value_line(peers), f"{what}.{peers}")
                    for j, peer in enumerate(items):
                        with self.collecting():
                            self.peer(peer, items.item_line(j), f"{what}.{peers}[{j}]")

    def policy_port(self, value: Any, line: int, what: str) -> None:
        port = self.mapping(value, line, what)
        self.keys(port, ("protocol", "port", "endPort"), what)
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            raise self.fail(
                port.value_line("protocol"),
                f"{what}.protocol {echo(protocol)} is not supported",
                did_you_mean(str(protocol).upper(), PROTOCOLS, "supported values"),
            )
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
        if spec.get("types") is not None:
            types = self.listing(spec["types"], spec.value_line("types"), "spec.types")
            for i, value in enumerate(types):
                if value not in ("Ingress", "Egress"):
                    raise self.fail(
                        types.item_line(i),
                        f"spec.types value {echo(value)} is not supported",
                        did_you_mean(str(value), ["Ingress", "Egress"], "supported values"),
                    )
        for direction in ("ingress", "egress"):
            if spec.get(direction) is None:
                continue
            rules = self.listing(spec[direction], spec.value_line(direction), f"spec.{direction}")
            for i, rule in enumerate(rules):
                with self.collecting():
                    self.calico_rule(rule, rules.item_line(i), f"spec.{direction}[{i}]")

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
            if entity.get(key) is None:
                continue
            nets = self.listing(entity[key], entity.value_line(key), f"{what}.{key}")
            for i, text in enumerate(nets):
                with self.collecting():
                    try:
                        ipaddress.ip_network(text if isinstance(text, str) else "-", strict=False)
                    except ValueError:
                        raise self.fail(
                            nets.item_line(i),
                            f"{what}.{key}[{i}] {echo(text)} is not a CIDR",
                            "e.g. 10.0.0.0/8",
                        ) from None
        for key in ("ports", "notPorts"):
            if entity.get(key) is None:
                continue
            ports = self.listing(entity[key], entity.value_line(key), f"{what}.{key}")
            for i, port in enumerate(ports):
                with self.collecting():
                    self.calico_port(port, ports.item_line(i), f"{what}.{key}[{i}]")
        if entity.get("serviceAccounts") is not None:
            sa = self.mapping(
                entity["serviceAccounts"],
                entity.value_line("serviceAccounts"),
                f"{what}.serviceAccounts",
            )
            with self.collecting():
                self.keys(sa, ("names", "selector"), f"{what}.serviceAccounts")
            self.calico_selector(sa, "selector", f"{what}.serviceAccounts")

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
        actions = _CLUSTER_ACTIONS[kind]
        for direction, peer_key in (("ingress", "from"), ("egress", "to")):
            if spec.get(direction) is None:
                continue
            rules = self.listing(spec[direction], spec.value_line(direction), f"spec.{direction}")
            for i, rule in enumerate(rules):
                what = f"spec.{direction}[{i}]"
                with self.collecting():
                    rule = self.mapping(rule, rules.item_line(i), what)
                    with self.collecting():
                        self.keys(rule, ("name", "action", peer_key, "ports", "protocols"), what)
                    action = self.string(rule, "action", what, required=True)
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


def validate(doc: Any, path: str, line: int) -> None:
    """Raise ScenarioError(path, line, ...) if the API server would reject ``doc``.

    Independent problems of one object are all reported (:class:`ScenarioErrors`).
    """
    checker = _Checker(path)
    with checker.collecting():
        checker.object(doc, line)
    checker.raise_collected()
